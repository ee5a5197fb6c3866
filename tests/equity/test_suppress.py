"""Small-cell suppression: no published count under 11, and no suppressed count recoverable
from the published ones and the total."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from popweave.equity.suppress import MIN_CELL, suppress_mask


def check_safe(cells: pd.DataFrame, mask: np.ndarray) -> None:
    values = cells.to_numpy(dtype=float)
    assert (values[~mask] >= MIN_CELL).all(), "a published cell is under 11"
    if mask.any():
        # One suppressed row would equal total minus the published rows; two or more hide
        # each other, and their sum (which the total does reveal) is not itself small.
        assert mask.sum() >= 2 or mask.all()
        assert (values[mask].sum(axis=0) >= MIN_CELL).all() or mask.all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 200)), min_size=1, max_size=12))
def test_no_small_or_recoverable_cell(rows: list[tuple[int, int]]) -> None:
    cells = pd.DataFrame(rows, columns=["num", "rest"])
    check_safe(cells, suppress_mask(cells))


def test_a_single_small_group_takes_the_next_smallest_with_it() -> None:
    cells = pd.DataFrame({"num": [50, 4, 30, 200], "rest": [500, 60, 300, 2000]})
    mask = suppress_mask(cells)
    assert mask.tolist() == [False, True, True, False]


def test_two_tiny_groups_are_not_enough_together() -> None:
    cells = pd.DataFrame({"num": [3, 2, 40, 400], "rest": [30, 20, 300, 2000]})
    mask = suppress_mask(cells)
    assert mask.tolist() == [True, True, True, False]


def test_nothing_small_nothing_suppressed() -> None:
    cells = pd.DataFrame({"num": [11, 12], "rest": [11, 100]})
    assert not suppress_mask(cells).any()
