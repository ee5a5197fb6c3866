"""Difference-in-differences, segmented regression, the propensity model and matching agree
with statsmodels reference fits (to 1e-8: the same estimators)."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from popweave.evaluate import did, logistic, match, matched, segmented
from popweave.evaluate.did import pretrend
from popweave.evaluate.its import design


@pytest.fixture(scope="module")
def units() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for i in range(2500):
        tr = int(rng.random() < 0.3)
        for _ in range(int(rng.integers(1, 5))):
            post = int(rng.random() < 0.5)
            t = int(rng.integers(-12, 0)) if not post else int(rng.integers(0, 12))
            p = 0.15 * (1.3 if tr else 1) * (0.7 if tr and post else 1) * (1.1 if post else 1)
            rows.append((f"P{i}", tr, post, t, float(rng.random() < p), 1.0))
    return pd.DataFrame(rows, columns=["person_id", "treated", "post", "t", "y", "n"])


def test_did_matches_cluster_robust_ols_and_poisson(units: pd.DataFrame) -> None:
    res = did(ibis.memtable(units.drop(columns="t")))
    groups = pd.factorize(units["person_id"])[0]
    ols = smf.ols("y ~ treated*post", units).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert res.difference == pytest.approx(ols.params["treated:post"], abs=1e-10)
    np.testing.assert_allclose(res.difference_ci, ols.conf_int().loc["treated:post"], atol=1e-8)
    assert res.difference_p == pytest.approx(ols.pvalues["treated:post"], abs=1e-8)
    glm = smf.glm("y ~ treated*post", units, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert np.log(res.ratio) == pytest.approx(glm.params["treated:post"], abs=1e-10)
    np.testing.assert_allclose(np.log(res.ratio_ci), glm.conf_int().loc["treated:post"], atol=1e-8)
    assert res.clusters == units["person_id"].nunique()


def test_pretrend_matches_unit_level_hc0(units: pd.DataFrame) -> None:
    pre = units[units["post"] == 0]
    counts = pre.groupby(["treated", "t"], as_index=False).agg(
        units=("n", "sum"), events=("y", "sum")
    )
    slope, p = pretrend(counts)
    ols = smf.ols("y ~ treated*t", pre).fit(cov_type="HC0")
    assert slope == pytest.approx(ols.params["treated:t"], abs=1e-10)
    assert p == pytest.approx(ols.pvalues["treated:t"], abs=1e-8)


def test_segmented_regression_matches_newey_west_ols() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(-18.0, 18.0)
    y = 0.15 + 0.001 * t - 0.03 * (t >= 0) + rng.normal(0, 0.01, len(t))
    r = segmented(y, t, 0.0)
    ols = sm.OLS(y, design(t, 0.0)).fit(cov_type="HAC", cov_kwds={"maxlags": r.lags})
    assert r.lags == 3
    np.testing.assert_allclose(r.params, ols.params, atol=1e-10)
    np.testing.assert_allclose(r.cov, ols.cov_params(), atol=1e-12)
    ci = ols.conf_int()
    assert r.level_change_ci == pytest.approx(tuple(ci[2]), abs=1e-8)
    assert r.slope_change_ci == pytest.approx(tuple(ci[3]), abs=1e-8)
    assert r.relative_ci[0] < r.relative < r.relative_ci[1] < 1  # a drop of about 20%


def test_logistic_matches_statsmodels() -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(800), rng.normal(size=(800, 3))])
    y = (rng.random(800) < 1 / (1 + np.exp(-(x @ [0.2, 1.0, -0.5, 0.3])))).astype(float)
    ref = sm.Logit(y, x).fit(disp=0, tol=1e-12).params
    np.testing.assert_allclose(logistic(x, y), ref, atol=1e-8)


def test_matching_respects_the_caliper_and_uses_each_unit_once() -> None:
    rng = np.random.default_rng(5)
    logit = rng.normal(size=400)
    treated = rng.random(400) < 0.3
    pairs = match(logit, treated, 0.2)
    cal = 0.2 * np.std(logit, ddof=1)
    assert len({c for _, c in pairs}) == len(pairs)
    assert all(treated[t] and not treated[c] and abs(logit[t] - logit[c]) <= cal for t, c in pairs)


def test_matching_removes_measured_confounding() -> None:
    rng = np.random.default_rng(6)
    n = 4000
    age = rng.normal(60, 12, n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-(age - 65) / 6))).astype(int)
    y = (rng.random(n) < 0.05 + 0.004 * (age - 40).clip(0)).astype(float)  # no effect
    res = matched(pd.DataFrame({"treated": treated, "y": y, "age": age}), ["age"])
    b = res.balance.iloc[0]
    assert abs(b["smd_before"]) > 0.5 and abs(b["smd_after"]) < 0.1
    assert res.ratio_ci[0] <= 1 <= res.ratio_ci[1]
