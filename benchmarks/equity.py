"""Benchmark: a 20-stratum equity table over a city of 1,000,000 people.

Times ``popweave.equity.table`` for 30-day readmission in 2025 by deprivation quintile,
race/ethnicity, age band, sex and payer (about 20 groups: crude and standardised rates,
ratios and differences against each largest group, q-values, suppression) on the workspace
given (default ``/tmp/ws1m``; build one with ``popweave synth --people 1000000``). Prints the
seconds and checks the target (under 10 s). Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 10.0
BY = ["deprivation_quintile", "race_ethnicity", "age_band", "sex", "payer"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workspace", default="/tmp/ws1m")
    ap.add_argument("--measure", default="readmission_30d")
    ap.add_argument("--period", default="2025")
    ap.add_argument("--people", type=int, default=1_000_000, help="city size if it is built")
    args = ap.parse_args(argv)
    tmp: Path | None = None
    ws_path = Path(args.workspace)
    if not (ws_path / "popweave.toml").exists():
        # No city there: build one in a temporary workspace (removed afterwards).
        tmp = Path(tempfile.mkdtemp(prefix="popweave-bench-equity-"))
        ws_path = tmp / "ws"
        cli = [sys.executable, "-m", "popweave.cli"]
        print(f"no workspace at {args.workspace}: building {args.people:,} people in {ws_path}")
        subprocess.run([*cli, "init", str(ws_path)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*cli, "synth", "-w", str(ws_path), "--people", str(args.people), "--seed", "1"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    try:
        return _run(ws_path, args.measure, args.period)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(ws_path: Path, measure: str, period: str) -> int:

    from popweave import equity
    from popweave.warehouse import open_workspace_engine
    from popweave.workspace import Workspace

    ws = Workspace.open(ws_path)
    with open_workspace_engine(ws) as eng:
        people = int(eng.table("person").count().execute())
        t0 = time.perf_counter()
        res = equity.table(eng, measure, period, BY)
        secs = time.perf_counter() - t0
    rows = res.rows
    strata = len(rows)
    units = int(rows.groupby("stratifier")["units"].sum().max())
    ok = secs < TARGET_S
    print(
        f"equity {measure} {period} by {', '.join(BY)}: {strata} strata, "
        f"{units:,} units, {people:,} people: {secs:.2f} s "
        f"(target < {TARGET_S:.0f} s: {'ok' if ok else 'MISSED'})"
    )
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "equity.json").write_text(
        json.dumps(
            {"people": people, "strata": strata, "units": units, "seconds": secs, "ok": ok},
            indent=2,
        )
    )
    return 0 if ok or people < 1_000_000 else 1


if __name__ == "__main__":
    sys.exit(main())
