"""The temporal decision: pure code, no I/O, time passed in.

Per frame the classified faces give a frame verdict:
  none    no face (big enough) in view
  bad     at least one face is `no_mask`, `incorrect` or `covered` (something over the face that is not
          a worn mask: paper, a book, a hand, a scarf)
  ok      every face is `mask` with probability >= mask_threshold
  unsure  every face is `mask`, but at least one below the threshold

A presence starts with the first frame that has a face and ends after `absent_frames` frames in a
row without one. Within a presence the last `n` frames that had faces are kept (detector misses do not
push evidence out of the window). Then:
  deny  when at least k of them are bad (reason: the commonest bad label; `incorrect` wins ties,
        since it is the more specific finding),
  open  when at least k of them are ok and none of them is bad (a single bad frame holds the gate:
        it fails closed).
After a decision the window is cleared, and no new decision is made for the same presence until
`cooldown_seconds` have passed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

NONE, BAD, OK, UNSURE = "none", "bad", "ok", "unsure"


class Mode(StrEnum):
    """How the door runs: auto (decisions open the gate), locked (decisions are made and published,
    the gate never opens by itself)."""

    AUTO = "auto"
    LOCKED = "locked"


MODES = tuple(Mode)


class Outcome(StrEnum):
    """What a decision does at the gate (the events' `decision`)."""

    OPEN = "open"
    DENY = "deny"


class Reason(StrEnum):
    """Why (the events' `reason`): the faces' label, a person, or the locked mode."""

    MASK = "mask"
    NO_MASK = "no_mask"
    INCORRECT = "incorrect"  # a mask below the nose
    COVERED = "covered"  # something over nose and mouth that is not a worn mask
    MANUAL = "manual"  # the staff button
    REMOTE = "remote"  # a signed remote command
    LOCKED = "locked"  # the faces would open, but the kiosk is in locked mode


@dataclass(frozen=True)
class FaceVerdict:
    """One face of a frame as the classifier saw it."""

    label: str
    score: float  # classifier probability of `label`
    mask_prob: float  # classifier probability of `mask`
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    det_score: float = 1.0
    # False: cut by the frame's edge (detector.max_cut), half in view: a bystander, whatever its size and place
    whole: bool = True


@dataclass(frozen=True)
class Decision:
    """What the kiosk decided for one presence, with the faces of the frame that decided it."""

    decision: Outcome
    reason: str  # a Reason: for the Decider's decisions the faces' label (mask, no_mask, incorrect, covered)
    faces: tuple[FaceVerdict, ...]
    track: int | None = None  # the person's track (kiosk/vision/tracking.py); None: decided on whole frames


@dataclass(frozen=True)
class Policy:
    """The decision's settings (config section [decision])."""

    mask_threshold: float = 0.7  # as config.toml: model card, "On independent real photos"
    k: int = 3
    n: int = 5
    cooldown_seconds: float = 3.0
    absent_frames: int = 5

    def __post_init__(self) -> None:
        if not (1 <= self.k <= self.n):
            raise ValueError(f"need 1 <= k <= n, got k={self.k} n={self.n}")


def frame_verdict(faces: list[FaceVerdict] | tuple[FaceVerdict, ...], mask_threshold: float) -> tuple[str, str | None]:
    """Classify one frame: (verdict, the bad label if any)."""
    if not faces:
        return NONE, None
    bad = [f.label for f in faces if f.label != "mask"]
    if bad:
        return BAD, ("incorrect" if "incorrect" in bad else bad[0])
    if all(f.mask_prob >= mask_threshold for f in faces):
        return OK, None
    return UNSURE, None


def single_frame_decision(faces: list[FaceVerdict], mask_threshold: float) -> Literal["open", "deny", "none"]:
    """The decision one frame alone would support: open | deny | none (used by `scan`)."""
    verdict, _ = frame_verdict(faces, mask_threshold)
    return {BAD: Outcome.DENY, OK: Outcome.OPEN}.get(verdict, "none")


class Decider:
    """Feeds on frames, emits a Decision when the window supports one."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._window: deque[tuple[str, str | None]] = deque(maxlen=policy.n)
        self._absent = 0
        self._present = False
        self._last_decision_at: float | None = None

    @property
    def present(self) -> bool:
        """Someone has been in view (a presence is going on)."""
        return self._present

    def cooling(self, now: float) -> bool:
        """A decision was made less than `cooldown_seconds` before `now`: new evidence is not taken."""
        return self._last_decision_at is not None and now - self._last_decision_at < self.policy.cooldown_seconds

    def reset(self) -> None:
        """Forget the current presence (camera lost, model reloaded)."""
        self._window.clear()
        self._absent = 0
        self._present = False
        self._last_decision_at = None

    def update(self, now: float, faces: list[FaceVerdict] | tuple[FaceVerdict, ...],
               hold: bool = False) -> Decision | None:
        """Add one frame's faces at time `now`; a Decision when the window supports one, else None.
        `hold`: someone else's bad face holds the gate this frame; the frame still counts, but no
        opening comes of it."""
        p = self.policy
        verdict, bad_label = frame_verdict(faces, p.mask_threshold)
        if verdict == NONE:
            if self._present:
                self._absent += 1
                if self._absent >= p.absent_frames:
                    self.reset()
            return None
        self._present = True
        self._absent = 0
        if self.cooling(now):
            return None
        self._window.append((verdict, bad_label))
        bad_labels = [lbl for v, lbl in self._window if v == BAD]
        oks = sum(1 for v, _ in self._window if v == OK)
        if len(bad_labels) >= p.k:
            counts = {lbl: bad_labels.count(lbl) for lbl in set(bad_labels)}
            best = max(counts.values())
            reason = Reason.INCORRECT if counts.get(Reason.INCORRECT) == best else max(counts, key=counts.get)
            return self._decide(now, Decision(Outcome.DENY, reason, tuple(faces)))
        if oks >= p.k and not bad_labels and verdict == OK and not hold:
            return self._decide(now, Decision(Outcome.OPEN, Reason.MASK, tuple(faces)))
        return None

    def _decide(self, now: float, decision: Decision) -> Decision:
        self._window.clear()
        self._last_decision_at = now
        return decision
