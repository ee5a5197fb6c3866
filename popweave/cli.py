"""The `popweave` command line: workspaces, the synthetic city, tables and the quarantine."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from popweave.cli_care import care_app, users_app
from popweave.cli_cohorts import cohort_app
from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, err, friendly
from popweave.cli_equity import equity_app, evaluate_app, trend_app
from popweave.cli_measures import run_app
from popweave.cli_outreach import outreach_app
from popweave.cli_report import report
from popweave.cli_risk import hcc, risk
from popweave.cli_serve import demo_users, serve
from popweave.errors import PopweaveError, WorkspaceError
from popweave.workspace import DEFAULT_ENGINE, Workspace

app = typer.Typer(
    help="popweave: population health management. It keeps a population's health and "
    "community data in one warehouse (a workspace folder), checks every row against its "
    "data model and quarantines what does not fit.\n\n"
    "First steps: [bold]popweave init[/] creates ./popweave-data; "
    "[bold]popweave synth[/] builds a synthetic city of 20,000 people in it; "
    "[bold]popweave tables[/] shows what the warehouse holds.\n\n"
    "Every command takes --workspace DIR (default ./popweave-data). "
    "Add --help after a command for its options.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
@friendly
def init(
    path: Annotated[Path, typer.Argument(help="Folder to create.")] = DEFAULT_WORKSPACE,
    engine: Annotated[
        str,
        typer.Option(help="Warehouse engine URL: duckdb:///warehouse.duckdb or spark://local[*]."),
    ] = DEFAULT_ENGINE,
) -> None:
    """Create a workspace: settings, an empty warehouse, quarantine and reports folders."""
    from popweave.warehouse import open_workspace_engine

    def create_warehouse(staging: Workspace) -> None:
        with open_workspace_engine(staging):
            pass

    ws = Workspace.init(path, engine, prepare=create_warehouse)
    console.print(f"Created workspace [bold]{ws.root}[/] (engine {ws.engine_url}).")
    console.print(
        "Next: [bold]popweave synth --people 20000 --seed 42"
        + ("" if path == DEFAULT_WORKSPACE else f" --workspace {path}")
        + "[/]"
    )


@app.command()
@friendly
def synth(
    people: Annotated[
        int, typer.Option("--people", "-n", help="How many people live in the city.")
    ] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same city.")] = 42,
    years: Annotated[int, typer.Option(help="Years of history, ending 2025-12-31.")] = 3,
    replace: Annotated[
        bool, typer.Option("--replace", help="Rebuild a warehouse that already holds data.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Build a synthetic city into the workspace's warehouse and write truth.json."""
    from popweave.synth import Params, build_city
    from popweave.warehouse import load, open_workspace_engine, rebuilding

    if people < 1:
        raise PopweaveError(f"--people must be a positive whole number, got {people}")
    if not 1 <= years <= 20:
        raise PopweaveError(f"--years must be between 1 and 20, got {years}")
    if seed < 0:
        raise PopweaveError(f"--seed must be zero or positive, got {seed}")
    ws = Workspace.open(workspace)
    ws.check_writable()
    with open_workspace_engine(ws) as eng:
        present = eng.count("person")
    if present and not replace:
        raise WorkspaceError(
            f"the warehouse in {ws.root} already holds {present:,} people; "
            "pass --replace to rebuild it"
        )
    from popweave.synth.city import STEPS

    t0 = time.perf_counter()
    params = Params(years=years)
    with _progress() as bar:
        gen = bar.add_task("generating", total=len(STEPS))
        city = build_city(
            people, seed, params, progress=lambda s: bar.update(gen, advance=1, description=s)
        )
        bar.update(gen, description="generated")
        loading = bar.add_task("loading", total=city.row_count())
        with rebuilding(ws.engine_url, ws.root) as eng:
            tables = city.tables()

            def tick(name: str, rows: int) -> None:
                bar.update(loading, advance=rows, description=f"loading {name}")

            # The staging warehouse is published whole by rebuilding(), so per-batch
            # commits keep the load all-or-nothing while bounding the engine's memory.
            report = load(
                eng,
                tables,
                source=f"synth people={people} seed={seed}",
                quarantine_dir=ws.quarantine_dir,
                progress=tick,
                atomic=False,
            )
        _write_json(ws.truth_path, city.truth)
    secs = time.perf_counter() - t0
    console.print(
        f"Built a city of {people:,} people: {report.total_accepted:,} rows in "
        f"{secs:.1f} s ({people / secs:,.0f} people/s); rejected {report.total_rejected:,}."
    )
    console.print(f"Planted truths: {ws.truth_path}")


