"""Direct age-sex standardisation with the Fay & Feuer gamma interval.

A group's standardised rate is ``sum_i w_i d_i / n_i`` over age-sex cells ``i``, with the
weights ``w_i`` of a standard population (normalised to 1): either the city's own total (the
measure's denominator in each cell over every group; the default) or the 2000 U.S. standard
population (by age only; each age band's weight is split equally between women and men). The
interval is the gamma interval of Fay & Feuer 1997 (Statistics in Medicine 16:791-801), as
in SEER*Stat and R ``epitools::ageadjust.direct``: with variance ``v = sum w_i^2 d_i/n_i^2``
and ``wm = max w_i/n_i``, lower = Gamma(a/2; y^2/v, v/y), upper = Gamma(1-a/2; (y+wm)^2/(v+wm^2),
(v+wm^2)/(y+wm)). Cells a group lacks are left out and the remaining weights renormalised;
``coverage`` says how much of the standard the group covered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from popweave.measures.strata import AGE_BANDS, band_label

US2000 = Path(__file__).with_name("data") / "us2000_standard.csv"
STANDARDS = ("city", "us2000")


def us2000_age_weights() -> pd.Series:
    """2000 U.S. standard population weights for the age bands of the strata (sum 1).

    A standard group that straddles a band edge (15-19 at 18) is split in proportion to its
    single years of age."""
    std = pd.read_csv(US2000, comment="#")
    out = {}
    for lo, hi in AGE_BANDS:
        total = 0.0
        rows = zip(std["age_from"], std["age_to"], std["population"], strict=True)
        for a, b, pop in rows:
            overlap = min(int(b), hi) - max(int(a), lo) + 1
            if overlap > 0:
                total += float(pop) * overlap / (int(b) - int(a) + 1)
        out[band_label(lo, hi)] = total
    s = pd.Series(out, name="weight")
    return s / s.sum()


def standard_weights(kind: str, cells: pd.DataFrame | None = None) -> pd.Series:
    """Weights indexed by ``(age_band, sex)``: ``"us2000"``, or ``"city"`` from ``cells``
    (columns age_band, sex, denominator: the whole population's counts)."""
    if kind == "us2000":
        age = us2000_age_weights()
        idx = pd.MultiIndex.from_product([age.index, ["female", "male"]], names=["age_band", "sex"])
        return pd.Series([age[a] / 2 for a, _ in idx], index=idx, name="weight")
    if kind == "city":
        if cells is None:
            raise ValueError("the city standard needs the population's cells")
        c = cells[(cells["age_band"] != "unknown") & (cells["sex"] != "unknown")]
        w = c.groupby(["age_band", "sex"])["denominator"].sum().astype(float)
        w = w[w > 0]
        return (w / w.sum()).rename("weight")
    raise ValueError(f"standard {kind!r}: expected one of {', '.join(STANDARDS)}")


def fay_feuer(
    y: np.ndarray, v: np.ndarray, wm: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Fay & Feuer 1997 gamma interval for a directly standardised rate ``y`` with variance
    ``v`` and largest per-unit weight ``wm``."""
    a = 1 - level
    y, v, wm = (np.asarray(x, dtype=np.float64) for x in (y, v, wm))
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(v > 0, stats.gamma.ppf(a / 2, y * y / v, scale=v / y), 0.0)
        vu = v + wm * wm
        yu = y + wm
        hi = stats.gamma.ppf(1 - a / 2, yu * yu / vu, scale=vu / yu)
    return lo, hi


def direct(
    cells: pd.DataFrame, weights: pd.Series, group: str, level: float = 0.95
) -> pd.DataFrame:
    """Standardised rate per ``group`` from ``cells`` (columns group, age_band, sex,
    numerator, denominator): ``std_rate``, ``std_lower``, ``std_upper``, ``coverage``."""
    w = weights.rename("weight").reset_index()
    c = cells.merge(w, on=["age_band", "sex"], how="inner")
    c = c[c["denominator"] > 0].copy()
    num = c["numerator"].astype(float)
    den = c["denominator"].astype(float)
    c["coverage"] = c["weight"]
    c["_r"] = num / den
    rows = []
    for g, part in c.groupby(group, sort=False, dropna=False):
        cover = float(part["weight"].sum())
        if cover <= 0:
            continue
        wi = part["weight"].to_numpy(dtype=np.float64) / cover
        n = part["denominator"].to_numpy(dtype=np.float64)
        d = part["numerator"].to_numpy(dtype=np.float64)
        y = float(np.sum(wi * d / n))
        v = float(np.sum(wi * wi * d / (n * n)))
        wm = float(np.max(wi / n))
        rows.append((g, y, v, wm, cover))
    out = pd.DataFrame(rows, columns=[group, "std_rate", "_v", "_wm", "coverage"])
    lo, hi = fay_feuer(
        out["std_rate"].to_numpy(), out["_v"].to_numpy(), out["_wm"].to_numpy(), level
    )
    out["std_lower"], out["std_upper"] = lo, hi
    return out.drop(columns=["_v", "_wm"])
