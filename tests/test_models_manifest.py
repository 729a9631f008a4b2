"""Every model file the product ships is recorded in models/README.md with its size and sha256."""

from __future__ import annotations

import hashlib
import re

from tests.conftest import MODELS


def test_every_model_file_is_recorded_with_its_digest():
    text = (MODELS / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| `([^`]+\.(?:tflite|onnx))`.*\| ([\d,]+) \| `([0-9a-f]{64})` \|$", line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(",", "")), m.group(3))
    shipped = sorted(p.name for p in [*MODELS.glob("*.tflite"), *MODELS.glob("*.onnx")])
    assert sorted(rows) == shipped
    for name, (size, digest) in rows.items():
        data = (MODELS / name).read_bytes()
        assert len(data) == size, name
        assert hashlib.sha256(data).hexdigest() == digest, name
    assert (MODELS / "LICENSE-mediapipe.txt").is_file() and (MODELS / "LICENSE-yunet.txt").is_file() and (MODELS / "MODEL_CARD.md").is_file()
