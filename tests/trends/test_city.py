"""Series on the 20,000-person test city add up to the measures computed for the whole span."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from popweave import equity, measures, trends
from popweave.cohorts import Data, Period
from popweave.errors import PopweaveError
from tests.synth.conftest import Built, built  # noqa: F401 - session fixture


@pytest.mark.slow
def test_readmission_quarters_add_up_to_the_pooled_measure(built: Built) -> None:  # noqa: F811
    data = Data(ibis.duckdb.from_connection(built.db))
    s = trends.chart(data, "readmission_30d", "quarter", "deprivation_quintile")
    assert len(s["period"].unique()) == 12 and set(s["group"]) == {"1", "2", "3", "4", "5"}
    assert s["partial"].sum() == 5  # the last quarter: its last 30 days cannot be followed up
    pooled = equity.table(
        data, "readmission_30d", Period(dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
        "deprivation_quintile", min_cell=None,
    ).rows.set_index("group")  # fmt: skip
    by_group = s.groupby("group")[["numerator", "denominator"]].sum()
    assert (by_group["denominator"] == pooled["denominator"]).all()
    assert (by_group["numerator"] == pooled["numerator"]).all()
    assert {"centre", "ucl", "lcl", "special_cause", "signals"} <= set(s.columns)


@pytest.mark.slow
def test_yearly_rate_equals_the_measure_run(built: Built) -> None:  # noqa: F811
    data = Data(ibis.duckdb.from_connection(built.db))
    s = trends.series(data, "ed_visits_per_1000", "year").set_index("period")
    run = measures.run(data, 2025, only=["ed_visits_per_1000"], save=False).rates()
    assert s.loc["2025", "rate"] == pytest.approx(float(run["rate"].iloc[0]), rel=1e-12)
    assert s.loc["2025", "numerator"] == float(run["numerator"].iloc[0])


def test_unknown_grain_is_a_clear_error() -> None:
    with pytest.raises(PopweaveError, match="expected one of month, quarter, year"):
        trends.bins(dt.date(2025, 1, 1), dt.date(2025, 12, 31), "week")
    q = trends.bins(dt.date(2025, 2, 10), dt.date(2025, 12, 31), "quarter")
    assert [p.start.month for p in q] == [1, 4, 7, 10]
