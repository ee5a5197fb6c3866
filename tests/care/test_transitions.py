"""Transitions of care: tasks from the warehouse's inpatient discharges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from popweave.care import tasks
from popweave.care.calendar import BusinessCalendar
from popweave.care.store import CareStore
from popweave.care.transitions import create_transition_tasks, last_discharge
from popweave.security.policy import AccessDenied
from popweave.warehouse.base import Engine
from tests.care.world import OPERATOR, WHY, make_world
from tests.cohorts.pop import Pop

D = dt.date


def _warehouse(root: Path, *, risk: bool) -> Engine:
    p = Pop()
    for pid in ("P1", "P2", "P3", "P4"):
        p.person(pid)
    p.stay("P1", "2025-11-20", "2025-11-26")  # Wed before Thanksgiving
    p.stay("P2", "2025-03-01", "2025-03-06")  # Thursday
    p.stay("P3", "2025-05-01", "2025-05-02", disposition="20")  # died: no tasks
    p.encounter("P4", "2025-04-01")  # not a stay
    eng = p.load(root)
    if risk:
        scores = pa.table(
            {
                "index_date": [D(2025, 1, 1)] * 2 + [D(2025, 6, 1)] * 2,
                "label": ["admit_or_ed"] * 4,
                "person_id": ["P1", "P2", "P1", "P2"],
                "score": [0.1, 0.9, 0.9, 0.1],
                "tier": ["low", "high", "high", "low"],
            }
        )
        eng.save_result("risk_score", scores, replace={"index_date": D(2025, 6, 1)})
    return eng


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    out = {
        "risk": _warehouse(tmp_path_factory.mktemp("risk"), risk=True),
        "plain": _warehouse(tmp_path_factory.mktemp("plain"), risk=False),
    }
    yield out
    for e in out.values():
        e.close()


def _by_person(store: CareStore) -> dict[str, list[tuple[str, dt.date]]]:
    got = tasks.list_tasks(store, actor=OPERATOR, reason=WHY, open_only=False)
    out: dict[str, list[tuple[str, dt.date]]] = {}
    for t in got:
        out.setdefault(t.person_id, []).append((t.task_type, t.due_date))
    return {k: sorted(v) for k, v in out.items()}


def test_each_discharge_gets_a_call_and_a_reconciliation_high_risk_a_visit(
    care_store: CareStore, warehouses: dict[str, Engine]
) -> None:
    res = create_transition_tasks(care_store, warehouses["risk"], actor=OPERATOR)
    assert (res.discharges, res.high_risk, res.already) == (2, 1, 0)
    assert dict(res.created) == {"call": 2, "medication_reconciliation": 2, "home_visit": 1}
    assert _by_person(care_store) == {
        # Discharged Wednesday 26 November 2025; Thanksgiving on the 27th.
        "P1": [
            ("call", D(2025, 12, 1)),
            ("home_visit", D(2025, 12, 4)),
            ("medication_reconciliation", D(2025, 12, 26)),
        ],
        # Discharged Thursday 6 March 2025: Friday, Monday.
        "P2": [("call", D(2025, 3, 10)), ("medication_reconciliation", D(2025, 4, 5))],
    }


def test_rerunning_creates_nothing_twice(
    care_store: CareStore, warehouses: dict[str, Engine]
) -> None:
    create_transition_tasks(care_store, warehouses["risk"], actor=OPERATOR)
    again = create_transition_tasks(care_store, warehouses["risk"], actor=OPERATOR)
    assert sum(again.created.values()) == 0 and again.already == 5
    assert sum(len(v) for v in _by_person(care_store).values()) == 5


def test_without_risk_scores_nobody_gets_a_home_visit(
    care_store: CareStore, warehouses: dict[str, Engine]
) -> None:
    res = create_transition_tasks(care_store, warehouses["plain"], actor=OPERATOR)
    assert res.high_risk == 0 and "home_visit" not in res.created


def test_window_holidays_and_assignment(
    care_store: CareStore, warehouses: dict[str, Engine]
) -> None:
    w = make_world(care_store, panel=("P2",))
    res = create_transition_tasks(
        care_store,
        warehouses["plain"],
        actor=w.pm,
        since=D(2025, 3, 1),
        until=D(2025, 3, 31),
        calendar=BusinessCalendar.of(["2025-03-07"]),
    )
    assert res.discharges == 1
    mine = tasks.list_tasks(care_store, actor=w.cm, reason=WHY)
    assert [(t.task_type, t.due_date, t.assignee_id) for t in mine] == [
        ("call", D(2025, 3, 11), w.cm.user_id),
        ("medication_reconciliation", D(2025, 4, 5), w.cm.user_id),
    ]
    assert last_discharge(warehouses["plain"]) == D(2025, 11, 26)


def test_only_admins_and_programme_managers_run_transitions(
    care_store: CareStore, warehouses: dict[str, Engine]
) -> None:
    w = make_world(care_store)
    for actor in (w.cm, w.chw, w.analyst):
        with pytest.raises(AccessDenied):
            create_transition_tasks(care_store, warehouses["plain"], actor=actor)
