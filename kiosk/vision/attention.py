"""Which faces of a frame need the classifier: pay for each person once, not for every face in every frame.

Two kinds of face need no verdict of their own:
- **A person already decided, in their cooldown.** The decider takes no evidence from a person for
  `decision.cooldown_seconds` after deciding (kiosk/door/decision.py), so classifying them on every one of those
  frames buys nothing: their last verdict stands in for as long as the face stays where it was (the new
  box overlaps the old one by `SAME_PLACE`). Only for the cooldown: evidence for a decision is always
  fresh, one classification per frame, so k of n frames still means k classifications.
- **A bystander under `zone.outside = "ignore"`**: a face outside the zone's region, or narrower than
  `zone.near` x the person in front (kiosk/vision/tracking.py), can neither open nor shut the gate. Only while
  someone is at the gate: with nobody there every face is classified, since the visitor screen says
  "Please step closer" for faces seen but too far (kiosk/web/presence.py) and must not be told of a poster. Which faces
  those are depends only on the boxes, so it is known before classifying; but the person in front may
  turn out to be a detector mistake (`not_face`, a weak box), and then the next widest face leads. So
  the analyser asks again with what is left and classifies whoever has become relevant
  (kiosk/vision/analysis.py): the verdicts are those of classifying everyone, less the bystanders'.

It also holds the people to **follow**: the boxes of the faces found in the frame detected last that can
matter (`needed`; the analyser sets them as it detects, so with overlap a newcomer is followed from the
next frame, not only once decided on). With
`detector.full_every` > 1 the detector looks for them in small windows around those boxes
(kiosk/vision/yunet.py's `follow`) and runs over the whole frame only every `full_every`-th frame, when nobody is
followed, or when the windows come back empty: a newcomer is found at the next whole-frame pass.

Pure code; after every decision step the frame loop calls `observe` (the daemon, the bench, the Pi 4
estimate's `daemon_rates`), and `forget` when nobody can be known to stand there any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..door.decision import FaceVerdict
from .boxes import iou
from .tracking import Zone

SAME_PLACE = 0.5  # IoU with the decided face's last box: still the same person standing there
# A decided person's verdict stands in for new ones only while their cooldown has at least this long to run,
# seconds: the frame classified next may be a frame or two later than the one last decided (kiosk/vision/overlap.py).
SETTLED_MARGIN_S = 0.5


def attention_for(cfg) -> "Attention | None":
    """The attention a config asks for (`classifier.attention`), None when it is off."""
    return Attention(Zone.of(cfg), cfg.zone.outside) if cfg.classifier.attention else None


@dataclass
class Attention:
    """What the analyser may skip: `settled` verdicts (people in their cooldown) and, under the ignore
    policy, bystanders of the zone."""

    zone: Zone
    outside: str = "hold"
    frame_size: tuple[int, int] | None = None
    settled: list[FaceVerdict] = field(default_factory=list)
    follow: list[tuple[int, int, int, int]] = field(default_factory=list)

    def observe(self, decider, now: float) -> None:
        """After `decider` (kiosk/vision/tracking.py's PersonDecider) took the frame decided at `now`: who is
        settled. (Who is followed, the analyser sets as it detects.)"""
        self.settled = decider.settled(now + SETTLED_MARGIN_S)

    def forget(self) -> None:
        """Nobody is known to stand there (a camera gap, a new group of people)."""
        self.settled, self.follow = [], []

    def reuse(self, box: tuple[int, int, int, int]) -> FaceVerdict | None:
        """The settled verdict of the person still standing at `box`, moved to it; None: classify it."""
        best = max(self.settled, key=lambda v: iou(v.box, box), default=None)
        if best is None or iou(best.box, box) < SAME_PLACE:
            return None
        return FaceVerdict(best.label, best.score, best.mask_prob, tuple(box), best.det_score, best.whole)

    def needed(self, boxes: list[tuple[int, int, int, int]], whole: list[bool] | None = None) -> list[bool]:
        """Per box of one frame (and whether its face is in the picture, not cut by the frame's edge): can its
        verdict matter to the gate? (Everyone can under `hold`.)"""
        if self.outside != "ignore":
            return [True] * len(boxes)
        roles = self.zone.roles(boxes, self.frame_size, whole)
        if not any(gate for gate, _ in roles):
            return [True] * len(boxes)  # nobody at the gate: the screen still needs to know who is in view
        return [gate or near for gate, near in roles]
