"""Decide per person, not per frame: face tracks, a gate zone, and one k-of-n decider per track.

Why: with one decider for the whole frame, a bystander walking past the gate resets or steals the
evidence of the person standing at it, and a face the detector drops for a frame or two starts over.
Here every face gets a track (matched frame to frame by box overlap, or by centre distance when it moves
fast), each track keeps its own window of evidence (kiosk/door/decision.py's Decider), and only a track at the
gate can open the gate or be denied.

Who is at the gate: the gate serves one person at a time, the one in front. A face is *at the gate* when
its box centre is inside the zone (a region of the frame) and it is at least `min_face_px` wide; the
*front person* is the widest face at the gate. Everyone close enough to walk through with them, a face in
the zone at least `near` times the front person's width (however small in pixels), is *with the front
person*: a bad face among them holds the gate for everyone (a masked person cannot open it for an
unmasked one beside or just behind them), and is denied itself when it is at the gate. Faces narrower
than that, a passer-by far behind, a half face, a printed poster across the hall, are *bystanders*, as are
faces outside the zone's region and faces cut by the frame's edge (`FaceVerdict.whole`, detector.max_cut: a
visitor still stepping into the picture); what a bad bystander does is a policy (`outside`):
  ignore  it plays no part: it neither opens nor shuts the gate (the default since session 14: on real
          scenes most gates were held by small faces far behind the person in front);
  hold    it holds the gate closed while it is in view, but is never denied itself (deny-safe).
`near` = 0 turns this off: every face at the gate decides and holds, any other face follows `outside` (the
policy before session 14).

Pure code, no I/O: time and frame size are passed in. Single images (`scan`, the scene evaluation) have no
tracks, but `zoned_frame_decision` applies the same zone and policy to one frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..door.decision import (
    Decider,
    Decision,
    FaceVerdict,
    Outcome,
    Policy,
    single_frame_decision,
)
from .boxes import iou

if TYPE_CHECKING:
    from ..config import Config

OUTSIDE_POLICIES = ("hold", "ignore")


@dataclass(frozen=True)
class Zone:
    """Where a person is "at the gate": box centre inside (x0, y0, x1, y1), fractions of the frame,
    and the face at least `min_face_px` wide; who is with the front person: `near` (module docstring)."""

    x0: float = 0.0
    y0: float = 0.0
    x1: float = 1.0
    y1: float = 1.0
    min_face_px: int = 0
    near: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.x0 < self.x1 <= 1.0 and 0.0 <= self.y0 < self.y1 <= 1.0):
            raise ValueError(f"zone must be 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got "
                             f"{[self.x0, self.y0, self.x1, self.y1]}")
        if self.min_face_px < 0:
            raise ValueError(f"zone min_face_px must be >= 0, got {self.min_face_px}")
        if not 0.0 <= self.near <= 1.0:
            raise ValueError(f"zone near must be 0..1, got {self.near}")

    @classmethod
    def of(cls, cfg: "Config") -> "Zone":
        """The config's zone. It owns the smallest face that can be at the gate: zone.min_face_px, and never
        less than detector.min_face_px (narrower faces are dropped before they reach the zone)."""
        z = cfg.zone
        return cls(z.x0, z.y0, z.x1, z.y1, max(z.min_face_px, cfg.detector.min_face_px), z.near)

    def inside(self, box: tuple[int, int, int, int], frame_size: tuple[int, int] | None) -> bool:
        """The box centre lies in the zone's region (any size)."""
        if frame_size is None:
            return True
        x, y, w, h = box
        fw, fh = frame_size
        cx, cy = (x + w / 2) / fw, (y + h / 2) / fh
        return self.x0 <= cx <= self.x1 and self.y0 <= cy <= self.y1

    def holds(self, box: tuple[int, int, int, int], frame_size: tuple[int, int] | None) -> bool:
        """At the gate: in the region and at least min_face_px wide."""
        return box[2] >= self.min_face_px and self.inside(box, frame_size)

    def roles(self, boxes: list[tuple[int, int, int, int]], frame_size: tuple[int, int] | None,
              whole: list[bool] | None = None) -> list[tuple[bool, bool]]:
        """(at the gate, with the front person) for each box of one frame (module docstring). A face not
        `whole` (cut by the frame's edge, FaceVerdict.whole) is neither: a bystander."""
        whole = whole if whole is not None else [True] * len(boxes)
        at_gate = [w and self.holds(b, frame_size) for b, w in zip(boxes, whole)]
        if self.near <= 0:
            return [(g, g) for g in at_gate]
        front = max((b[2] for b, g in zip(boxes, at_gate) if g), default=0)
        floor = self.near * front
        return [(g and b[2] >= floor, w and front > 0 and b[2] >= floor and self.inside(b, frame_size))
                for b, g, w in zip(boxes, at_gate, whole)]


