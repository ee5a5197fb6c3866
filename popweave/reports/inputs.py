"""What the report reads: aggregates from the warehouse's canonical and result tables.

The report layer is an edge (it executes Ibis expressions); everything here returns small
DataFrames. A function whose input is not in the warehouse raises :class:`Missing` with what
to run to make it, and the report shows that note in place of the section.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd

from popweave.cohorts.data import Data, age_on
from popweave.cohorts.definition import data_end
from popweave.cohorts.deprivation import area_deprivation
from popweave.cohorts.enrolment import payer_on
from popweave.cohorts.period import Period
from popweave.errors import PopweaveError

MEASURE_TABLE = "measure_result"
EQUITY_TABLE = "equity_result"
ASSIGNMENT_TABLE = "outreach_assignment"
RISK_TABLES = ("risk_score", "risk_metric", "risk_audit")
#: Measures the disparities and trends sections show when they are in the library.
KEY_MEASURES = ("readmission_30d", "hba1c_poor_control", "ed_visits_per_1000")
TREND_MEASURES = ("readmission_30d", "ed_visits_per_1000", "followup_7d")
DISPARITY_BY = ("deprivation_quintile", "race_ethnicity")
AGE_BANDS = [(lo, lo + 4) for lo in range(0, 85, 5)]


class Missing(PopweaveError):
    """An input of a report section is not in the warehouse; the message says what to run."""


def _need(eng: Any, table: str, command: str) -> Any:
    if not eng.has_table(table):
        raise Missing(f"no {table} table in the warehouse: run `{command}` first.")
    return eng.table(table)


def resolve_period(eng: Any, period: str | None) -> Period:
    """The report's period: ``period``, else the latest period of ``measure_result``, else
    the calendar year of the last day with data."""
    if period:
        try:
            return Period.parse(period)
        except ValueError as exc:
            raise PopweaveError(f"--period: {exc}") from None
    if eng.has_table(MEASURE_TABLE):
        got = eng.table(MEASURE_TABLE).select("period").distinct().execute()["period"].tolist()
        parsed = sorted((Period.parse(p) for p in got), key=lambda p: p.end)
        if parsed:
            return parsed[-1]
    return Period.year(data_end(Data.of(eng)).year)


@dataclass
class Population:
    """Who lives in the city on ``day``."""

    day: dt.date
    people: int
    pyramid: pd.DataFrame  # age_band, sex, people
    payer: pd.DataFrame  # payer, people
    deprivation: pd.DataFrame  # deprivation_quintile, people
    areas: int


def _band(age: Any) -> Any:
    cases = [(age >= 85, "85+")]
    cases += [((age >= lo) & (age <= hi), f"{lo}-{hi}") for lo, hi in AGE_BANDS]
    return ibis.cases(*cases, else_="unknown")


def population(eng: Any, day: dt.date) -> Population:
    """Living people on ``day`` by age band and sex, payer and area deprivation quintile."""
    data = Data.of(eng)
    p = data.person
    alive = p.filter((p.birth_date <= day) & (p.death_date.isnull() | (p.death_date > day)))
    if int(alive.count().execute()) == 0:
        raise Missing(f"nobody in the person table is alive on {day}: load or synthesise data.")
    pay = payer_on(data, day)
    dep = area_deprivation(data)
    j = alive.left_join(pay, "person_id").select(alive, pay.payer)
    j = j.left_join(dep, "area_id").select(j, dep.deprivation_quintile)
    t = j.select(
        age_band=_band(age_on(j.birth_date, day)),
        sex=j.sex.cast("string").fill_null("unknown"),
        payer=j.payer.fill_null("uninsured"),
        deprivation_quintile=j.deprivation_quintile.cast("string").fill_null("unknown"),
    )
    cells = t.group_by(list(t.columns)).aggregate(people=ibis._.count()).execute()
    order = [f"{lo}-{hi}" for lo, hi in AGE_BANDS] + ["85+"]

    def by(cols: list[str]) -> pd.DataFrame:
        out: pd.DataFrame = cells.groupby(cols, as_index=False)["people"].sum()
        return out

    pyr = by(["age_band", "sex"])
    pyr["age_band"] = pd.Categorical(pyr["age_band"], categories=[*order, "unknown"], ordered=True)
    pyr = pyr.sort_values(["age_band", "sex"]).astype({"age_band": str})
    payer = by(["payer"])
    depq = by(["deprivation_quintile"])
    n_areas = int(data.area.count().execute())
    return Population(
        day,
        int(pyr["people"].sum()),
        pyr.reset_index(drop=True),
        payer.sort_values("people", ascending=False).reset_index(drop=True),
        depq.sort_values("deprivation_quintile").reset_index(drop=True),
        n_areas,
    )


def area_layers(eng: Any, period: Period, measures: tuple[str, ...] = KEY_MEASURES,
                min_cell: int = 11) -> tuple[pd.DataFrame, dict[str, str], list[str]]:  # fmt: skip
    """Per area: ``area_id``, ``name``, ``geometry``, deprivation and indicators, and the
    rates by area of ``measures`` (blank where the denominator is under ``min_cell``).
    Also the layer columns with labels and the columns where higher is better."""
    data = Data.of(eng)
    a = data.area
    dep = area_deprivation(data)
    cols = ["area_id", "name", "geometry", "median_income", "pct_poverty", "pct_no_vehicle"]
    base = a.select(*cols).left_join(dep, "area_id").select(a.select(*cols), dep.deprivation_score)
    df = base.order_by("area_id").execute()
    if df.empty or df["geometry"].isna().all():
        raise Missing("the area table holds no geometry (GeoJSON) to draw a map from.")
    layers = {
        "deprivation_score": "deprivation score (higher = more deprived)",
        "pct_poverty": "% in poverty",
        "pct_no_vehicle": "% households without a vehicle",
        "median_income": "median income ($)",
    }
    reverse = ["median_income"]
    if eng.has_table(MEASURE_TABLE):
        m = eng.table(MEASURE_TABLE)
        sel = m.filter(
            (m.period == str(period)) & (m.stratifier == "area") & m.measure.isin(list(measures))
        ).execute()
        for mid, g in sel.groupby("measure", sort=False):
            small = g["units"] < min_cell
            rate = g["rate"].where(~small)  # stored per `per` units already
            df[f"m_{mid}"] = df["area_id"].map(dict(zip(g["stratum"], rate, strict=True)))
            per = float(g["per"].iloc[0])
            layers[f"m_{mid}"] = f"{g['title'].iloc[0]}" + (f" per {per:,.0f}" if per != 1 else "")
            if bool(g["higher_is_better"].iloc[0]):
                reverse.append(f"m_{mid}")
    return df, layers, reverse


def measure_rates(eng: Any, period: Period) -> pd.DataFrame:
    """One row per measure for ``period`` (``measure_result``, stratifier ``all``)."""
    m = _need(eng, MEASURE_TABLE, f"popweave run measures --period {period}")
    out: pd.DataFrame = m.filter((m.period == str(period)) & (m.stratifier == "all")).execute()
    if out.empty:
        raise Missing(
            f"measure_result holds no rates for {period}: run "
            f"`popweave run measures --period {period}` first."
        )
    return out.sort_values("measure").reset_index(drop=True)


def disparities(eng: Any, period: Period, measures: tuple[str, ...] = KEY_MEASURES,
                by: tuple[str, ...] = DISPARITY_BY) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Equity rows (``popweave.equity``, small cells suppressed) per measure: those stored
    in ``equity_result`` for the period, else computed for ``by``."""
    from popweave import equity

    stored = pd.DataFrame()
    if eng.has_table(EQUITY_TABLE):
        e = eng.table(EQUITY_TABLE)
        stored = e.filter(e.period == str(period)).execute()
    out: dict[str, pd.DataFrame] = {}
    for mid in measures:
        rows = stored[stored["measure"] == mid] if len(stored) else stored
        if rows.empty:
            try:
                rows = equity.table(eng, mid, period, list(by)).rows
            except PopweaveError:
                continue
        out[mid] = rows.reset_index(drop=True)
    if not out:
        raise Missing("none of the key measures could be broken down by group.")
    return out


