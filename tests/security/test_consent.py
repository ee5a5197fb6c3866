"""Sensitive conditions are hidden unless the patient's consent allows them."""

from __future__ import annotations

import datetime as dt

import pytest

from popweave.care import plans, tasks, team
from popweave.care._guard import NotFound
from popweave.care.store import CareStore
from tests.care.world import WHY, make_world

DAY = dt.date(2025, 6, 1)


def test_sensitive_rows_need_consent(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    plan = plans.create_care_plan(care_store, actor=w.cm, person_id="P1", title="t", reason=WHY)
    plans.add_problem(care_store, actor=w.cm, care_plan_id=plan, description="diabetes", reason=WHY)
    plans.add_problem(
        care_store,
        actor=w.cm,
        care_plan_id=plan,
        description="depression",
        sensitive="mental_health",
        reason=WHY,
    )
    plans.add_goal(
        care_store,
        actor=w.cm,
        care_plan_id=plan,
        description="viral load",
        target="undetectable",
        due_date=DAY,
        sensitive="hiv",
        reason=WHY,
    )
    hidden = tasks.create_task(
        care_store,
        actor=w.cm,
        person_id="P1",
        task_type="call",
        due_date=DAY,
        sensitive="substance_use",
        reason=WHY,
    )

    rec = plans.patient_record(care_store, actor=w.chw, person_id="P1", reason=WHY)
    assert [p.description for p in rec.care_plans[0].problems] == ["diabetes"]
    assert rec.care_plans[0].goals == () and rec.tasks == ()
    assert rec.withheld == 3
    with pytest.raises(NotFound):
        tasks.get_task(care_store, actor=w.chw, task_id=hidden.id, reason=WHY)
    assert tasks.list_tasks(care_store, actor=w.admin, reason=WHY) == []

    team.set_consent(
        care_store, actor=w.cm, person_id="P1", category="mental_health", granted=True, reason=WHY
    )
    rec = plans.patient_record(care_store, actor=w.chw, person_id="P1", reason=WHY)
    assert [p.description for p in rec.care_plans[0].problems] == ["diabetes", "depression"]
    assert rec.withheld == 2 and rec.consented == {"mental_health"}

    team.set_consent(
        care_store, actor=w.cm, person_id="P1", category="mental_health", granted=False, reason=WHY
    )
    team.set_consent(
        care_store, actor=w.cm, person_id="P1", category="substance_use", granted=True, reason=WHY
    )
    rec = plans.patient_record(care_store, actor=w.chw, person_id="P1", reason=WHY)
    assert [p.description for p in rec.care_plans[0].problems] == ["diabetes"]
    assert [t.id for t in rec.tasks] == [hidden.id]


def test_unknown_categories_are_refused(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    with pytest.raises(ValueError, match="reproductive"):
        team.set_consent(
            care_store, actor=w.cm, person_id="P1", category="dental", granted=True, reason=WHY
        )
    with pytest.raises(ValueError, match="unknown sensitive category"):
        tasks.create_task(
            care_store,
            actor=w.cm,
            person_id="P1",
            task_type="call",
            due_date=DAY,
            sensitive="dental",
            reason=WHY,
        )
