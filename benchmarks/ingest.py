"""Time `popweave ingest` on Synthea CSV and FHIR R4 Bulk NDJSON of >= 1,000,000 records.

    python benchmarks/ingest.py                    # both formats, a city of 18,000 people
    python benchmarks/ingest.py --people 3000      # smaller (quick)
    python benchmarks/ingest.py --formats fhir

A synthetic city is built and loaded once, exported in each format, then each export is
ingested by the CLI (`python -m popweave.cli ingest FORMAT DIR`) into a fresh workspace in a
child process, measured like the synth benchmark: wall seconds and peak RSS of the process
tree. Records are the input's records (CSV rows, NDJSON resources). Target for FHIR NDJSON:
>= 100,000 resources/s on a 2-core machine. Results are appended to
benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from run import machine, run_measured

from popweave.export import exporters
from popweave.synth import build_city
from popweave.warehouse import load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace

TARGET = {"fhir": 100_000.0}
RESULTS = Path(__file__).parent / "results" / "ingest.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=18_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--formats", default="synthea,fhir")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args(argv)
    console = Console()
    root = Path(tempfile.mkdtemp(prefix="popweave-bench-ingest-", dir=args.tmpdir))
    rows: list[dict[str, Any]] = []
    try:
        src = Workspace.init(root / "source")
        building = console.status(f"building a city of {args.people:,} people")
        with building, rebuilding(src.engine_url, src.root) as eng:
            load(eng, build_city(args.people, args.seed).tables(), source="bench", atomic=False)
        for fmt in args.formats.split(","):
            out = root / f"export-{fmt}"
            with console.status(f"exporting {fmt}"), open_workspace_engine(src) as eng:
                files = exporters()[fmt]().write(eng, out)
            os.sync()  # measure the ingest of files at rest, not the export's write-back
            records = sum(files.values())
            size = sum(f.stat().st_size for f in files)
            dest = root / f"dest-{fmt}"
            Workspace.init(dest)
            cmd = [sys.executable, "-m", "popweave.cli", "ingest", fmt, str(out),
                   "--workspace", str(dest)]  # fmt: skip
            with console.status(f"ingesting {records:,} {fmt} records"):
                code, secs, peak = run_measured(cmd, root / f"{fmt}.log", env=dict(os.environ))
            if code != 0:
                console.print((root / f"{fmt}.log").read_text()[-2000:])
                return 1
            rate = records / secs
            target = TARGET.get(fmt)
            rows.append({
                "format": fmt, "records": records, "megabytes": round(size / 1e6, 1),
                "seconds": round(secs, 1), "records_per_s": round(rate),
                "peak_rss_gb": round(peak / 1e9, 2),
                "target_records_per_s": target,
                "verdict": None if target is None else ("PASS" if rate >= target else "MISS"),
            })  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    t = Table(title="popweave ingest")
    for col in ("format", "records", "MB", "seconds", "records/s", "peak RSS GB", "vs target"):
        t.add_column(col, justify="left" if col == "format" else "right")
    for r in rows:
        vs = (
            "—"
            if r["verdict"] is None
            else (f"{r['records_per_s'] / r['target_records_per_s']:.2f}× {r['verdict']}")
        )
        t.add_row(r["format"], f"{r['records']:,}", f"{r['megabytes']:,.0f}", f"{r['seconds']:.1f}",
                  f"{r['records_per_s']:,}", f"{r['peak_rss_gb']:.2f}", vs)  # fmt: skip
    console.print(t)
    console.print("target: FHIR NDJSON >= 100,000 resources/s on this machine")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                   "machine": machine(), "people": args.people,
                                   "runs": rows}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
