"""Every role x every operation: allowed, allowed on the panel only, or denied.

The expected table is written out here, independently of popweave.security.policy, and each
cell is exercised through the real service function, for a patient on the user's panel (P1)
and one on nobody's panel (P9), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from popweave.care import aggregates, engagement, plans, referrals, tasks, team
from popweave.care.store import CareStore
from popweave.care.transitions import create_transition_tasks
from popweave.security.models import Role, User
from popweave.security.policy import POLICY, AccessDenied, Actor, Operation, Scope
from popweave.security.users import add_user
from popweave.warehouse.base import Engine
from tests.care.world import OPERATOR, WHY, make_world
from tests.cohorts.pop import Pop

A, P, N = "all", "panel", "none"
ROLES = (
    Role.ADMIN,
    Role.PROGRAMME_MANAGER,
    Role.CARE_MANAGER,
    Role.COMMUNITY_HEALTH_WORKER,
    Role.ANALYST,
)
#                                   admin pm  cm  chw analyst
EXPECTED: dict[Operation, tuple[str, str, str, str, str]] = {
    Operation.READ_PATIENT: (A, A, P, P, N),
    Operation.WRITE_CARE_PLAN: (A, N, P, N, N),
    Operation.WRITE_TASK: (A, A, P, P, N),
    Operation.RECORD_OUTREACH: (A, N, P, P, N),
    Operation.REFER: (A, N, P, P, N),
    Operation.ENROL: (A, A, P, N, N),
    Operation.SET_CONSENT: (A, N, P, N, N),
    Operation.MANAGE_USERS: (A, N, N, N, N),
    Operation.ASSIGN_PANEL: (A, A, N, N, N),
    Operation.MANAGE_PROGRAMMES: (A, A, N, N, N),
    Operation.AGGREGATES: (A, A, N, N, A),
    Operation.READ_AUDIT: (A, N, N, N, N),
    Operation.RUN_TRANSITIONS: (A, A, N, N, N),
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    p = Pop()
    p.person("P1")
    eng = p.load(tmp_path_factory.mktemp("matrix"))
    yield eng
    eng.close()


def test_the_policy_is_the_documented_table() -> None:
    assert set(EXPECTED) == set(Operation)
    for i, role in enumerate(ROLES):
        for op, cells in EXPECTED.items():
            assert POLICY[role][op] == Scope(cells[i]), (role, op)


def _operations(
    store: CareStore, warehouse: Engine, programme: int, org: int
) -> dict[Operation, Callable[[Actor, str], object]]:
    n = itertools.count()
    day = dt.date(2025, 1, 1)

    def read(a: Actor, pid: str) -> object:
        return plans.patient_record(store, actor=a, person_id=pid, reason=WHY)

    def write_task(a: Actor, pid: str) -> object:
        return tasks.create_task(
            store, actor=a, person_id=pid, task_type="call", due_date=day, reason=WHY
        )

    def new_user(a: Actor, pid: str) -> object:
        with store.begin() as s:
            return add_user(
                s, actor=a, username=f"u{next(n)}", role="analyst", password="long enough pw"
            )

    def assign(a: Actor, pid: str) -> object:
        assert OPERATOR.user_id is None
        with store.begin() as s:
            uid = min(s.scalars(select(User.id)))
        return team.assign_panel(
            store, actor=a, user_id=uid, person_id=pid, team_role="pcp", reason=WHY
        )

    return {
        Operation.READ_PATIENT: read,
        Operation.WRITE_CARE_PLAN: lambda a, pid: plans.create_care_plan(
            store, actor=a, person_id=pid, title="diabetes", reason=WHY
        ),
        Operation.WRITE_TASK: write_task,
        Operation.RECORD_OUTREACH: lambda a, pid: engagement.record_outreach(
            store, actor=a, person_id=pid, channel="phone", outcome="reached", reason=WHY
        ),
        Operation.REFER: lambda a, pid: referrals.refer(
            store, actor=a, person_id=pid, org_id=org, service="food", reason=WHY
        ),
        Operation.ENROL: lambda a, pid: engagement.enrol(
            store,
            actor=a,
            programme_id=programme,
            person_id=pid,
            start_date=day + dt.timedelta(days=next(n)),
            reason=WHY,
        ),
        Operation.SET_CONSENT: lambda a, pid: team.set_consent(
            store, actor=a, person_id=pid, category="hiv", granted=True, reason=WHY
        ),
        Operation.MANAGE_USERS: new_user,
        Operation.ASSIGN_PANEL: assign,
        Operation.MANAGE_PROGRAMMES: lambda a, pid: engagement.add_programme(
            store, actor=a, name=f"programme {next(n)}"
        ),
        Operation.AGGREGATES: lambda a, pid: aggregates.task_counts(store, actor=a),
        Operation.READ_AUDIT: lambda a, pid: team.audit_log(store, actor=a, reason=WHY),
        Operation.RUN_TRANSITIONS: lambda a, pid: create_transition_tasks(
            store, warehouse, actor=a
        ),
    }


def test_every_role_and_operation(care_store: CareStore, warehouse: Engine) -> None:
    w = make_world(care_store, panel=("P1",))
    programme = engagement.add_programme(care_store, actor=OPERATOR, name="walking group")
    org = referrals.add_community_org(
        care_store,
        actor=OPERATOR,
        name="food bank",
        services=["food"],
        areas=["A1"],
        capacity=50,
    )
    ops = _operations(care_store, warehouse, programme, org)
    actors = w.by_role()
    wrong = []
    for op, cells in EXPECTED.items():
        for i, role in enumerate(ROLES):
            for pid, on_panel in (("P1", True), ("P9", False)):
                want = cells[i] == A or (cells[i] == P and on_panel)
                try:
                    ops[op](actors[role], pid)
                    got = True
                except AccessDenied:
                    got = False
                if got != want:
                    wrong.append(f"{role} {op} {pid}: {'allowed' if got else 'denied'}")
    assert wrong == []


def test_panel_limits_lists_to_assigned_patients(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    for pid in ("P1", "P2", "P3"):
        tasks.create_task(
            care_store,
            actor=OPERATOR,
            person_id=pid,
            task_type="call",
            due_date=dt.date(2025, 1, 1),
            reason=WHY,
        )
    seen = {
        name: {t.person_id for t in tasks.list_tasks(care_store, actor=a, reason=WHY)}
        for name, a in (("cm", w.cm), ("chw", w.chw), ("cm2", w.other_cm), ("pm", w.pm))
    }
    assert seen == {"cm": {"P1"}, "chw": {"P1"}, "cm2": set(), "pm": {"P1", "P2", "P3"}}
    with pytest.raises(AccessDenied):
        tasks.list_tasks(care_store, actor=w.analyst, reason=WHY)


def test_ended_panel_assignment_no_longer_grants_access(care_store: CareStore) -> None:
    w = make_world(care_store, panel=())
    assert w.cm.user_id is not None
    team.assign_panel(
        care_store,
        actor=OPERATOR,
        user_id=w.cm.user_id,
        person_id="P5",
        team_role="care_manager",
        reason=WHY,
        end_date=dt.date(2020, 1, 1),
    )
    with pytest.raises(AccessDenied, match="only for patients on their panel"):
        plans.patient_record(care_store, actor=w.cm, person_id="P5", reason=WHY)
