"""One small synthetic workspace for the API and page tests, built once per session
(3,000 people, measures for 2025, risk, a cohort, the worklist, transitions of care) and
copied for each test module that changes it; the demo users give one login per role."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from popweave.api.demo import password_of, seed_demo
from popweave.cli import app

LIBRARY = Path(__file__).parents[2] / "popweave" / "cohorts" / "library"
COHORT = "diabetes_uncontrolled"


@dataclass(frozen=True)
class World:
    """A workspace with demo users: ``panel`` is the care manager's, ``other`` a patient
    on nobody's panel of the care manager."""

    root: Path
    panel: tuple[str, ...]
    chw_panel: tuple[str, ...]

    @staticmethod
    def login(name: str) -> tuple[str, str]:
        return name, password_of(name)


def _base(factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp() / "popweave-web-base"
    done = base / ".built"
    if done.is_file():
        return base
    shutil.rmtree(base, ignore_errors=True)
    runner = CliRunner()
    ws = str(base)
    for args in (
        ["init", ws],
        ["synth", "--people", "3000", "--seed", "7", "-w", ws],
        ["run", "measures", "--period", "2025", "-w", ws],
        ["run", "risk", "-w", ws],
        ["cohort", "build", str(LIBRARY / f"{COHORT}.yaml"), "-w", ws],
        ["worklist", "--top", "1", "-w", ws],
        ["care", "transitions", "--all", "-w", ws],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, f"popweave {' '.join(args)}: {res.output}"
    done.write_text("ok")
    return base


def make_world(factory: pytest.TempPathFactory, name: str) -> World:
    """A fresh copy of the session's workspace with the demo users seeded."""
    root = factory.mktemp(name) / "ws"
    shutil.copytree(_base(factory), root)
    logins = {d.username: d for d in seed_demo(root, panel_size=10)}
    return World(root, logins["cm"].panel, logins["chw"].panel)
