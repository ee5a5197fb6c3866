"""The worklist as a coordinator sees it: the outreach worklist (stored by ``popweave
worklist``, else computed) limited to the user's panel, filtered, sorted, one page, with
the care team role and open tasks of each patient."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from popweave.api.services._access import audit_reads, reach
from popweave.api.warehouse import Warehouse
from popweave.care import _guard
from popweave.care.models import OPEN_STATUSES, Task
from popweave.care.store import CareStore
from popweave.outreach.worklist import NEEDS, TIERS, WORKLIST_TABLE, worklist_expr
from popweave.security.policy import Actor, Operation

SORTS = ("priority", "risk_score", "open_gaps", "days_since_discharge", "person_id")
MAX_LIMIT = 500


@dataclass(frozen=True)
class WorklistRow:
    person_id: str
    priority: float
    reason: str
    risk_tier: str | None
    risk_score: float | None
    open_gaps: int
    days_since_discharge: int | None
    needs: list[str]
    practice_id: str | None
    area_id: str | None
    team_role: str | None
    open_tasks: int
    next_due: dt.date | None


@dataclass(frozen=True)
class WorklistPage:
    as_of: dt.date | None
    total: int
    rows: list[WorklistRow]
    stored: bool


def _source(wh: Warehouse) -> tuple[Any, dt.date | None, bool]:
    if wh.has_table(WORKLIST_TABLE):
        t = wh.table(WORKLIST_TABLE)
        last = wh.execute(t.aggregate(d=t.as_of.max()))["d"].iloc[0]
        if last is not None and not pd.isna(last):
            day = pd.Timestamp(last).date()
            return t.filter(t.as_of == day), day, True
    return worklist_expr(wh), None, False


def _none(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    return v


def worklist_page(
    store: CareStore,
    wh: Warehouse,
    *,
    actor: Actor,
    reason: str,
    practice: str | None = None,
    area: str | None = None,
    tier: str | None = None,
    need: str | None = None,
    sort: str = "priority",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> WorklistPage:
    """One page of the worklist of patients ``actor`` may read (their panel, or everyone)."""
    if sort not in SORTS:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {', '.join(SORTS)}")
    if tier is not None and tier not in TIERS:
        raise ValueError(f"unknown risk tier {tier!r}; known: {', '.join(TIERS)}")
    if need is not None and need not in NEEDS:
        raise ValueError(f"unknown need {need!r}; known: {', '.join(NEEDS)}")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValueError(f"limit must be 1-{MAX_LIMIT} and offset not negative")
    panel = reach(store, actor, Operation.READ_PATIENT, reason=reason)
    t, as_of, stored = _source(wh)
    if panel is not None:
        if not panel:
            audit_reads(
                store, actor, op="worklist", entity="worklist", person_ids=[], reason=reason
            )
            return WorklistPage(as_of, 0, [], stored)
        t = t.filter(t.person_id.isin(sorted(panel)))
    if practice:
        t = t.filter(t.practice_id == practice)
    if area:
        t = t.filter(t.area_id == area)
    if tier:
        t = t.filter(t.risk_tier == tier)
    if need:
        t = t.filter(t[f"{need}_need"])
    total = int(wh.execute(t.aggregate(n=t.count()))["n"].iloc[0])
    key = t[sort].desc(nulls_first=False) if descending else t[sort].asc(nulls_first=False)
    keys = [key] if sort == "person_id" else [key, t.person_id]
    page = wh.execute(t.order_by(keys).limit(limit, offset=offset))
    ids = [str(p) for p in page["person_id"]]
    tasks = _open_tasks(store, ids)
    rows = [
        WorklistRow(
            person_id=str(r["person_id"]),
            priority=round(float(r["priority"]), 1),
            reason=str(_none(r["reason"]) or ""),
            risk_tier=_none(r["risk_tier"]),
            risk_score=_none(r["risk_score"]),
            open_gaps=int(_none(r["open_gaps"]) or 0),
            days_since_discharge=(
                None if _none(r["days_since_discharge"]) is None else int(r["days_since_discharge"])
            ),
            needs=[n for n in NEEDS if bool(_none(r.get(f"{n}_need")) or False)],
            practice_id=_none(r["practice_id"]),
            area_id=_none(r["area_id"]),
            team_role=None if panel is None else panel.get(str(r["person_id"])),
            open_tasks=tasks.get(str(r["person_id"]), (0, None))[0],
            next_due=tasks.get(str(r["person_id"]), (0, None))[1],
        )
        for r in page.to_dict("records")
    ]
    audit_reads(store, actor, op="worklist", entity="worklist", person_ids=ids, reason=reason)
    return WorklistPage(as_of, total, rows, stored)


def _open_tasks(store: CareStore, ids: list[str]) -> dict[str, tuple[int, dt.date | None]]:
    """Open tasks per patient (count, soonest due), sensitive ones only with consent."""
    if not ids:
        return {}
    with store.begin() as s:
        rows = s.execute(
            select(Task.person_id, Task.sensitive, func.count(), func.min(Task.due_date))
            .where(Task.person_id.in_(ids), Task.status.in_([x.value for x in OPEN_STATUSES]))
            .group_by(Task.person_id, Task.sensitive)
        ).all()
        allowed = _guard.consented(s, {r[0] for r in rows})
    out: dict[str, tuple[int, dt.date | None]] = {}
    for pid, sens, n, due in rows:
        if not _guard.shown(sens, allowed[pid]):
            continue
        k, d = out.get(pid, (0, None))
        out[pid] = (k + int(n), due if d is None or (due is not None and due < d) else d)
    return out
