"""Nothing the daemon keeps grows with every decision (issue 17), and the soak's figures are right."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from kiosk.pipeline import RECENT_DECISIONS, Summary
from tools.eval.soak import report, slope, trim_mock_history


def test_summary_keeps_recent_events_and_counts_all():
    s = Summary()
    for i in range(5 * RECENT_DECISIONS + 3):
        s.add({"id": str(i), "decision": "open" if i % 3 == 0 else "deny"})
    assert len(s.decisions) == RECENT_DECISIONS
    assert [e["id"] for e in s.decisions] == [str(i) for i in range(4 * RECENT_DECISIONS + 3, 5 * RECENT_DECISIONS + 3)]
    assert s.decided == 5 * RECENT_DECISIONS + 3
    opens = len(range(0, 5 * RECENT_DECISIONS + 3, 3))
    assert s.count("open") == opens and s.count("deny") == s.decided - opens


def test_slope_and_report():
    assert slope([0, 1, 2, 3], [5, 7, 9, 11]) == 2.0
    assert slope([1], [1]) == 0.0 and slope([2, 2], [1, 3]) == 0.0
    samples = [{"t": t, "rss_kib": 100 * 1024 + t * 2, "frames": t * 10, "decisions": t * 4, "trimmed": 0}
               for t in range(0, 601, 5)]  # 2 KiB a second, 4 decisions a second: 0.5 KiB per decision
    r = report(samples, warmup_s=120, minutes=10, broker=False)
    assert abs(r["slope_mib_per_hour"] - 2 * 3600 / 1024) < 1e-3
    assert abs(r["slope_mib_per_1000_decisions"] - 500 / 1024) < 1e-3
    assert r["decisions_after_warmup"] == 4 * 480 and r["rss_mib_after_warmup"] == round((100 * 1024 + 240) / 1024, 2)


def test_trim_mock_history_keeps_the_current_level():
    f = MockFactory()
    pin = f.pin(5)
    for v in (1, 0, 1, 0, 1):
        pin.drive_high() if v else pin.drive_low()
    n = len(pin.states)
    assert trim_mock_history(f) == n - 1
    assert len(pin.states) == 1 and pin.states[-1].state == pin.state
    f.reset()