def trend_charts(eng: Any, measures: tuple[str, ...] = TREND_MEASURES) -> dict[str, pd.DataFrame]:
    """Quarterly series with control charts (``popweave.trends.chart``) per measure."""
    from popweave import trends

    out: dict[str, pd.DataFrame] = {}
    for mid in measures:
        try:
            out[mid] = trends.chart(eng, mid, "quarter")
        except PopweaveError:
            continue
    if not out:
        raise Missing("no quarterly series could be computed: the warehouse holds no encounters.")
    return out


@dataclass
class Risk:
    """The latest risk run: tiers on the index date, test-year metrics, calibration, audit."""

    index_date: dt.date
    label: str
    train_date: dt.date | None
    test_date: dt.date | None
    tiers: pd.DataFrame  # tier, people, mean_score
    metrics: dict[str, float]
    reliability: pd.DataFrame  # bin, n, mean_predicted, observed, lower, upper
    audit: pd.DataFrame


def _day(v: Any) -> dt.date:
    return pd.Timestamp(v).date()


def risk(eng: Any, label: str = "admit_or_ed") -> Risk:
    """The latest stored risk run of ``label`` (``popweave run risk``)."""
    for t in RISK_TABLES:
        _need(eng, t, "popweave run risk")
    s = eng.table("risk_score")
    s = s.filter(s.label == label)
    last = s.index_date.max().execute()
    if last is None or pd.isna(last):
        raise Missing(f"risk_score holds no run of {label}: run `popweave run risk` first.")
    s = s.filter(s.index_date == last)
    tiers = s.group_by("tier").aggregate(people=ibis._.count(), mean_score=s.score.mean())
    tiers_df = tiers.execute()
    mt = eng.table("risk_metric")
    mt = mt.filter((mt.label == label) & (mt.index_date == last)).execute()
    metrics = {r.metric: float(r.value) for r in mt[mt["bin"].isna()].itertuples()}
    rel = mt[mt["metric"].str.startswith("reliability_")].copy()
    rel["col"] = rel["metric"].str.removeprefix("reliability_")
    reliability = (
        rel.pivot_table(index="bin", columns="col", values="value").reset_index()
        if len(rel)
        else pd.DataFrame(columns=["bin", "n", "mean_predicted", "observed", "lower", "upper"])
    )
    au = eng.table("risk_audit")
    audit = au.filter((au.label == label) & (au.index_date == last)).execute()
    dates = mt[["train_date", "test_date"]].dropna().head(1)
    return Risk(
        _day(last),
        label,
        _day(dates["train_date"].iloc[0]) if len(dates) else None,
        _day(dates["test_date"].iloc[0]) if len(dates) else None,
        tiers_df,
        metrics,
        reliability,
        audit.drop(columns=["index_date", "label"]).reset_index(drop=True),
    )


