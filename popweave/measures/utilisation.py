"""Built-in logic of the utilisation measures (``docs/measures.md``, "Utilisation measures").

Each function takes ``(data, period, **params)`` and returns an Ibis table with exactly the
columns of the output contract (:mod:`popweave.measures.base`): one row per index stay or
discharge (:data:`~popweave.measures.base.UNIT_COLUMNS`) for the proportion measures, one row
per person with coverage in the period (:data:`~popweave.measures.base.RATE_COLUMNS`) for the
rates. Everything is an Ibis expression built from portable operations (filters, joins,
aggregates, ``lag``/``row_number``/cumulative-sum windows, date arithmetic in days), so the
same logic runs on DuckDB and PySpark.

Methods followed:

- ``readmission_30d``: CMS Hospital-Wide All-Cause Unplanned Readmission measure, 2024
  methodology report (Yale CORE for CMS), adapted to these data; planned readmissions by the
  CMS Planned Readmission Algorithm v4.0.
- ``followup_7d`` / ``followup_30d``: NCQA HEDIS MY2024 Transitions of Care (TRC), patient
  engagement after inpatient discharge; CMS transitional care management (CPT 99495/99496).
- ``med_rec_post_discharge``: NCQA HEDIS MY2024 Medication Reconciliation Post-Discharge
  (MRP).
- ``ed_visits_per_1000``, ``pmpm_cost``, ``pmpm_paid``: member-months as in NCQA HEDIS
  Ambulatory Care (AMB): a month counts when the person is enrolled on its first day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import ibis

from popweave.cohorts.data import Data, as_date, coded_events
from popweave.cohorts.enrolment import covered_spans, member_months
from popweave.cohorts.period import Period
from popweave.measures.base import RATE_COLUMNS, UNIT_COLUMNS
from popweave.terminology.valuesets import valueset

#: Value sets by name (code system -> codes); passed as ``valuesets=`` to override the
#: shipped ones (``popweave.terminology.valuesets``).
ValueSets = Mapping[str, Mapping[str, Sequence[str]]]

#: NUBC discharge status codes used by the rules.
TRANSFER, HOME, HOME_HEALTH, AGAINST_ADVICE, EXPIRED = "02", "01", "06", "07", "20"
#: Encounter classes that count as a follow-up visit (HEDIS TRC patient engagement).
FOLLOWUP_CLASSES = ("ambulatory", "outpatient", "home", "virtual", "wellness")
#: Code systems whose codes are compared without dots and in upper case.
_DOTTED = ("ICD10CM", "ICD10PCS")


# -- value sets ----------------------------------------------------------------------------


def value_set_codes(name: str, override: ValueSets | None = None) -> dict[str, list[str]]:
    """Codes of value set ``name`` by code system: from ``override`` when it names the set,
    else from the shipped value sets (``popweave.terminology.valuesets``)."""
    if override is not None and name in override:
        return {s: list(c) for s, c in override[name].items()}
    vs = valueset(name)
    return {s: vs.codes_for(s) for s in sorted(vs.systems())}


def _norm(system: str, code: str) -> str:
    return code.replace(".", "").strip().upper() if system in _DOTTED else code.strip()


def _in_codes(system_col: Any, code_col: Any, codes: Mapping[str, Sequence[str]]) -> Any:
    """True where ``(system, code)`` is in ``codes``; ICD-10 codes compare without dots."""
    cond: Any = ibis.literal(False)
    for system, values in codes.items():
        if not values:
            continue
        wanted = sorted({_norm(system, c) for c in values})
        col = code_col.replace(".", "").upper() if system in _DOTTED else code_col
        cond = cond | ((system_col == system) & col.isin(wanted)).fill_null(False)
    return cond


# -- shared building blocks ------------------------------------------------------------------


def _days(n: int) -> Any:
    return ibis.interval(days=n)


def _age_at(birth: Any, day: Any) -> Any:
    """Completed years of age on the date column ``day`` (as :func:`cohorts.data.age_on`)."""
    before = (birth.month() * 100 + birth.day()) > (day.month() * 100 + day.day())
    return day.year() - birth.year() - before.cast("int32")


def _text(x: Any) -> Any:
    return x.cast("string")


def _stays(data: Data) -> Any:
    """Discharged inpatient stays: admission and discharge dates, status, primary diagnosis."""
    e = data.encounter
    ip = e.filter((e.encounter_class == "inpatient") & e.end_time.notnull())
    return ip.select(
        person_id=ip.person_id,
        encounter_id=ip.encounter_id,
        start_time=ip.start_time,
        admit=as_date(ip.start_time),
        discharge=as_date(ip.end_time),
        disposition=ip.discharge_disposition,
        dx_system=ip.code_system,
        dx_code=ip.code,
    )


def _episodes(stays: Any) -> Any:
    """Stays linked by transfer (status 02, next admission on the discharge day or the day
    after) collapsed into episodes, one row per episode at its last stay, with
    ``first_admit`` and ``n_stays`` of the episode."""
    w = ibis.window(group_by="person_id", order_by=["start_time", "encounter_id"])
    s = stays.mutate(
        prev_discharge=stays.discharge.lag().over(w), prev_disp=stays.disposition.lag().over(w)
    )
    linked = (
        (s.prev_disp == TRANSFER)
        & (s.admit >= s.prev_discharge)
        & (s.admit <= s.prev_discharge + _days(1))
    ).fill_null(False)
    s = s.mutate(new=ibis.ifelse(linked, 0, 1))
    cum = ibis.window(group_by="person_id", order_by=["start_time", "encounter_id"], rows=(None, 0))
    s = s.mutate(episode=s.new.sum().over(cum))
    ep = ibis.window(group_by=["person_id", "episode"])
    last = ibis.window(
        group_by=["person_id", "episode"],
        order_by=[ibis.desc("start_time"), ibis.desc("encounter_id")],
    )
    s = s.mutate(
        first_admit=s.admit.min().over(ep),
        n_stays=s.encounter_id.count().over(ep),
        rank=ibis.row_number().over(last),
    )
    return s.filter(s.rank == 0).drop("prev_discharge", "prev_disp", "new", "rank")


def _planned(data: Data, stays: Any, vs: ValueSets | None, until: dt.date) -> Any:
    """``(encounter_id, planned)`` for every stay: CMS Planned Readmission Algorithm v4.0 —
    always-planned principal diagnosis, or a potentially planned procedure during the stay
    with a principal diagnosis that is not acute."""
    always = value_set_codes("planned_readmission_always", vs)
    procs = value_set_codes("planned_readmission_procedures", vs)
    acute = value_set_codes("acute_readmission_diagnoses", vs)
    ev = coded_events(data, "procedure", procs, None, until)
    hit = stays.join(
        ev,
        (stays.person_id == ev.person_id) & (ev.date >= stays.admit) & (ev.date <= stays.discharge),
    )
    with_proc = hit.select(p_id=hit.encounter_id).distinct()
    flagged = stays.left_join(with_proc, stays.encounter_id == with_proc.p_id)
    has_proc = flagged.p_id.notnull()
    dx_always = _in_codes(flagged.dx_system, flagged.dx_code, always)
    dx_acute = _in_codes(flagged.dx_system, flagged.dx_code, acute)
    return flagged.select(
        encounter_id=flagged.encounter_id, planned=dx_always | (has_proc & ~dx_acute)
    )


def _unit_output(t: Any) -> Any:
    """Exactly the contract columns, typed as :data:`UNIT_COLUMNS` says."""
    return t.select(**{c: t[c].cast(typ) for c, typ in UNIT_COLUMNS.items()})


def _rate_output(t: Any) -> Any:
    return t.select(**{c: t[c].cast(typ) for c, typ in RATE_COLUMNS.items()})


def _first_per(t: Any, key: str, order: list[str]) -> Any:
    """The first row of ``t`` per ``key`` in ``order``."""
    w = ibis.window(group_by=key, order_by=order)
    r = t.mutate(_rank=ibis.row_number().over(w))
    return r.filter(r._rank == 0).drop("_rank")


def _first_within(
    units: Any, events: Any, day: str, lo_days: int, hi_days: int, order: list[str]
) -> Any:
    """Per unit (``encounter_id``, ``person_id``, ``discharge``), the first of ``events``
    (``e_person`` and a date column ``day``) from ``lo_days`` to ``hi_days`` days after the
    discharge, in ``order``; the unit's id is ``u_id``."""
    left = units.select(u_id=units.encounter_id, u_person=units.person_id, u_dis=units.discharge)
    pairs = left.join(
        events,
        (events.e_person == left.u_person)
        & (events[day] >= left.u_dis + _days(lo_days))
        & (events[day] <= left.u_dis + _days(hi_days)),
    )
    return _first_per(pairs, "u_id", order)


