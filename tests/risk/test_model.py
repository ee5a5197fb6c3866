"""The risk model: the shared model contract, metrics, explanations, and a held-out year of
the synthetic city (AUROC, calibration, the planted social effects in the contributions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest

from popweave.cohorts import Data
from popweave.risk import run as risk_run
from popweave.risk.features import FEATURES
from popweave.risk.model import MODELS, NotFittedError, RiskModel, auroc, evaluate, reliability
from popweave.risk.run import RiskRun, years_before
from tests.synth.conftest import Built, built  # noqa: F401 - the session city fixture


def _frame(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.integers(0, 2, n).astype(float) for c in FEATURES})
    X["need_transport"] = (rng.random(n) < 0.2).astype(float)
    X["age"] = rng.uniform(18, 90, n)
    X["last_hba1c"] = np.where(rng.random(n) < 0.8, np.nan, rng.normal(7.5, 1.2, n))
    X.insert(0, "person_id", [f"P{i}" for i in range(n)])
    lin = -1.5 + 1.5 * X["need_transport"] + 0.03 * (X["age"] - 50)
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_keeps_the_contract(name: str) -> None:
    cls = MODELS[name]
    model = cls()
    assert not [a for a in vars(model) if a.endswith("_")], "constructor must store params only"
    assert cls(**model.get_params()).get_params() == model.get_params()
    X, y = _frame(800)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.score(X)
    assert model.fit(X, y) is model
    assert {"estimator_", "features_in_", "reference_"} <= set(vars(model))
    p = model.score(X)
    assert p.shape == (len(X),) and ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError, match="both outcomes"):
        cls().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="features missing"):
        cls().fit(X.drop(columns=["age"]), y)


def test_contributions_find_the_planted_factor() -> None:
    X, y = _frame()
    m = RiskModel().fit(X, y)
    c = m.contributions(X)
    has = X["need_transport"] == 1
    assert c.loc[has, "transport_need"].mean() > 0.15
    assert c.loc[~has, "transport_need"].abs().max() < 1e-12  # at the reference value
    top = m.top_factors(X.head(50))
    assert set(top.columns) == {
        "person_id",
        "rank",
        "factor",
        "factor_label",
        "contribution",
        "detail",
    }
    assert (top.contribution > 0).all() and top["rank"].between(1, 3).all()
    first = top[(top.person_id.isin(X.person_id[has])) & (top["rank"] == 1)]
    assert (first.factor == "transport_need").mean() > 0.5
    assert first.detail.str.startswith("transport need (need_transport: yes)").any()


def test_metrics_on_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc(y, np.array([0.1, 0.2, 0.3, 0.4]))[0] == 1.0
    assert auroc(y, np.array([0.4, 0.3, 0.2, 0.1]))[0] == 0.0
    assert auroc(y, np.array([0.5, 0.5, 0.5, 0.5]))[0] == 0.5
    m = evaluate(y, np.array([0.0, 0.0, 1.0, 1.0]))
    assert m.brier == 0.0 and m.brier_reference == 0.25 and m.observed == 0.5
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 20000)
    yy = (rng.random(20000) < p).astype(int)
    m = evaluate(yy, p)
    assert m.calibration_slope == pytest.approx(1, abs=0.1)
    assert m.calibration_intercept == pytest.approx(0, abs=0.1)
    rel = reliability(yy, p, bins=5)
    assert rel.n.tolist() == [4000] * 5
    assert np.allclose(rel.mean_predicted, rel.observed, atol=0.03)


def test_years_before_keeps_the_calendar_day() -> None:
    assert years_before(dt.date(2025, 12, 31), 1) == dt.date(2024, 12, 31)
    assert years_before(dt.date(2024, 2, 29), 1) == dt.date(2023, 2, 28)


@pytest.fixture(scope="module")
def city_run(built: Built) -> RiskRun:  # noqa: F811
    data = Data(ibis.duckdb.from_connection(built.db))
    return risk_run(data, save=False)


@pytest.mark.slow
def test_city_held_out_auroc_and_calibration(city_run: RiskRun) -> None:
    r = city_run
    assert r.train_date < r.test_date < r.index_date  # temporal split
    m = r.metrics
    assert m.auroc - 1.96 * m.auroc_se > 0.65, m
    assert m.brier < m.brier_reference, m
    assert abs(m.observed - m.expected) < 0.02, m
    assert 0.8 < m.calibration_slope < 1.2, m
    assert len(r.reliability) == 10
    assert (abs(r.reliability.mean_predicted - r.reliability.observed) < 0.08).all()


@pytest.mark.slow
def test_city_planted_social_effects_show_in_the_contributions(city_run: RiskRun) -> None:
    """truth.json plants more ED use and readmission for households without a vehicle
    (recorded as a positive transport screening answer) and in deprived areas."""
    by_need = city_run.contributions_by("need_transport")
    assert by_need.loc[1.0, "transport_need"] > 0.02
    c = city_run.model.contributions(city_run.test)
    yes = c.transport_need[city_run.test.need_transport == 1]
    assert yes.mean() - 1.96 * yes.std() / np.sqrt(len(yes)) > 0
    by_q = city_run.contributions_by("deprivation_quintile")["area_deprivation"]
    assert by_q.loc[5] > 0.03 and by_q.loc[5] > by_q.loc[1]
    assert by_q.is_monotonic_increasing


@pytest.mark.slow
def test_city_scores_factors_and_tiers(city_run: RiskRun) -> None:
    s: Any = city_run.scores
    assert s.person_id.is_unique and s.score.between(0, 1).all()
    share = s.tier.value_counts(normalize=True)
    assert share["high"] == pytest.approx(0.05, abs=0.01)
    assert 0 < share.get("rising", 0) < 0.05
    f = city_run.factors
    assert set(f.person_id) <= set(s.person_id)
    assert (f.contribution > 0).all()