@dataclass
class Pilot:
    """A programme to evaluate: its areas and start (from ``truth.json`` or the caller)."""

    areas: list[str]
    start: dt.date
    outcome: str = "readmission_30d"
    name: str = "pilot"


def pilot_from_truth(path: Path) -> Pilot:
    """The synthetic city's pilot (``truth.json``: ``pilot.area_id``, ``pilot.start_date``)."""
    if not path.is_file():
        raise Missing(
            f"no programme to evaluate: {path.name} is not in the workspace (give "
            "--programme-area and --programme-start)."
        )
    try:
        p = json.loads(path.read_text(encoding="utf-8"))["pilot"]
        return Pilot(
            [str(p["area_id"])],
            dt.date.fromisoformat(str(p["start_date"])),
            name=str(p.get("programme", "pilot")),
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise Missing(f"{path} names no pilot (pilot.area_id, pilot.start_date): {exc}") from None


def evaluation(eng: Any, pilot: Pilot) -> Any:
    """:func:`popweave.evaluate.evaluate` of the pilot on its outcome."""
    from popweave.evaluate import Programme, evaluate

    return evaluate(eng, Programme(pilot.start, pilot.areas), pilot.outcome)


def workload(eng: Any) -> tuple[dt.date, pd.DataFrame]:
    """Per coordinator of the latest ``outreach_assignment``: patients, summed and mean
    priority, mean travel."""
    a = _need(eng, ASSIGNMENT_TABLE, "popweave assign")
    last = a.as_of.max().execute()
    if last is None or pd.isna(last):
        raise Missing("outreach_assignment is empty: run `popweave assign` first.")
    a = a.filter(a.as_of == last)
    df = (
        a.group_by(["coordinator_id", "practice_id"])
        .aggregate(
            patients=ibis._.count(),
            priority=a.priority.sum(),
            mean_priority=a.priority.mean(),
            mean_distance_km=a.distance_km.mean(),
        )
        .order_by([ibis.desc("patients"), "coordinator_id"])
        .execute()
    )
    df["mean_distance_km"] = df["mean_distance_km"].astype(np.float64)
    return _day(last), df