# -- readmission --------------------------------------------------------------------------


def readmission_30d(
    data: Data,
    period: Period,
    *,
    min_age: int = 18,
    window_days: int = 30,
    valuesets: ValueSets | None = None,
) -> Any:
    """30-day all-cause unplanned readmission, one row per index stay (inverse measure: the
    numerator is the readmission).

    CMS Hospital-Wide All-Cause Unplanned Readmission measure (2024 methodology report),
    adapted: index stays are inpatient episodes of people aged ``min_age``+ at (the first)
    admission, discharged from ``S`` to ``E`` − 30 days. Stays linked by transfer (status 02
    and another admission on the discharge day or the next) form one episode indexed at its
    last discharge (``unit_id`` = that stay's encounter, ``unit_date`` = its discharge date).
    Excluded (kept with ``excluded`` and a reason): ``died_in_hospital`` (20),
    ``against_medical_advice`` (07), ``transfer_out`` (the episode still ends in a transfer,
    02), ``died_within_30_days`` (death within 30 days of discharge and no admission in that
    time). Numerator: the first inpatient admission 1-30 days after discharge, unless it is
    planned (CMS Planned Readmission Algorithm v4.0; a planned first readmission means no
    readmission is counted, as in the CMS measure). A readmission can itself be an index stay.
    """
    stays = _stays(data)
    eps = _episodes(stays)
    p = data.person
    eps = eps.join(p.select("person_id", "birth_date", "death_date"), "person_id")
    last_day = period.end - dt.timedelta(days=window_days)
    idx = eps.filter(
        (_age_at(eps.birth_date, eps.first_admit) >= min_age)
        & (eps.discharge >= period.start)
        & (eps.discharge <= last_day)
    )

    planned = _planned(data, stays, valuesets, period.end + dt.timedelta(days=366))
    cand = stays.join(planned, "encounter_id").select(
        e_person="person_id",
        r_id="encounter_id",
        r_start="start_time",
        r_admit="admit",
        r_planned="planned",
    )
    first = _first_within(idx, cand, "r_admit", 1, window_days, ["r_start", "r_id"]).select(
        "u_id", "r_id", "r_admit", "r_planned"
    )
    t = idx.left_join(first, idx.encounter_id == first.u_id)

    readmitted = t.r_id.notnull()
    gap = t.r_admit.delta(t.discharge, unit="day")
    dis = _text(t.discharge)
    died_gap = t.death_date.delta(t.discharge, unit="day")
    died_30 = (t.death_date <= t.discharge + _days(window_days)).fill_null(False) & ~readmitted
    disp = t.disposition.fill_null("")
    exclusion = ibis.cases(
        (disp == EXPIRED, "died_in_hospital"),
        (disp == AGAINST_ADVICE, "against_medical_advice"),
        (disp == TRANSFER, "transfer_out"),
        (died_30, "died_within_30_days"),
        else_=ibis.null("string"),
    )
    excluded = exclusion.notnull()
    counted = readmitted & ~t.r_planned.fill_null(False)
    r_text = _text(t.r_admit) + " (" + t.r_id + ") " + _text(gap) + " days after discharge"
    outcome = ibis.cases(
        (counted, "readmitted " + r_text),
        (
            readmitted,
            "first readmission " + r_text + " was planned (CMS PAA v4.0): not counted",
        ),
        else_="no readmission within " + str(window_days) + " days of discharge on " + dis,
    )
    why = ibis.cases(
        (disp == EXPIRED, "died in hospital (discharge status 20) on " + dis),
        (disp == AGAINST_ADVICE, "left against medical advice (discharge status 07) on " + dis),
        (
            disp == TRANSFER,
            "transferred to another hospital (discharge status 02) on "
            + dis
            + " with no following admission",
        ),
        else_="died "
        + _text(t.death_date)
        + ", "
        + _text(died_gap)
        + " days after discharge on "
        + dis
        + ", not readmitted",
    )
    chain = ibis.ifelse(
        t.n_stays > 1,
        "; episode of "
        + _text(t.n_stays)
        + " stays linked by transfer, admitted "
        + _text(t.first_admit),
        "",
    )
    out = t.mutate(
        unit_id=t.encounter_id,
        unit_date=t.discharge,
        excluded=excluded,
        exclusion=exclusion,
        numerator=counted & ~excluded,
        detail=ibis.ifelse(excluded, why, outcome) + chain,
    )
    return _unit_output(out)


