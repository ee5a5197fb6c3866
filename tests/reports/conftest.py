"""A small synthetic city with measures and risk run, built once for the report tests, and a
bare one with neither."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from popweave.cli import app

PEOPLE, SEED, PERIOD = 3000, 5, "2025"


def cli(*args: str | Path) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, f"{args}: exit {res.exit_code}\n{res.output}\n{res.exception!r}"
    return res.output


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Measures and risk run: every section has its inputs but the coordinator workload."""
    ws = tmp_path_factory.mktemp("report") / "city"
    cli("init", ws)
    cli("synth", "--people", PEOPLE, "--seed", SEED, "--workspace", ws)
    cli("run", "measures", "--period", PERIOD, "--workspace", ws)
    cli("run", "risk", "--workspace", ws)
    return ws


@pytest.fixture(scope="session")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the synthetic city: no measures, no risk, no assignment, no truth.json."""
    ws = tmp_path_factory.mktemp("report") / "bare"
    cli("init", ws)
    cli("synth", "--people", 400, "--seed", SEED, "--workspace", ws)
    (ws / "truth.json").unlink()
    return ws
