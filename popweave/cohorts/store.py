"""Materialised cohorts in the warehouse, and their characterisation.

``cohort_member(cohort, person_id, index_date, built_at)`` holds the members of every built
cohort; building a cohort again replaces its rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from popweave.cohorts.data import Data, age_on
from popweave.cohorts.deprivation import area_deprivation
from popweave.errors import PopweaveError

MEMBER_TABLE = "cohort_member"
AGE_BANDS = ((0, 17), (18, 34), (35, 49), (50, 64), (65, 74), (75, 200))


def save(engine: Any, name: str, people: Any, index_date: dt.date) -> int:
    """Store the ``person_id`` table ``people`` as cohort ``name``; returns its size."""
    built = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = people.select(
        cohort=ibis.literal(name),
        person_id=people.person_id,
        index_date=ibis.literal(index_date),
        built_at=ibis.literal(built),
    )
    return int(engine.save_result(MEMBER_TABLE, rows, replace={"cohort": name}))


def saved(engine: Any, name: str) -> Any:
    """The stored members of ``name`` as an Ibis table; a clear error if it was never built."""
    if not engine.has_table(MEMBER_TABLE):
        raise PopweaveError(f"no cohort has been built yet; run: popweave cohort build {name}")
    t = engine.table(MEMBER_TABLE)
    if int(t.filter(t.cohort == name).count().execute()) == 0:
        names = sorted(t.select("cohort").distinct().execute()["cohort"].tolist())
        known = ", ".join(names) or "none"
        raise PopweaveError(f"cohort {name!r} has not been built (built: {known})")
    return t.filter(t.cohort == name)


@dataclass
class Profile:
    """Who is in a cohort: size and distributions (shares are of the cohort)."""

    name: str
    size: int
    population: int
    index_date: dt.date
    age: pd.DataFrame
    sex: pd.DataFrame
    race_ethnicity: pd.DataFrame
    deprivation: pd.DataFrame
    top_conditions: pd.DataFrame


def _shares(df: pd.DataFrame, size: int) -> pd.DataFrame:
    df = df.sort_values("n", ascending=False).reset_index(drop=True)
    df["share"] = df["n"] / size if size else 0.0
    return df


def profile(data: Data, name: str, members: Any, index_date: dt.date, top: int = 10) -> Profile:
    """Characterise ``members`` (a ``person_id`` table) on ``index_date``."""
    p = data.person
    m = p.semi_join(members.select("person_id"), "person_id")
    size = int(m.count().execute())
    population = int(p.count().execute())
    age = age_on(m.birth_date, index_date)
    band = ibis.cases(
        *[
            ((age >= lo) & (age <= hi), f"{lo}-{hi}" if hi < 200 else f"{lo}+")
            for lo, hi in AGE_BANDS
        ],
        else_="unknown",
    )
    ages = m.mutate(band=band).group_by("band").aggregate(n=ibis._.count()).execute()
    order = {(f"{lo}-{hi}" if hi < 200 else f"{lo}+"): i for i, (lo, hi) in enumerate(AGE_BANDS)}
    ages = ages.assign(o=ages["band"].map(order)).sort_values("o").drop(columns="o")
    ages["share"] = ages["n"] / size if size else 0.0
    sex = _shares(m.group_by("sex").aggregate(n=ibis._.count()).execute(), size)
    re_ = m.mutate(
        group=ibis.cases((m.ethnicity == "hispanic", "hispanic"), else_=m.race.fill_null("unknown"))
    )
    race = _shares(re_.group_by("group").aggregate(n=ibis._.count()).execute(), size)
    dep = area_deprivation(data)
    j = m.left_join(dep, "area_id")
    deprivation = j.group_by(quintile=j.deprivation_quintile).aggregate(n=ibis._.count()).execute()
    deprivation = deprivation.sort_values("quintile").reset_index(drop=True)
    deprivation["share"] = deprivation["n"] / size if size else 0.0
    c = data.condition
    active = c.filter(
        (c.onset_date <= index_date)
        & (c.abatement_date.isnull() | (c.abatement_date >= index_date))
        & (c.code_system == "ICD10CM")
    ).semi_join(members.select("person_id"), "person_id")
    cat = active.mutate(category=active.code.substr(0, 3))
    conds = (
        cat.group_by("category")
        .aggregate(n=cat.person_id.nunique())
        .order_by(ibis.desc("n"))
        .limit(top)
        .execute()
    )
    conds["description"] = [_describe(c) for c in conds["category"]]
    conds["share"] = conds["n"] / size if size else 0.0
    return Profile(name, size, population, index_date, ages, sex, race, deprivation, conds)


def _describe(category: str) -> str:
    from popweave.terminology.icd10 import describe

    try:
        return describe(category) or ""
    except Exception:  # an unknown category is shown without a description
        return ""
