"""`popweave equity`, `popweave trend` and `popweave evaluate`: disparities, series with
control charts, and programme evaluation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly
from popweave.workspace import Workspace

equity_app = typer.Typer(help="A measure by group, against a reference group.")
trend_app = typer.Typer(help="A measure by month, quarter or year, with control charts.")
evaluate_app = typer.Typer(help="Evaluate a programme: did the outcome change?")

EQUITY_TABLE = "equity_result"


def _num(x: Any, fmt: str) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else format(v, fmt)


def _ci(r: Any, a: str, b: str, fmt: str) -> str:
    lo, hi = _num(r[a], fmt), _num(r[b], fmt)
    return f"{lo}-{hi}" if lo and hi else ""


def _last_year(eng: Any) -> str:
    from popweave.cohorts.data import Data
    from popweave.cohorts.definition import data_end

    return str(data_end(Data.of(eng)).year)


@equity_app.command("equity")
@friendly
def equity_cmd(
    measure: Annotated[str, typer.Argument(help="Measure id, e.g. readmission_30d.")],
    by: Annotated[
        list[str],
        typer.Option(
            help="Attribute to stratify by (repeat for several): deprivation_quintile, "
            "race_ethnicity, race, ethnicity, language, sex, age_band, payer, area, social_need, "
            "transport_need, food_need, housing_need."
        ),
    ],
    period: Annotated[
        str | None, typer.Option(help="A year (2025) or START..END; default the last year.")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Reference group (default the largest; 'rest' = everyone else)."),
    ] = None,
    standard: Annotated[
        str, typer.Option(help="Standard population: city (its own total) or us2000.")
    ] = "city",
    min_cell: Annotated[
        int, typer.Option(help="Suppress counts under this (and complements).")
    ] = 11,
    csv: Annotated[Path | None, typer.Option(help="Also write the table to this CSV file.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Rates by group with 95% intervals, age-sex standardised rates, ratios and differences
    against a reference group, q-values, small cells suppressed; stored as equity_result."""
    import pyarrow as pa

    from popweave import equity
    from popweave.warehouse import open_workspace_engine

    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        per = period or _last_year(eng)
        res = equity.table(eng, measure, per, by, reference, standard=standard, min_cell=min_cell)
        rows = res.rows
        eng.save_result(
            EQUITY_TABLE,
            pa.Table.from_pandas(rows, preserve_index=False),
            replace={"period": str(res.period), "measure": res.spec.id},
        )
    prop = res.spec.info.kind == "proportion"
    fmt = ".1%" if prop else ",.2f"
    t = RichTable(title=f"{res.spec.info.title}, {res.period}, by {', '.join(by)}")
    for col in ("by", "group", "n", "rate (95% CI)", f"std. ({standard})", "ratio (95% CI)",
                "difference (95% CI)", "q"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("by", "group") else "right")
    for _, r in rows.iterrows():
        if r["suppressed"]:
            t.add_row(r["stratifier"], r["group"], "<11", "suppressed", "", "", "", "")
            continue
        ref = " (ref)" if r["is_reference"] else ""
        t.add_row(
            r["stratifier"],
            f"{r['group']}{ref}",
            f"{r['denominator']:,.0f}",
            f"{_num(r['rate'], fmt)} ({_ci(r, 'lower', 'upper', fmt)})",
            _num(r["std_rate"], fmt),
            f"{_num(r['ratio'], '.2f')} ({_ci(r, 'ratio_lower', 'ratio_upper', '.2f')})"
            if not r["is_reference"]
            else "1",
            f"{_num(r['difference'], fmt)} ({_ci(r, 'difference_lower', 'difference_upper', fmt)})"
            if not r["is_reference"]
            else "0",
            _num(r["q_value"], ".3g"),
        )
    console.print(t)
    gaps = res.gaps(5)
    if len(gaps):
        console.print("[bold]Largest gaps[/] (worse than the reference; significant first):")
        for g in gaps.itertuples():
            sig = "" if g.significant else " (not significant)"
            console.print(
                f"  {g.rank}. {g.stratifier} = {g.group}: {_num(g.rate, fmt)} vs "
                f"{_num(g.reference_rate, fmt)} ({g.reference}), ratio {g.ratio:.2f}, "
                f"{g.excess:,.0f} excess{sig}"
            )
    if csv:
        rows.to_csv(csv, index=False)
        console.print(f"Wrote {csv}.")
    console.print(f"Stored in the warehouse: {EQUITY_TABLE}.")


