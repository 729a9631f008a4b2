"""Event and state payloads (plain dicts, JSON-ready) and their schema check."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from .door.decision import Decision, FaceVerdict, Outcome, Reason

DECISIONS = tuple(Outcome)
REASONS = tuple(Reason)


def utc_now_iso() -> str:
    """The time now as ISO 8601 UTC with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def face_dict(f: FaceVerdict) -> dict[str, Any]:
    """A face as the event payload carries it."""
    return {"label": f.label, "score": round(f.score, 4), "box": [int(v) for v in f.box]}


def build_event(decision: Decision, kiosk_id: str, model: dict[str, str], latency_ms: float) -> dict[str, Any]:
    """The event payload of a decision (README, "events"), with a new uuid and the time now."""
    return {
        "id": str(uuid.uuid4()),
        "ts": utc_now_iso(),
        "kiosk_id": kiosk_id,
        "decision": decision.decision,
        "reason": decision.reason,
        "faces": [face_dict(f) for f in decision.faces],
        "model": {"name": model["name"], "sha256": model["sha256"]},
        "latency_ms": round(latency_ms, 2),
        **({"track": decision.track} if decision.track is not None else {}),
    }


def manual_event(kiosk_id: str, model: dict[str, str], reason: Reason = Reason.MANUAL) -> dict[str, Any]:
    """An opening by a person (staff button: "manual"; signed remote command: "remote")."""
    return build_event(Decision(Outcome.OPEN, reason, ()), kiosk_id, model, 0.0)


def check_event(event: dict[str, Any]) -> list[str]:
    """Problems with an event payload (empty list: valid). Used by tests and consumers."""
    problems = []
    want = {"id": str, "ts": str, "kiosk_id": str, "decision": str, "reason": str, "faces": list,
            "model": dict, "latency_ms": (int, float)}
    for key, typ in want.items():
        if key not in event:
            problems.append(f"missing {key}")
        elif not isinstance(event[key], typ):
            problems.append(f"{key} has type {type(event[key]).__name__}")
    if problems:
        return problems
    try:
        uuid.UUID(event["id"])
    except ValueError:
        problems.append("id is not a uuid")
    try:
        ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        if ts.utcoffset() is None or ts.utcoffset().total_seconds() != 0:
            problems.append("ts is not UTC")
    except ValueError:
        problems.append("ts is not ISO 8601")
    if event["decision"] not in DECISIONS:
        problems.append(f"decision {event['decision']!r}")
    if event["reason"] not in REASONS:
        problems.append(f"reason {event['reason']!r}")
    if set(event["model"]) != {"name", "sha256"}:
        problems.append("model must have name and sha256")
    for face in event["faces"]:
        if set(face) != {"label", "score", "box"} or len(face["box"]) != 4:
            problems.append(f"face {face}")
    if "track" in event and (not isinstance(event["track"], int) or isinstance(event["track"], bool)
                             or event["track"] < 1):
        problems.append(f"track {event['track']!r}")
    if event["latency_ms"] < 0:
        problems.append("latency_ms < 0")
    return problems
