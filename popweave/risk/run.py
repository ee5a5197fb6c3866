"""Train, test, score, explain, audit and tier: one risk run on a warehouse.

With index date ``D`` (default: the last day with an encounter) the model is trained on
features up to ``D - 2 years`` with the outcome in the following year, tested on features up
to ``D - 1 year`` with the outcome in the year up to ``D`` (a temporal split: the test year is
later than anything the model saw), and then scores everyone on ``D``. The change from the
scores on ``D - 1 year`` marks rising risk (:mod:`popweave.risk.tiers`).

Labels (:data:`LABELS`): ``admit_or_ed`` (any inpatient stay or ED visit in the 12 months,
the default), ``high_cost`` (allowed cost in the top 20% of the year) and ``high_need`` (two or
more active chronic conditions at the end of the year). The fairness audit runs on the test
year, against the label the model was trained on, with need = active chronic conditions.

Results go to warehouse tables, replaced per (index date, label): ``risk_score`` (score,
percentile, previous score, change, tier), ``risk_factor`` (the top factors per person),
``risk_metric`` (test-year metrics and reliability curve), ``risk_audit`` (the audit table)
and ``area_index`` (the area deprivation index, replaced per index date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from popweave.cohorts.data import Data, as_date
from popweave.errors import PopweaveError
from popweave.risk import features as F
from popweave.risk.deprivation import AreaDeprivationIndex
from popweave.risk.fairness import Audit, audit
from popweave.risk.model import Metrics, RiskModel, evaluate, reliability
from popweave.risk.tiers import TierRules, assign_tiers

SCORE_TABLE = "risk_score"
FACTOR_TABLE = "risk_factor"
METRIC_TABLE = "risk_metric"
AUDIT_TABLE = "risk_audit"
AREA_TABLE = "area_index"
HIGH_COST_SHARE = 0.20
HIGH_NEED_CONDITIONS = 2


def _admit_or_ed(f: pd.DataFrame) -> np.ndarray:
    out: np.ndarray = f["admit_or_ed"].to_numpy(dtype=np.int64)
    return out


def _high_cost(f: pd.DataFrame) -> np.ndarray:
    cost = f["cost"].to_numpy(dtype=np.float64)
    out: np.ndarray = (cost >= np.quantile(cost, 1 - HIGH_COST_SHARE)).astype(np.int64)
    return out


def _high_need(f: pd.DataFrame) -> np.ndarray:
    out: np.ndarray = (f["need"].to_numpy() >= HIGH_NEED_CONDITIONS).astype(np.int64)
    return out


#: Outcome labels a model can be trained on: name -> label from the outcome columns.
LABELS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "admit_or_ed": _admit_or_ed,
    "high_cost": _high_cost,
    "high_need": _high_need,
}


@dataclass
class RiskRun:
    """The result of :func:`run`: the fitted model, the test-year evaluation and audit, and
    the scores, factors and tiers on the index date (DataFrames)."""

    index_date: dt.date
    train_date: dt.date
    test_date: dt.date
    label: str
    model: RiskModel
    metrics: Metrics
    reliability: pd.DataFrame
    audit: Audit
    test: pd.DataFrame
    """The test year: features, outcomes, attributes, ``score`` and ``outcome``."""
    scores: pd.DataFrame
    factors: pd.DataFrame
    area_index: pd.DataFrame

    def contributions_by(self, column: str) -> pd.DataFrame:
        """Mean contribution of each feature group in the test year by ``column``'s values
        (e.g. ``need_transport``, ``deprivation_quintile``)."""
        c = self.model.contributions(self.test)
        c[column] = self.test[column].to_numpy()
        out: pd.DataFrame = c.groupby(column, dropna=False).mean()
        return out


def _data(source: Any) -> Data:
    return source if isinstance(source, Data) else Data.of(source)


def last_day(data: Data) -> dt.date:
    """The last day with an encounter: the default index date."""
    e = data.encounter
    v = e.aggregate(d=as_date(e.start_time).max()).execute()["d"].iloc[0]
    if v is None or pd.isna(v):
        raise PopweaveError("the warehouse holds no encounters; load data before a risk run")
    return pd.Timestamp(v).date()


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def frame(data: Data, day: dt.date, area: Any, *, min_age: int = 18) -> pd.DataFrame:
    """Features, outcomes and audit attributes of everyone on ``day`` (executed)."""
    x = F.features(data, day, area_index=area, min_age=min_age)
    y = F.outcomes(data, day, min_age=min_age)
    a = F.attributes(data, day, area_index=area, min_age=min_age)
    out: pd.DataFrame = x.join(y, "person_id").join(a, "person_id").order_by("person_id").execute()
    return out


def run(
    source: Any,
    index_date: dt.date | None = None,
    *,
    label: str = "admit_or_ed",
    rules: TierRules | None = None,
    model: RiskModel | None = None,
    min_age: int = 18,
    factors: int = 3,
    save: bool = True,
    progress: Callable[[str], None] | None = None,
) -> RiskRun:
    """One risk run on an engine (or :class:`~popweave.cohorts.Data`); see the module
    docstring. ``save`` writes the result tables (needs an engine)."""
    if label not in LABELS:
        raise PopweaveError(f"unknown label {label!r}; known: {', '.join(LABELS)}")
    data = _data(source)

    def step(msg: str) -> None:
        if progress:
            progress(msg)

    d = index_date or last_day(data)
    test_date = years_before(d, 1)
    train_date = years_before(d, 2)
    step("area deprivation index")
    adi = AreaDeprivationIndex().fit(data)
    area = adi.transform(data)
    step(f"features on {train_date}")
    train = frame(data, train_date, area, min_age=min_age)
    step(f"features on {test_date}")
    test = frame(data, test_date, area, min_age=min_age)
    step(f"features on {d}")
    now = F.features(data, d, area_index=area, min_age=min_age).order_by("person_id").execute()
    fn = LABELS[label]
    y_train = fn(train)
    if len(np.unique(y_train)) < 2:
        raise PopweaveError(
            f"the training year ({train_date} + 12 months) has no variation in {label}; "
            "a risk model needs two years of history before the index date"
        )
    step("fitting the model")
    m = (model or RiskModel()).fit(train, y_train)
    step("testing")
    test = test.assign(score=m.score(test), outcome=fn(test))
    metrics = evaluate(test["outcome"], test["score"])
    rel = reliability(test["outcome"], test["score"])
    aud = audit(test)
    step("scoring and explaining")
    prev = pd.DataFrame({"person_id": test["person_id"], "score": test["score"]})
    cur = pd.DataFrame({"person_id": now["person_id"], "score": m.score(now)})
    tiered = (
        assign_tiers(ibis.memtable(cur), ibis.memtable(prev), rules).order_by("person_id").execute()
    )
    top = m.top_factors(now, n=factors)
    area_df = area.order_by("area_id").execute()
    result = RiskRun(
        d, train_date, test_date, label, m, metrics, rel, aud, test, tiered, top, area_df
    )
    if save:
        step("saving")
        save_run(source, result)
    return result


def save_run(engine: Any, r: RiskRun) -> None:
    """Write the run's result tables (replacing those of the same index date and label)."""
    if isinstance(engine, Data):
        raise PopweaveError("saving a risk run needs a warehouse engine, not a Data object")
    key = {"index_date": r.index_date, "label": r.label}

    def tagged(df: pd.DataFrame) -> pa.Table:
        df = df.copy()
        df.insert(0, "label", r.label)
        df.insert(0, "index_date", r.index_date)
        return pa.Table.from_pandas(df, preserve_index=False)

    engine.save_result(SCORE_TABLE, tagged(r.scores), replace=key)
    engine.save_result(FACTOR_TABLE, tagged(r.factors), replace=key)
    metrics: list[dict[str, Any]] = [
        {"metric": k, "bin": None, "value": v} for k, v in r.metrics.as_dict().items()
    ]
    for row in r.reliability.itertuples():
        for col in ("n", "mean_predicted", "observed", "lower", "upper"):
            metrics.append(
                {"metric": f"reliability_{col}", "bin": row.bin, "value": getattr(row, col)}
            )
    mt = pd.DataFrame(metrics).astype({"bin": "Int64", "value": "float64"})
    mt["train_date"], mt["test_date"] = r.train_date, r.test_date
    engine.save_result(METRIC_TABLE, tagged(mt), replace=key)
    engine.save_result(AUDIT_TABLE, tagged(r.audit.table), replace=key)
    area = r.area_index.copy()
    area.insert(0, "index_date", r.index_date)
    engine.save_result(
        AREA_TABLE,
        pa.Table.from_pandas(area, preserve_index=False),
        replace={"index_date": r.index_date},
    )
