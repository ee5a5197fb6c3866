"""A synthetic city for the command-line tests of the risk package, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ingest._cli import cli


@pytest.fixture(scope="session")
def city_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a 6,000-person synthetic city (seed 3); the tests add result tables."""
    root = tmp_path_factory.mktemp("risk-city")
    assert cli("init", root / "ws", cwd=root).returncode == 0
    res = cli("synth", "--people", "6000", "--seed", "3", "-w", root / "ws", cwd=root)
    assert res.returncode == 0, res.stderr
    return root / "ws"
