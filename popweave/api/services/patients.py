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
    p = wh.table("person")
    people = _records(wh.execute(p.filter(p.person_id == person_id)))
    if not people:
        raise NotFound(f"no patient {person_id} in the warehouse")
    allowed = set(record.consented)
    withheld = record.withheld
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
                for x in _records(
                    wh.execute(
                        f.filter(
                            (f.person_id == person_id)
                            & (f.label == RISK_LABEL)
                            & (f.index_date == risk["index_date"])
                        ).order_by(f["rank"])
                    )
                ):
                    cat = _factor_category(f"{x['factor']} {x['detail']}")
                    if cat is not None and cat not in allowed:
                        withheld += 1
                    else:
                        factors.append(x)
    gaps: list[dict[str, Any]] = []
    if wh.has_table(GAP_TABLE):
        g = wh.table(GAP_TABLE)
        mine = g.filter(g.person_id == person_id)
        gaps = _records(wh.execute(mine.filter(mine.period == mine.period.max())))
    timeline, hidden = _timeline(wh, record, person_id, allowed)
    return PatientOverview(record, people[0], risk, factors, gaps, timeline, withheld + hidden)


def _timeline(
    wh: Warehouse, record: PatientRecord, person_id: str, allowed: set[str]
) -> tuple[list[dict[str, Any]], int]:
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
