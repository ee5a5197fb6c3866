"""The pilot programme's planted effect on 30-day readmission (truth["pilot"]: rate ratio 0.7
in one deprived area from its start date) lies in the difference-in-differences 95% interval;
in the city with no planted effect the interval covers 1."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from popweave.cohorts import Data
from popweave.errors import PopweaveError
from popweave.evaluate import Evaluation, Programme, evaluate
from tests.equity.cities import null_built  # noqa: F401 - session fixture
from tests.synth.conftest import Built, built  # noqa: F401 - session fixture


def _pilot(city: Built) -> Evaluation:
    p = city.truth["pilot"]
    data = Data(ibis.duckdb.from_connection(city.db))
    prog = Programme(dt.date.fromisoformat(p["start_date"]), [p["area_id"]])
    return evaluate(data, prog, "readmission_30d")


@pytest.mark.slow
def test_pilot_effect_is_in_the_interval(built: Built) -> None:  # noqa: F811
    ev = _pilot(built)
    truth = built.truth["pilot"]["readmission_rate_ratio"]
    lo, hi = ev.did.ratio_ci
    assert lo <= truth <= hi, f"DiD ratio {ev.did.ratio:.3f} ({lo:.3f}-{hi:.3f}), truth {truth}"
    assert ev.did.pretrend_p > 0.05
    assert ev.matched is not None and ev.matched.matched_pairs > 100
    assert ev.matched.balance["smd_after"].abs().max() < 0.1
    assert ev.its is not None
    assert "programme in area" in ev.summary and "ratio" in ev.summary
    eff = ev.effects()
    assert list(eff["method"].unique()) == [
        "difference-in-differences", "interrupted time series", "matched comparison",
    ]  # fmt: skip


@pytest.mark.slow
def test_no_planted_effect_gives_an_interval_covering_one(null_built: Built) -> None:  # noqa: F811
    ev = _pilot(null_built)
    assert null_built.truth["pilot"]["readmission_rate_ratio"] == 1.0
    lo, hi = ev.did.ratio_ci
    assert lo <= 1 <= hi, f"DiD ratio {ev.did.ratio:.3f} ({lo:.3f}-{hi:.3f})"
    assert ev.did.difference_ci[0] <= 0 <= ev.did.difference_ci[1]


@pytest.mark.slow
def test_mistakes_are_clear(built: Built) -> None:  # noqa: F811
    data = Data(ibis.duckdb.from_connection(built.db))
    start = dt.date(2024, 7, 1)
    with pytest.raises(PopweaveError, match="no people live in area A999"):
        evaluate(data, Programme(start, ["A999"]))
    with pytest.raises(PopweaveError, match="outside the data"):
        evaluate(data, Programme(dt.date(2030, 1, 1), ["A1"]))
    with pytest.raises(PopweaveError, match="needs a measure counted per event"):
        evaluate(data, Programme(start, ["A1"]), "hba1c_control")
