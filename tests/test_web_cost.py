"""tools/eval/web_cost.py's bookkeeping: the rotation of the conditions and the paired medians (the runs
themselves are the benchmark, docs/bench.md, not a test)."""

from __future__ import annotations

from tools.eval import web_cost as wc


def test_each_condition_runs_first_second_and_last_equally_often():
    rounds = [wc.order(r) for r in range(6)]
    for slot in range(3):
        assert sorted(o[slot] for o in rounds) == sorted(wc.CONDITIONS * 2)
    assert all(sorted(o) == sorted(wc.CONDITIONS) for o in rounds)


def test_costs_are_paired_per_round_so_a_slow_round_does_not_count_as_a_cost():
    runs = []
    for rnd, load in enumerate((1.0, 0.5, 1.0)):  # round 1: the machine was twice as busy for everyone
        for c, fps, loop, cpu in ((wc.BASE, 20, 10, 40), (wc.CONDITIONS[1], 20, 10, 40),
                                  (wc.CONDITIONS[2], 19, 10.5, 42)):
            runs.append({"round": rnd, "condition": c, "fps": fps * load, "loop_cpu_ms_per_frame": loop,
                         "cpu_ms_per_frame": cpu})
    s = wc.summarize(runs)
    assert s[wc.BASE]["fps_cost_percent"] == 0.0 and s[wc.CONDITIONS[1]]["fps_cost_percent"] == 0.0
    watched = s[wc.CONDITIONS[2]]
    assert watched["fps_cost_percent"] == 5.0 and watched["fps_cost_range"] == [5.0, 5.0]
    assert watched["loop_cpu_ms_per_frame_cost_percent"] == 5.0 and watched["cpu_ms_per_frame_cost_percent"] == 5.0
    assert watched["median_fps"] == 19 and watched["runs"] == 3
    # the web's own work: 1.5 ms more outside the loop's thread per frame (30 -> 31.5 ms), of the 40 ms a
    # frame takes without web: 3.75 %
    assert watched["median_offloop_cpu_ms_per_frame"] == 31.5 and watched["web_cpu_share_percent"] == 3.8
    text = wc.report(s)
    assert "cost +5.0 % [+5.0, +5.0]" in text and "web CPU share +3.8 % [+3.8, +3.8]" in text
    assert text.count("\n") == 2
