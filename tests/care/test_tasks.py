"""Tasks: versions, conflicts between two coordinators (also truly concurrent), overdue."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from popweave.care import tasks
from popweave.care._guard import ConflictError
from popweave.care.models import Task, TaskType
from popweave.care.store import CareStore
from tests.care.world import WHY, make_world

DUE = dt.date(2025, 3, 10)


def test_update_bumps_the_version(care_store: CareStore) -> None:
    w = make_world(care_store)
    t = tasks.create_task(
        care_store, actor=w.cm, person_id="P1", task_type="call", due_date=DUE, reason=WHY
    )
    assert (t.version, t.status, t.task_type) == (1, "open", TaskType.CALL)
    u = tasks.update_task(
        care_store, actor=w.chw, task_id=t.id, version=1, status="in_progress", reason=WHY
    )
    assert (u.version, u.status) == (2, "in_progress")
    assert tasks.get_task(care_store, actor=w.cm, task_id=t.id, reason=WHY) == u


def test_a_stale_update_is_refused_and_nothing_is_lost(care_store: CareStore) -> None:
    w = make_world(care_store)
    t = tasks.create_task(
        care_store, actor=w.cm, person_id="P1", task_type="home_visit", due_date=DUE, reason=WHY
    )
    first = tasks.update_task(
        care_store,
        actor=w.cm,
        task_id=t.id,
        version=t.version,
        notes="spoke to daughter",
        reason=WHY,
    )
    with pytest.raises(ConflictError, match=r"changed by someone else.*version 2.*version 1"):
        tasks.update_task(
            care_store, actor=w.chw, task_id=t.id, version=t.version, status="done", reason=WHY
        )
    now = tasks.get_task(care_store, actor=w.cm, task_id=t.id, reason=WHY)
    assert now == first
    assert (now.notes, now.status, now.version) == ("spoke to daughter", "open", 2)


def test_two_coordinators_saving_at_once_one_wins(
    care_store: CareStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read version 1 and wait for each other before writing: the database lets one
    UPDATE through and the other gets a ConflictError (on SQLite and PostgreSQL)."""
    w = make_world(care_store)
    t = tasks.create_task(
        care_store, actor=w.cm, person_id="P1", task_type="call", due_date=DUE, reason=WHY
    )
    barrier = threading.Barrier(2, timeout=20)
    monkeypatch.setattr(tasks, "_before_write", lambda: barrier.wait())
    results: dict[str, object] = {}

    def save(name: str, note: str) -> None:
        actor = w.cm if name == "cm" else w.chw
        try:
            results[name] = tasks.update_task(
                care_store, actor=actor, task_id=t.id, version=1, notes=note, reason=WHY
            )
        except Exception as exc:
            results[name] = exc

    threads = [
        threading.Thread(target=save, args=("cm", "by cm")),
        threading.Thread(target=save, args=("chw", "by chw")),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    won = [k for k, v in results.items() if isinstance(v, tasks.TaskView)]
    lost = [v for v in results.values() if isinstance(v, ConflictError)]
    assert len(won) == 1 and len(lost) == 1, results
    monkeypatch.setattr(tasks, "_before_write", lambda: None)
    final = tasks.get_task(care_store, actor=w.cm, task_id=t.id, reason=WHY)
    assert final.version == 2
    assert final.notes == f"by {won[0]}"


def test_overdue_lists_open_tasks_due_before_today(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1", "P2"))
    mk = dict(actor=w.cm, task_type="call", reason=WHY)
    late = tasks.create_task(care_store, person_id="P1", due_date=dt.date(2025, 1, 2), **mk)
    done = tasks.create_task(care_store, person_id="P2", due_date=dt.date(2025, 1, 1), **mk)
    tasks.create_task(care_store, person_id="P1", due_date=dt.date(2025, 1, 5), **mk)
    tasks.update_task(care_store, actor=w.cm, task_id=done.id, version=1, status="done", reason=WHY)
    got = tasks.overdue_tasks(care_store, actor=w.cm, reason=WHY, today=dt.date(2025, 1, 5))
    assert [t.id for t in got] == [late.id]
    assert tasks.overdue_tasks(care_store, actor=w.cm, reason=WHY, today=dt.date(2025, 1, 1)) == []


def test_unknown_task_type_and_assignee_are_refused(care_store: CareStore) -> None:
    w = make_world(care_store)
    with pytest.raises(ValueError, match="fax"):
        tasks.create_task(
            care_store, actor=w.cm, person_id="P1", task_type="fax", due_date=DUE, reason=WHY
        )
    with pytest.raises(tasks._guard.NotFound, match="no user with id 999"):
        tasks.create_task(
            care_store,
            actor=w.cm,
            person_id="P1",
            task_type="call",
            due_date=DUE,
            assignee_id=999,
            reason=WHY,
        )
    with care_store.begin() as s:
        assert s.scalars(select(Task)).all() == []
