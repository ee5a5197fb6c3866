"""The LACE index of the risk of death or unplanned readmission within 30 days of discharge
(van Walraven C et al., CMAJ 2010;182(6):551-557), per hospital stay, as an Ibis expression.

L, length of stay in days: < 1: 0, 1: 1, 2: 2, 3: 3, 4-6: 4, 7-13: 5, 14 or more: 7.
A, acuity: 3 when the admission was emergent, here an emergency encounter of the person
on the day of admission or the day before. C, comorbidity: the Charlson index with the LACE
points (:data:`popweave.risk.comorbidity.CHARLSON_WEIGHTS` ``lace2010``) of the diagnoses
known at discharge, 0-3 as is and 4 or more as 5. E, emergency department visits in the six
months (182 days) before admission, not counting the one that led to it: 0-3 as is, 4 or
more as 4. LACE is the sum, 0-19.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from popweave.cohorts.data import Data, as_date
from popweave.risk.comorbidity import charlson

ED_WINDOW_DAYS = 182


def lace(data: Data, *, start: dt.date, end: dt.date, lookback_days: int = 365) -> Any:
    """LACE per inpatient stay discharged in [start, end].

    Returns ``encounter_id, person_id, admitted, discharged, length_of_stay, acute,
    ed_visits, charlson, l_points, a_points, c_points, e_points, lace``. Diagnoses count when
    known at discharge: conditions with onset on or before discharge not abated more than
    ``lookback_days`` before admission, and encounter and claim diagnoses dated from
    ``lookback_days`` before admission to discharge.
    """
    e = data.encounter
    stays = e.filter(
        (e.encounter_class == "inpatient")
        & e.end_time.notnull()
        & as_date(e.end_time).between(start, end)
    ).select(
        encounter_id=e.encounter_id,
        person_id=e.person_id,
        admitted=as_date(e.start_time),
        discharged=as_date(e.end_time),
    )
    ed = e.filter(e.encounter_class == "emergency").select(
        ed_person=e.person_id, ed_day=as_date(e.start_time)
    )
    j = stays.left_join(
        ed,
        [
            stays.person_id == ed.ed_person,
            ed.ed_day >= stays.admitted - ibis.interval(days=ED_WINDOW_DAYS),
            ed.ed_day <= stays.admitted,
        ],
    )
    index_visit = j.ed_day >= j.admitted - ibis.interval(days=1)
    visits = j.group_by("encounter_id").aggregate(
        acute=index_visit.fill_null(False).any(),
        ed_visits=(j.ed_day.notnull() & ~index_visit.fill_null(False)).sum(),
    )
    dx = _stay_diagnoses(data, stays, lookback_days)
    cci = charlson(dx, weights="lace2010", people=stays.select(person_id=stays.encounter_id))
    out = stays.join(visits, "encounter_id").join(
        cci.select(encounter_id=cci.person_id, charlson=cci.charlson), "encounter_id"
    )
    los = out.discharged.delta(out.admitted, unit="day")
    l_points = ibis.cases(
        (los < 1, 0), (los <= 3, los), (los <= 6, 4), (los <= 13, 5), else_=7
    ).cast("int32")
    a_points = ibis.ifelse(out.acute, 3, 0).cast("int32")
    c_points = ibis.ifelse(out.charlson >= 4, 5, out.charlson).cast("int32")
    e_points = ibis.least(out.ed_visits, 4).cast("int32")
    return out.select(
        "encounter_id",
        "person_id",
        "admitted",
        "discharged",
        length_of_stay=los.cast("int32"),
        acute=out.acute,
        ed_visits=out.ed_visits.cast("int32"),
        charlson=out.charlson,
        l_points=l_points,
        a_points=a_points,
        c_points=c_points,
        e_points=e_points,
        lace=l_points + a_points + c_points + e_points,
    )


def _stay_diagnoses(data: Data, stays: Any, lookback_days: int) -> Any:
    """``person_id`` (the stay's encounter_id), ``code`` of the diagnoses known at discharge."""
    back = ibis.interval(days=lookback_days)
    c = data.condition.filter(data.condition.code_system == "ICD10CM")
    cj = stays.join(
        c,
        [
            stays.person_id == c.person_id,
            as_date(c.onset_date) <= stays.discharged,
            c.abatement_date.isnull() | (as_date(c.abatement_date) >= stays.admitted - back),
        ],
    )
    parts = [cj.select(person_id=cj.encounter_id, code=cj.code)]
    e = data.encounter
    ev = e.filter(e.code_system == "ICD10CM").select(
        dx_person=e.person_id, day=as_date(e.start_time), code=e.code
    )
    cl = data.claim_line
    cv = cl.filter(cl.diagnosis_code.notnull()).select(
        dx_person=cl.person_id, day=as_date(cl.service_date), code=cl.diagnosis_code
    )
    for t in (ev, cv):
        j = stays.join(
            t,
            [
                stays.person_id == t.dx_person,
                t.day >= stays.admitted - back,
                t.day <= stays.discharged,
            ],
        )
        parts.append(j.select(person_id=j.encounter_id, code=j.code))
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p, distinct=False)
    return out
