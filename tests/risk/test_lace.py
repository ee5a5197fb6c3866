"""LACE on a hand-built warehouse: each component at its boundaries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from popweave.risk.lace import lace
from popweave.warehouse.base import Engine
from tests.cohorts.pop import Pop, data


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    p = Pop()
    for pid in ("A", "B", "C", "D"):
        p.person(pid)
    # A: same-day stay, no ED, no comorbidity -> 0.
    p.stay("A", "2024-03-01", "2024-03-01")
    # B: 5 days (4 points), admitted through ED the day before (3), heart failure coded on the
    # stay (2) and COPD from a condition (2): Charlson 4 -> 5; ED visits 200 and 100 days
    # before (only the latter within 182 days) -> 1.
    p.encounter("B", "2023-08-14", cls="emergency")
    p.encounter("B", "2023-11-22", cls="emergency")
    p.encounter("B", "2024-02-29", cls="emergency")
    p.condition("B", "J44.9", onset="2020-01-01")
    p.stay("B", "2024-03-01", "2024-03-06", dx="I50.9")
    # C: 14 days (7), five ED visits in the window (4), diabetes from a claim 300 days
    # before (1), metastatic cancer abated 2 years before admission (not counted).
    for day in ("2023-10-01", "2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01"):
        p.encounter("C", day, cls="emergency")
    p.claim("C", "2023-05-06", "E11.9")
    p.condition("C", "C78.00", onset="2019-01-01", abated="2022-01-01")
    p.stay("C", "2024-03-01", "2024-03-15")
    # D: discharged outside the window.
    p.stay("D", "2024-06-01", "2024-06-03")
    eng = p.load(tmp_path_factory.mktemp("lace"))
    yield eng
    eng.close()


def test_lace_components(engine: Engine) -> None:
    t = lace(data(engine), start=dt.date(2024, 1, 1), end=dt.date(2024, 3, 31)).execute()
    got = t.set_index("person_id")
    assert sorted(got.index) == ["A", "B", "C"]
    cols = ["length_of_stay", "l_points", "a_points", "charlson", "c_points", "ed_visits"]
    assert got.loc["A", [*cols, "e_points", "lace"]].tolist() == [0, 0, 0, 0, 0, 0, 0, 0]
    assert got.loc["B", [*cols, "e_points", "lace"]].tolist() == [5, 4, 3, 4, 5, 1, 1, 13]
    assert got.loc["C", [*cols, "e_points", "lace"]].tolist() == [14, 7, 0, 1, 1, 5, 4, 12]
    assert isinstance(t, pd.DataFrame)
