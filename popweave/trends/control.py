"""Control charts with varying limits and the run rules that flag special-cause variation.

- p-chart (proportions): centre p = sum(num) / sum(den) over the baseline points, limits
  p +/- k sqrt(p (1 - p) / n_i) for each point's own denominator n_i.
- u-chart (events per exposure): centre u = sum(events) / sum(exposure), limits
  u +/- k sqrt(u / n_i).
  (Montgomery 2019, Introduction to Statistical Quality Control, 8th ed., ch. 7; Provost &
  Murray 2011, The Health Care Data Guide, ch. 8.)
- Run rules, evaluated on each point's z = (x_i - centre) / sigma_i so that varying limits
  are handled (Western Electric 1956, Statistical Quality Control Handbook; Nelson 1984,
  J Quality Technology 16:237-239):
  ``beyond_3_sigma`` one point outside the 3-sigma limits;
  ``run_8`` 8 points in a row on the same side of the centre line;
  ``trend_6`` 6 points in a row steadily increasing or decreasing;
  ``two_of_3_beyond_2_sigma`` 2 of 3 consecutive points beyond 2 sigma on the same side.
  Every point in a pattern is flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RULES = ("beyond_3_sigma", "run_8", "trend_6", "two_of_3_beyond_2_sigma")


def _runs_same_side(z: np.ndarray, length: int) -> np.ndarray:
    flag = np.zeros(len(z), dtype=bool)
    side = np.sign(z)
    run = 0
    for i in range(len(z)):
        run = run + 1 if i > 0 and side[i] != 0 and side[i] == side[i - 1] else 1
        if side[i] == 0:
            run = 0
        if run >= length:
            flag[i - length + 1 : i + 1] = True
    return flag


def _trend(x: np.ndarray, length: int) -> np.ndarray:
    flag = np.zeros(len(x), dtype=bool)
    d = np.sign(np.diff(x))
    run = 0
    for i in range(len(d)):
        run = run + 1 if i > 0 and d[i] != 0 and d[i] == d[i - 1] else (1 if d[i] != 0 else 0)
        if run >= length - 1:
            flag[i - length + 2 : i + 2] = True
    return flag


def _two_of_three(z: np.ndarray) -> np.ndarray:
    flag = np.zeros(len(z), dtype=bool)
    for i in range(2, len(z)):
        w = z[i - 2 : i + 1]
        for s in (1, -1):
            hits = s * w > 2
            if hits.sum() >= 2:
                flag[i - 2 + np.flatnonzero(hits)] = True
    return flag


def rule_flags(x: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """The run rules on values ``x`` with standardised values ``z`` (NaN points skipped)."""
    ok = ~np.isnan(z)
    out = {r: np.zeros(len(z), dtype=bool) for r in RULES}
    xs, zs = x[ok], z[ok]
    out["beyond_3_sigma"][ok] = np.abs(zs) > 3
    out["run_8"][ok] = _runs_same_side(zs, 8)
    out["trend_6"][ok] = _trend(xs, 6)
    out["two_of_3_beyond_2_sigma"][ok] = _two_of_three(zs)
    return out


def control_chart(
    series: pd.DataFrame,
    kind: str = "p",
    *,
    baseline: int | None = None,
    per: float = 1.0,
) -> pd.DataFrame:
    """Add a control chart to ``series`` (columns ``group``, ``numerator``, ``denominator``,
    ordered in time within each group): ``centre``, ``sigma``, ``lcl`` / ``ucl`` (3 sigma),
    ``lwl`` / ``uwl`` (2 sigma), ``z``, one column per rule and ``special_cause`` with the
    rules that fired in ``signals``. ``kind`` is ``"p"`` or ``"u"``; ``baseline`` the number of
    leading points the centre line is computed from (default all); ``per`` scales rates.
    """
    if kind not in ("p", "u"):
        raise ValueError(f"chart kind {kind!r}: expected 'p' or 'u'")
    parts = []
    for _, g in series.groupby("group", sort=False):
        g = g.copy()
        num = g["numerator"].to_numpy(dtype=np.float64)
        den = g["denominator"].to_numpy(dtype=np.float64)
        b = slice(0, baseline)
        c = num[b].sum() / den[b].sum() if den[b].sum() > 0 else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(den > 0, num / den, np.nan)
            var = c * (1 - c) / den if kind == "p" else c / den
            sigma = np.where(den > 0, np.sqrt(var), np.nan)
            z = np.where(sigma > 0, (x - c) / sigma, np.nan)
        lcl = np.maximum(c - 3 * sigma, 0.0)
        ucl = c + 3 * sigma
        if kind == "p":
            ucl = np.minimum(ucl, 1.0)
        g["centre"] = c * per
        g["sigma"] = sigma * per
        g["lcl"], g["ucl"] = lcl * per, ucl * per
        g["lwl"] = np.maximum(c - 2 * sigma, 0.0) * per
        g["uwl"] = (np.minimum(c + 2 * sigma, 1.0) if kind == "p" else c + 2 * sigma) * per
        g["z"] = z
        flags = rule_flags(x, z)
        for r in RULES:
            g[r] = flags[r]
        g["special_cause"] = np.any([flags[r] for r in RULES], axis=0)
        g["signals"] = [", ".join(r for r in RULES if flags[r][i]) for i in range(len(g))]
        parts.append(g)
    return pd.concat(parts, ignore_index=True) if parts else series.copy()