# -- after-discharge care ------------------------------------------------------------------


def _discharges(data: Data, period: Period, min_age: int, window_days: int) -> Any:
    """Inpatient discharges home (01) or to home health (06) of people ``min_age``+ on ``E``,
    discharged from ``S`` to ``E`` − 30 days, with ``died_30`` (death within 30 days)."""
    s = _stays(data)
    p = data.person
    s = s.join(p.select("person_id", "birth_date", "death_date"), "person_id")
    anchor = ibis.literal(period.end)
    s = s.filter(
        s.disposition.isin([HOME, HOME_HEALTH])
        & (s.discharge >= period.start)
        & (s.discharge <= period.end - dt.timedelta(days=window_days))
        & (_age_at(s.birth_date, anchor) >= min_age)
    )
    return s.mutate(died_30=(s.death_date <= s.discharge + _days(window_days)).fill_null(False))


def _discharge_units(t: Any, hit: Any, detail: Any) -> Any:
    """Unit rows of a per-discharge measure: deaths within 30 days are excluded."""
    out = t.mutate(
        unit_id=t.encounter_id,
        unit_date=t.discharge,
        excluded=t.died_30,
        exclusion=ibis.ifelse(t.died_30, "died_within_30_days", ibis.null("string")),
        numerator=hit & ~t.died_30,
        detail=detail,
    )
    return _unit_output(out)


