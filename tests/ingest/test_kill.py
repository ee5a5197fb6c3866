"""An ingest killed with SIGKILL in the middle of its load leaves the warehouse as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from popweave.export import exporters
from popweave.model import quarantine
from popweave.synth import build_city
from popweave.warehouse import counts, load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace


def _state(ws: Workspace) -> tuple[dict[str, int], list[str], list[str]]:
    with open_workspace_engine(ws) as eng:
        c = counts(eng)
        log = sorted(set(eng.read("load_log", ["load_id"]).column(0).to_pylist()))
    visible = sorted(p.name for p in ws.quarantine_dir.iterdir() if not p.name.startswith("."))
    return c, log, visible


@pytest.mark.parametrize("fmt", ["synthea", "fhir"])
def test_killed_ingest_leaves_the_warehouse_as_it_was(tmp_path: Path, fmt: str) -> None:
    # Source data: a city exported in the format under test.
    src = Workspace.init(tmp_path / "src")
    with rebuilding(src.engine_url, src.root) as eng:
        load(eng, build_city(8_000, 5).tables(), source="city", atomic=False)
    out = tmp_path / "export"
    with open_workspace_engine(src) as eng:
        exporters()[fmt]().write(eng, out)
    # The target already holds an earlier load, with a rejected row in its quarantine.
    ws = Workspace.init(tmp_path / "ws")
    with open_workspace_engine(ws) as eng:
        small = dict(build_city(50, 9).tables())
        small["area"] = pa.concat_tables(
            [small["area"].cast(pa.schema([(f.name, pa.string()) for f in small["area"].schema])),
             small["area"].slice(0, 1).cast(
                 pa.schema([(f.name, pa.string()) for f in small["area"].schema]))]
        )  # fmt: skip
        load(eng, small, source="earlier", quarantine_dir=ws.quarantine_dir)
    before = _state(ws)
    db = ws.root / "warehouse.duckdb"
    size0 = db.stat().st_size
    cmd = [sys.executable, "-m", "popweave.cli", "ingest", fmt, str(out), "--workspace",
           str(ws.root)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # Rows are being written once the database file grows.
        while proc.poll() is None and time.monotonic() < deadline:
            if db.stat().st_size > size0 + 4_000_000:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the ingest ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _state(ws) == before
    # The next run loads everything, and settles what the killed run left behind.
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = _state(ws)
    # Both cities number people P1, P2, ...: the 50 earlier ones are duplicates, rejected.
    assert before[0]["person"] == 50
    assert after[0]["person"] == 8_000
    assert len(after[1]) == len(before[1]) + 1
    reasons = quarantine.read(ws.quarantine_dir).column("reason").to_pylist()
    assert reasons.count("duplicate_id") >= 50 + 1  # the area repeated earlier, and people
