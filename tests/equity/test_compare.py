"""Intervals, comparisons and the false discovery rate agree with statsmodels / scipy
reference computations (to 1e-8 where the method is the same)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.rates import confint_poisson_2indep

from popweave.equity import compare
from popweave.measures.intervals import wilson

CASES = [(30, 100, 20, 110), (5, 40, 17, 45), (412, 3523, 164, 691), (1, 12, 9, 10)]


@pytest.mark.parametrize(("a", "n1", "c", "n0"), CASES)
def test_risk_ratio_is_the_katz_log_interval(a: int, n1: int, c: int, n0: int) -> None:
    rr, lo, hi = compare.risk_ratio(a, n1, c, n0)
    ref = confint_proportions_2indep(a, n1, c, n0, method="log", compare="ratio")
    assert rr[0] == pytest.approx((a / n1) / (c / n0), abs=1e-12)
    assert lo[0] == pytest.approx(ref[0], abs=1e-8)
    assert hi[0] == pytest.approx(ref[1], abs=1e-8)


@pytest.mark.parametrize(("a", "n1", "c", "n0"), CASES)
def test_risk_difference_is_newcombes_hybrid_score(a: int, n1: int, c: int, n0: int) -> None:
    d, lo, hi = compare.risk_difference(a, n1, c, n0)
    ref = confint_proportions_2indep(a, n1, c, n0, method="newcomb", compare="diff")
    assert d[0] == pytest.approx(a / n1 - c / n0, abs=1e-12)
    assert lo[0] == pytest.approx(ref[0], abs=1e-8)
    assert hi[0] == pytest.approx(ref[1], abs=1e-8)


def test_proportions_p_is_the_pooled_score_test() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    for a, n1, c, n0 in CASES:
        ref = proportions_ztest([a, c], [n1, n0])[1]
        assert compare.proportions_p(a, n1, c, n0)[0] == pytest.approx(ref, abs=1e-8)


def test_wilson_matches_statsmodels() -> None:
    lo, hi = wilson(np.array([0, 7, 50]), np.array([20, 30, 50]))
    for i, (k, n) in enumerate([(0, 20), (7, 30), (50, 50)]):
        ref = proportion_confint(k, n, method="wilson")
        assert lo[i] == pytest.approx(ref[0], abs=1e-8)
        assert hi[i] == pytest.approx(ref[1], abs=1e-8)


RATES = [(30, 1200.0, 20, 1500.0), (3, 400.0, 17, 900.0), (250, 10_000.0, 180, 12_000.0)]


@pytest.mark.parametrize(("d1", "e1", "d0", "e0"), RATES)
def test_rate_ratio_exact_is_clopper_pearson_on_the_conditional_binomial(
    d1: int, e1: float, d0: int, e0: float
) -> None:
    rr, lo, hi = compare.rate_ratio(d1, e1, d0, e0)
    ci = stats.binomtest(d1, d1 + d0).proportion_ci(0.95, method="exact")
    assert rr[0] == pytest.approx((d1 / e1) / (d0 / e0), abs=1e-12)
    assert lo[0] == pytest.approx(ci.low / (1 - ci.low) * e0 / e1, abs=1e-8)
    assert hi[0] == pytest.approx(ci.high / (1 - ci.high) * e0 / e1, abs=1e-8)
    p = compare.rates_p(d1, e1, d0, e0)[0]
    assert p == pytest.approx(stats.binomtest(d1, d1 + d0, e1 / (e1 + e0)).pvalue, abs=1e-12)


@pytest.mark.parametrize(("d1", "e1", "d0", "e0"), RATES)
def test_rate_ratio_normal_and_rate_difference_match_statsmodels(
    d1: int, e1: float, d0: int, e0: float
) -> None:
    _, lo, hi = compare.rate_ratio(d1, e1, d0, e0, method="normal")
    ref = confint_poisson_2indep(d1, e1, d0, e0, method="wald-log", compare="ratio")
    assert (lo[0], hi[0]) == pytest.approx(ref, abs=1e-8)
    _, lo, hi = compare.rate_difference(d1, e1, d0, e0)
    ref = confint_poisson_2indep(d1, e1, d0, e0, method="wald", compare="diff")
    assert (lo[0], hi[0]) == pytest.approx(ref, abs=1e-8)


def test_benjamini_hochberg_matches_statsmodels() -> None:
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 25)])
    ref = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(compare.bh_qvalues(p), ref, atol=1e-12)
    with_nan = np.array([0.01, np.nan, 0.04, 0.03])
    q = compare.bh_qvalues(with_nan)
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1])


def test_zero_counts_give_no_ratio_interval() -> None:
    rr, lo, hi = compare.risk_ratio(0, 10, 5, 10)
    assert rr[0] == 0 and np.isnan(lo[0]) and np.isnan(hi[0])
    rr, lo, hi = compare.rate_ratio(0, 100.0, 5, 100.0)
    assert lo[0] == 0 and np.isfinite(hi[0])
