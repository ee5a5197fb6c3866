"""Per-person features, outcomes and audit attributes on an index date, as Ibis expressions.

Everything a feature uses is dated on or before the index date; outcomes look at the
``horizon_days`` after it. Nothing here runs a query: each function returns one Ibis table
with a row per person alive and aged ``min_age``+ on the index date.

Feature groups (the unit in which the model explains a score, :data:`GROUPS`): age, sex,
coverage on the index date, one group per chronic condition (diagnosis on or before the index
date, from the condition list or an encounter diagnosis, by value set), the Charlson index
(Quan 2011 weights, :func:`popweave.risk.comorbidity.charlson`, diagnoses of the two years
before), the CMS-HCC V28 community score and count of payment HCCs
(:func:`popweave.risk.hcc.hcc_scores`, diagnoses of the year before, codes matched as the
warehouse stores them), the highest LACE index of the hospital stays discharged in the
``lookback_days`` before (:func:`popweave.risk.lace.lace`, 0 without a stay), hospital
stays, ED visits, other visits and allowed cost in the ``lookback_days`` before, the last
HbA1c and the last blood pressure (within two years), the area deprivation index of the
person's area, and the last social-needs screening answer (within two years) for transport,
food and housing (1 need, 0 no need, missing when not screened).

Race and ethnicity are not features: they are audit attributes only (:func:`attributes`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis

from popweave.cohorts.data import Data, age_on, as_date, coded_events, match_codes
from popweave.risk._codes import diagnoses
from popweave.risk.comorbidity import charlson
from popweave.risk.hcc import hcc_scores
from popweave.risk.lace import lace
from popweave.terminology.valuesets import valueset

#: Chronic conditions (value-set names) used as features and to count active conditions.
CONDITIONS = (
    "diabetes",
    "hypertension",
    "heart_failure",
    "copd",
    "asthma",
    "ckd",
    "depression",
    "ascvd",
    "obesity",
)
PAYER_FEATURES = ("medicaid", "medicare", "dual", "commercial", "uninsured")
SCREENING = {"transport": "sdoh_transport", "food": "sdoh_food", "housing": "sdoh_housing"}
LAB_LOOKBACK_DAYS = 730


@dataclass(frozen=True)
class Group:
    """A feature group: its columns and how a case manager reads it."""

    label: str
    columns: tuple[str, ...]


#: Feature groups in display order; the model's contributions are per group.
GROUPS: dict[str, Group] = {
    "age": Group("age", ("age",)),
    "sex": Group("sex", ("female",)),
    "coverage": Group("coverage", tuple(f"payer_{p}" for p in PAYER_FEATURES)),
    **{
        c: Group(c.replace("_", " ").replace("ascvd", "cardiovascular disease"), (f"dx_{c}",))
        for c in CONDITIONS
    },
    "charlson": Group("Charlson comorbidity index", ("charlson",)),
    "hcc": Group("CMS-HCC risk score", ("hcc_score", "hcc_count")),
    "lace": Group("LACE index of the past year's hospital stays", ("max_lace",)),
    "prior_inpatient": Group("hospital stays in the past year", ("inpatient_stays",)),
    "prior_ed": Group("ED visits in the past year", ("ed_visits",)),
    "prior_visits": Group("other visits in the past year", ("other_visits",)),
    "prior_cost": Group("allowed cost in the past year", ("allowed_cost",)),
    "hba1c": Group("last HbA1c", ("last_hba1c",)),
    "blood_pressure": Group("last blood pressure", ("last_systolic", "last_diastolic")),
    "area_deprivation": Group("area deprivation", ("area_adi",)),
    "transport_need": Group("transport need", ("need_transport",)),
    "food_need": Group("food insecurity", ("need_food",)),
    "housing_need": Group("housing instability", ("need_housing",)),
}
FEATURES: tuple[str, ...] = tuple(c for g in GROUPS.values() for c in g.columns)


def population(data: Data, index_date: dt.date, *, min_age: int = 18) -> Any:
    """``(person_id, birth_date, sex, area_id, race, ethnicity)`` of people alive and aged
    ``min_age``+ on ``index_date``."""
    p = data.person
    alive = p.death_date.isnull() | (p.death_date > index_date)
    p = p.filter(alive & (p.birth_date <= index_date))
    p = p.filter(age_on(p.birth_date, index_date) >= min_age)
    return p.select("person_id", "birth_date", "sex", "area_id", "race", "ethnicity")


def _flags(pop: Any, parts: dict[str, Any]) -> Any:
    """Left-join one 0/1 column per (name -> table of person_id) onto ``pop``."""
    out = pop
    for name, t in parts.items():
        t = t.select("person_id").distinct().mutate(**{name: ibis.literal(1.0)})
        out = out.left_join(t, "person_id").drop("person_id_right")
        out = out.mutate(**{name: out[name].fill_null(0.0)})
    return out


def _last_value(data: Data, codes_set: str, start: dt.date, end: dt.date, name: str) -> Any:
    """``(person_id, <name>)``: the latest numeric result of ``codes_set`` in [start, end]."""
    o = data.observation
    o = match_codes(
        o.filter(o.date.between(start, end) & o.value_num.notnull()),
        {"LOINC": valueset(codes_set).codes_for("LOINC")},
        (("code_system", "code"),),
    )
    w = ibis.window(group_by="person_id", order_by=[o.date.desc(), o.observation_id.desc()])
    o = o.mutate(_rn=ibis.row_number().over(w)).filter(lambda t: t._rn == 0)
    return o.select("person_id", **{name: o.value_num.cast("float64")})


def _last_answer(data: Data, codes_set: str, start: dt.date, end: dt.date, name: str) -> Any:
    """``(person_id, <name>)``: 1.0 if the latest screening answer is positive, else 0.0."""
    o = data.observation
    o = match_codes(
        o.filter(o.date.between(start, end)),
        {"LOINC": valueset(codes_set).codes_for("LOINC")},
        (("code_system", "code"),),
    )
    w = ibis.window(group_by="person_id", order_by=[o.date.desc(), o.observation_id.desc()])
    o = o.mutate(_rn=ibis.row_number().over(w)).filter(lambda t: t._rn == 0)
    positive = valueset("sdoh_positive_answers").codes_for("LOINC")
    return o.select("person_id", **{name: o.value_code.isin(positive).cast("float64")})


def _left(out: Any, t: Any) -> Any:
    return out.left_join(t, "person_id").drop("person_id_right")


def diagnosed(data: Data, end: dt.date) -> Any:
    """``(person_id, condition)``: chronic conditions diagnosed on or before ``end``."""
    parts = []
    for name in CONDITIONS:
        vs = valueset(name)
        codes = {s: vs.codes_for(s) for s in ("ICD10CM", "SNOMED")}
        ev = coded_events(data, "diagnosis", codes, None, end)
        parts.append(ev.select("person_id").distinct().mutate(condition=ibis.literal(name)))
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p, distinct=False)
    return out


def features(
    data: Data,
    index_date: dt.date,
    *,
    area_index: Any,
    min_age: int = 18,
    lookback_days: int = 365,
) -> Any:
    """One row per person of :func:`population` with every column of :data:`FEATURES`.

    ``area_index`` is the per-area expression of
    :meth:`popweave.risk.deprivation.AreaDeprivationIndex.transform`.
    """
    d = index_date
    start = d - dt.timedelta(days=lookback_days - 1)
    lab_start = d - dt.timedelta(days=LAB_LOOKBACK_DAYS - 1)
    pop = population(data, d, min_age=min_age)
    out = pop.select(
        "person_id",
        "area_id",
        age=age_on(pop.birth_date, d).cast("float64"),
        female=(pop.sex == "female").cast("float64"),
    )
    # Coverage on the index date (the first span found if several overlap).
    e = data.enrollment
    e = e.filter((e.start_date <= d) & (e.end_date.isnull() | (e.end_date >= d)))
    payer = e.group_by("person_id").aggregate(payer=e.payer.min())
    out = _left(out, payer)
    out = out.mutate(
        **{
            f"payer_{p}": (out.payer.fill_null("uninsured") == p).cast("float64")
            for p in PAYER_FEATURES
        }
    ).drop("payer")
    # Chronic conditions.
    dx = diagnosed(data, d)
    agg = dx.group_by("person_id").aggregate(
        **{f"dx_{c}": (dx.condition == c).cast("float64").max() for c in CONDITIONS}
    )
    out = _left(out, agg)
    out = out.mutate(**{f"dx_{c}": out[f"dx_{c}"].fill_null(0.0) for c in CONDITIONS})
    # Charlson comorbidity index (Quan 2011 weights) over ICD-10-CM diagnoses of two years.
    dx2 = diagnoses(data, lab_start, d)
    cci = charlson(dx2, people=pop.select("person_id"))
    out = _left(out, cci.select("person_id", charlson=cci.charlson.cast("float64")))
    out = out.mutate(charlson=out.charlson.fill_null(0.0))
    # CMS-HCC V28 (community model) over ICD-10-CM diagnoses of the look-back year. Everyone
    # is scored as a community enrollee: age and sex on the index date, full dual with
    # Medicaid or dual coverage; no entitlement data, so no originally-disabled factor.
    who = out.select(
        "person_id",
        age=out.age.cast("int32"),
        sex=ibis.ifelse(out.female == 1.0, "F", "M"),
        dual=ibis.ifelse((out.payer_medicaid + out.payer_dual) > 0, "full", "none"),
        orec=ibis.literal("0"),
    )
    raf = hcc_scores(diagnoses(data, start, d), who, version="v28", codes="canonical")
    out = _left(
        out,
        raf.select(
            "person_id",
            hcc_score=raf.score.cast("float64"),
            hcc_count=raf.hcc_count.cast("float64"),
        ),
    )
    # LACE: the highest index of the stays discharged in the look-back.
    stays = lace(data, start=start, end=d)
    worst = stays.group_by("person_id").aggregate(max_lace=stays.lace.max().cast("float64"))
    out = _left(out, worst)
    out = out.mutate(max_lace=out.max_lace.fill_null(0.0))
    # Utilisation and cost in the look-back.
    enc = data.encounter
    day = as_date(enc.start_time)
    enc = enc.filter(day.between(start, d))
    use = enc.group_by("person_id").aggregate(
        inpatient_stays=(enc.encounter_class == "inpatient").cast("float64").sum(),
        ed_visits=(enc.encounter_class == "emergency").cast("float64").sum(),
        other_visits=(~enc.encounter_class.isin(["inpatient", "emergency"])).cast("float64").sum(),
    )
    out = _left(out, use)
    cl = data.claim_line
    cl = cl.filter(cl.service_date.between(start, d))
    cost = cl.group_by("person_id").aggregate(allowed_cost=cl.allowed_amount.cast("float64").sum())
    out = _left(out, cost)
    out = out.mutate(
        **{
            c: out[c].fill_null(0.0)
            for c in ("inpatient_stays", "ed_visits", "other_visits", "allowed_cost")
        }
    )
    # Labs and vitals (missing when not measured: the model handles missing values).
    out = _left(out, _last_value(data, "hba1c_result", lab_start, d, "last_hba1c"))
    out = _left(out, _last_value(data, "systolic_bp", lab_start, d, "last_systolic"))
    out = _left(out, _last_value(data, "diastolic_bp", lab_start, d, "last_diastolic"))
    # Area deprivation.
    ai = area_index.select("area_id", area_adi=area_index.adi_score)
    out = out.left_join(ai, "area_id").drop("area_id_right")
    # Social-needs screening.
    for need, vs in SCREENING.items():
        out = _left(out, _last_answer(data, vs, lab_start, d, f"need_{need}"))
    return out.select("person_id", *FEATURES)


def outcomes(data: Data, index_date: dt.date, *, min_age: int = 18, horizon_days: int = 365) -> Any:
    """``(person_id, admit_or_ed, cost, need)`` over the ``horizon_days`` after the index
    date: any inpatient stay or ED visit (0/1); allowed cost; and the number of
    :data:`CONDITIONS` active on the horizon's last day in the condition list (onset on or
    before it, not abated) -- the "active chronic conditions" of Obermeyer et al. 2019, a
    measure of health that does not depend on use of care."""
    d = index_date
    end = d + dt.timedelta(days=horizon_days)
    pop = population(data, d, min_age=min_age).select("person_id")
    enc = data.encounter
    day = as_date(enc.start_time)
    acute = enc.filter(
        (day > d) & (day <= end) & enc.encounter_class.isin(["inpatient", "emergency"])
    )
    hit = acute.select("person_id").distinct().mutate(admit_or_ed=ibis.literal(1))
    out = _left(pop, hit)
    cl = data.claim_line
    cl = cl.filter((cl.service_date > d) & (cl.service_date <= end))
    cost = cl.group_by("person_id").aggregate(cost=cl.allowed_amount.cast("float64").sum())
    out = _left(out, cost)
    out = _left(out, active_conditions(data, end))
    return out.select(
        "person_id",
        admit_or_ed=out.admit_or_ed.fill_null(0).cast("int64"),
        cost=out.cost.fill_null(0.0),
        need=out.need.fill_null(0).cast("int64"),
    )


def active_conditions(data: Data, on: dt.date) -> Any:
    """``(person_id, need)``: how many of :data:`CONDITIONS` are active on ``on`` in the
    condition list (onset on or before, no abatement or abated after)."""
    c = data.condition
    c = c.filter((c.onset_date <= on) & (c.abatement_date.isnull() | (c.abatement_date > on)))
    parts = []
    for name in CONDITIONS:
        vs = valueset(name)
        codes = {s: vs.codes_for(s) for s in ("ICD10CM", "SNOMED")}
        m = match_codes(c, codes, (("code_system", "code"),))
        parts.append(m.select("person_id").distinct().mutate(condition=ibis.literal(name)))
    u = parts[0]
    for p in parts[1:]:
        u = u.union(p, distinct=False)
    return u.group_by("person_id").aggregate(need=u.count())


def attributes(data: Data, index_date: dt.date, *, area_index: Any, min_age: int = 18) -> Any:
    """Audit attributes: ``(person_id, race_ethnicity, sex, deprivation_quintile,
    active_conditions)`` on the index date (Hispanic of any race is ``hispanic``)."""
    pop = population(data, index_date, min_age=min_age)
    ai = area_index.select("area_id", deprivation_quintile=area_index.quintile)
    out = pop.left_join(ai, "area_id").drop("area_id_right")
    out = _left(out, active_conditions(data, index_date))
    return out.select(
        "person_id",
        race_ethnicity=ibis.ifelse(
            out.ethnicity == "hispanic", "hispanic", out.race.fill_null("unknown")
        ),
        sex=out.sex,
        deprivation_quintile=out.deprivation_quintile,
        active_conditions=out.need.fill_null(0).cast("int64"),
    )
