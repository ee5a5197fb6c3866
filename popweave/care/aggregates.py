"""De-identified aggregates for analysts: counts only, small cells suppressed.

No person identifiers leave these functions; counts below ``min_cell`` (default 11, the
CMS cell-size rule) are returned as ``None``, and so is the smallest other count in the
same row of a group when exactly one cell was suppressed (complementary suppression),
so a suppressed cell cannot be worked back from a total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from popweave.care import _guard
from popweave.care.models import Enrolment, Programme, Referral, Task
from popweave.care.store import CareStore
from popweave.security.policy import Actor, Operation

MIN_CELL = 11


@dataclass(frozen=True)
class Cell:
    group: tuple[str, ...]
    count: int | None


def _suppress(rows: list[tuple[tuple[str, ...], int]], min_cell: int) -> list[Cell]:
    cells = [Cell(g, n if n >= min_cell else None) for g, n in rows]
    # Complementary suppression within each first-level group.
    by_first: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        by_first.setdefault(c.group[0], []).append(i)
    for idx in by_first.values():
        hidden = [i for i in idx if cells[i].count is None]
        shown = [i for i in idx if cells[i].count is not None]
        if len(hidden) == 1 and shown:
            j = min(shown, key=lambda i: rows[i][1])
            cells[j] = Cell(cells[j].group, None)
    return cells


def _counts(store: CareStore, actor: Actor, op: str, q: Any, min_cell: int) -> list[Cell]:
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.AGGREGATES, reason=op)
        rows = [(tuple(str(x) for x in r[:-1]), int(r[-1])) for r in s.execute(q)]
        detail = f"{len(rows)} cells, min_cell={min_cell}"
        _guard.audited_aggregate(s, actor, op=op, reason=op, detail=detail)
    return _suppress(rows, min_cell)


def task_counts(store: CareStore, *, actor: Actor, min_cell: int = MIN_CELL) -> list[Cell]:
    """Tasks by type and status."""
    q = (
        select(Task.task_type, Task.status, func.count())
        .group_by(Task.task_type, Task.status)
        .order_by(Task.task_type, Task.status)
    )
    return _counts(store, actor, "task_counts", q, min_cell)


def referral_counts(store: CareStore, *, actor: Actor, min_cell: int = MIN_CELL) -> list[Cell]:
    """Referrals by service and status (the closed loop at a glance)."""
    q = (
        select(Referral.service, Referral.status, func.count())
        .group_by(Referral.service, Referral.status)
        .order_by(Referral.service, Referral.status)
    )
    return _counts(store, actor, "referral_counts", q, min_cell)


def enrolment_counts(store: CareStore, *, actor: Actor, min_cell: int = MIN_CELL) -> list[Cell]:
    """Enrolments by programme and status."""
    q = (
        select(Programme.name, Enrolment.status, func.count())
        .join(Programme, Programme.id == Enrolment.programme_id)
        .group_by(Programme.name, Enrolment.status)
        .order_by(Programme.name, Enrolment.status)
    )
    return _counts(store, actor, "enrolment_counts", q, min_cell)