@trend_app.command("trend")
@friendly
def trend_cmd(
    measure: Annotated[str, typer.Argument(help="Measure id, e.g. readmission_30d.")],
    by: Annotated[str, typer.Option(help="month, quarter or year.")] = "quarter",
    group: Annotated[
        str | None, typer.Option(help="An attribute to split by, e.g. deprivation_quintile.")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the series to this CSV.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """The measure per month, quarter or year with 95% intervals and a control chart
    (p- or u-chart with varying limits) flagging special-cause change by the run rules."""
    import datetime as dt

    from popweave import trends
    from popweave.errors import PopweaveError
    from popweave.warehouse import open_workspace_engine

    try:
        s = dt.date.fromisoformat(start) if start else None
        e = dt.date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise PopweaveError(f"--from/--to: {exc}; expected YYYY-MM-DD") from None
    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        c = trends.chart(eng, measure, by, group, start=s, end=e)
    from popweave.equity import find_spec

    fmt = ".1%" if find_spec(measure).info.kind == "proportion" else ",.2f"
    t = RichTable(title=f"{measure} by {by}" + (f" and {group}" if group else ""))
    for col in ("period", "group", "n", "rate (95% CI)", "centre", "limits", "signal"):
        t.add_column(col, justify="left" if col in ("period", "group", "signal") else "right")
    for _, r in c.iterrows():
        lim = f"{_num(r.get('lcl'), fmt)}-{_num(r.get('ucl'), fmt)}" if "ucl" in c else ""
        sig = str(r.get("signals", "")) + (" (partial)" if r["partial"] else "")
        t.add_row(
            str(r["period"]),
            str(r["group"]),
            f"{r['denominator']:,.0f}",
            f"{_num(r['rate'], fmt)} ({_ci(r, 'lower', 'upper', fmt)})",
            _num(r.get("centre"), fmt),
            lim,
            f"[bold red]{sig}[/]" if r.get("special_cause") else sig,
        )
    console.print(t)
    if csv:
        c.to_csv(csv, index=False)
        console.print(f"Wrote {csv}.")


@evaluate_app.command("evaluate")
@friendly
def evaluate_cmd(
    start: Annotated[str, typer.Option(help="Programme start date (YYYY-MM-DD).")],
    area: Annotated[
        list[str] | None, typer.Option(help="Area the programme serves (repeat for several).")
    ] = None,
    cohort: Annotated[
        str | None, typer.Option(help="Or: a built cohort the programme serves.")
    ] = None,
    outcome: Annotated[str, typer.Option(help="Outcome measure.")] = "readmission_30d",
    comparison: Annotated[
        str,
        typer.Option(help="same_quintile (other areas of the same deprivation quintile) or all."),
    ] = "same_quintile",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Difference-in-differences (cluster-robust), interrupted time series (Newey-West) and
    a propensity-matched comparison, with a pre-trends check and a plain-language summary."""
    import datetime as dt

    from popweave.errors import PopweaveError
    from popweave.evaluate import Programme, evaluate
    from popweave.warehouse import open_workspace_engine

    try:
        day = dt.date.fromisoformat(start)
    except ValueError:
        raise PopweaveError(f"--start {start!r}: expected a date YYYY-MM-DD") from None
    if comparison not in ("same_quintile", "all"):
        raise PopweaveError(f"--comparison {comparison!r}: expected same_quintile or all")
    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        people = None
        if cohort:
            from popweave.cohorts.store import saved

            people = saved(eng, cohort)
        prog = Programme(day, list(area or []), people, comparison, cohort or "")
        ev = evaluate(eng, prog, outcome)
    t = RichTable(title=f"{prog.describe()}: {outcome}")
    for col in ("method", "effect", "estimate", "95% CI"):
        t.add_column(col, justify="left" if col in ("method", "effect") else "right")
    for _, r in ev.effects().iterrows():
        t.add_row(r["method"], r["effect"], f"{r['estimate']:.3f}", _ci(r, "lower", "upper", ".3f"))
    console.print(t)
    if ev.matched is not None:
        b = RichTable(title="Balance (standardised mean differences)")
        for col in ("covariate", "programme", "comparison", "SMD before", "SMD after"):
            b.add_column(col, justify="left" if col == "covariate" else "right")
        for _, r in ev.matched.balance.iterrows():
            b.add_row(r["covariate"], f"{r['treated_mean']:.2f}", f"{r['comparison_mean']:.2f}",
                      f"{r['smd_before']:.2f}", f"{r['smd_after']:.2f}")  # fmt: skip
        console.print(b)
    console.print(ev.summary)
