"""`popweave report`: the HTML population report of a workspace."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly, spinner
from popweave.errors import PopweaveError
from popweave.workspace import Workspace


@friendly
def report(
    period: Annotated[
        str | None,
        typer.Option(help="A year (2025) or START..END; default the latest measured period."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="File to write (default: the workspace's reports/ folder)."),
    ] = None,
    programme_area: Annotated[
        list[str] | None,
        typer.Option(help="Area a programme serves (repeat); default the pilot in truth.json."),
    ] = None,
    programme_start: Annotated[
        str | None, typer.Option(help="The programme's start date (YYYY-MM-DD).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """One self-contained HTML report, readable offline: population, map, measures,
    disparities, trends, risk, programme evaluation and coordinator workload."""
    from popweave.reports import Pilot, build, write
    from popweave.warehouse import open_workspace_engine

    pilot = None
    if programme_area or programme_start:
        if not (programme_area and programme_start):
            raise PopweaveError("give both --programme-area and --programme-start (or neither)")
        try:
            start = dt.date.fromisoformat(programme_start)
        except ValueError:
            raise PopweaveError(
                f"--programme-start {programme_start!r}: expected a date YYYY-MM-DD"
            ) from None
        pilot = Pilot(list(programme_area), start)
    ws = Workspace.open(workspace)
    t0 = time.perf_counter()
    with open_workspace_engine(ws) as eng, spinner() as bar:
        task = bar.add_task("report", total=None)
        rep = build(
            eng, period, pilot=pilot, truth=ws.truth_path,
            progress=lambda s: bar.update(task, description=s),
        )  # fmt: skip
    path = out or ws.reports_dir / f"population-report-{rep.period}.html"
    write(rep.html, path)
    secs = time.perf_counter() - t0
    size = path.stat().st_size / 1e6
    console.print(f"Wrote {path} ({size:.1f} MB) in {secs:.1f} s.", highlight=False)
    for sid, why in rep.notes.items():
        console.print(f"  section {sid} not shown: {why}", highlight=False)
    console.print(
        f"Open it in a browser (it needs no network): file://{path.resolve()}",
        highlight=False,
        soft_wrap=True,
    )
