"""Demo users, one per role, with a panel and some care-coordination records, so that
every page has something to show (``popweave demo-users``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from popweave.care import engagement, plans, referrals, tasks, team
from popweave.care.models import CarePlan, CommunityOrg, Programme, Task
from popweave.care.store import CareStore, open_store
from popweave.security.models import PanelAssignment, Role, TeamRole
from popweave.security.policy import Actor
from popweave.security.users import add_user, get_user
from popweave.workspace import Workspace

REASON = "demo setup"
OPERATOR = Actor.operator("cli:demo-users")
#: login -> (role, full name); the password is ``<login>-demo-pass``.
USERS: dict[str, tuple[Role, str]] = {
    "admin": (Role.ADMIN, "Ada Admin"),
    "pm": (Role.PROGRAMME_MANAGER, "Priya Programme"),
    "cm": (Role.CARE_MANAGER, "Carlos Care"),
    "chw": (Role.COMMUNITY_HEALTH_WORKER, "Chen Community"),
    "analyst": (Role.ANALYST, "Ana Lyst"),
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: Role
    created: bool
    panel: tuple[str, ...]


def password_of(login: str) -> str:
    return f"{login}-demo-pass"


def _top_patients(ws: Workspace, n: int) -> list[str]:
    from popweave.outreach.worklist import WORKLIST_TABLE, worklist
    from popweave.warehouse import open_workspace_engine

    with open_workspace_engine(ws) as eng:
        if eng.has_table(WORKLIST_TABLE):
            t = eng.table(WORKLIST_TABLE)
            t = t.filter(t.as_of == t.as_of.max()).order_by([t.priority.desc(), t.person_id])
            return [str(p) for p in t.limit(n).execute()["person_id"]]
        return [str(p) for p in worklist(eng, top=n)["person_id"]]


def seed_demo(workspace: Path | str, *, panel_size: int = 25) -> list[DemoLogin]:
    """Create the demo users (kept if they exist), give the care manager and the community
    health worker a panel from the top of the worklist, and add an organisation, a
    programme, tasks and a care plan with a goal for the care manager's first patients."""
    ws = Workspace.open(workspace)
    top = _top_patients(ws, 2 * panel_size)
    panels = {"cm": tuple(top[:panel_size]), "chw": tuple(top[panel_size : 2 * panel_size])}
    out = []
    with open_store(ws) as store:
        ids: dict[str, int] = {}
        for login, (role, name) in USERS.items():
            with store.begin() as s:
                existing = get_user(s, login)
                u = existing or add_user(
                    s,
                    actor=OPERATOR,
                    username=login,
                    role=role,
                    password=password_of(login),
                    full_name=name,
                )
            ids[login] = u.id
            out.append(
                DemoLogin(login, password_of(login), role, existing is None, panels.get(login, ()))
            )
        for login, team_role in (
            ("cm", TeamRole.CARE_MANAGER),
            ("chw", TeamRole.COMMUNITY_HEALTH_WORKER),
        ):
            with store.begin() as s:
                have = set(
                    s.scalars(
                        select(PanelAssignment.person_id).where(
                            PanelAssignment.user_id == ids[login]
                        )
                    )
                )
            for pid in panels[login]:
                if pid not in have:
                    team.assign_panel(
                        store,
                        actor=OPERATOR,
                        user_id=ids[login],
                        person_id=pid,
                        team_role=team_role,
                        reason=REASON,
                    )
        _records(store, ids["cm"], panels["cm"][:5])
    return out


def _records(store: CareStore, cm_id: int, patients: tuple[str, ...]) -> None:
    with store.begin() as s:
        has_org = s.scalar(select(CommunityOrg.id).limit(1)) is not None
        has_prog = s.scalar(select(Programme.id).limit(1)) is not None
        with_tasks = set(s.scalars(select(Task.person_id).where(Task.person_id.in_(patients))))
        with_plans = set(
            s.scalars(select(CarePlan.person_id).where(CarePlan.person_id.in_(patients)))
        )
    if not has_org:
        referrals.add_community_org(
            store,
            actor=OPERATOR,
            name="Eastside Food Bank",
            services=["food", "nutrition_education"],
            areas=[],
            capacity=40,
        )
        referrals.add_community_org(
            store,
            actor=OPERATOR,
            name="RideWell Transport",
            services=["transport"],
            areas=[],
            capacity=25,
        )
    if not has_prog:
        engagement.add_programme(
            store,
            actor=OPERATOR,
            name="Diabetes self-management",
            description="Six weekly group sessions",
        )
    today = dt.date.today()
    for i, pid in enumerate(patients):
        if pid not in with_tasks:
            tasks.create_task(
                store,
                actor=OPERATOR,
                person_id=pid,
                task_type="call",
                title="Outreach call",
                due_date=today + dt.timedelta(days=i),
                reason=REASON,
                assignee_id=cm_id,
            )
        if pid in with_plans:
            continue
        plan = plans.create_care_plan(
            store, actor=OPERATOR, person_id=pid, title="Chronic care plan", reason=REASON
        )
        plans.add_goal(
            store,
            actor=OPERATOR,
            care_plan_id=plan,
            description="Blood sugar under control",
            target="HbA1c below 8%",
            due_date=today + dt.timedelta(days=90),
            reason=REASON,
        )