def _centre_distance(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Centre distance in units of the larger face's width."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    d = ((ax + aw / 2 - bx - bw / 2) ** 2 + (ay + ah / 2 - by - bh / 2) ** 2) ** 0.5
    return d / max(aw, bw, 1)


@dataclass
class Track:
    """One person's face over frames."""

    id: int
    box: tuple[int, int, int, int]
    decider: Decider
    missed: int = 0  # frames in a row without a matching face
    last: FaceVerdict | None = None  # the latest face matched to it
    frames: int = 0  # frames it was matched in

    @property
    def bad(self) -> bool:
        """Its latest face was not a worn mask (no_mask, incorrect, covered)."""
        return self.last is not None and self.last.label != "mask"


@dataclass
class Tracker:
    """Matches each frame's faces to tracks: greedy by overlap (IoU >= `min_iou`), then by centre
    distance (< `max_jump` face widths per frame since the track was last seen) for a face that moved
    fast or was missed for a frame or two; a track unmatched for `max_missed` frames in a row ends."""

    min_iou: float = 0.3
    max_jump: float = 0.6
    max_missed: int = 5
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, faces: list[FaceVerdict], new_decider) -> list[tuple[Track, FaceVerdict | None]]:
        """Every live track with the face matched to it this frame (None: not seen this frame)."""
        pairs: list[tuple[float, int, int]] = []
        for ti, t in enumerate(self.tracks):
            for fi, f in enumerate(faces):
                o = iou(t.box, f.box)
                if o >= self.min_iou:
                    pairs.append((2.0 + o, ti, fi))  # any overlap match beats any distance match
                else:
                    d = _centre_distance(t.box, f.box) / (1 + t.missed)
                    if d < self.max_jump:
                        pairs.append((1.0 - d, ti, fi))
        pairs.sort(reverse=True)
        matched: dict[int, int] = {}
        used: set[int] = set()
        for _, ti, fi in pairs:
            if ti in matched or fi in used:
                continue
            matched[ti] = fi
            used.add(fi)
        out: list[tuple[Track, FaceVerdict | None]] = []
        alive: list[Track] = []
        for ti, t in enumerate(self.tracks):
            if ti in matched:
                f = faces[matched[ti]]
                t.box, t.last, t.missed = f.box, f, 0
                t.frames += 1
                out.append((t, f))
                alive.append(t)
            else:
                t.missed += 1
                if t.missed <= self.max_missed:
                    out.append((t, None))
                    alive.append(t)
        for fi, f in enumerate(faces):
            if fi not in used:
                t = Track(self._next_id, f.box, new_decider(), last=f, frames=1)
                self._next_id += 1
                out.append((t, f))
                alive.append(t)
        self.tracks = alive
        return out

    def reset(self) -> None:
        """Forget every track (camera lost, model reloaded); ids keep counting."""
        self.tracks = []


