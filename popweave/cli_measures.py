"""`popweave run measures`: compute the measure library for a period."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly, spinner
from popweave.workspace import Workspace

run_app = typer.Typer(
    help="Compute analytics and store the results in the warehouse.", no_args_is_help=True
)


@run_app.command("measures")
@friendly
def measures(
    period: Annotated[str, typer.Option(help="A year (2025) or START..END dates.")],
    only: Annotated[
        list[str] | None, typer.Option(help="Only this measure (repeat for several).")
    ] = None,
    specs: Annotated[
        Path | None, typer.Option(help="A folder of measure specs (default: the shipped library).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Rates with 95% intervals by stratum (table measure_result), every unit
    (measure_unit) and open care gaps per patient (care_gap)."""
    from popweave import measures as m
    from popweave.cohorts import Period
    from popweave.warehouse import open_workspace_engine

    per = Period.parse(period)
    ws = Workspace.open(workspace)
    folders = (specs,) if specs else ()
    with (
        open_workspace_engine(ws) as eng,
        spinner() as bar,
    ):
        task = bar.add_task("measures", total=None)
        res = m.run(
            eng,
            per,
            spec_folders=folders,
            only=only or None,
            progress=lambda mid: bar.update(task, description=f"measure {mid}"),
        )
        gaps = {mid: len(g.execute()) for mid, g in res._gaps.items()}
    t = RichTable(title=f"Measures for {per}")
    for col in (
        "measure",
        "units",
        "excluded",
        "numerator",
        "denominator",
        "rate",
        "95% CI",
        "gaps",
    ):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for r in res.rates().itertuples():
        if r.kind == "proportion":
            rate, ci = f"{r.rate:.1%}", f"{r.lower:.1%}-{r.upper:.1%}"
            num, den = f"{r.numerator:,.0f}", f"{r.denominator:,.0f}"
        else:
            rate, ci = f"{r.rate:,.2f}", f"{r.lower:,.2f}-{r.upper:,.2f}"
            num, den = f"{r.numerator:,.0f}", f"{r.denominator:,.0f} mm"
        t.add_row(
            str(r.measure),
            f"{r.units:,}",
            f"{r.excluded:,}",
            num,
            den,
            rate,
            ci,
            f"{gaps[str(r.measure)]:,}" if str(r.measure) in gaps else "",
        )
    console.print(t)
    console.print(
        "Stored in the warehouse: measure_result (by stratum), measure_unit, care_gap. "
        "Rates of rate measures are per member-month (x per)."
    )
