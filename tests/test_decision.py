"""The decision policy: pure code, time passed in."""

from __future__ import annotations

import pytest

from kiosk.door.decision import (
    BAD,
    NONE,
    OK,
    UNSURE,
    Decider,
    FaceVerdict,
    Policy,
    frame_verdict,
    single_frame_decision,
)

BOX = (10, 10, 80, 80)


def mask(p: float = 0.95) -> FaceVerdict:
    return FaceVerdict("mask", p, p, BOX)


def nomask(p: float = 0.9) -> FaceVerdict:
    return FaceVerdict("no_mask", p, 1 - p, BOX)


def incorrect(p: float = 0.9) -> FaceVerdict:
    return FaceVerdict("incorrect", p, (1 - p) / 2, BOX)


def feed(decider: Decider, frames, t0: float = 0.0, dt: float = 0.1):
    """Feed frames (each a list of faces); returns [(frame index, Decision)]."""
    out = []
    for i, faces in enumerate(frames):
        d = decider.update(t0 + i * dt, faces)
        if d is not None:
            out.append((i, d))
    return out


def test_frame_verdicts():
    assert frame_verdict([], 0.8) == (NONE, None)
    assert frame_verdict([mask()], 0.8) == (OK, None)
    assert frame_verdict([mask(0.7)], 0.8) == (UNSURE, None)
    assert frame_verdict([mask(), nomask()], 0.8) == (BAD, "no_mask")
    assert frame_verdict([nomask(), incorrect()], 0.8) == (BAD, "incorrect")
    # a `mask` label below threshold next to a masked face is still not enough
    assert frame_verdict([mask(), mask(0.6)], 0.8) == (UNSURE, None)


def test_threshold_is_inclusive():
    assert frame_verdict([mask(0.8)], 0.8) == (OK, None)
    assert frame_verdict([mask(0.7999)], 0.8) == (UNSURE, None)


def test_single_frame_decision():
    assert single_frame_decision([], 0.8) == "none"
    assert single_frame_decision([mask()], 0.8) == "open"
    assert single_frame_decision([mask(0.6)], 0.8) == "none"
    assert single_frame_decision([mask(), incorrect()], 0.8) == "deny"


def test_opens_after_k_ok_frames_not_before():
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[mask()]] * 3)
    assert [(i, x.decision, x.reason) for i, x in out] == [(2, "open", "mask")]


def test_k_of_n_with_unsure_frames_in_between():
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[mask()], [mask(0.6)], [mask()], [mask(0.6)], [mask()]])
    assert [(i, x.decision) for i, x in out] == [(4, "open")]


def test_not_enough_ok_in_window_never_opens():
    d = Decider(Policy(k=3, n=3))
    out = feed(d, [[mask()], [mask(0.6)], [mask(0.6)], [mask()], [mask(0.6)], [mask(0.6)], [mask()]])
    assert out == []


def test_deny_after_k_bad_frames_with_reason():
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[nomask()]] * 3)
    assert [(i, x.decision, x.reason) for i, x in out] == [(2, "deny", "no_mask")]


def test_incorrect_reason_wins_ties_and_majority():
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[incorrect()], [nomask()], [incorrect()]])
    assert [(x.decision, x.reason) for _, x in out] == [("deny", "incorrect")]
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[nomask()], [incorrect()], [nomask()]])
    assert [(x.decision, x.reason) for _, x in out] == [("deny", "no_mask")]


def test_a_covering_that_is_not_a_mask_denies_with_its_own_reason():
    covered = FaceVerdict("covered", 0.9, 0.05, BOX)
    assert frame_verdict([mask(), covered], 0.8) == (BAD, "covered")
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[covered], [mask()], [covered], [covered]])
    assert [(x.decision, x.reason) for _, x in out] == [("deny", "covered")]


def test_any_bad_face_in_view_blocks_opening():
    d = Decider(Policy(k=3, n=5))
    # Two people: one masked, one not: never opens, and denies once k frames are bad.
    out = feed(d, [[mask(), nomask()]] * 3)
    assert [(i, x.decision) for i, x in out] == [(2, "deny")]


def test_one_bad_frame_in_window_holds_the_gate():
    d = Decider(Policy(k=3, n=5))
    out = feed(d, [[mask()], [nomask()], [mask()], [mask()], [mask()]])
    # window [ok, bad, ok, ok, ok]: 4 ok but a bad one is still in the window
    assert out == []
    out = feed(d, [[mask()], [mask()]], t0=1.0)
    assert [(i, x.decision) for i, x in out] == [(1, "open")]  # once the bad frame has left the window


def test_cooldown_for_the_same_presence():
    d = Decider(Policy(k=2, n=3, cooldown_seconds=1.0))
    out = feed(d, [[mask()]] * 30, dt=0.1)
    frames = [i for i, _ in out]
    # first open at frame 1 (t=0.1); cooldown until t>=1.1, then two fresh frames: 11, 12 -> frame 12
    assert frames[:3] == [1, 12, 23]


def test_new_presence_skips_cooldown():
    d = Decider(Policy(k=2, n=3, cooldown_seconds=100.0, absent_frames=3))
    out = feed(d, [[mask()], [mask()], [], [], [], [nomask()], [nomask()]])
    assert [(i, x.decision) for i, x in out] == [(1, "open"), (6, "deny")]


def test_short_absence_is_the_same_presence():
    d = Decider(Policy(k=2, n=3, cooldown_seconds=100.0, absent_frames=3))
    out = feed(d, [[mask()], [mask()], [], [], [nomask()], [nomask()]])
    assert [(i, x.decision) for i, x in out] == [(1, "open")]
    assert d.present


def test_detector_misses_do_not_push_evidence_out():
    d = Decider(Policy(k=3, n=3, absent_frames=10))
    out = feed(d, [[mask()], [], [mask()], [], [mask()]])
    assert [(i, x.decision) for i, x in out] == [(4, "open")]


def test_no_face_is_idle():
    d = Decider(Policy())
    assert feed(d, [[]] * 50) == []
    assert not d.present


def test_window_cleared_after_decision():
    d = Decider(Policy(k=2, n=5, cooldown_seconds=0.0))
    out = feed(d, [[mask()], [mask()], [mask()], [mask()]])
    assert [i for i, _ in out] == [1, 3]


def test_decision_carries_faces_of_deciding_frame():
    d = Decider(Policy(k=1, n=1))
    faces = [mask(0.99), mask(0.91)]
    dec = d.update(0.0, faces)
    assert dec is not None and dec.faces == tuple(faces)


def test_reset_forgets_presence():
    d = Decider(Policy(k=2, n=3, cooldown_seconds=100))
    feed(d, [[mask()], [mask()]])
    d.reset()
    assert [x.decision for _, x in feed(d, [[nomask()], [nomask()]])] == ["deny"]


def test_policy_rejects_k_above_n():
    with pytest.raises(ValueError):
        Policy(k=4, n=3)
