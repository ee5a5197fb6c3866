"""Interrupted time series: segmented regression of a monthly rate with Newey-West errors.

``rate_t = b0 + b1 t + b2 post_t + b3 (t - t0) post_t`` by ordinary least squares over the
months (Wagner, Soumerai, Zhang & Ross-Degnan 2002, J Clin Pharm Ther 27:299-309), with the
heteroskedasticity- and autocorrelation-consistent covariance of Newey & West 1987
(Econometrica 55:703-708; Bartlett weights, lag L = floor(4 (T/100)^(2/9)) by default,
no small-sample factor, as statsmodels' ``cov_type="HAC"``). The relative effect is the mean
fitted rate after the start over the mean counterfactual (the pre-period line continued),
with a delta-method interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class ItsResult:
    months: pd.DataFrame  # t, post, rate, fitted, counterfactual
    params: np.ndarray  # b0, b1, b2, b3
    cov: np.ndarray
    lags: int
    level_change: float
    level_change_ci: tuple[float, float]
    slope_change: float
    slope_change_ci: tuple[float, float]
    relative: float
    relative_ci: tuple[float, float]


def newey_west(x: np.ndarray, resid: np.ndarray, lags: int) -> np.ndarray:
    """HAC covariance of OLS coefficients with Bartlett weights."""
    u = x * resid[:, np.newaxis]
    s = u.T @ u
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        g = u[lag:].T @ u[:-lag]
        s += w * (g + g.T)
    inv = np.linalg.inv(x.T @ x)
    out: np.ndarray = inv @ s @ inv
    return out


def design(t: np.ndarray, t0: float) -> np.ndarray:
    post = (t >= t0).astype(float)
    return np.column_stack([np.ones_like(t), t, post, (t - t0) * post])


def segmented(
    rate: np.ndarray, t: np.ndarray, t0: float, lags: int | None = None, level: float = 0.95
) -> ItsResult:
    """Fit the segmented regression; ``t0`` is the first time point after the start."""
    rate, t = np.asarray(rate, float), np.asarray(t, float)
    if lags is None:
        lags = int(np.floor(4 * (len(t) / 100) ** (2 / 9)))
    x = design(t, t0)
    beta, *_ = np.linalg.lstsq(x, rate, rcond=None)
    resid = rate - x @ beta
    cov = newey_west(x, resid, lags)
    z = float(stats.norm.ppf(0.5 + level / 2))
    se = np.sqrt(np.diag(cov))
    post = t >= t0
    xp = x[post]
    xc = xp.copy()
    xc[:, 2:] = 0
    f_mean, c_mean = float((xp @ beta).mean()), float((xc @ beta).mean())
    rel = f_mean / c_mean
    # d rel / d beta = (mean xp) / c - f (mean xc) / c^2
    grad = xp.mean(axis=0) / c_mean - f_mean * xc.mean(axis=0) / c_mean**2
    se_rel = float(np.sqrt(grad @ cov @ grad))
    months = pd.DataFrame(
        {
            "t": t,
            "post": post,
            "rate": rate,
            "fitted": x @ beta,
            "counterfactual": x[:, :2] @ beta[:2],
        }
    )
    return ItsResult(
        months=months,
        params=beta,
        cov=cov,
        lags=lags,
        level_change=float(beta[2]),
        level_change_ci=(float(beta[2] - z * se[2]), float(beta[2] + z * se[2])),
        slope_change=float(beta[3]),
        slope_change_ci=(float(beta[3] - z * se[3]), float(beta[3] + z * se[3])),
        relative=rel,
        relative_ci=(rel - z * se_rel, rel + z * se_rel),
    )
