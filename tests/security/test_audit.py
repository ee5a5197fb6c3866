"""The audit log: no read of patient data without an event, denials recorded, append-only
through the service layer and in the database (triggers on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError

from popweave.care import engagement, plans, referrals, tasks
from popweave.care.store import CareStore
from popweave.care.views import PatientRecord, TaskView
from popweave.security.audit import AuditError
from popweave.security.models import AuditEvent
from popweave.security.policy import AccessDenied
from tests.care.world import OPERATOR, WHY, make_world

PATIENT_TABLES = (
    "task",
    "care_plan",
    "problem",
    "goal",
    "intervention",
    "referral",
    "enrolment",
    "outreach_attempt",
    "consent",
)


@contextmanager
def statements(store: CareStore) -> Iterator[list[str]]:
    """Every SQL statement the store runs inside the block."""
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, stmt: str, *args: Any) -> None:
        seen.append(" ".join(stmt.lower().split()))

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def _events(store: CareStore) -> list[AuditEvent]:
    with store.begin() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _people(result: object) -> set[str]:
    if isinstance(result, PatientRecord):
        return {result.person_id}
    if isinstance(result, TaskView):
        return {result.person_id}
    if isinstance(result, list):
        return {p for x in result for p in _people(x)}
    return set()


def test_no_read_of_patient_data_without_an_audit_event(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1", "P2"))
    day = dt.date(2025, 1, 1)
    ids = [
        tasks.create_task(
            care_store, actor=OPERATOR, person_id=p, task_type="call", due_date=day, reason=WHY
        ).id
        for p in ("P1", "P2", "P3")
    ]
    plan = plans.create_care_plan(care_store, actor=w.cm, person_id="P1", title="t", reason=WHY)
    plans.add_goal(
        care_store,
        actor=w.cm,
        care_plan_id=plan,
        description="d",
        target="HbA1c < 8%",
        due_date=day,
        reason=WHY,
    )
    reads: list[tuple[str, Callable[[], object]]] = []
    for a in (w.admin, w.pm, w.cm, w.chw, w.other_cm):
        reads += [
            (
                f"{a.username} record P1",
                lambda a=a: plans.patient_record(care_store, actor=a, person_id="P1", reason=WHY),
            ),
            (
                f"{a.username} task",
                lambda a=a: tasks.get_task(care_store, actor=a, task_id=ids[0], reason=WHY),
            ),
            (
                f"{a.username} list",
                lambda a=a: tasks.list_tasks(care_store, actor=a, reason=WHY, open_only=False),
            ),
            (
                f"{a.username} overdue",
                lambda a=a: tasks.overdue_tasks(
                    care_store, actor=a, reason=WHY, today=dt.date(2026, 1, 1)
                ),
            ),
        ]
    unaudited, reads_total, events_total = [], 0, 0
    for name, call in reads:
        before = len(_events(care_store))
        with statements(care_store) as sql:
            try:
                result: object = call()
            except AccessDenied:
                result = None
        new = _events(care_store)[before:]
        touched = [
            q
            for q in sql
            if q.startswith("select")
            and any(f" {t} " in f" {q} " or f"from {t}" in q for t in PATIENT_TABLES)
        ]
        audited_people = {e.person_id for e in new}
        returned = _people(result)
        reads_total += len(returned)
        events_total += len(new)
        if touched and not new:
            unaudited.append(f"{name}: {len(touched)} selects of patient tables, no event")
        if not returned <= audited_people:
            unaudited.append(f"{name}: returned {returned - audited_people} without an event")
    assert unaudited == []
    assert reads_total > 0 and events_total >= reads_total


def test_denied_access_is_audited(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    with pytest.raises(AccessDenied):
        plans.patient_record(care_store, actor=w.other_cm, person_id="P1", reason="curious")
    last = _events(care_store)[-1]
    assert (last.username, last.action, last.person_id, last.reason) == (
        "cm2",
        "denied",
        "P1",
        "curious",
    )


def test_every_write_records_who_what_which_patient_why(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    org = referrals.add_community_org(
        care_store, actor=OPERATOR, name="pantry", services=["food"], areas=[], capacity=5
    )
    before = len(_events(care_store))
    t = tasks.create_task(
        care_store,
        actor=w.cm,
        person_id="P1",
        task_type="call",
        due_date=dt.date(2025, 1, 1),
        reason="discharge follow-up",
    )
    tasks.update_task(
        care_store, actor=w.chw, task_id=t.id, version=1, status="done", reason="called"
    )
    engagement.record_outreach(
        care_store, actor=w.chw, person_id="P1", channel="sms", outcome="reached", reason="r"
    )
    referrals.refer(care_store, actor=w.cm, person_id="P1", org_id=org, service="food", reason="r")
    got = [(e.username, e.action, e.entity, e.person_id) for e in _events(care_store)[before:]]
    assert got == [
        ("cm", "create", "task", "P1"),
        ("chw", "update", "task", "P1"),
        ("chw", "create", "outreach_attempt", "P1"),
        ("cm", "create", "referral", "P1"),
    ]
    assert all(e.at is not None and e.reason for e in _events(care_store))


def test_a_reason_is_required(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    before = len(_events(care_store))
    with pytest.raises(AuditError, match="reason"):
        plans.patient_record(care_store, actor=w.cm, person_id="P1", reason="  ")
    assert len(_events(care_store)) == before


def test_the_service_layer_cannot_change_or_remove_events(care_store: CareStore) -> None:
    make_world(care_store)
    with care_store.begin() as s:
        count = s.scalar(select(func.count()).select_from(AuditEvent))
    assert count
    with pytest.raises(AuditError), care_store.begin() as s:
        ev = s.scalars(select(AuditEvent)).first()
        assert ev is not None
        ev.reason = "rewritten"
    with pytest.raises(AuditError), care_store.begin() as s:
        ev = s.scalars(select(AuditEvent)).first()
        s.delete(ev)
    with pytest.raises(AuditError), care_store.begin() as s:
        s.execute(update(AuditEvent).values(reason="x"))
    with pytest.raises(AuditError), care_store.begin() as s:
        s.execute(delete(AuditEvent))
    with care_store.begin() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == count
        assert "rewritten" not in set(s.scalars(select(AuditEvent.reason)))


@pytest.mark.parametrize(
    "sql",
    ["UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event", "TRUNCATE audit_event"],
)
def test_the_database_refuses_to_change_events(care_store: CareStore, sql: str) -> None:
    """Below the service layer too: triggers refuse UPDATE and DELETE (and TRUNCATE on
    PostgreSQL; SQLite has no TRUNCATE)."""
    if sql.startswith("TRUNCATE") and care_store.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    make_world(care_store)
    with pytest.raises(DBAPIError, match="append-only"), care_store.engine.begin() as c:
        c.execute(text(sql))
    with care_store.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM audit_event")).scalar()
