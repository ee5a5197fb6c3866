"""The equity table on the synthetic cities recovers the planted readmission disparities.

``truth["readmission"]`` plants rate ratios (1.5 for households without a vehicle, 1.3 for
the most deprived quintile) in a model that also depends on chronic conditions and age, which
are themselves more common in those groups; the crude ratio an equity table reports is
therefore the generator's ``expected_crude_ratio_*`` (computed from its latent
probabilities over every index stay of the three years), and that is what the 95% interval
must cover. In the city with no planted effect the crude ratios are still above 1 (those
groups are older and sicker), and the intervals must cover that city's expected values.
"""

from __future__ import annotations

from typing import Any

import ibis
import numpy as np
import pytest

from popweave import equity
from popweave.cohorts import Data, Period
from popweave.errors import PopweaveError
from tests.equity.cities import null_built  # noqa: F401 - session fixture
from tests.synth.conftest import Built, built  # noqa: F401 - session fixture


def _data(city: Built) -> Data:
    return Data(ibis.duckdb.from_connection(city.db))


def _whole(city: Built) -> Period:
    p = city.truth["period"]
    return Period.parse(f"{p['start']}..{p['end']}")


def _readmission_gaps(city: Built) -> dict[str, Any]:
    t = equity.table(
        _data(city),
        "readmission_30d",
        _whole(city),
        ["transport_need", "deprivation_quintile"],
        {"transport_need": "no", "deprivation_quintile": "rest"},
    ).rows.set_index(["stratifier", "group"])
    return {
        "no_vehicle": t.loc[("transport_need", "yes")],
        "most_deprived_quintile": t.loc[("deprivation_quintile", "5")],
    }


@pytest.mark.slow
@pytest.mark.parametrize("which", ["no_vehicle", "most_deprived_quintile"])
def test_planted_readmission_disparity_is_recovered(built: Built, which: str) -> None:  # noqa: F811
    r = _readmission_gaps(built)[which]
    truth = built.truth["readmission"][f"expected_crude_ratio_{which}"]
    assert r["ratio_lower"] <= truth <= r["ratio_upper"], (
        f"{which}: RR {r['ratio']:.3f} ({r['ratio_lower']:.3f}-{r['ratio_upper']:.3f}), "
        f"truth {truth}"
    )
    assert r["ratio_lower"] > 1 and r["q_value"] < 0.05  # the disparity is found


@pytest.mark.slow
@pytest.mark.parametrize("which", ["no_vehicle", "most_deprived_quintile"])
def test_no_planted_disparity_gives_only_the_confounded_crude_ratio(
    null_built: Built,  # noqa: F811
    which: str,
) -> None:
    r = _readmission_gaps(null_built)[which]
    truth = null_built.truth["readmission"][f"expected_crude_ratio_{which}"]
    assert null_built.truth["readmission"][f"rate_ratio_{which}"] == 1.0
    assert r["ratio_lower"] <= truth <= r["ratio_upper"], (
        f"{which}: RR {r['ratio']:.3f} ({r['ratio_lower']:.3f}-{r['ratio_upper']:.3f}), "
        f"truth {truth}"
    )


@pytest.mark.slow
def test_published_area_table_has_no_small_or_recoverable_cell(built: Built) -> None:  # noqa: F811
    data = _data(built)
    res = equity.table(data, "readmission_30d", 2025, ["area", "language", "race"])
    rows = res.rows
    assert rows["suppressed"].any(), "expected small areas or languages to be suppressed"
    overall = equity.table(data, "readmission_30d", 2025, "sex", min_cell=None).rows
    tot_num, tot_den = overall["numerator"].sum(), overall["denominator"].sum()
    for _, t in rows.groupby("stratifier"):
        pub = t[~t["suppressed"]]
        assert (pub["numerator"] >= 11).all()
        assert (pub["denominator"] - pub["numerator"] >= 11).all()
        hidden = t[t["suppressed"]]
        if len(hidden):
            assert len(hidden) >= 2 or len(hidden) == len(t)
            # What subtraction from the total reveals is the hidden rows' sum: never small.
            assert tot_num - pub["numerator"].sum() >= 11
            assert (tot_den - pub["denominator"].sum()) - (tot_num - pub["numerator"].sum()) >= 11
            assert hidden[["rate", "lower", "ratio", "std_rate"]].isna().all().all()


@pytest.mark.slow
def test_rates_by_payer_with_us_standard(built: Built) -> None:  # noqa: F811
    res = equity.table(
        _data(built), "ed_visits_per_1000", 2025, "payer", "commercial", standard="us2000"
    )
    r = res.rows.set_index("group")
    assert r.loc["commercial", "is_reference"]
    ok = r[~r["suppressed"] & ~r["is_reference"]]
    assert len(ok) >= 2
    assert (ok["lower"] <= ok["rate"]).all() and (ok["rate"] <= ok["upper"]).all()
    assert (ok["std_lower"] <= ok["std_rate"]).all() and (ok["std_rate"] <= ok["std_upper"]).all()
    assert np.isfinite(ok["ratio_lower"]).all()
    gaps = res.gaps()
    assert list(gaps["rank"]) == list(range(1, len(gaps) + 1))


def test_unknown_attribute_or_reference_is_a_clear_error(built: Built) -> None:  # noqa: F811
    with pytest.raises(PopweaveError, match="cannot stratify by shoe_size"):
        equity.table(_data(built), "readmission_30d", 2025, "shoe_size")
    with pytest.raises(PopweaveError, match="reference group '9' not found"):
        equity.table(_data(built), "readmission_30d", 2025, "deprivation_quintile", 9)
    with pytest.raises(PopweaveError, match="unknown measure"):
        equity.table(_data(built), "readmision", 2025, "sex")
