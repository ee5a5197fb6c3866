"""Confidence intervals for measure rates, computed on aggregates (vectorised numpy).

- Proportions: Wilson score interval (Wilson 1927, JASA 22:209-212), recommended over the
  Wald interval by Brown, Cai & DasGupta 2001 (Statistical Science 16:101-133).
- Event counts per exposure: exact Poisson interval for the count (Garwood 1936,
  Biometrika 28:437-442) via chi-square quantiles, divided by the exposure.
- Ratio of sums (cost per member-month): linearisation (Taylor) variance of a ratio
  estimator with persons as clusters (Cochran 1977, Sampling Techniques, 3rd ed., s. 6.4).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

Array = Any


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(k: Array, n: Array, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes in ``n`` trials (NaN where n = 0)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lo, hi


def poisson_exact(k: Array, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Garwood exact interval for a Poisson count ``k``: [chi2(a/2, 2k)/2, chi2(1-a/2, 2k+2)/2]."""
    k = np.asarray(k, dtype=np.float64)
    a = 1 - level
    lo = np.where(k > 0, stats.chi2.ppf(a / 2, 2 * k) / 2, 0.0)
    hi = stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2
    return lo, hi


def rate_exact(
    k: Array, exposure: Array, per: float = 1.0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Events per ``per`` units of exposure with the Garwood interval."""
    lo, hi = poisson_exact(k, level)
    e = np.asarray(exposure, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(e > 0, lo / e * per, np.nan), np.where(e > 0, hi / e * per, np.nan)


def ratio_of_sums(y: Array, x: Array, level: float = 0.95) -> tuple[float, float, float]:
    """``sum(y) / sum(x)`` with a cluster (one row per person) linearisation interval."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n = len(y)
    sx = x.sum()
    if n == 0 or sx <= 0:
        return float("nan"), float("nan"), float("nan")
    r = y.sum() / sx
    if n < 2:
        return float(r), float("nan"), float("nan")
    resid = y - r * x
    var = n / (n - 1) * float(np.sum(resid * resid)) / (sx * sx)
    half = _z(level) * np.sqrt(var)
    return float(r), float(r - half), float(r + half)
