"""One patient's page: the care store's record (which authorises and audits the read)
and, only then, the warehouse's person, risk and its reasons, open care gaps, and a
timeline of encounters, labs, outreach and referrals.

Diagnosis codes and risk factors of sensitive kinds (mental health, substance use, HIV,
reproductive) are withheld unless the patient's consent for that category allows it, as
the care store does for its own rows.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from popweave.api.warehouse import Warehouse
from popweave.care import plans
from popweave.care._guard import NotFound
from popweave.care.store import CareStore
from popweave.care.views import PatientRecord
from popweave.measures.run import GAP_TABLE
from popweave.outreach.worklist import RISK_TABLE
from popweave.security.policy import Actor

FACTOR_TABLE = "risk_factor"
RISK_LABEL = "admit_or_ed"
TIMELINE_ROWS = 40
# ICD-10-CM prefixes of sensitive categories (F10-F19 substance use, other F mental health).
_CODE_CATEGORIES = (
    (tuple(f"F1{i}" for i in range(10)), "substance_use"),
    (("F",), "mental_health"),
    (("B20", "Z21"), "hiv"),
    (("O", "Z3"), "reproductive"),
)
_FACTOR_WORDS = (
    (("alcohol", "drug", "substance", "opioid"), "substance_use"),
    (("depress", "mental", "psych", "anxiety", "bipolar", "schizo"), "mental_health"),
    (("hiv",), "hiv"),
    (("pregnan",), "reproductive"),
)


@dataclass(frozen=True)
class PatientOverview:
    record: PatientRecord
    person: dict[str, Any]
    risk: dict[str, Any] | None
    risk_factors: list[dict[str, Any]]
    care_gaps: list[dict[str, Any]]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    withheld: int = 0


def code_category(code_system: str | None, code: str | None) -> str | None:
    """The sensitive category of a diagnosis code, if any."""
    if code_system != "ICD10CM" or not code:
        return None
    for prefixes, cat in _CODE_CATEGORIES:
        if code.startswith(prefixes):
            return cat
    return None


def _factor_category(text: str) -> str | None:
    low = text.lower()
    for words, cat in _FACTOR_WORDS:
        if any(w in low for w in words):
            return cat
    return None


def _clean(v: Any) -> Any:
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        # Date columns come back from the warehouse as midnight timestamps.
        return v.date() if v == v.normalize() else v.to_pydatetime()
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in r.items()} for r in df.to_dict("records")]


def patient_overview(
    store: CareStore, wh: Warehouse, *, actor: Actor, person_id: str, reason: str
) -> PatientOverview:
    """Everything shown on a patient's page (raises AccessDenied / NotFound)."""
    record = plans.patient_record(store, actor=actor, person_id=person_id, reason=reason)
    fetch = _fetch_sql if wh.is_duckdb else _fetch_ibis
    w = wh.cached(("patient", person_id), lambda: fetch(wh, person_id))
    if not w.people:
        raise NotFound(f"no patient {person_id} in the warehouse")
    allowed = set(record.consented)
    withheld = record.withheld
    risk = w.risk
    factors: list[dict[str, Any]] = []
    for x in w.factors:
        cat = _factor_category(f"{x['factor']} {x['detail']}")
        if cat is not None and cat not in allowed:
            withheld += 1
        else:
            factors.append(x)
    gaps = w.gaps
    timeline, hidden = _timeline(w, record, allowed)
    return PatientOverview(record, w.people[0], risk, factors, gaps, timeline, withheld + hidden)


@dataclass(frozen=True)
class _Rows:
    """What the warehouse holds about one person (the newest risk and its factors, the
    care gaps of the newest period, the latest encounters and labs)."""

    people: list[dict[str, Any]]
    risk: dict[str, Any] | None
    factors: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    encounters: list[dict[str, Any]]
    labs: list[dict[str, Any]]


