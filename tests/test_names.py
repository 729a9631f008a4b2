"""The closed sets have names (issue 16): decisions, reasons, modes and light patterns as StrEnums,
whose values are exactly the strings the payloads carry and the README documents."""

from __future__ import annotations

import json
import re

import pytest

from kiosk.door.decision import MODES, Decision, Mode, Outcome, Reason
from kiosk.door.lights import Pattern
from kiosk.events import build_event, check_event, manual_event
from tests.conftest import ROOT

MODEL = {"name": "m", "sha256": "ab" * 32}


def readme_choices(topic: str, key: str) -> set[str]:
    """The "a"|"b" choices of `key` in the README's row for `topic`."""
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(f"| `{topic}` |"))
    found = re.search(rf'"{key}": ((?:"\w+"\\\|)*"\w+")', row)
    assert found, (topic, key)
    return set(re.findall(r'"(\w+)"', found.group(1)))


def test_the_readme_documents_every_value_and_no_other():
    assert readme_choices("events", "decision") == {o.value for o in Outcome}
    assert readme_choices("events", "reason") == {r.value for r in Reason}
    assert readme_choices("state", "mode") == {m.value for m in Mode}


def test_the_payloads_carry_the_plain_strings():
    event = build_event(Decision(Outcome.DENY, Reason.INCORRECT, ()), "k1", MODEL, 1.0)
    text = json.dumps(event, separators=(",", ":"))
    assert '"decision":"deny","reason":"incorrect"' in text
    assert check_event(json.loads(text)) == []
    assert json.loads(json.dumps(manual_event("k1", MODEL, Reason.REMOTE)))["reason"] == "remote"
    assert f"{Outcome.OPEN:<5}|{Pattern.FAULT}" == "open |fault"  # as the log and the demo print them
    assert ", ".join(MODES) == "auto, locked"  # the refusal text of a bad mode


@pytest.mark.parametrize("enum, bad", [(Outcome, "maybe"), (Reason, "party"), (Mode, "party"), (Pattern, "party")])
def test_a_value_outside_the_set_is_refused(enum, bad):
    with pytest.raises(ValueError):
        enum(bad)
    event = build_event(Decision(Outcome.OPEN, Reason.MASK, ()), "k1", MODEL, 1.0)
    if enum is Outcome:
        assert check_event(dict(event, decision=bad)) == [f"decision {bad!r}"]
    if enum is Reason:
        assert check_event(dict(event, reason=bad)) == [f"reason {bad!r}"]
