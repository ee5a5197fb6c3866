"""An area deprivation index in the manner of the Area Deprivation Index (ADI).

The ADI (Singh, Am J Public Health 2003;93:1137-43; Kind & Buckingham, NEJM
2018;378:2456-8) standardises census indicators across areas, sums them with factor-score
weights, rescales the sum to mean 100 and SD 20 and publishes national percentile ranks (1-100)
and within-state deciles. popweave's area table carries six of its kinds of indicator (income,
poverty, households without a vehicle, adults without high school, housing cost burden, and
food access), not the 17 of the ADI, so Singh's coefficients do not apply as they stand; the
weights are instead the first principal component of the indicators' correlation matrix over
the areas (the construction of Messer et al., J Urban Health 2006;83:1041-62), divided by the
square root of its eigenvalue so that the weighted sum is a unit-variance factor score. Fixed
weights can be given instead.

Median income and food-access distance are logged (both are ratio-scaled and skewed) and every
indicator is oriented so that a higher value means more deprivation. A missing indicator
counts as the mean (z = 0).

``national_rank`` is ``ceil(100 * cume_dist)`` of the score over every area in the warehouse:
with a national set of areas loaded it is the ADI's national percentile; with one city it is
that city's. ``city_decile`` is the same within each county (the ADI's state deciles, one level
down). ``quintile`` (1 least, 5 most deprived) ranks areas like the generator and cohorts do.

>>> import ibis
>>> from popweave.risk.deprivation import AreaDeprivationIndex
>>> areas = ibis.memtable({
...     "area_id": ["A1", "A2", "A3", "A4"], "county": ["C"] * 4,
...     "median_income": [90000.0, 60000.0, 40000.0, 30000.0],
...     "pct_poverty": [5.0, 10.0, 20.0, 30.0], "pct_no_vehicle": [3.0, 6.0, 12.0, 20.0],
...     "pct_no_high_school": [4.0, 9.0, 15.0, 22.0],
...     "housing_cost_burden": [22.0, 28.0, 35.0, 41.0],
...     "food_access_miles": [0.5, 0.8, 1.2, 2.0]})
>>> adi = AreaDeprivationIndex().fit(areas)
>>> adi.transform(areas).order_by("area_id").national_rank.execute().tolist()
[25, 50, 75, 100]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import numpy as np

from popweave.cohorts.data import Data

#: Indicators and their orientation: +1 where a higher value means more deprivation.
INDICATORS: dict[str, int] = {
    "median_income": -1,
    "pct_poverty": 1,
    "pct_no_vehicle": 1,
    "pct_no_high_school": 1,
    "housing_cost_burden": 1,
    "food_access_miles": 1,
}
LOGGED = frozenset({"median_income", "food_access_miles"})
#: ADI-style scale of the score.
SCALE_MEAN, SCALE_SD = 100.0, 20.0


def _areas(source: Any) -> Any:
    """The area table from a :class:`~popweave.cohorts.Data` or an Ibis table."""
    return source.area if isinstance(source, Data) else source


def _oriented(a: Any) -> dict[str, Any]:
    out = {}
    for name, sign in INDICATORS.items():
        x = a[name].cast("float64")
        if name in LOGGED:
            x = ibis.ifelse(x > 0, x.ln(), ibis.null("float64"))
        out[name] = x * sign
    return out


class AreaDeprivationIndex:
    """ADI-style area deprivation index: fit learns standardisation and weights, transform
    builds the Ibis expression ``(area_id, county, adi_score, national_rank, city_decile,
    quintile)``.

    Parameters
    ----------
    weights:
        Fixed weight per indicator name (applied to z-scores); default: first principal
        component of the areas' indicators, as a unit-variance factor score.
    """

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = weights

    def fit(self, source: Any) -> AreaDeprivationIndex:
        """Learn ``means_``, ``sds_``, ``weights_`` (and, for PCA, ``explained_variance_``)
        from one aggregate over the areas, run in the engine."""
        a = _areas(source)
        x = _oriented(a)
        names = list(INDICATORS)
        aggs: dict[str, Any] = {"n": a.count()}
        for n in names:
            aggs[f"m_{n}"] = x[n].mean()
            aggs[f"s_{n}"] = x[n].std(how="pop")
        for i, n in enumerate(names):
            for m in names[i + 1 :]:
                aggs[f"c_{n}__{m}"] = x[n].corr(x[m], how="pop")
        row = a.aggregate(**aggs).execute().iloc[0]
        if int(row["n"]) < 2:
            raise ValueError(
                f"the area table has {int(row['n'])} area(s); a deprivation index ranks "
                "areas against each other and needs at least two"
            )
        self.means_ = {n: _num(row[f"m_{n}"]) for n in names}
        self.sds_ = {n: _num(row[f"s_{n}"]) for n in names}
        k = len(names)
        corr = np.eye(k)
        for i, n in enumerate(names):
            for j in range(i + 1, k):
                c = _num(row[f"c_{n}__{names[j]}"])
                corr[i, j] = corr[j, i] = c
        if self.weights is not None:
            unknown = set(self.weights) - set(names)
            if unknown:
                raise ValueError(f"unknown indicator(s) {sorted(unknown)}; known: {names}")
            self.weights_ = {n: float(self.weights.get(n, 0.0)) for n in names}
            self.explained_variance_ = float("nan")
        else:
            vals, vecs = np.linalg.eigh(corr)
            v1, lam = vecs[:, -1], float(vals[-1])
            if v1.sum() < 0:  # orient so that more deprivation scores higher
                v1 = -v1
            self.weights_ = {n: float(w) / np.sqrt(lam) for n, w in zip(names, v1, strict=True)}
            self.explained_variance_ = lam / k
        self.correlation_ = corr
        return self

    def _check(self) -> None:
        if not hasattr(self, "weights_"):
            raise RuntimeError("AreaDeprivationIndex is not fitted; call fit(areas) first")

    def transform(self, source: Any) -> Any:
        """Per-area score and ranks as an Ibis expression (nothing is run)."""
        self._check()
        a = _areas(source)
        x = _oriented(a)
        total: Any = ibis.literal(0.0)
        for n, w in self.weights_.items():
            sd = self.sds_[n]
            if not sd or w == 0.0:
                continue
            z = ((x[n] - self.means_[n]) / sd).fill_null(0.0)
            total = total + w * z
        scored = a.select(
            area_id=a.area_id,
            county=a.county,
            adi_score=SCALE_MEAN + SCALE_SD * total,
        )
        everywhere = ibis.window(order_by=[scored.adi_score])
        by_county = ibis.window(group_by=[scored.county], order_by=[scored.adi_score])
        rank = ibis.row_number().over(ibis.window(order_by=[scored.adi_score, scored.area_id]))
        n = scored.area_id.count().over(ibis.window())
        return scored.mutate(
            # Rounded before the ceiling: 11 / 20 * 100 is 55.000000000000007 in binary.
            national_rank=(ibis.cume_dist().over(everywhere) * 100).round(9).ceil().cast("int64"),
            city_decile=(ibis.cume_dist().over(by_county) * 10).round(9).ceil().cast("int64"),
            quintile=((rank * 5) // n + 1).cast("int64"),
        )

    score = transform

    def weights_table(self) -> dict[str, dict[str, float]]:
        """Per indicator: mean and SD used to standardise, and the weight (for the docs)."""
        self._check()
        return {
            n: {"mean": self.means_[n], "sd": self.sds_[n], "weight": self.weights_[n]}
            for n in INDICATORS
        }


def _num(v: Any) -> float:
    f = float(v) if v is not None else float("nan")
    return 0.0 if np.isnan(f) else f


def area_index(source: Any, weights: Mapping[str, float] | None = None) -> Any:
    """Fit the index on ``source``'s areas and return its per-area expression."""
    return AreaDeprivationIndex(weights).fit(source).transform(source)