def _fetch_sql(wh: Warehouse, person_id: str) -> _Rows:
    """The person's rows by parameterised DuckDB queries (no Ibis, no DataFrame)."""
    people = wh.rows("SELECT * FROM person WHERE person_id = ?", [person_id])
    if not people:
        return _Rows([], None, [], [], [], [])
    risk, factors = None, []
    if wh.has_table(RISK_TABLE):
        rows = wh.rows(
            f"SELECT * FROM {RISK_TABLE} WHERE person_id = ? AND label = ? "
            "ORDER BY index_date DESC LIMIT 1",
            [person_id, RISK_LABEL],
        )
        if rows:
            risk = rows[0]
            if wh.has_table(FACTOR_TABLE):
                factors = wh.rows(
                    f"SELECT * FROM {FACTOR_TABLE} WHERE person_id = ? AND label = ? "
                    'AND index_date = ? ORDER BY "rank"',
                    [person_id, RISK_LABEL, risk["index_date"]],
                )
    gaps: list[dict[str, Any]] = []
    if wh.has_table(GAP_TABLE):
        mine = wh.rows(f"SELECT * FROM {GAP_TABLE} WHERE person_id = ?", [person_id])
        last = max((g["period"] for g in mine if g["period"] is not None), default=None)
        gaps = [g for g in mine if g["period"] == last]
    encounters = wh.rows(
        "SELECT * FROM encounter WHERE person_id = ? ORDER BY start_time DESC LIMIT ?",
        [person_id, TIMELINE_ROWS],
    )
    labs = wh.rows(
        "SELECT * FROM observation WHERE person_id = ? AND category = 'laboratory' "
        "ORDER BY date DESC LIMIT ?",
        [person_id, TIMELINE_ROWS],
    )
    return _Rows(people, risk, factors, gaps, encounters, labs)


def _fetch_ibis(wh: Warehouse, person_id: str) -> _Rows:
    """As :func:`_fetch_sql` with Ibis, for warehouses that are not DuckDB."""
    p = wh.table("person")
    people = _records(wh.execute(p.filter(p.person_id == person_id)))
    if not people:
        return _Rows([], None, [], [], [], [])
    risk, factors = None, []
    if wh.has_table(RISK_TABLE):
        r = wh.table(RISK_TABLE)
        rows = _records(
            wh.execute(
                r.filter((r.person_id == person_id) & (r.label == RISK_LABEL))
                .order_by(r.index_date.desc())
                .limit(1)
            )
        )
        if rows:
            risk = rows[0]
            if wh.has_table(FACTOR_TABLE):
                f = wh.table(FACTOR_TABLE)
                factors = _records(
                    wh.execute(
                        f.filter(
                            (f.person_id == person_id)
                            & (f.label == RISK_LABEL)
                            & (f.index_date == risk["index_date"])
                        ).order_by(f["rank"])
                    )
                )
    gaps: list[dict[str, Any]] = []
    if wh.has_table(GAP_TABLE):
        g = wh.table(GAP_TABLE)
        mine = g.filter(g.person_id == person_id)
        gaps = _records(wh.execute(mine.filter(mine.period == mine.period.max())))
    e = wh.table("encounter")
    enc = _records(
        wh.execute(
            e.filter(e.person_id == person_id).order_by(e.start_time.desc()).limit(TIMELINE_ROWS)
        )
    )
    o = wh.table("observation")
    labs = _records(
        wh.execute(
            o.filter((o.person_id == person_id) & (o.category == "laboratory"))
            .order_by(o.date.desc())
            .limit(TIMELINE_ROWS)
        )
    )
    return _Rows(people, risk, factors, gaps, enc, labs)


def _timeline(
    w: _Rows, record: PatientRecord, allowed: set[str]
) -> tuple[list[dict[str, Any]], int]:
    enc, labs = w.encounters, w.labs
    items: list[dict[str, Any]] = []
    hidden = 0
    for x in enc:
        cat = code_category(x.get("code_system"), x.get("code"))
        show = cat is None or cat in allowed
        hidden += not show
        when = x["start_time"]
        items.append(
            {
                "at": when,
                "kind": "encounter",
                "text": f"{x['encounter_class']} visit"
                + (f" ({x['code']})" if show and x.get("code") else "")
                + (" [diagnosis withheld: no consent]" if not show else ""),
            }
        )
    for x in labs:
        value = x.get("value_num")
        shown = value if value is not None else (x.get("value_text") or x.get("value_code"))
        unit = x.get("unit") or ""
        items.append(
            {
                "at": dt.datetime.combine(x["date"], dt.time()),
                "kind": "lab",
                "text": f"lab {x['code_system']} {x['code']}: {shown} {unit}".rstrip(),
            }
        )
    for a in record.outreach:
        items.append(
            {
                "at": a.attempted_at.replace(tzinfo=None),
                "kind": "outreach",
                "text": f"{a.channel.replace('_', ' ')}: {a.outcome.replace('_', ' ')} "
                f"(by {a.username})",
            }
        )
    for rf in record.referrals:
        items.append(
            {
                "at": dt.datetime.combine(rf.sent_on, dt.time()),
                "kind": "referral",
                "text": f"referral for {rf.service} ({rf.status})",
            }
        )
    items.sort(key=lambda i: i["at"], reverse=True)
    return items[: TIMELINE_ROWS * 2], hidden