def _died_detail(t: Any) -> Any:
    return "died " + _text(t.death_date) + ", within 30 days of discharge on " + _text(t.discharge)


def _followup(data: Data, period: Period, days: int, min_age: int) -> Any:
    d = _discharges(data, period, min_age, 30)
    e = data.encounter
    visits = e.filter(e.encounter_class.isin(list(FOLLOWUP_CLASSES))).select(
        e_person=e.person_id,
        v_id=e.encounter_id,
        v_class=e.encounter_class,
        v_start=e.start_time,
        v_date=as_date(e.start_time),
    )
    first = _first_within(d, visits, "v_date", 1, days, ["v_start", "v_id"]).select(
        "u_id", "v_id", "v_class", "v_date"
    )
    t = d.left_join(first, d.encounter_id == first.u_id)
    hit = t.v_id.notnull()
    detail = ibis.cases(
        (t.died_30, _died_detail(t)),
        (
            hit,
            t.v_class
            + " visit "
            + _text(t.v_date)
            + " ("
            + t.v_id
            + ") "
            + _text(t.v_date.delta(t.discharge, unit="day"))
            + " days after discharge",
        ),
        else_="no visit within "
        + str(days)
        + " days of discharge on "
        + _text(t.discharge)
        + ": schedule a follow-up visit",
    )
    return _discharge_units(t, hit, detail)


def followup_7d(data: Data, period: Period, *, min_age: int = 18) -> Any:
    """Follow-up visit within 7 days of discharge, one row per discharge.

    NCQA HEDIS MY2024 Transitions of Care (TRC), patient engagement after inpatient
    discharge; CMS TCM 99496. Denominator: inpatient discharges home (01) or to home health
    (06) of people ``min_age``+ on ``E``, discharged from ``S`` to ``E`` − 30 days; a death
    within 30 days of discharge excludes the discharge (``died_within_30_days``). Numerator:
    an ambulatory, outpatient, home, virtual or wellness encounter 1-7 days after discharge.
    """
    return _followup(data, period, 7, min_age)


def followup_30d(data: Data, period: Period, *, min_age: int = 18) -> Any:
    """Follow-up visit within 30 days of discharge (as :func:`followup_7d`, 1-30 days;
    HEDIS TRC; CMS TCM 99495)."""
    return _followup(data, period, 30, min_age)


def med_rec_post_discharge(
    data: Data, period: Period, *, min_age: int = 18, valuesets: ValueSets | None = None
) -> Any:
    """Medication reconciliation within 30 days of discharge, one row per discharge.

    NCQA HEDIS MY2024 Medication Reconciliation Post-Discharge (MRP). The discharges of
    :func:`followup_7d`; numerator: a code of value set ``med_rec`` (CPT II 1111F, TCM
    99495/99496) in ``procedure`` or ``claim_line`` from the discharge day to 30 days after.
    """
    d = _discharges(data, period, min_age, 30)
    codes = value_set_codes("med_rec", valuesets)
    ev = coded_events(data, "procedure", codes, period.start, period.end)
    ev = ev.select(e_person=ev.person_id, m_date=ev.date, m_code=ev.code)
    first = _first_within(d, ev, "m_date", 0, 30, ["m_date", "m_code"]).select(
        "u_id", "m_date", "m_code"
    )
    t = d.left_join(first, d.encounter_id == first.u_id)
    hit = t.m_date.notnull()
    detail = ibis.cases(
        (t.died_30, _died_detail(t)),
        (
            hit,
            "medication reconciliation ("
            + t.m_code
            + ") on "
            + _text(t.m_date)
            + ", "
            + _text(t.m_date.delta(t.discharge, unit="day"))
            + " days after discharge",
        ),
        else_="no medication reconciliation within 30 days of discharge on "
        + _text(t.discharge)
        + ": reconcile discharge and current medications (CPT II 1111F)",
    )
    return _discharge_units(t, hit, detail)


