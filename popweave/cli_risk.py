"""`popweave run risk`: train, test, score, explain, audit and tier the population."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table as RichTable

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly, spinner
from popweave.errors import PopweaveError
from popweave.workspace import Workspace


@friendly
def risk(
    date: Annotated[
        str | None,
        typer.Option(help="Index date YYYY-MM-DD (default: the last day with an encounter)."),
    ] = None,
    label: Annotated[
        str, typer.Option(help="Outcome to predict: admit_or_ed, high_cost or high_need.")
    ] = "admit_or_ed",
    high: Annotated[float, typer.Option(help="Percentile (0-1) from which risk is high.")] = 0.95,
    moderate: Annotated[float, typer.Option(help="Percentile (0-1) of moderate risk.")] = 0.75,
    rising: Annotated[
        float, typer.Option(help="Percentile points (0-1) gained in a year that mark rising.")
    ] = 0.20,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """12-month risk of a hospital stay or ED visit: scores, top factors and tiers
    (table risk_score, risk_factor), test-year metrics (risk_metric), fairness audit
    (risk_audit) and the area deprivation index (area_index)."""
    from popweave.risk.run import run as risk_run
    from popweave.risk.tiers import TIERS, TierRules
    from popweave.warehouse import open_workspace_engine

    day = None
    if date:
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise PopweaveError(f"--date {date!r} is not a date; expected YYYY-MM-DD") from None
    try:
        rules = TierRules(high=high, moderate=moderate, rising_points=rising)
    except ValueError as exc:
        raise PopweaveError(str(exc)) from None
    ws = Workspace.open(workspace)
    with (
        open_workspace_engine(ws) as eng,
        spinner() as bar,
    ):
        task = bar.add_task("risk", total=None)
        r = risk_run(
            eng, day, label=label, rules=rules, progress=lambda s: bar.update(task, description=s)
        )
    m = r.metrics
    console.print(
        f"Model of {r.label}: trained on {r.train_date} (+12 months), tested on {r.test_date} "
        f"(+12 months, {m.n:,} people, {m.events:,} with the outcome)."
    )
    console.print(
        f"AUROC {m.auroc:.3f} (95% {m.auroc - 1.96 * m.auroc_se:.3f}-"
        f"{m.auroc + 1.96 * m.auroc_se:.3f}); Brier {m.brier:.4f} (predicting the rate for "
        f"everyone: {m.brier_reference:.4f}); observed {m.observed:.3f}, expected "
        f"{m.expected:.3f}; calibration slope {m.calibration_slope:.2f}."
    )
    t = RichTable(title=f"Risk tiers on {r.index_date}")
    t.add_column("tier")
    t.add_column("people", justify="right")
    t.add_column("mean risk", justify="right")
    for tier in TIERS:
        sel = r.scores[r.scores.tier == tier]
        t.add_row(tier, f"{len(sel):,}", f"{sel.score.mean():.1%}" if len(sel) else "")
    console.print(t)
    if r.audit.flags:
        console.print(f"Fairness audit: {len(r.audit.flags)} finding(s) in the test year:")
        for f in r.audit.flags:
            console.print(f"  {f.kind}: {f.message}", highlight=False)
    else:
        console.print("Fairness audit: no group flagged in the test year.")
    console.print(
        "Stored in the warehouse: risk_score, risk_factor, risk_metric, risk_audit, area_index."
    )


@friendly
def hcc(
    year: Annotated[
        int | None,
        typer.Option(
            help="Payment year; diagnoses of the year before are scored (default: the year "
            "after the last complete year of data)."
        ),
    ] = None,
    version: Annotated[str, typer.Option(help="CMS-HCC model: v28 or v24.")] = "v28",
    normalisation: Annotated[
        float, typer.Option(help="CMS's normalisation factor of the payment year.")
    ] = 1.0,
    coding_adjustment: Annotated[
        float, typer.Option(help="CMS's MA coding pattern adjustment (e.g. 0.059).")
    ] = 0.0,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """CMS-HCC community risk scores of everyone with Medicare coverage in a payment year
    (table hcc_score) and the relative factors behind them (hcc_factor)."""
    from popweave.equity.suppress import MIN_CELL, suppress_mask
    from popweave.risk.hcc_run import run_hcc
    from popweave.warehouse import open_workspace_engine

    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng, spinner() as bar:
        task = bar.add_task("hcc", total=None)
        r = run_hcc(
            eng,
            year,
            version=version,
            normalisation=normalisation,
            coding_adjustment=coding_adjustment,
            progress=lambda s: bar.update(task, description=s),
        )
    s = r.scores
    console.print(
        f"CMS-HCC {r.version.upper()} for payment year {r.payment_year}: {len(s):,} people with "
        f"Medicare coverage on {r.as_of}, diagnoses of {r.payment_year - 1}. Mean risk score "
        f"{s.risk_score.mean():.3f} (median {s.risk_score.median():.3f}); "
        f"{(s.hcc_count > 0).mean():.0%} have a payment HCC."
    )
    # Counts of people under MIN_CELL are not shown; segments add up to the total printed
    # above, so one more is hidden where needed (complementary suppression).
    t = RichTable(title="Segments")
    for c, j in (("segment", "left"), ("people", "right"), ("mean risk score", "right")):
        t.add_column(c, justify=j)  # type: ignore[arg-type]
    segs = s.groupby("segment").agg(people=("risk_score", "size"), mean=("risk_score", "mean"))
    hidden = suppress_mask(segs[["people"]])
    for seg, people, mean, hide in zip(segs.index, segs.people, segs["mean"], hidden, strict=True):
        if hide:
            t.add_row(str(seg), "suppressed", "")
        else:
            t.add_row(str(seg), f"{int(people):,}", f"{mean:.3f}")
    console.print(t)
    t = RichTable(title="Most frequent payment HCCs")
    for c, j in (("HCC", "left"), ("condition", "left"), ("people", "right"), ("share", "right")):
        t.add_column(c, justify=j)  # type: ignore[arg-type]
    top = r.top_hccs.head(10)
    for hcc, label, n, share in zip(
        top.hcc.tolist(), top.label.tolist(), top.people.tolist(), top.share.tolist(), strict=True
    ):
        small = int(n) < MIN_CELL
        count = f"<{MIN_CELL}" if small else f"{int(n):,}"
        t.add_row(str(hcc), str(label), count, "" if small else f"{share:.1%}")
    console.print(t)
    console.print(f"Counts under {MIN_CELL} people are not shown.")
    console.print("Stored in the warehouse: hcc_score, hcc_factor.")
