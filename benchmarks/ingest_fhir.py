"""Benchmark of `popweave ingest fhir` on Bulk NDJSON: a synthetic city exported as FHIR
(>= 1,000,000 resources), then ingested by the CLI into a fresh workspace in a child process;
prints resources per second and the child's peak RSS.

    .venv/bin/python benchmarks/ingest_fhir.py [--people 20000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from popweave.export.fhir import FhirExporter
from popweave.synth import build_city
from popweave.warehouse import load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="popweave-bench-fhir-"))
    root.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    src = Workspace.init(root / "source")
    with rebuilding(src.engine_url, src.root) as eng:
        load(eng, build_city(args.people, args.seed).tables(), source="benchmark city")
    t1 = time.perf_counter()
    out = root / "fhir"
    with open_workspace_engine(src) as eng:
        files = FhirExporter().write(eng, out)
    t2 = time.perf_counter()
    resources = sum(files.values())
    size = sum(f.stat().st_size for f in files)
    print(f"city of {args.people:,} people built and loaded in {t1 - t0:.1f} s")
    print(
        f"exported {resources:,} resources ({size / 1e6:,.0f} MB) in {t2 - t1:.1f} s "
        f"({resources / (t2 - t1):,.0f} resources/s)"
    )
    for f, n in sorted(files.items()):
        print(f"  {f.name}: {n:,}")

    dest = root / "dest"
    subprocess.run(
        [sys.executable, "-m", "popweave.cli", "init", str(dest)], check=True, capture_output=True
    )
    t3 = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "popweave.cli",
            "ingest",
            "fhir",
            str(out),
            "--workspace",
            str(dest),
        ],
        capture_output=True,
        text=True,
    )
    t4 = time.perf_counter()
    if done.returncode != 0:
        print(done.stdout, done.stderr)
        raise SystemExit(done.returncode)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    secs = t4 - t3
    print(done.stdout)
    print(
        f"popweave ingest fhir: {resources:,} resources in {secs:.1f} s = "
        f"{resources / secs:,.0f} resources/s ({size / 1e6 / secs:,.0f} MB/s); "
        f"peak RSS {peak_mb:,.0f} MB"
    )
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