# -- rates per member-month --------------------------------------------------------------------


def _on_enrolled_days(data: Data, period: Period, events: Any, payers: list[str] | None) -> Any:
    """Rows of ``events`` (``person_id``, ``day``) on days covered by enrolment in the period
    (coverage islands are merged, so each event is kept once)."""
    spans = covered_spans(data, period, payers)
    sp = spans.select(s_person=spans.person_id, s_start=spans.start, s_end=spans.end)
    j = events.join(
        sp,
        (events.person_id == sp.s_person) & (events.day >= sp.s_start) & (events.day <= sp.s_end),
    )
    return j.drop("s_person", "s_start", "s_end")


def _rate(data: Data, period: Period, per_person: Any, payers: list[str] | None) -> Any:
    """One row per person with coverage in the period: member-months and ``events``."""
    mm = member_months(data, period, payers)
    t = mm.left_join(per_person, mm.person_id == per_person.e_person)
    out = t.select(
        person_id=t.person_id,
        exposure=t.member_months,
        events=t.e_events.fill_null(0),
    )
    return _rate_output(out)


def ed_visits_per_1000(data: Data, period: Period, *, payers: list[str] | None = None) -> Any:
    """Emergency department visits per 1,000 member-months (reported ``per`` 1000).

    ``events``: ``emergency`` encounters starting in the period on days the person was
    enrolled; ``exposure``: member-months (months of the period with coverage on the first
    day, NCQA HEDIS AMB). ``payers`` restricts coverage to those payers.
    """
    e = data.encounter
    ed = e.filter(e.encounter_class == "emergency")
    ed = ed.select(person_id=ed.person_id, day=as_date(ed.start_time))
    ed = ed.filter((ed.day >= period.start) & (ed.day <= period.end))
    ed = _on_enrolled_days(data, period, ed, payers)
    per = ed.group_by("person_id").aggregate(e_events=ed.person_id.count())
    per = per.select(e_person=per.person_id, e_events=per.e_events.cast("float64"))
    return _rate(data, period, per, payers)


def pmpm_cost(
    data: Data,
    period: Period,
    *,
    amount: Literal["allowed", "paid"] = "allowed",
    payers: list[str] | None = None,
) -> Any:
    """Cost per member per month: ``events`` = dollars (``allowed_amount``, or
    ``paid_amount`` with ``amount="paid"``) of claim lines with service dates in the period
    on days the person was enrolled; ``exposure`` = member-months (NCQA HEDIS AMB rule)."""
    if amount not in ("allowed", "paid"):
        raise ValueError(f"amount {amount!r}: expected 'allowed' or 'paid'")
    c = data.claim_line
    col = c.allowed_amount if amount == "allowed" else c.paid_amount
    lines = c.select(person_id=c.person_id, day=c.service_date, dollars=col.cast("float64"))
    lines = lines.filter((lines.day >= period.start) & (lines.day <= period.end))
    lines = _on_enrolled_days(data, period, lines, payers)
    per = lines.group_by("person_id").aggregate(e_events=lines.dollars.sum())
    per = per.select(e_person=per.person_id, e_events=per.e_events)
    return _rate(data, period, per, payers)


def pmpm_paid(data: Data, period: Period, *, payers: list[str] | None = None) -> Any:
    """Paid amount per member per month (:func:`pmpm_cost` with ``amount="paid"``)."""
    return pmpm_cost(data, period, amount="paid", payers=payers)


LOGIC: dict[str, Callable[..., Any]] = {
    "readmission_30d": readmission_30d,
    "followup_7d": followup_7d,
    "followup_30d": followup_30d,
    "med_rec_post_discharge": med_rec_post_discharge,
    "ed_visits_per_1000": ed_visits_per_1000,
    "pmpm_cost": pmpm_cost,
    "pmpm_paid": pmpm_paid,
}
"""Built-in utilisation logic by measure id: ``LOGIC[id](data, period, **params)``."""
