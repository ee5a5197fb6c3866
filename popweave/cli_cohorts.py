"""`popweave cohort`: build, show and list cohort definitions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly
from popweave.errors import PopweaveError
from popweave.workspace import Workspace

cohort_app = typer.Typer(
    help="Define populations in YAML (docs/cohorts.md), build them, see who is in them.",
    no_args_is_help=True,
)


def _date(text: str | None, what: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PopweaveError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


@cohort_app.command("build")
@friendly
def build(
    file: Annotated[Path, typer.Argument(help="Cohort definition (YAML).")],
    index_date: Annotated[
        str | None,
        typer.Option(
            help="Evaluate on this date (default: the file's, else the last day with data)."
        ),
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="Period for 'window: period' (a year or START..END).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Materialise a cohort in the warehouse (table cohort_member) and characterise it."""
    from popweave.cohorts import CohortDef, Data, Library, Period, members
    from popweave.cohorts.definition import data_end
    from popweave.cohorts.store import profile, save
    from popweave.warehouse import open_workspace_engine

    cohort = CohortDef.from_file(file)
    ws = Workspace.open(workspace)
    per = Period.parse(period) if period else None
    with open_workspace_engine(ws) as eng:
        data = Data.of(eng)
        index = (
            _date(index_date, "--index-date")
            or cohort.index_date
            or (per.end if per else None)
            or data_end(data)
        )
        people = members(data, cohort, index_date=index, period=per, library=Library(file.parent))
        n = save(eng, cohort.name, people, index)
        _print_profile(profile(data, cohort.name, people, index))
    console.print(f"Built cohort [bold]{cohort.name}[/]: {n:,} people on {index}.")


@cohort_app.command("show")
@friendly
def show(
    name: Annotated[str, typer.Argument(help="Name of a built cohort.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Size and characterisation (age, sex, race/ethnicity, deprivation, top conditions)."""
    from popweave.cohorts import Data
    from popweave.cohorts.store import profile, saved
    from popweave.warehouse import open_workspace_engine

    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        people = saved(eng, name)
        index = people.index_date.max().execute()
        index = index.date() if hasattr(index, "date") else index
        _print_profile(profile(Data.of(eng), name, people, index))


@cohort_app.command("list")
@friendly
def list_(workspace: WorkspaceOpt = DEFAULT_WORKSPACE) -> None:
    """Built cohorts with their size, index date and build time."""
    from popweave.cohorts.store import MEMBER_TABLE
    from popweave.warehouse import open_workspace_engine

    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        if not eng.has_table(MEMBER_TABLE):
            console.print("No cohort has been built yet.")
            return
        t = eng.table(MEMBER_TABLE)
        df = (
            t.group_by("cohort")
            .aggregate(size=t.count(), index_date=t.index_date.max(), built_at=t.built_at.max())
            .order_by("cohort")
            .execute()
        )
    out = RichTable(title="Cohorts")
    for col in ("cohort", "size", "index date", "built"):
        out.add_column(col, justify="right" if col == "size" else "left")
    for r in df.itertuples():
        out.add_row(r.cohort, f"{r.size:,}", str(r.index_date)[:10], str(r.built_at)[:19])
    console.print(out)


def _print_profile(p: object) -> None:
    from popweave.cohorts.store import Profile

    assert isinstance(p, Profile)
    pct = f"{p.size / p.population:.1%}" if p.population else "-"
    console.print(
        f"[bold]{p.name}[/]: {p.size:,} of {p.population:,} people ({pct}) on {p.index_date}"
    )
    for title, df, key in (
        ("Age", p.age, "band"),
        ("Sex", p.sex, "sex"),
        ("Race / ethnicity", p.race_ethnicity, "group"),
        ("Area deprivation quintile (5 = most deprived)", p.deprivation, "quintile"),
    ):
        t = RichTable(title=title, title_justify="left")
        t.add_column(key)
        t.add_column("people", justify="right")
        t.add_column("share", justify="right")
        for row in df.itertuples():
            t.add_row(str(getattr(row, key)), f"{row.n:,}", f"{row.share:.1%}")
        console.print(t)
    t = RichTable(title="Top conditions (ICD-10-CM category)", title_justify="left")
    for col in ("category", "description", "people", "share"):
        t.add_column(col, justify="right" if col in ("people", "share") else "left")
    for row in p.top_conditions.itertuples():
        t.add_row(str(row.category), str(row.description), f"{row.n:,}", f"{row.share:.1%}")
    console.print(t)
