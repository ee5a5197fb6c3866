"""`popweave worklist`: who to reach out to first, and why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly
from popweave.errors import PopweaveError
from popweave.workspace import Workspace

outreach_app = typer.Typer(help="Outreach worklists, coordinator assignment, clinic capacity.")


def _date(text: str | None, option: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PopweaveError(f"{option} {text!r} is not a date; expected YYYY-MM-DD") from None


def _s(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _weights(path: Path | None) -> Any:
    from popweave.outreach.worklist import Weights

    return Weights.load(path) if path else Weights()


@outreach_app.command("worklist")
@friendly
def worklist(
    top: Annotated[int, typer.Option(help="How many people to print.")] = 50,
    practice: Annotated[
        list[str] | None, typer.Option(help="Only this practice's patients (repeatable).")
    ] = None,
    area: Annotated[list[str] | None, typer.Option(help="Only this area (repeatable).")] = None,
    coordinator: Annotated[
        str | None, typer.Option(help="Only this coordinator's panel (from popweave assign).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date YYYY-MM-DD (default: the last day with an encounter)."),
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="Care-gap period (default: the latest in care_gap).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="YAML file of weights (see docs/outreach.md).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Prioritised outreach worklist: risk tier, open care gaps, a discharge with no
    follow-up and social needs, with the reasons. Writes table outreach_worklist."""
    from popweave.outreach.worklist import WORKLIST_TABLE, save_worklist
    from popweave.warehouse import open_workspace_engine

    if top < 1:
        raise PopweaveError("--top must be at least 1")
    w = _weights(weights)
    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        missing = [n for n in ("risk_score", "care_gap") if not eng.has_table(n)]
        d, n = save_worklist(eng, as_of=_date(as_of, "--as-of"), period=period, weights=w)
        t = eng.table(WORKLIST_TABLE)
        t = t.filter(t.as_of == d)
        if practice:
            t = t.filter(t.practice_id.isin(practice))
        if area:
            t = t.filter(t.area_id.isin(area))
        if coordinator:
            from popweave.outreach.worklist import worklist_expr

            t = worklist_expr(eng, as_of=d, period=period, weights=w, coordinator=coordinator)
        shown = t.order_by([t.priority.desc(), t.person_id]).limit(top).execute()
    for name in missing:
        hint = "popweave run risk" if name == "risk_score" else "popweave run measures"
        console.print(f"[yellow]note:[/] no {name} table yet, so it adds no points ({hint}).")
    rt = RichTable(title=f"Outreach worklist on {d}: {n:,} people with a reason")
    for col, just in (("#", "right"), ("person", "left"), ("practice", "left"), ("area", "left")):
        rt.add_column(col, justify=just)  # type: ignore[arg-type]
    rt.add_column("priority", justify="right")
    rt.add_column("why")
    for i, r in enumerate(shown.itertuples(), 1):
        rt.add_row(
            str(i),
            str(r.person_id),
            _s(r.practice_id),
            _s(r.area_id),
            f"{r.priority:.1f}",
            str(r.reason),
        )
    console.print(rt)
    console.print(f"Stored in the warehouse: {WORKLIST_TABLE} (as_of {d}).")


