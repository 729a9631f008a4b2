"""The table of bad configs and inputs, each with the exact one-line error it gets (docs/bad-input.md).

Run `python -m tests.test_bad_input` to print the table in Markdown; the test checks the document
still matches what the code says.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
import zlib
from pathlib import Path

import pytest

from kiosk.cli import main
from tests.conftest import CLASSIFIER, ROOT

DOC = ROOT / "docs" / "bad-input.md"
T = "<tmp>"  # stands for the case's temporary folder in the table


def chunk(t: bytes, b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))


def png_header(w: int, h: int) -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def model_with(d: Path, edit=None, data: bytes | None = None, sidecar: bool = True) -> str:
    m = d / "m.tflite"
    m.write_bytes(data if data is not None else CLASSIFIER.read_bytes())
    if sidecar:
        meta = json.loads(CLASSIFIER.with_suffix(".json").read_text())
        meta["file"] = "m.tflite"
        if data is not None:
            import hashlib

            meta["sha256"] = hashlib.sha256(data).hexdigest()
        if edit:
            edit(meta)
        (d / "m.json").write_text(json.dumps(meta))
    return str(m)


def cfg(d: Path, text: str) -> str:
    (d / "c.toml").write_text(text)
    return str(d / "c.toml")


def run_cfg(text: str):
    return lambda d: ["check-config", cfg(d, text)]


# (what, how to make it -> argv, exit code, the one line on stderr or the JSON "error" on stdout)
CASES = [
    ("config: TOML syntax error", run_cfg("[camera\nfps = 10\n"), 2,
     f"error: {T}/c.toml: TOML syntax error: Expected ']' at the end of a table declaration (at line 1, column 8)"),
    ("config: unknown key", run_cfg("[camera]\nfsp = 10\n"), 2, f"error: {T}/c.toml: config: unknown key 'camera.fsp'"),
    ("config: unknown section", run_cfg("[gate]\npin = 1\n"), 2,
     f"error: {T}/c.toml: config: unknown section [gate] (known: kiosk, camera, detector, classifier, decision, zone, "
     "gpio, mqtt, commands, snapshots, web, sound)"),
    ("config: string for a number", run_cfg("[camera]\nfps = 'fast'\n"), 2,
     f"error: {T}/c.toml: config key 'camera.fps': expected float, got str 'fast'"),
    ("config: number for a boolean", run_cfg("[mqtt]\nenabled = 1\n"), 2,
     f"error: {T}/c.toml: config key 'mqtt.enabled': expected bool, got int 1"),
    ("config: below range", run_cfg("[detector]\nmin_face_px = 2\n"), 2,
     f"error: {T}/c.toml: config key 'detector.min_face_px': 2 is below the minimum 8"),
    ("config: above range", run_cfg("[mqtt]\nport = 70000\n"), 2,
     f"error: {T}/c.toml: config key 'mqtt.port': 70000 is above the maximum 65535"),
    ("config: not a number", run_cfg("[decision]\nmask_threshold = nan\n"), 2,
     f"error: {T}/c.toml: config key 'decision.mask_threshold': nan is not a finite number"),
    ("config: k larger than n", run_cfg("[decision]\nk = 6\nn = 5\n"), 2,
     f"error: {T}/c.toml: config key 'decision.k': 6 is larger than decision.n (5)"),
    ("config: two devices on one pin", run_cfg("[gpio]\nbutton_pin = 17\n"), 2,
     f"error: {T}/c.toml: config key 'gpio.button_pin': pin 17 is already used by gpio.relay_pin"),
    ("config: bad choice", run_cfg("[gpio]\nled = 'blue'\n"), 2,
     f"error: {T}/c.toml: config key 'gpio.led': 'blue' is not one of rgb, pair, none"),
    ("config: a detector model its backend does not run",
     run_cfg("[detector]\nmodel = 'models/face_detection_full_range_sparse.tflite'\n"), 2,
     f"error: {T}/c.toml: config key 'detector.model': the yunet backend runs a .onnx model, got "
     "face_detection_full_range_sparse.tflite (detector.backend = \"blazeface\" runs it)"),
    ("config: commands without a secret", run_cfg("[commands]\nenabled = true\n"), 2,
     f"error: {T}/c.toml: config key 'commands.secret_file': required when commands.enabled is true"),
    ("config: Home Assistant commands on an anonymous broker", run_cfg("[commands]\nhome_assistant = true\n"), 2,
     f"error: {T}/c.toml: config key 'commands.home_assistant': needs mqtt.enabled and an mqtt.username "
     "(a broker with passwords and an ACL for the ha_command topic)"),
    ("config: web on the LAN without a token", run_cfg("[web]\nenabled = true\nhost = '0.0.0.0'\n"), 2,
     f"error: {T}/c.toml: config key 'web.token_file': required when web.host (0.0.0.0) is not a loopback address"),
    ("config: the live view for other machines without a token", run_cfg("[web]\nenabled = true\nlive_remote = true\n"), 2,
     f"error: {T}/c.toml: config key 'web.live_remote': needs web.token_file (the live view shows faces; other "
     "machines only ever see it with the token)"),
    ("config: a sound player that is not a command line", run_cfg("[sound]\nenabled = true\nplayer = \"aplay '-q\"\n"), 2,
     f"error: {T}/c.toml: config key 'sound.player': No closing quotation"),
    ("config: file missing", lambda d: ["check-config", str(d / "none.toml")], 2,
     f"error: config file not found: {T}/none.toml"),
    ("config: a directory", lambda d: ["check-config", str(d)], 2, f"error: config file is a directory: {T}"),
    ("config: binary file", lambda d: ["check-config", (d / "b.toml").write_bytes(b"\xff\xfe\x00") and str(d / "b.toml")],
     2, f"error: {T}/b.toml: not UTF-8 text (byte 0)"),
    ("model: file missing", lambda d: ["classify", "--model", str(d / "none.tflite"), "--json", "x.jpg"], 2,
     f"error: model file not found: {T}/none.tflite"),
    ("model: sidecar missing", lambda d: ["classify", "--model", model_with(d, sidecar=False), "--json", "x.jpg"], 2,
     f"error: model metadata not found: {T}/m.json (written by tools/convert_tflite.py)"),
    ("model: not a TFLite file", lambda d: ["classify", "--model", model_with(d, data=b"GIF89a" + b"\0" * 100),
                                            "--json", "x.jpg"], 2,
     f"error: {T}/m.tflite: not a TFLite model (bad file identifier)"),
    ("model: truncated", lambda d: ["classify", "--model", model_with(d, data=CLASSIFIER.read_bytes()[:4096]),
                                    "--json", "x.jpg"], 2, None),
    ("model: sha256 differs from its metadata", lambda d: ["classify", "--model",
                                                            model_with(d, lambda m: m.update(sha256="0" * 64)),
                                                            "--json", "x.jpg"], 2, None),
    ("model: input size differs from its metadata", lambda d: ["classify", "--model", model_with(
        d, lambda m: m["input"].update(width=m["input"]["width"] + 1)), "--json", "x.jpg"], 2, None),
    ("model: labels not known", lambda d: ["classify", "--model", model_with(d, lambda m: m.update(labels=["a", "b"])),
                                           "--json", "x.jpg"], 2,
     f"error: {T}/m.json: labels ['a', 'b'] must be distinct values of "
     "['mask', 'no_mask', 'incorrect', 'not_face', 'covered']"),
    ("image: not an image", lambda d: ["classify", "--json", (d / "n.jpg").write_text("hello") and str(d / "n.jpg")],
     1, f"{T}/n.jpg: not a decodable image"),
    ("image: empty file", lambda d: ["classify", "--json", (d / "e.png").write_bytes(b"") or str(d / "e.png")], 1,
     f"{T}/e.png: empty file"),
    ("image: truncated JPEG", lambda d: ["classify", "--json", (d / "t.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 50)
                                        and str(d / "t.jpg")], 1, f"{T}/t.jpg: truncated JPEG (no end-of-image marker)"),
    ("image: zero-sized", lambda d: ["scan", "--json", (d / "z.png").write_bytes(png_header(0, 5)) and str(d / "z.png")],
     1, f"{T}/z.png: image has zero size (0x5)"),
    ("image: huge (decompression bomb)", lambda d: ["scan", "--json", (d / "h.png").write_bytes(png_header(90000, 90000))
                                                    and str(d / "h.png")], 1,
     f"{T}/h.png: image too large (90000x90000 pixels > 40000000)"),
    ("image: a directory", lambda d: ["scan", "--json", str(d)], 1, f"{T}: is a directory"),
    ("image: missing", lambda d: ["classify", "--json", str(d / "gone.jpg")], 1, f"{T}/gone.jpg: file not found"),
    ("usage: unknown command", lambda d: ["fly"], 2, None),
]


def run_case(make, tmp: Path) -> tuple[int, str]:
    argv = make(tmp)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    text = err.getvalue().strip()
    if not text:  # per-image errors are JSON lines on stdout
        lines = [json.loads(l) for l in out.getvalue().splitlines() if l.strip()]
        text = next((l["error"] for l in lines if "error" in l), "")
    # the shipped model's digest changes with every retraining; the table should not
    text = re.sub(r"sha256 [0-9a-f]{12}\.\.\. does", "sha256 <12 hex digits>... does", text)
    return code, text.replace(str(tmp), T)


@pytest.mark.parametrize("what, make, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, what, make, code, message):
    got_code, got = run_case(make, tmp_path)
    assert got_code == code
    assert "\n" not in got and "Traceback" not in got and got
    if message is not None:
        assert got == message


def test_table_has_enough_cases_and_doc_is_current(tmp_path_factory):
    assert len(CASES) >= 20
    # the network rows that follow are checked by tests/test_bad_network_input.py
    assert DOC.read_text().split("\n## Network input", 1)[0] == render(tmp_path_factory.mktemp)


def render(mktemp) -> str:
    rows = ["# Bad configs and inputs, and what they get", "",
            "Generated by `python -m tests.test_bad_input` from the cases in `tests/test_bad_input.py`, which",
            "checks every line below. `<tmp>` is the folder holding the file. Config and model errors end the",
            "command with exit code 2 and one line on stderr; a bad image among several is reported as the",
            "`error` of its own JSON line, the others are still processed, and the exit code is 1.", "",
            "| input | exit | message |", "|---|---|---|"]
    for what, make, _, _ in CASES:
        code, got = run_case(make, Path(mktemp("doc")))
        rows.append(f"| {what} | {code} | `{got}` |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import tempfile

    from tests.test_bad_network_input import network_section

    print(render(lambda name: Path(tempfile.mkdtemp(prefix=name))) + "\n" + network_section(), end="")
