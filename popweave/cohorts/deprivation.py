"""Area deprivation score and quintile from the area table's social-determinant indicators.

The score is the mean of z-scores across areas (the construction of the Townsend index:
Townsend, Phillimore & Beattie 1988), with median income logged and sign-reversed so that a
higher score always means more deprived. Quintile 5 holds the most deprived fifth of areas.
"""

from __future__ import annotations

from typing import Any

import ibis

from popweave.cohorts.data import Data

#: Indicators where a higher value means more deprivation.
INDICATORS = (
    "pct_poverty",
    "pct_no_vehicle",
    "pct_no_high_school",
    "housing_cost_burden",
    "food_access_miles",
)


def area_deprivation(data: Data) -> Any:
    """``(area_id, deprivation_score, deprivation_quintile)`` for every area with data."""
    a = data.area
    cols = {name: a[name].cast("float64") for name in INDICATORS}
    cols["log_income"] = -(a.median_income.cast("float64").ln())
    zs = []
    for expr in cols.values():
        mean = expr.mean().over(ibis.window())
        sd = expr.std().over(ibis.window())
        z = ibis.cases((sd.isnull() | (sd == 0), 0.0), else_=(expr - mean) / sd)
        zs.append(z.fill_null(0.0))
    total = zs[0]
    for z in zs[1:]:
        total = total + z
    scored = a.select(area_id=a.area_id, deprivation_score=total / len(zs))
    rank = ibis.row_number().over(ibis.window(order_by=[scored.deprivation_score, scored.area_id]))
    n = scored.area_id.count().over(ibis.window())
    # Quintile = floor(5 * rank / n) + 1 with a 0-based rank, so the top fifth is quintile 5.
    return scored.mutate(deprivation_quintile=((rank * 5) // n + 1).cast("int64"))
