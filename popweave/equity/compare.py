"""Comparisons of two groups, computed on counts (vectorised numpy): ratios and differences
of proportions and of rates, with 95% intervals and p-values, and the Benjamini-Hochberg
false discovery rate across many comparisons.

Methods and sources:

- Risk ratio of two proportions: log (Katz) interval, SE = sqrt(1/a - 1/n1 + 1/c - 1/n0)
  (Katz, Baptista, Azen & Pike 1978, Biometrics 34:469-474).
- Risk difference: Newcombe's hybrid score interval built from the two Wilson intervals
  (Newcombe 1998, Statistics in Medicine 17:873-890, method 10).
- Two-proportion p-value: the pooled score (chi-square) test.
- Rate ratio of two Poisson counts: exact conditional interval (events in group 1 given the
  total are binomial; Clopper-Pearson on that proportion; Ederer & Mantel 1974, Biometrics
  30:409-416; Breslow & Day 1987, vol. II, s. 2.3) with the exact conditional binomial
  p-value; ``method="normal"`` gives the log (Wald) interval, SE = sqrt(1/d1 + 1/d0).
- Rate difference: Wald interval, SE = sqrt(d1/E1^2 + d0/E0^2) (Rothman, Greenland & Lash
  2008, Modern Epidemiology, 3rd ed., ch. 14).
- False discovery rate: Benjamini & Hochberg 1995 (JRSS B 57:289-300) step-up q-values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from popweave.measures.intervals import wilson

Array = Any
Interval = tuple[np.ndarray, np.ndarray, np.ndarray]


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def _f(x: Array) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, dtype=np.float64))


def risk_ratio(a: Array, n1: Array, c: Array, n0: Array, level: float = 0.95) -> Interval:
    """``(a/n1) / (c/n0)`` with the Katz log interval (NaN where a count is 0)."""
    a, n1, c, n0 = _f(a), _f(n1), _f(c), _f(n0)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = (a / n1) / (c / n0)
        se = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
        ok = (a > 0) & (c > 0) & (n1 > 0) & (n0 > 0)
        lo = np.where(ok, np.exp(np.log(rr) - z * se), np.nan)
        hi = np.where(ok, np.exp(np.log(rr) + z * se), np.nan)
        rr = np.where((n1 > 0) & (n0 > 0) & (c > 0), rr, np.nan)
    return rr, lo, hi


def risk_difference(a: Array, n1: Array, c: Array, n0: Array, level: float = 0.95) -> Interval:
    """``a/n1 - c/n0`` with Newcombe's hybrid score interval (method 10)."""
    a, n1, c, n0 = _f(a), _f(n1), _f(c), _f(n0)
    l1, u1 = wilson(a, n1, level)
    l0, u0 = wilson(c, n0, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p0 = a / n1, c / n0
        d = p1 - p0
        lo = d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return d, lo, hi


def proportions_p(a: Array, n1: Array, c: Array, n0: Array) -> np.ndarray:
    """Two-sided p-value of the pooled score test of equal proportions."""
    a, n1, c, n0 = _f(a), _f(n1), _f(c), _f(n0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (a + c) / (n1 + n0)
        se = np.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
        zval = (a / n1 - c / n0) / se
        out = 2 * stats.norm.sf(np.abs(zval))
    return np.where(se > 0, out, np.where((n1 > 0) & (n0 > 0), 1.0, np.nan))


def rate_ratio(
    d1: Array, e1: Array, d0: Array, e0: Array, level: float = 0.95, method: str = "exact"
) -> Interval:
    """``(d1/e1) / (d0/e0)`` for Poisson counts ``d`` over exposures ``e``: exact conditional
    (default) or ``"normal"`` (log Wald) interval."""
    d1, e1, d0, e0 = _f(d1), _f(e1), _f(d0), _f(e0)
    a = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = (d1 / e1) / (d0 / e0)
        if method == "normal":
            se = np.sqrt(1 / d1 + 1 / d0)
            ok = (d1 > 0) & (d0 > 0)
            lo = np.where(ok, np.exp(np.log(rr) - _z(level) * se), np.nan)
            hi = np.where(ok, np.exp(np.log(rr) + _z(level) * se), np.nan)
        elif method == "exact":
            n = d1 + d0
            # Clopper-Pearson limits of pi = d1 / n, then RR = pi / (1 - pi) * e0 / e1.
            pl = np.where(d1 > 0, stats.beta.ppf(a / 2, d1, n - d1 + 1), 0.0)
            pu = np.where(d0 > 0, stats.beta.ppf(1 - a / 2, d1 + 1, n - d1), 1.0)
            lo = pl / (1 - pl) * e0 / e1
            hi = np.where(pu < 1, pu / (1 - pu) * e0 / e1, np.inf)
            ok = (n > 0) & (e1 > 0) & (e0 > 0)
            lo, hi = np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)
        else:
            raise ValueError(f"rate ratio method {method!r}: expected 'exact' or 'normal'")
        rr = np.where((e1 > 0) & (e0 > 0) & (d0 > 0), rr, np.nan)
    return rr, lo, hi


def rate_difference(d1: Array, e1: Array, d0: Array, e0: Array, level: float = 0.95) -> Interval:
    """``d1/e1 - d0/e0`` with the Wald interval."""
    d1, e1, d0, e0 = _f(d1), _f(e1), _f(d0), _f(e0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = d1 / e1 - d0 / e0
        se = np.sqrt(d1 / e1**2 + d0 / e0**2)
    half = _z(level) * se
    return d, d - half, d + half


def rates_p(d1: Array, e1: Array, d0: Array, e0: Array) -> np.ndarray:
    """Two-sided exact conditional p-value of equal Poisson rates (binomial test of ``d1``
    out of ``d1 + d0`` against ``e1 / (e1 + e0)``; scipy's two-sided rule)."""
    d1, e1, d0, e0 = _f(d1), _f(e1), _f(d0), _f(e0)
    out = np.full(d1.shape, np.nan)
    for i in range(len(d1)):
        n = round(float(d1[i] + d0[i]))
        if n > 0 and e1[i] > 0 and e0[i] > 0:
            p0 = e1[i] / (e1[i] + e0[i])
            out[i] = stats.binomtest(round(float(d1[i])), n, p0).pvalue
    return out


def ratio_normal(r1: Array, v1: Array, r0: Array, v0: Array, level: float = 0.95) -> Interval:
    """Ratio of two estimates with variances ``v`` (delta method on the log scale), for rates
    that are not counts (cost per member-month)."""
    r1, v1, r0, v0 = _f(r1), _f(v1), _f(r0), _f(v0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = r1 / r0
        se = np.sqrt(v1 / r1**2 + v0 / r0**2)
        ok = (r1 > 0) & (r0 > 0)
        lo = np.where(ok, np.exp(np.log(rr) - _z(level) * se), np.nan)
        hi = np.where(ok, np.exp(np.log(rr) + _z(level) * se), np.nan)
    return rr, lo, hi


def difference_normal(
    r1: Array, v1: Array, r0: Array, v0: Array, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two estimates with variances ``v``: (d, lower, upper, p-value)."""
    r1, v1, r0, v0 = _f(r1), _f(v1), _f(r0), _f(v0)
    d = r1 - r0
    se = np.sqrt(v1 + v0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * stats.norm.sf(np.abs(d / se))
    half = _z(level) * se
    return d, d - half, d + half, p


def bh_qvalues(p: Array) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN p-values stay NaN and do not
    count towards the number of tests."""
    p = _f(p)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    q = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    res = np.empty(m)
    res[order] = q
    out[ok] = res
    return out