@app.command()
@friendly
def ingest(
    kind: Annotated[str, typer.Argument(help="Input format: synthea, fhir, omop or csv.")],
    path: Annotated[Path, typer.Argument(help="Input folder or file.")],
    mapping: Annotated[
        Path | None, typer.Option(help="Column mapping (YAML) for `ingest csv`.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Load even if the same input was loaded before.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Load a Synthea CSV export, FHIR R4 Bulk NDJSON or Bundles, OMOP CDM tables, or a CSV."""
    from popweave.ingest import importers, run
    from popweave.warehouse import open_workspace_engine

    found = importers()
    name = "mapped_csv" if kind == "csv" else kind
    if name not in found:
        known = ", ".join(sorted("csv" if k == "mapped_csv" else k for k in found))
        raise PopweaveError(f"unknown input format {kind!r}; known: {known}")
    options = {"mapping": mapping} if mapping else {}
    importer = found[name](path, **options)
    ws = Workspace.open(workspace)
    ws.check_writable()
    importer.check()
    total = sum(f.stat().st_size for f in importer.inputs())
    t0 = time.perf_counter()
    with open_workspace_engine(ws) as eng, _progress() as bar:
        task = bar.add_task(f"reading {kind}", total=total)
        result = run(
            importer,
            eng,
            quarantine_dir=ws.quarantine_dir,
            progress=lambda n: bar.update(task, advance=n),
            on_table=lambda t, n: bar.update(task, description=f"loading {t}"),
            force=force,
        )
    if result.report is None:
        console.print(
            f"{path} was loaded before (load {result.skipped_as}); nothing to do. "
            "Use --force to load it again."
        )
        return
    r = result.report
    secs = time.perf_counter() - t0
    t = RichTable(title=f"Ingested {path} in {secs:.1f} s")
    t.add_column("table")
    t.add_column("accepted", justify="right")
    t.add_column("rejected", justify="right")
    for name_ in r.accepted:
        t.add_row(name_, f"{r.accepted[name_]:,}", f"{r.rejected.get(name_, 0):,}")
    console.print(t)
    if r.total_rejected:
        console.print(f"{r.total_rejected:,} records quarantined: see `popweave quarantine`.")


@app.command()
@friendly
def export(
    kind: Annotated[str, typer.Argument(help="Output format: synthea or fhir.")],
    out: Annotated[Path, typer.Argument(help="Folder to write (created if missing).")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Write the warehouse out as Synthea CSV or FHIR R4 Bulk NDJSON."""
    from popweave.export import exporters
    from popweave.warehouse import open_workspace_engine

    found = exporters()
    if kind not in found:
        raise PopweaveError(f"unknown output format {kind!r}; known: {', '.join(sorted(found))}")
    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng, _progress() as bar:
        from popweave.warehouse import counts

        task = bar.add_task(f"writing {kind}", total=sum(counts(eng).values()))
        files = found[kind]().write(
            eng, out, progress=lambda t, n: bar.update(task, advance=n, description=f"writing {t}")
        )
    for f, n in files.items():
        console.print(f"{f}: {n:,} records")


@app.command()
@friendly
def tables(workspace: WorkspaceOpt = DEFAULT_WORKSPACE) -> None:
    """Row counts of every warehouse table."""
    from popweave.warehouse import counts, open_workspace_engine

    ws = Workspace.open(workspace)
    with open_workspace_engine(ws) as eng:
        c = counts(eng)
    t = RichTable(title=f"Warehouse of {ws.root}")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in c.items():
        t.add_row(name, f"{n:,}")
    console.print(t)


@app.command()
@friendly
def quarantine(
    show: Annotated[
        int, typer.Option(help="Also list this many rejected records: file, line, field, reason.")
    ] = 0,
    reason: Annotated[str | None, typer.Option(help="Only records with this reason.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Rejected rows counted by table, field and reason; --show N lists records."""
    import pyarrow.compute as pc

    from popweave.model import quarantine as q

    ws = Workspace.open(workspace)
    s = q.summary(ws.quarantine_dir)
    if reason:
        s = s.filter(pc.equal(s["reason"], reason))
    if s.num_rows == 0:
        console.print("The quarantine is empty." if not reason else f"No records with {reason}.")
        return
    t = RichTable(title="Quarantine")
    for col in ("table", "field", "reason", "count"):
        t.add_column(col, justify="right" if col == "count" else "left")
    for row in s.to_pylist():
        t.add_row(row["table_name"], row["field"], row["reason"], f"{row['count']:,}")
    console.print(t)
    if show > 0:
        recs = q.read(ws.quarantine_dir)
        if reason:
            recs = recs.filter(pc.equal(recs["reason"], reason))
        d = RichTable(title=f"First {min(show, recs.num_rows):,} of {recs.num_rows:,} records")
        for col in ("source", "file", "line", "table", "field", "reason", "value"):
            d.add_column(col, overflow="fold")
        for r in recs.slice(0, show).to_pylist():
            value = (
                r["value"]
                if r["value"] is None or len(r["value"]) < 60
                else r["value"][:57] + "..."
            )
            d.add_row(
                r["source"],
                r["file"] or "",
                "" if r["line"] is None else str(r["line"]),
                r["table_name"],
                r["field"],
                r["reason"],
                value or "",
            )
        console.print(d)


@app.command()
@friendly
def docs(
    out: Annotated[Path, typer.Option(help="Where to write the data-model reference.")] = Path(
        "docs/data-model.md"
    ),
) -> None:
    """Write the data-model reference generated from the table definitions."""
    from popweave.model.docs import data_model_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(data_model_markdown(), encoding="utf-8")
    console.print(f"Wrote {out}")


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=not sys.stderr.isatty(),
    )


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


app.add_typer(cohort_app, name="cohort")
run_app.command("risk")(risk)
run_app.command("hcc")(hcc)
app.add_typer(run_app, name="run")
app.add_typer(equity_app)
app.add_typer(trend_app)
app.add_typer(evaluate_app)
app.add_typer(outreach_app)
app.add_typer(care_app)
app.add_typer(users_app)
app.command("report")(report)
app.command()(serve)
app.command("demo-users")(demo_users)

if __name__ == "__main__":  # pragma: no cover
    app()
