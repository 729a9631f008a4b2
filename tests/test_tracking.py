"""Per-person decisions (kiosk/vision/tracking.py): tracks across frames, the gate zone and its policy."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.door.decision import FaceVerdict, Policy
from kiosk.vision.tracking import PersonDecider, Tracker, Zone, zoned_frame_decision

FRAME = (640, 480)
POLICY = Policy(mask_threshold=0.7, k=3, n=5, cooldown_seconds=3.0, absent_frames=5)


def face(label: str, x: int, y: int, w: int, p: float = 0.95) -> FaceVerdict:
    mask_prob = p if label == "mask" else 0.02
    return FaceVerdict(label=label, score=p, mask_prob=mask_prob, box=(x, y, w, w))


def run(decider: PersonDecider, frames: list[list[FaceVerdict]], fps: float = 15.0):
    """[(frame index, decision)] for every decision made."""
    out = []
    for i, faces in enumerate(frames):
        for d in decider.update(i / fps, faces, FRAME):
            out.append((i, d))
    return out


def test_two_people_crossing_keep_their_tracks():
    tracker = Tracker()
    ids = {}
    for i in range(20):
        a = face("mask", 40 + 25 * i, 200, 120)  # walks right, near the camera
        b = face("no_mask", 520 - 25 * i, 120, 70)  # walks left behind, higher up and smaller
        seen = tracker.update([a, b], lambda: None)
        by_box = {f.box: t.id for t, f in seen if f is not None}
        ids.setdefault("a", by_box[a.box])
        ids.setdefault("b", by_box[b.box])
        assert by_box[a.box] == ids["a"] and by_box[b.box] == ids["b"], i
    assert ids["a"] != ids["b"]


def test_a_face_lost_for_a_few_frames_keeps_its_track_and_its_evidence():
    d = PersonDecider(POLICY)
    frames = [[face("mask", 200, 150, 120)] for _ in range(2)]
    frames += [[] for _ in range(3)]  # the detector drops the face for 3 frames
    frames += [[face("mask", 206, 152, 120)] for _ in range(3)]
    got = run(d, frames)
    # k=3: two frames before the gap and one after suffice, on the same track
    assert [(i, x.decision, x.track) for i, x in got] == [(5, "open", 1)]


def test_a_track_lost_for_longer_than_absent_frames_starts_over():
    tracker = Tracker(max_missed=5)
    (t1, _), = tracker.update([face("mask", 200, 150, 120)], lambda: None)
    for _ in range(6):
        tracker.update([], lambda: None)
    (t2, _), = tracker.update([face("mask", 200, 150, 120)], lambda: None)
    assert t2.id != t1.id


def test_two_people_entering_together_are_decided_each():
    d = PersonDecider(POLICY)
    frames = [[face("mask", 100, 150, 110), face("mask", 380, 160, 100)] for _ in range(3)]
    got = run(d, frames)
    assert sorted((i, x.decision, x.track) for i, x in got) == [(2, "open", 1), (2, "open", 2)]
    # the larger face first
    assert got[0][1].faces[0].box[2] == 110


def test_an_unmasked_person_beside_a_masked_one_is_denied_and_nobody_opens():
    d = PersonDecider(POLICY)
    frames = [[face("mask", 100, 150, 110), face("no_mask", 380, 160, 100)] for _ in range(8)]
    got = run(d, frames)
    assert [(x.decision, x.reason) for _, x in got] == [("deny", "no_mask")]
    assert got[0][0] == 2 and got[0][1].track == 2


def test_a_bystander_walking_past_does_not_reset_or_steal_the_evidence():
    # the person at the gate stands still; the bystander crosses behind, small, outside the zone
    zone = Zone(0.2, 0.0, 0.8, 1.0, min_face_px=90)
    frames = []
    for i in range(6):
        person = face("mask", 260, 170, 120)
        bystander = face("no_mask", 20 + 110 * i, 60, 50)
        frames.append([bystander, person] if i % 2 else [person, bystander])  # any order
    ignore = run(PersonDecider(POLICY, zone, outside="ignore"), frames)
    assert [(i, x.decision, x.track) for i, x in ignore] == [(2, "open", 1)]
    # deny-safe default: the gate stays shut while an unmasked face is in view, the evidence is kept,
    # and the person is let in as soon as the bystander has gone; the bystander is never denied
    frames += [[face("mask", 260, 170, 120)] for _ in range(8)]
    hold = run(PersonDecider(POLICY, zone), frames)
    assert [(x.decision, x.track) for _, x in hold] == [("open", 1)]
    assert hold[0][0] > 5  # after the bystander left (its track ends after absent_frames misses)


def test_only_a_face_in_the_zone_is_decided():
    zone = Zone(0.25, 0.25, 0.75, 0.75, min_face_px=80)
    # outside by position, then too small: no decision at all
    assert run(PersonDecider(POLICY, zone), [[face("no_mask", 10, 10, 120)]] * 6) == []
    assert run(PersonDecider(POLICY, zone), [[face("no_mask", 280, 200, 60)]] * 6) == []
    got = run(PersonDecider(POLICY, zone), [[face("no_mask", 260, 180, 120)]] * 6)
    assert [(x.decision, x.reason) for _, x in got] == [("deny", "no_mask")]


def test_leaving_the_zone_drops_the_evidence():
    zone = Zone(0.0, 0.0, 0.5, 1.0)
    # the same person walks out of the zone and back, 40 px a frame (centre at x = 320 is the edge)
    xs = [200, 240, 280, 320, 280, 240, 200]  # centres 255 295 | 335 375 335 | 295 255
    frames = [[face("mask", x, 150, 110)] for x in xs]
    got = run(PersonDecider(POLICY, zone), frames)
    assert got == []  # 2 frames in the zone before leaving it and 2 after: never k=3 at once
    got = run(PersonDecider(POLICY, zone), frames + [[face("mask", 200, 150, 110)]])
    assert [(i, x.decision, x.track) for i, x in got] == [(7, "open", 1)]


def test_cooldown_is_per_person():
    d = PersonDecider(POLICY)
    frames = [[face("mask", 100, 150, 110)] for _ in range(30)]  # 2 s at 15 fps
    frames += [[face("mask", 100, 150, 110), face("no_mask", 400, 150, 110)] for _ in range(3)]
    got = run(d, frames)
    assert [(x.decision, x.track) for _, x in got] == [("open", 1), ("deny", 2)]


def test_one_frame_follows_the_zone_and_its_policy():
    # `scan`: a small face (here 36 px, under the zone's 40) cannot open the gate, but if bad it holds it
    zone = Zone(min_face_px=40)
    person, small_bad, small_ok = face("mask", 260, 170, 120), face("no_mask", 20, 60, 36), face("mask", 400, 60, 36)
    assert zoned_frame_decision([person], 0.7, zone, "hold", FRAME) == "open"
    assert zoned_frame_decision([person, small_bad], 0.7, zone, "hold", FRAME) == "deny"
    assert zoned_frame_decision([person, small_bad], 0.7, zone, "ignore", FRAME) == "open"
    assert zoned_frame_decision([person, small_ok], 0.7, zone, "hold", FRAME) == "open"
    assert zoned_frame_decision([small_ok], 0.7, zone, "hold", FRAME) == "none"  # nobody at the gate
    assert zoned_frame_decision([small_bad], 0.7, zone, "hold", FRAME) == "none"
    assert zoned_frame_decision([face("no_mask", 260, 170, 120), small_ok], 0.7, zone, "hold", FRAME) == "deny"
    # by position too: the same bad face outside the zone's region
    left = Zone(0.0, 0.0, 0.5, 1.0)
    assert zoned_frame_decision([face("mask", 60, 170, 120), face("no_mask", 500, 170, 120)], 0.7, left,
                                "hold", FRAME) == "deny"


ONE_FRAME_CASES = {
    "one sure mask": [face("mask", 260, 170, 120)],
    "a sure and an unsure mask": [face("mask", 260, 170, 120), face("mask", 60, 170, 110, p=0.5)],
    "only an unsure mask": [face("mask", 260, 170, 120, p=0.5)],
    "a sure mask beside a bad face": [face("mask", 260, 170, 120), face("incorrect", 60, 170, 110)],
    "a sure mask, a small bad face behind": [face("mask", 260, 170, 120), face("no_mask", 20, 60, 36)],
    "a small sure mask alone": [face("mask", 400, 60, 36)],
}


@pytest.mark.parametrize("case", list(ONE_FRAME_CASES))
def test_one_frame_decides_as_the_daemon_does(case):
    # `scan` and the scene evaluation stand for the daemon: the same faces held still for n frames open
    # the gate in the daemon exactly when one frame of them says "open" (an unsure mask waits on its own)
    faces, zone = ONE_FRAME_CASES[case], Zone(min_face_px=40)
    daemon = {d.decision for _, d in run(PersonDecider(POLICY, zone), [faces] * POLICY.n)}
    one = zoned_frame_decision(faces, POLICY.mask_threshold, zone, "hold", FRAME)
    assert ("open" in daemon) == (one == "open"), (daemon, one)
    assert ("deny" in daemon) <= (one == "deny"), (daemon, one)


@pytest.mark.parametrize("bad", [dict(x0=0.5, x1=0.4), dict(y1=1.5), dict(min_face_px=-1)])
def test_bad_zones_are_refused(bad):
    with pytest.raises(ValueError, match="zone"):
        Zone(**bad)


def test_bad_outside_policy_is_refused():
    with pytest.raises(ValueError, match="outside policy"):
        PersonDecider(POLICY, outside="maybe")


# zone.near: the person in front and who is with them
NEAR = Zone(min_face_px=40, near=0.6)


def test_a_bad_face_far_behind_the_person_in_front_neither_opens_nor_shuts_the_gate():
    front, far_bad = face("mask", 260, 170, 120), face("no_mask", 20, 60, 60)  # 60 < 0.6 x 120, yet >= 40 px
    assert zoned_frame_decision([front, far_bad], 0.7, NEAR, "ignore", FRAME) == "open"
    assert zoned_frame_decision([front, far_bad], 0.7, NEAR, "hold", FRAME) == "deny"  # the deny-safe policy
    got = run(PersonDecider(POLICY, NEAR, outside="ignore"), [[front, far_bad]] * 6)
    assert [(x.decision, x.faces[0].box[2]) for _, x in got] == [("open", 120)]  # never denied himself


def test_a_bad_face_close_behind_holds_the_gate_however_small():
    front = face("mask", 260, 170, 120)
    close_bad = face("no_mask", 60, 100, 80)  # at the gate, >= 0.6 x 120: denied, nobody opens
    small_close_bad = face("incorrect", 60, 100, 36)  # under min_face_px but >= 0.6 x 50
    assert zoned_frame_decision([front, close_bad], 0.7, NEAR, "ignore", FRAME) == "deny"
    got = run(PersonDecider(POLICY, NEAR, outside="ignore"), [[front, close_bad]] * 8)
    assert [(x.decision, x.faces[0].box[2]) for _, x in got] == [("deny", 80)]
    small_front = face("mask", 260, 170, 50)
    assert zoned_frame_decision([small_front, small_close_bad], 0.7, NEAR, "ignore", FRAME) == "deny"
    got = run(PersonDecider(POLICY, NEAR, outside="ignore"), [[small_front, small_close_bad]] * 8)
    assert got == []  # held, and the small face is not at the gate, so it is not denied either
    # near = 0: the policy before, where such a small face only holds under `hold`
    assert zoned_frame_decision([small_front, small_close_bad], 0.7, Zone(min_face_px=40), "ignore", FRAME) == "open"


def test_the_front_person_is_the_widest_face_at_the_gate_not_outside_the_zone():
    left = Zone(0.0, 0.0, 0.5, 1.0, min_face_px=40, near=0.6)
    big_outside = face("mask", 420, 150, 200)  # centre x 520: outside the zone's region
    person, beside_bad = face("mask", 60, 150, 100), face("no_mask", 200, 150, 70)
    # the big face outside the zone does not make the unmasked person beside the masked one a bystander
    assert zoned_frame_decision([big_outside, person, beside_bad], 0.7, left, "ignore", FRAME) == "deny"


@pytest.mark.parametrize("near", [-0.1, 1.5])
def test_bad_near_is_refused(near):
    with pytest.raises(ValueError, match="near"):
        Zone(near=near)


def test_one_iou_for_boxes_and_rows():
    from kiosk.vision.boxes import iou, iou_corners_many

    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    row = np.array([0, 0, 10, 10, 0.9], np.float32)  # a YuNet row: box first
    assert iou(row, (0, 0, 10, 10)) == pytest.approx(1.0)
    many = iou_corners_many(np.array([0, 0, 10, 10.0]), np.array([[5, 0, 15, 10.0], [20, 20, 30, 30.0]]))
    assert many.tolist() == pytest.approx([50 / 150, 0.0])
