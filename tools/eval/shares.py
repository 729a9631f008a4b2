"""Small statistics for the evaluation tools: how sure a measured share is, and whether two runs differ."""

from __future__ import annotations

import math


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """Wilson's 95 % interval of a share k / n (people are independent; good at shares near 1)."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


def flips_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar test on the same items judged twice: the chance of a split at least this
    uneven between `gained` and `lost` if both runs were equally good (1.0 when nothing changed)."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2 ** n
    return min(1.0, 2 * tail)
