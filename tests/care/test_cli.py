"""`popweave care` and `popweave users` on a workspace (SQLite care store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from popweave.cli import app
from popweave.workspace import Workspace
from tests.cohorts.pop import Pop

runner = CliRunner()


def _run(*args: object, input: str | None = None) -> str:
    res = runner.invoke(app, [str(a) for a in args], input=input)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Workspace.init(root, engine_url="duckdb:///w.duckdb", care_store=True)
    p = Pop()
    p.person("P1")
    p.add(
        "encounter",
        encounter_id="E1",
        person_id="P1",
        encounter_class="inpatient",
        start_time="2025-03-01T08:00:00",
        end_time="2025-03-06T12:00:00",
        discharge_disposition="01",
    )
    p.load(root).close()
    return root


def test_init_creates_the_care_store(tmp_path: Path) -> None:
    _run("init", tmp_path / "w")
    assert (tmp_path / "w" / "care.sqlite").is_file()
    assert "up to date" in _run("care", "upgrade", "--workspace", tmp_path / "w")


def test_users_add_and_list(ws: Path) -> None:
    out = _run(
        "users",
        "add",
        "ana",
        "--role",
        "care-manager",
        "--password-stdin",
        "--workspace",
        ws,
        input="a long passphrase\n",
    )
    assert "Added ana (care_manager)" in out
    assert "a long passphrase" not in out
    listed = _run("users", "list", "--workspace", ws)
    assert "ana" in listed and "care_manager" in listed
    res = runner.invoke(
        app, ["users", "add", "bo", "--role", "admin", "--workspace", str(ws)], input="short\n"
    )
    assert res.exit_code == 2 and "at least 10" in res.output
    res = runner.invoke(app, ["users", "add", "cy", "--role", "boss", "--workspace", str(ws)])
    assert res.exit_code == 2 and "unknown role 'boss'" in res.output


def test_transitions_then_overdue_tasks(ws: Path) -> None:
    out = _run("care", "transitions", "--workspace", ws)
    assert "1 discharges" in out and "1 call, 1 medication reconciliation" in out
    again = _run("care", "transitions", "--workspace", ws)
    assert "created no tasks; 2 were already there" in again
    late = _run("care", "tasks", "--overdue", "--today", "2025-03-12", "--workspace", ws)
    assert "Overdue tasks: 1 " in late and "2025-03-10" in late and "medicat" not in late
    assert "No overdue tasks" in _run(
        "care", "tasks", "--overdue", "--today", "2025-03-01", "--workspace", ws
    )
    assert "Open tasks: 2 " in _run("care", "tasks", "--workspace", ws)


def test_extra_holidays_from_the_settings(ws: Path) -> None:
    cfg = ws / "popweave.toml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8") + 'extra_holidays = ["2025-03-07"]\n', encoding="utf-8"
    )
    _run("care", "transitions", "--workspace", ws)
    assert "2025-03-11" in _run("care", "tasks", "--workspace", ws)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("2025-03-07", "7 March"))
    res = runner.invoke(app, ["care", "transitions", "--workspace", str(ws)])
    assert res.exit_code == 2 and "extra_holidays" in res.output
