"""Difference-in-differences with cluster-robust standard errors, from aggregates.

The model for unit ``u`` of person ``i`` is ``E[y] = g^-1(b0 + b1 T + b2 Post + b3 T x Post)``
with the identity link (``b3``: the difference in differences of the proportions) or the log
link (``exp(b3)``: the ratio of the two before/after ratios, Poisson quasi-likelihood). The
model is saturated in the four cells, so the fit is the cell means; the sandwich variance
clustered by person (Liang & Zeger 1986; Cameron & Miller 2015, J Human Resources 50:317-372)
needs only, per person, the units and events in each cell, and over persons the sums of their
cross-products: one aggregate query in the engine. The small-sample factor is
G/(G-1) (N-1)/(N-K), as Stata and statsmodels apply.

Parallel pre-trends: in the months before the start, a linear trend per group (unit-level
linear probability model with heteroskedasticity-robust HC0 errors, again exact from counts
per group and month); the test is that the two slopes are equal (Angrist & Pischke 2009,
Mostly Harmless Econometrics, s. 5.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

X_CELLS = np.array(
    [[1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=np.float64
)  # rows: cell 0 = comparison before, 1 = comparison after, 2 = treated before, 3 = after


@dataclass
class DidResult:
    cells: pd.DataFrame  # treated, post, units, events, rate
    difference: float  # b3, identity link
    difference_ci: tuple[float, float]
    difference_p: float
    ratio: float  # exp(b3), log link
    ratio_ci: tuple[float, float]
    ratio_p: float
    clusters: int
    pretrend_slope_difference: float
    pretrend_p: float


def cross_moments(rows: Any) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Cell totals, the 8x8 matrix of sums over persons of products of (n_c, y_c), and the
    number of persons. ``rows``: Ibis table with person_id, treated, post, y, n."""
    cell = rows.treated * 2 + rows.post
    per = rows.group_by("person_id").aggregate(
        **{f"n{c}": ((cell == c).cast("float64") * rows.n).sum() for c in range(4)},
        **{f"y{c}": ((cell == c).cast("float64") * rows.y).sum() for c in range(4)},
    )
    names = [f"n{c}" for c in range(4)] + [f"y{c}" for c in range(4)]
    sums = {}
    for i, a in enumerate(names):
        for b in names[i:]:
            sums[f"{a}_{b}"] = (per[a] * per[b]).sum()
    sums.update({f"t_{a}": per[a].sum() for a in names})
    sums["persons"] = per.count()
    r = per.aggregate(**sums).execute().iloc[0]
    m = np.zeros((8, 8))
    for i, a in enumerate(names):
        for j, b in enumerate(names[i:], start=i):
            m[i, j] = m[j, i] = float(r[f"{a}_{b}"])
    totals = pd.DataFrame(
        {
            "treated": [0, 0, 1, 1],
            "post": [0, 1, 0, 1],
            "units": [float(r[f"t_n{c}"]) for c in range(4)],
            "events": [float(r[f"t_y{c}"]) for c in range(4)],
        }
    )
    return totals, m, int(r["persons"])


def sandwich(
    totals: pd.DataFrame, m: np.ndarray, persons: int, link: str
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their cluster-robust covariance for the saturated model."""
    n = totals["units"].to_numpy()
    y = totals["events"].to_numpy()
    mu = y / n
    x = X_CELLS
    if link == "identity":
        beta = np.linalg.solve(x, mu)
        weight = n
    else:
        beta = np.linalg.solve(x, np.log(mu))
        weight = n * mu
    bread = (x.T * weight) @ x
    # M_cd = sum_i (y_ic - mu_c n_ic)(y_id - mu_d n_id), from the cross-product sums.
    nn, ny, yy = m[:4, :4], m[:4, 4:], m[4:, 4:]
    meat_cells = yy - ny.T * mu[np.newaxis, :] - mu[:, np.newaxis] * ny + np.outer(mu, mu) * nn
    meat = x.T @ meat_cells @ x
    inv = np.linalg.inv(bread)
    big_n, k = float(n.sum()), x.shape[1]
    corr = persons / (persons - 1) * (big_n - 1) / (big_n - k)
    return beta, corr * inv @ meat @ inv


def pretrend(counts: pd.DataFrame) -> tuple[float, float]:
    """Difference of the two groups' linear slopes before the start (per time step) and its
    p-value. ``counts``: treated, t, units, events (binary outcome)."""
    t = counts["t"].to_numpy(float)
    g = counts["treated"].to_numpy(float)
    n = counts["units"].to_numpy(float)
    e = counts["events"].to_numpy(float)
    x = np.column_stack([np.ones_like(t), g, t, g * t])
    xtx = (x.T * n) @ x
    beta = np.linalg.solve(xtx, x.T @ e)
    f = x @ beta
    rss = e * (1 - f) ** 2 + (n - e) * f**2  # sum of squared unit residuals per row
    meat = (x.T * rss) @ x
    inv = np.linalg.inv(xtx)
    v = inv @ meat @ inv
    se = float(np.sqrt(v[3, 3]))
    return float(beta[3]), float(2 * stats.norm.sf(abs(beta[3] / se))) if se > 0 else 1.0


def did(rows: Any, pre_counts: pd.DataFrame | None = None, level: float = 0.95) -> DidResult:
    """Difference-in-differences of ``rows`` (see :func:`cross_moments`)."""
    totals, m, persons = cross_moments(rows)
    if (totals["units"] <= 0).any() or (totals["events"] <= 0).any():
        raise ValueError("every group needs units and events before and after the start")
    z = float(stats.norm.ppf(0.5 + level / 2))
    b, v = sandwich(totals, m, persons, "identity")
    se = float(np.sqrt(v[3, 3]))
    bl, vl = sandwich(totals, m, persons, "log")
    sel = float(np.sqrt(vl[3, 3]))
    slope, p_pre = pretrend(pre_counts) if pre_counts is not None else (np.nan, np.nan)
    totals["rate"] = totals["events"] / totals["units"]
    return DidResult(
        cells=totals,
        difference=float(b[3]),
        difference_ci=(float(b[3] - z * se), float(b[3] + z * se)),
        difference_p=float(2 * stats.norm.sf(abs(b[3] / se))),
        ratio=float(np.exp(bl[3])),
        ratio_ci=(float(np.exp(bl[3] - z * sel)), float(np.exp(bl[3] + z * sel))),
        ratio_p=float(2 * stats.norm.sf(abs(bl[3] / sel))),
        clusters=persons,
        pretrend_slope_difference=slope,
        pretrend_p=p_pre,
    )
