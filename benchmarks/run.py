"""Time `popweave synth` on cities of 100,000 and 1,000,000 people: seconds, rows, peak memory.

    python benchmarks/run.py                      # 100,000 and 1,000,000 people
    python benchmarks/run.py --quick              # 100,000 only
    python benchmarks/run.py --sizes 50000,200000

Each size runs in a fresh temporary workspace (deleted afterwards): `popweave init`, then
`popweave synth --people N --seed 1`, each as a child process of this Python
(`python -m popweave.cli`). The synth step is measured:

- seconds: wall-clock time of the synth process, start to exit;
- peak RSS: the largest sum of resident memory over the synth process and its descendants,
  sampled every 0.2 s with psutil, and never below the kernel's own peak for the process
  (`ru_maxrss` from wait4), which catches a spike between two samples;
- rows: rows in the canonical warehouse tables afterwards, counted through a read-only DuckDB
  connection.

The target is 1,000,000 people in under 180 s and under 8 GB (GB = 10^9 bytes) of peak RSS.
Results are printed as a table and written as JSON to benchmarks/results/latest.json.
Exit code: 0, or 1 if a run failed; with --check also 3 if a target was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (100_000, 1_000_000)
TARGET_PEOPLE = 1_000_000
TARGET_SECONDS = 180.0
TARGET_GB = 8.0
GB = 1e9
SAMPLE_SECONDS = 0.2


@dataclass
class Run:
    """One benchmarked size."""

    people: int
    seed: int
    ok: bool = False
    seconds: float | None = None
    peak_rss_bytes: int | None = None
    rows: int | None = None
    rows_by_table: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def people_per_s(self) -> float | None:
        return self.people / self.seconds if self.ok and self.seconds else None

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.ok and self.seconds and self.rows else None

    @property
    def peak_rss_gb(self) -> float | None:
        return None if self.peak_rss_bytes is None else self.peak_rss_bytes / GB

    def verdict(self) -> dict[str, Any] | None:
        """Seconds and memory against the targets, for the target size only."""
        if self.people != TARGET_PEOPLE or not self.ok:
            return None
        assert self.seconds is not None and self.peak_rss_gb is not None
        time_ratio = self.seconds / TARGET_SECONDS
        rss_ratio = self.peak_rss_gb / TARGET_GB
        return {
            "seconds_target": TARGET_SECONDS,
            "seconds_ratio": round(time_ratio, 3),
            "seconds": "PASS" if time_ratio < 1 else "MISS",
            "rss_gb_target": TARGET_GB,
            "rss_ratio": round(rss_ratio, 3),
            "rss": "PASS" if rss_ratio < 1 else "MISS",
        }

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            people_per_s=_round(self.people_per_s),
            rows_per_s=_round(self.rows_per_s),
            peak_rss_gb=_round(self.peak_rss_gb, 3),
            seconds=_round(self.seconds, 2),
            target=self.verdict(),
        )
        return out


def _round(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


# --- measuring a child process ------------------------------------------------------------


def _tree_rss(proc: Any) -> int:
    """Resident bytes of ``proc`` (a psutil.Process) and all its descendants."""
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_measured(cmd: list[str], log_path: Path, env: dict[str, str]) -> tuple[int, float, int]:
    """Run ``cmd`` with its output in ``log_path``: (exit code, wall seconds, peak RSS bytes)."""
    try:
        import psutil
    except ImportError:
        psutil = None
        print("psutil is not installed: peak RSS is the kernel's figure for the synth process only")

    peak = 0
    done = threading.Event()
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

        def sample() -> None:
            nonlocal peak
            try:
                proc = psutil.Process(child.pid)
            except psutil.Error:
                return
            while not done.is_set():
                peak = max(peak, _tree_rss(proc))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True) if psutil else None
        if sampler:
            sampler.start()
        try:
            # wait4 reaps the child and gives its rusage; the sampler never outlives it.
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:
            child.kill()
            child.wait()
            raise
        finally:
            done.set()
        seconds = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.join()
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    kernel_peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return child.returncode, seconds, max(peak, kernel_peak)


def count_rows(workspace: Path) -> dict[str, int]:
    """Rows per canonical table, read-only."""
    import duckdb

    from popweave.model import CANONICAL

    con = duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True)
    try:
        counts = {}
        for t in CANONICAL:
            row = con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()
            counts[t.name] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def bench_one(people: int, seed: int, tmp_root: str | None) -> Run:
    """init + synth in a fresh temporary workspace, measured; the workspace is deleted."""
    run = Run(people=people, seed=seed)
    env = {k: v for k, v in os.environ.items() if k != "POPWEAVE_WORKSPACE"}
    cli = [sys.executable, "-m", "popweave.cli"]
    tmp = Path(tempfile.mkdtemp(prefix=f"popweave-bench-{people}-", dir=tmp_root))
    try:
        ws = tmp / "ws"
        init = subprocess.run(
            [*cli, "init", str(ws)], env=env, capture_output=True, text=True, check=False
        )
        if init.returncode != 0:
            run.error = f"popweave init failed ({init.returncode}): {init.stderr.strip()}"
            return run
        log = tmp / "synth.log"
        cmd = [*cli, "synth", "--people", str(people), "--seed", str(seed), "--workspace", str(ws)]
        print(f"synth --people {people:,} --seed {seed} …", flush=True)
        code, run.seconds, run.peak_rss_bytes = run_measured(cmd, log, env)
        if code != 0:
            run.error = f"popweave synth exited {code}:\n{_tail(log)}"
            return run
        run.rows_by_table = count_rows(ws)
        run.rows = sum(run.rows_by_table.values())
        run.ok = True
        return run
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- reporting ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / GB, 1)
    except ImportError:
        pass
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        info["commit"] = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return info


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def print_table(runs: list[Run], info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title="popweave synth",
        caption=f"target: {TARGET_PEOPLE:,} people in < {TARGET_SECONDS:.0f} s "
        f"and < {TARGET_GB:.0f} GB peak RSS (GB = 10^9 bytes)",
    )
    for col in ("people", "seconds", "people/s", "rows", "rows/s", "peak RSS GB"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column(f"time vs {TARGET_SECONDS:.0f} s", no_wrap=True)
    t.add_column(f"RSS vs {TARGET_GB:.0f} GB", no_wrap=True)
    for r in runs:
        v = r.verdict()
        if not r.ok:
            time_v, rss_v = "[red]run failed[/]", ""
        elif v is None:
            time_v = rss_v = "—"
        else:
            time_v = f"{v['seconds_ratio']:.2f}× {_mark(v['seconds'])}"
            rss_v = f"{v['rss_ratio']:.2f}× {_mark(v['rss'])}"
        t.add_row(
            f"{r.people:,}",
            _fmt(r.seconds, ".1f"),
            _fmt(r.people_per_s, ",.0f"),
            _fmt(r.rows, ","),
            _fmt(r.rows_per_s, ",.0f"),
            _fmt(r.peak_rss_gb, ".2f"),
            time_v,
            rss_v,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # a log file: room for every column
    console.print(t)
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), highlight=False)


def _mark(verdict: str) -> str:
    return f"[green]{verdict}[/]" if verdict == "PASS" else f"[red]{verdict}[/]"


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "").strip()) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes whole numbers separated by commas, got {text!r}"
        ) from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"--sizes takes positive numbers, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="people per city, comma-separated (default 100000,1000000)",
    )
    ap.add_argument("--quick", action="store_true", help="100,000 people only")
    ap.add_argument("--seed", type=int, default=1, help="synth seed (default 1)")
    ap.add_argument("--tmpdir", default=None, help="where the temporary workspaces go")
    ap.add_argument(
        "--out", type=Path, default=HERE / "results" / "latest.json", help="JSON results file"
    )
    ap.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    args = ap.parse_args(argv)
    sizes = [100_000] if args.quick else args.sizes

    if importlib.util.find_spec("popweave") is None:
        print(
            f"error: popweave is not installed for {sys.executable}; run `make bench`, "
            "or `pip install -e .` first",
            file=sys.stderr,
        )
        return 1

    info = machine()
    runs = []
    for n in sizes:
        r = bench_one(n, args.seed, args.tmpdir)
        if r.error:
            print(f"error: {n:,} people: {r.error}", file=sys.stderr)
        runs.append(r)

    print_table(runs, info)
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "peak_rss_method": "psutil tree sample every 0.2 s, at least wait4 ru_maxrss",
        "runs": [r.as_json() for r in runs],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    print(f"Wrote {args.out}")

    if any(not r.ok for r in runs):
        return 1
    missed = any(
        v is not None and "MISS" in (v["seconds"], v["rss"]) for v in (r.verdict() for r in runs)
    )
    return 3 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
