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


def _stored_as_of(wh: Warehouse) -> dt.date | None:
    """The newest ``as_of`` of the stored worklist (once: the warehouse is read-only)."""

    def make() -> dt.date | None:
        if not wh.has_table(WORKLIST_TABLE):
            return None
        if wh.is_duckdb:
            last = wh.rows(f"SELECT max(as_of) AS d FROM {WORKLIST_TABLE}")[0]["d"]
        else:
            t = wh.table(WORKLIST_TABLE)
            last = wh.execute(t.aggregate(d=t.as_of.max()))["d"].iloc[0]
        if last is None or pd.isna(last):
            return None
        return pd.Timestamp(last).date()

    day: dt.date | None = wh.memo("worklist.as_of", make)
    return day


Fetched = tuple[dt.date | None, bool, int, list[dict[str, Any]]]


def _fetch_sql(
    wh: Warehouse,
    panel: list[str] | None,
    equal: dict[str, str | None],
    need: str | None,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> Fetched:
    """One page and the count, in one parameterised DuckDB query on the stored worklist
    (else on the worklist's SQL, compiled once)."""
    as_of = _stored_as_of(wh)
    where: list[str] = []
    params: list[Any] = []
    if as_of is not None:
        source = WORKLIST_TABLE
        where.append("as_of = ?")
        params.append(as_of)
    else:
        sql = wh.memo("worklist.sql", lambda: str(wh.backend().compile(worklist_expr(wh))))
        source = f"({sql}) AS w"
    if panel is not None:
        # A coordinator's panel: its rows read once (kept while the server runs; the
        # warehouse cannot change under it), then filtered, sorted and cut here.
        where.append("person_id IN (SELECT unnest(?::VARCHAR[]))")
        mine = wh.cached(
            ("worklist", tuple(panel)),
            lambda: wh.rows(
                f"SELECT * FROM {source} WHERE {' AND '.join(where)}", [*params, panel]
            ),
        )
        chosen = _choose(mine, equal, need, sort, descending)
        return as_of, as_of is not None, len(chosen), chosen[offset : offset + limit]
    for col, value in equal.items():
        if value:
            where.append(f"{col} = ?")
            params.append(value)
    if need:
        where.append(f"{need}_need")  # checked against NEEDS
    direction = "DESC" if descending else "ASC"
    order = f"{sort} {direction} NULLS LAST" + ("" if sort == "person_id" else ", person_id")
    rows = wh.rows(
        f"SELECT *, count(*) OVER () AS total__ FROM {source}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {order} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    if rows or offset == 0:
        total = int(rows[0]["total__"]) if rows else 0
    else:  # a page past the end: count alone
        total = int(
            wh.rows(
                f"SELECT count(*) AS n FROM {source}"
                + (f" WHERE {' AND '.join(where)}" if where else ""),
                params,
            )[0]["n"]
        )
    return as_of, as_of is not None, total, rows


def _choose(
    rows: list[dict[str, Any]],
    equal: dict[str, str | None],
    need: str | None,
    sort: str,
    descending: bool,
) -> list[dict[str, Any]]:
    """``rows`` filtered and in the order of the SQL query: ``sort`` (nulls last), then the
    person id."""
    kept = [
        r
        for r in rows
        if all(not v or r[c] == v for c, v in equal.items()) and (not need or r[f"{need}_need"])
    ]
    kept.sort(key=lambda r: str(r["person_id"]), reverse=sort == "person_id" and descending)
    if sort == "person_id":
        return kept
    known = [r for r in kept if r[sort] is not None]
    known.sort(key=lambda r: r[sort], reverse=descending)  # stable: ties by person id
    return known + [r for r in kept if r[sort] is None]


def _fetch_ibis(
    wh: Warehouse,
    panel: list[str] | None,
    equal: dict[str, str | None],
    need: str | None,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> Fetched:
    """As :func:`_fetch_sql` with Ibis, for warehouses that are not DuckDB."""
    as_of = _stored_as_of(wh)
    if as_of is not None:
        t = wh.table(WORKLIST_TABLE)
        t = t.filter(t.as_of == as_of)
    else:
        t = worklist_expr(wh)
    if panel is not None:
        t = t.filter(t.person_id.isin(panel))
    for col, value in equal.items():
        if value:
            t = t.filter(t[col] == value)
    if need:
        t = t.filter(t[f"{need}_need"])
    total = int(wh.execute(t.aggregate(n=t.count()))["n"].iloc[0])
    key = t[sort].desc(nulls_first=False) if descending else t[sort].asc(nulls_first=False)
    keys = [key] if sort == "person_id" else [key, t.person_id]
    page = wh.execute(t.order_by(keys).limit(limit, offset=offset))
    records = [{str(k): v for k, v in r.items()} for r in page.to_dict("records")]
    return as_of, as_of is not None, total, records


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
    if panel is not None and not panel:
        audit_reads(store, actor, op="worklist", entity="worklist", person_ids=[], reason=reason)
        as_of = _stored_as_of(wh)
        return WorklistPage(as_of, 0, [], as_of is not None)
    fetch = _fetch_sql if wh.is_duckdb else _fetch_ibis
    as_of, stored, total, page = fetch(
        wh,
        sorted(panel) if panel is not None else None,
        {"practice_id": practice, "area_id": area, "risk_tier": tier},
        need,
        sort,
        descending,
        limit,
        offset,
    )
    ids = [str(r["person_id"]) for r in page]
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
        for r in page
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
