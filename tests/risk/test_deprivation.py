"""The ADI-style area deprivation index: hand-built areas, and the synthetic city's planted
deprivation."""

from __future__ import annotations

import doctest

import ibis
import numpy as np
import pandas as pd
import pytest

from popweave.cohorts import Data
from popweave.risk import deprivation
from popweave.risk.deprivation import INDICATORS, AreaDeprivationIndex
from tests.synth.conftest import Built, built  # noqa: F401 - the session city fixture


def _areas(n: int = 20, counties: int = 1) -> pd.DataFrame:
    latent = np.linspace(-2, 2, n)
    return pd.DataFrame(
        {
            "area_id": [f"A{i:02d}" for i in range(n)],
            "county": [f"C{i % counties}" for i in range(n)],
            "median_income": 70000 * np.exp(-0.3 * latent),
            "pct_poverty": 12 + 4 * latent,
            "pct_no_vehicle": 9 + 3 * latent,
            "pct_no_high_school": 10 + 3 * latent,
            "housing_cost_burden": 30 + 4 * latent,
            "food_access_miles": np.exp(0.3 * latent),
        }
    )


def test_docstring_example_runs() -> None:
    assert doctest.testmod(deprivation).failed == 0


def test_more_deprived_areas_score_and_rank_higher() -> None:
    t = ibis.memtable(_areas())
    out = AreaDeprivationIndex().fit(t).transform(t).order_by("area_id").execute()
    assert out.adi_score.is_monotonic_increasing
    assert out.national_rank.tolist() == [5 * (i + 1) for i in range(20)]
    assert out.city_decile.tolist() == [i // 2 + 1 for i in range(20)]
    assert out.quintile.tolist() == [i // 4 + 1 for i in range(20)]
    # ADI scale: mean 100, SD 20 over the areas it was fitted on.
    assert out.adi_score.mean() == pytest.approx(100, abs=1e-6)
    assert out.adi_score.std(ddof=0) == pytest.approx(20, rel=1e-6)


def test_pca_weights_are_positive_and_explain_the_common_factor() -> None:
    adi = AreaDeprivationIndex().fit(ibis.memtable(_areas()))
    assert set(adi.weights_) == set(INDICATORS)
    assert all(w > 0 for w in adi.weights_.values())
    assert adi.explained_variance_ == pytest.approx(1.0, abs=1e-6)  # one exact factor


def test_deciles_are_within_county_and_ranks_across_counties() -> None:
    t = ibis.memtable(_areas(20, counties=2))
    out = AreaDeprivationIndex().fit(t).transform(t).execute()
    for _, g in out.groupby("county"):
        assert sorted(g.city_decile) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert out.national_rank.max() == 100 and out.national_rank.min() == 5


def test_fixed_weights_and_missing_indicators() -> None:
    df = _areas()
    df.loc[3, "pct_poverty"] = None
    t = ibis.memtable(df)
    adi = AreaDeprivationIndex(weights={"pct_poverty": 1.0}).fit(t)
    out = adi.transform(t).order_by("area_id").execute()
    assert adi.weights_["median_income"] == 0.0
    # A missing indicator counts as the mean: score 100 under poverty-only weights.
    assert out.adi_score.iloc[3] == pytest.approx(100.0)


def test_errors_name_what_to_do() -> None:
    t = ibis.memtable(_areas())
    with pytest.raises(RuntimeError, match="not fitted"):
        AreaDeprivationIndex().transform(t)
    with pytest.raises(ValueError, match="unknown indicator"):
        AreaDeprivationIndex(weights={"pct_unicorns": 1.0}).fit(t)
    with pytest.raises(ValueError, match="at least two"):
        AreaDeprivationIndex().fit(ibis.memtable(_areas().head(1)))


@pytest.mark.slow
def test_city_index_recovers_the_planted_deprivation(built: Built) -> None:  # noqa: F811
    data = Data(ibis.duckdb.from_connection(built.db))
    out = AreaDeprivationIndex().fit(data).transform(data).execute()
    idx = out.set_index("area_id").sort_index(key=lambda s: s.str[1:].astype(int))
    latent = built.city.areas.latent
    rho = pd.Series(idx.adi_score.to_numpy()).corr(pd.Series(latent), method="spearman")
    assert rho > 0.9
    # The most deprived quintile holds the areas the generator planted as most deprived.
    planted = set(built.truth["deprivation"]["most_deprived_quintile_areas"])
    assert set(idx.index[idx.quintile == 5]) == planted
