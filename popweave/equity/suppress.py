"""Small-cell suppression with complementary suppression.

A published cell (a count of people or events, and for proportions also the units without
the event) under ``min_cell`` (11: the CMS cell size suppression policy, counts 1-10 hidden;
zero is hidden too, since "nobody" discloses as much as "one") is suppressed with its whole
row: counts, rate, intervals and comparisons. Because the total over a stratifier's groups is
published elsewhere (the overall rate), one suppressed row could be recovered by subtraction;
so more rows are suppressed (the next smallest first) until at least two are and the
suppressed rows together hold at least ``min_cell`` in every cell (the sum recovered from the
total then reveals no small count; Cox 1980, JASA 75:377-385, on complementary suppression).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_CELL = 11


def suppress_mask(cells: pd.DataFrame, min_cell: int = MIN_CELL) -> np.ndarray:
    """Which rows of one stratifier's table to suppress; ``cells`` holds one column per
    published count (one row per group)."""
    values = cells.to_numpy(dtype=np.float64)
    n = len(values)
    mask: np.ndarray = np.asarray((values < min_cell).any(axis=1), dtype=bool).reshape(n)
    if not mask.any():
        return mask
    order = np.argsort(values.min(axis=1), kind="stable")
    while not mask.all():
        sums = values[mask].sum(axis=0)
        if mask.sum() >= 2 and (sums >= min_cell).all():
            break
        nxt = next(i for i in order if not mask[i])
        mask[nxt] = True
    return mask