def zoned_frame_decision(faces: list[FaceVerdict], mask_threshold: float, zone: Zone, outside: str = "hold",
                         frame_size: tuple[int, int] | None = None) -> Literal["open", "deny", "none"]:
    """The decision one frame alone supports, as the daemon's per-person deciders would take it: a bad
    face at the gate denies; else any sure mask at the gate opens, unless a bad face with the front person
    (or, under `hold`, a bad bystander) holds the gate; an unsure mask neither opens nor holds (its own
    track would wait). Nobody at the gate, or only unsure masks: "none"."""
    roles = zone.roles([f.box for f in faces], frame_size, [f.whole for f in faces])
    at_gate = [f for f, (gate, _) in zip(faces, roles) if gate]
    if any(f.label != "mask" for f in at_gate):
        return Outcome.DENY
    if not any(single_frame_decision([f], mask_threshold) == Outcome.OPEN for f in at_gate):
        return "none"
    held = any(f.label != "mask" and (near or outside == "hold") for f, (_, near) in zip(faces, roles))
    return Outcome.DENY if held else Outcome.OPEN


class PersonDecider:
    """Decider's interface for a whole frame of faces, deciding per person (see the module docstring).

    `update` returns the frame's decisions, denies first, then by face size (largest first).
    """

    def __init__(self, policy: Policy, zone: Zone | None = None, outside: str = "hold") -> None:
        if outside not in OUTSIDE_POLICIES:
            raise ValueError(f"outside policy must be one of {OUTSIDE_POLICIES}, got {outside!r}")
        self.policy = policy
        self.zone = zone or Zone()
        self.outside = outside
        self.tracker = Tracker(max_missed=policy.absent_frames)

    @classmethod
    def of(cls, cfg) -> "PersonDecider":
        """The decider a config's [decision] and [zone] sections describe (kiosk.config.Config)."""
        d, z = cfg.decision, cfg.zone
        return cls(Policy(d.mask_threshold, d.k, d.n, d.cooldown_seconds, d.absent_frames), Zone.of(cfg), z.outside)

    @property
    def present(self) -> bool:
        """Someone is at the gate (a live track in the zone)."""
        return any(t.decider.present for t in self.tracker.tracks)

    def reset(self) -> None:
        self.tracker.reset()

    def settled(self, now: float) -> list[FaceVerdict]:
        """The latest faces of the people decided and still in their cooldown at `now`, seen in the last
        frame: their deciders take no evidence, so the analyser may let these verdicts stand in
        (kiosk/vision/attention.py)."""
        return [t.last for t in self.tracker.tracks
                if t.last is not None and t.missed == 0 and t.decider.cooling(now)]

    def update(self, now: float, faces: list[FaceVerdict] | tuple[FaceVerdict, ...],
               frame_size: tuple[int, int] | None = None) -> list[Decision]:
        seen = self.tracker.update(list(faces), lambda: Decider(self.policy))
        # a track's last face is this frame's when seen (Tracker.update sets it), else the one it had
        whole = [t.last is None or t.last.whole for t, _ in seen]
        roles = dict(zip((t.id for t, _ in seen), self.zone.roles([t.box for t, _ in seen], frame_size, whole)))
        # A bad face holds the gate for everyone else while its track lives: with the front person
        # always, as a bystander under the `hold` policy.
        holding = [t.id for t, _ in seen if t.bad and (roles[t.id][1] or self.outside == "hold")]
        decisions: list[Decision] = []
        for t, f in seen:
            if not roles[t.id][0]:  # not at the gate
                if t.decider.present:
                    t.decider.reset()  # left the gate (or fell behind the front person): its evidence no longer counts
                continue
            hold = any(h != t.id for h in holding)
            d = t.decider.update(now, [f] if f is not None else [], hold=hold)
            if d is not None:
                decisions.append(Decision(d.decision, d.reason, d.faces, track=t.id))
        decisions.sort(key=lambda d: (d.decision != "deny", -d.faces[0].box[2] if d.faces else 0))
        return decisions
