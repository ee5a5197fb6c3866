"""`popweave care` (care store, transitions of care, tasks) and `popweave users`.

The command line acts as the workspace's local operator: an admin named ``cli:<login>`` in
the audit log, since whoever runs it owns the workspace files.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys
import tomllib
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table as RichTable

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly
from popweave.errors import PopweaveError, WorkspaceError
from popweave.workspace import CONFIG, Workspace

care_app = typer.Typer(
    name="care",
    help="Care coordination: the care store, transitions of care, tasks.",
    no_args_is_help=True,
)
users_app = typer.Typer(
    name="users", help="Users of the care store and their roles.", no_args_is_help=True
)

ReasonOpt = Annotated[
    str, typer.Option(help="Why the patient data is used (written to the audit log).")
]
CLI_REASON = "care coordination (command line)"
SHORT = {
    "medication_reconciliation": "med reconciliation",
    "follow_up_appointment": "follow-up appt",
    "home_visit": "home visit",
}


def _operator() -> Any:
    from popweave.security.policy import Actor

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Actor.operator(f"cli:{login}")


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PopweaveError(f"{option} {value!r}: expected a date as YYYY-MM-DD") from None


def calendar_of(ws: Workspace) -> Any:
    """The workspace's business calendar: ``[care] federal_holidays`` (default true) and
    ``[care] extra_holidays`` (a list of YYYY-MM-DD dates) in popweave.toml."""
    from popweave.care.calendar import BusinessCalendar

    cfg = ws.root / CONFIG
    care = tomllib.loads(cfg.read_text(encoding="utf-8")).get("care", {})
    federal = care.get("federal_holidays", True)
    extra = care.get("extra_holidays", [])
    if not isinstance(federal, bool) or not isinstance(extra, list):
        raise WorkspaceError(
            f"{cfg}: [care] federal_holidays must be true or false and extra_holidays a list "
            'of dates, e.g. extra_holidays = ["2025-12-26"]'
        )
    try:
        return BusinessCalendar.of([str(d) for d in extra], federal=federal)
    except ValueError as exc:
        raise WorkspaceError(f"{cfg}: [care] extra_holidays: {exc}; use YYYY-MM-DD") from None


def _store(workspace: Any) -> Any:
    from popweave.care.store import open_store

    return open_store(Workspace.open(workspace))


@care_app.command("upgrade")
@friendly
def upgrade(workspace: WorkspaceOpt = DEFAULT_WORKSPACE) -> None:
    """Create or migrate the care store to the newest schema."""
    from popweave.care.store import CareStore, current
    from popweave.care.store import upgrade as migrate

    ws = Workspace.open(workspace)
    with CareStore.open(ws.care_url, ws.root, migrate=False) as store:
        before = current(store.engine)
        migrate(store.engine)
        after = current(store.engine)
    if before == after:
        console.print(f"The care store is up to date (revision {after}).")
    else:
        console.print(f"Migrated the care store from {before or 'empty'} to {after}.")


@care_app.command("transitions")
@friendly
def transitions(
    since: Annotated[
        str | None,
        typer.Option(help="First discharge date (default: 30 days before the last discharge)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last discharge date.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every discharge in the warehouse.")] = False,
    risk_label: Annotated[
        str | None, typer.Option(help="Risk run label for the high tier (default: latest).")
    ] = None,
    reason: ReasonOpt = "transitions of care after discharge",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Create follow-up calls, medication reconciliations and (high risk) home visits for
    inpatient discharges; running again adds only what is missing."""
    from popweave.care.transitions import create_transition_tasks, last_discharge
    from popweave.warehouse import open_workspace_engine

    ws = Workspace.open(workspace)
    cal = calendar_of(ws)
    start, end = _date(since, "--since"), _date(until, "--until")
    with open_workspace_engine(ws) as eng, _store(workspace) as store:
        if start is None and not all_:
            last = last_discharge(eng)
            if last is None:
                console.print("The warehouse holds no inpatient discharges; nothing to do.")
                return
            start = last - dt.timedelta(days=30)
        res = create_transition_tasks(
            store,
            eng,
            actor=_operator(),
            reason=reason,
            since=start,
            until=end,
            calendar=cal,
            risk_label=risk_label,
        )
    window = "all dates" if start is None else f"from {start}" + (f" to {end}" if end else "")
    made = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in sorted(res.created.items()))
    console.print(
        f"{res.discharges:,} discharges ({window}), {res.high_risk:,} high risk: "
        f"created {made or 'no tasks'}; {res.already:,} were already there."
    )


@care_app.command("tasks")
@friendly
def tasks_cmd(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open tasks past due.")] = False,
    today: Annotated[str | None, typer.Option(help="Take this day as today.")] = None,
    person: Annotated[str | None, typer.Option(help="Only this person_id.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    reason: ReasonOpt = CLI_REASON,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Open tasks, soonest due first (--overdue: those past due)."""
    from popweave.care import tasks

    day = _date(today, "--today") or dt.date.today()
    with _store(workspace) as store:
        got = tasks.list_tasks(
            store,
            actor=_operator(),
            reason=reason,
            person_id=person,
            overdue_on=day if overdue else None,
        )
    if not got:
        console.print("No overdue tasks." if overdue else "No open tasks.")
        return
    t = RichTable(
        title=f"{'Overdue' if overdue else 'Open'} tasks: {len(got):,}", box=box.SIMPLE_HEAD
    )
    for col in ("id", "person", "type", "due", "late", "status", "who"):
        t.add_column(col, justify="right" if col in ("id", "late") else "left", no_wrap=True)
    for x in got[:limit]:
        late = (day - x.due_date).days
        t.add_row(
            str(x.id),
            x.person_id,
            SHORT.get(x.task_type, x.task_type),
            x.due_date.isoformat(),
            str(late) if late > 0 else "",
            x.status,
            "" if x.assignee_id is None else str(x.assignee_id),
        )
    console.print(t)
    if len(got) > limit:
        console.print(f"... and {len(got) - limit:,} more (--limit).")


@users_app.command("add")
@friendly
def users_add(
    username: Annotated[str, typer.Argument(help="Login name (lower case).")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, programme_manager, care_manager, community_health_worker or analyst."
        ),
    ],
    full_name: Annotated[str, typer.Option(help="Full name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Add a user; the password is prompted for (not echoed) or read from stdin."""
    from popweave.security.users import add_user, parse_role

    parse_role(role)
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _store(workspace) as store, store.begin() as s:
        u = add_user(
            s,
            actor=_operator(),
            username=username,
            role=role,
            password=password,
            full_name=full_name,
        )
    console.print(f"Added {u.username} ({u.role}), id {u.id}.")


@users_app.command("list")
@friendly
def users_list(workspace: WorkspaceOpt = DEFAULT_WORKSPACE) -> None:
    """Users and their roles."""
    from popweave.security.users import list_users

    with _store(workspace) as store, store.begin() as s:
        found = list_users(s, actor=_operator())
    if not found:
        console.print("No users yet: add one with `popweave users add NAME --role admin`.")
        return
    t = RichTable(title=f"Users: {len(found)}")
    for col in ("id", "username", "role", "full name", "active"):
        t.add_column(col)
    for u in found:
        t.add_row(str(u.id), u.username, u.role.value, u.full_name, "yes" if u.active else "no")
    console.print(t)