@outreach_app.command("assign")
@friendly
def assign(
    roster: Annotated[
        Path | None,
        typer.Option(
            help="Roster CSV: coordinator_id, languages (en;es), areas (A1;A2), caseload "
            "[, practice_id, lat, lon]. Default: made from the practice table."
        ),
    ] = None,
    per_practice: Annotated[
        int | None, typer.Option(help="Synthetic roster: coordinators per practice.")
    ] = None,
    caseload: Annotated[
        int | None, typer.Option(help="Synthetic roster: patients per coordinator.")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(help="Assign the top N of the worklist (default: twice the caseloads)."),
    ] = None,
    km_cost: Annotated[float, typer.Option(help="Priority points lost per km of travel.")] = 2.0,
    required_language: Annotated[
        list[str] | None,
        typer.Option(
            help="Only these languages must be spoken by the coordinator (repeatable; "
            "default: every language)."
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="optimal (min-cost flow) or greedy.")] = "optimal",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Worklist date YYYY-MM-DD.")] = None,
    weights: Annotated[Path | None, typer.Option(help="YAML file of worklist weights.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Assign worklist patients to care coordinators within caseloads, languages and areas
    (maximising priority served minus travel). Writes table outreach_assignment."""
    from popweave.outreach.assign import Costs, assign_worklist
    from popweave.outreach.roster import load_roster, synthetic_roster
    from popweave.outreach.worklist import ASSIGNMENT_TABLE
    from popweave.warehouse import open_workspace_engine

    costs = Costs(
        km_cost=km_cost,
        required_languages=frozenset(required_language) if required_language else None,
    )
    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        if roster is not None:
            ros = load_roster(roster, eng)
        else:
            ros = synthetic_roster(eng, per_practice=per_practice, caseload=caseload)
        a = assign_worklist(
            eng,
            roster=ros,
            top=top,
            costs=costs,
            method=method,
            as_of=_date(as_of, "--as-of"),
            weights=_weights(weights),
        )
    console.print(
        f"{a.method}: {a.assigned:,} of {a.patients:,} patients assigned to {len(ros)} "
        f"coordinators ({int(ros.caseload.sum()):,} places) in {a.seconds:.2f} s; objective "
        f"(priority served minus costs) {a.objective:,.1f}, priority served "
        f"{a.priority_served:,.1f}, mean travel {a.table.distance_km.mean():.2f} km."
    )
    rt = RichTable(title="Caseloads")
    for col in ("coordinator", "languages", "areas", "patients", "caseload"):
        rt.add_column(col, justify="right" if col in ("patients", "caseload") else "left")
    cols = zip(ros.coordinator_id, ros.languages, ros.areas, ros.caseload, strict=True)
    for k, langs, covered, cap in cols:
        langs_: frozenset[str] = langs
        covered_: frozenset[str] = covered
        rt.add_row(
            str(k),
            ",".join(sorted(langs_)),
            str(len(covered_)),
            str(int(a.loads.get(k, 0))),
            str(cap),
        )
    console.print(rt)
    console.print(f"Stored in the warehouse: {ASSIGNMENT_TABLE}.")


@outreach_app.command("clinics")
@friendly
def clinics(
    top: Annotated[int, typer.Option(help="How many recommendations to print.")] = 20,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Worklist date YYYY-MM-DD.")] = None,
    weights: Annotated[Path | None, typer.Option(help="YAML file of worklist weights.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Which clinics should get another coordinator or longer hours: need on the worklist
    against capacity, ranked, with the reason. Writes table outreach_clinic."""
    import pyarrow as pa

    from popweave.outreach.clinics import CLINIC_TABLE, recommend
    from popweave.outreach.worklist import default_as_of
    from popweave.warehouse import open_workspace_engine

    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        d = _date(as_of, "--as-of") or default_as_of(eng)
        df = recommend(eng, as_of=d, weights=_weights(weights)).execute()
        out = df.copy()
        out.insert(0, "as_of", d)
        eng.save_result(
            CLINIC_TABLE, pa.Table.from_pandas(out, preserve_index=False), replace={"as_of": d}
        )
    rt = RichTable(title=f"Clinic capacity recommendations on {d}")
    for col in ("#", "practice", "recommendation", "score", "why"):
        rt.add_column(col, justify="right" if col in ("#", "score") else "left")
    for r in df.head(top).itertuples():
        rt.add_row(
            str(r.rank),
            f"{r.practice_id} {r.name}",
            str(r.recommendation),
            f"{r.score:,.0f}",
            str(r.reason),
        )
    console.print(rt)
    console.print(f"Stored in the warehouse: {CLINIC_TABLE}.")
