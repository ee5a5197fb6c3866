"""Rebuilding the warehouse with a new city is all-or-nothing, even when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from popweave.errors import LoadError
from popweave.synth import build_city
from popweave.warehouse import counts, load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace


def _state(ws: Workspace) -> tuple[dict[str, int], list[str]]:
    with open_workspace_engine(ws) as eng:
        c = counts(eng)
        ids = sorted(eng.read("person", ["person_id"]).column(0).to_pylist())
    return c, ids


def _stray(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.root.iterdir() if "staging" in p.name or p.suffix == ".tmp")


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, build_city(300, 1).tables(), source="first", atomic=False)
    return ws


def _failing(tables: Iterator[tuple[str, pa.Table]], after: int) -> Iterator[tuple[str, pa.Table]]:
    for i, item in enumerate(tables):
        if i == after:
            raise RuntimeError("disk on fire")
        yield item


@pytest.mark.parametrize("after", [1, 6, 10])
def test_a_rebuild_that_fails_leaves_the_old_warehouse(ws: Workspace, after: int) -> None:
    before = _state(ws)
    with pytest.raises(LoadError, match="disk on fire"), rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, _failing(build_city(500, 2).tables(), after), source="second", atomic=False)
    assert _state(ws) == before
    assert _stray(ws) == []


def test_an_interrupted_rebuild_leaves_the_old_warehouse(ws: Workspace) -> None:
    before = _state(ws)

    def interrupted() -> Iterator[tuple[str, pa.Table]]:
        yield from list(build_city(500, 2).tables())[:5]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, interrupted(), source="second", atomic=False)
    assert _state(ws) == before
    assert _stray(ws) == []


def test_a_killed_synth_leaves_the_old_warehouse(ws: Workspace) -> None:
    before = _state(ws)
    staging = ws.root / "warehouse.duckdb.staging"
    cmd = [sys.executable, "-m", "popweave.cli", "synth", "--people", "150000", "--seed", "3",
           "--replace", "--workspace", str(ws.root)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not staging.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "synth ended before it could be killed"
        time.sleep(1.0)  # well into the load
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _state(ws) == before
    # The next rebuild clears what the killed one left behind and succeeds.
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, build_city(200, 4).tables(), source="third", atomic=False)
    assert _state(ws)[0]["person"] == 200
    assert _stray(ws) == []
