"""The `popweave` command line, run for real on a small city.

Success: `init` makes a workspace, `synth` fills every canonical table, `tables` shows the
counts, `--replace` rebuilds. Failure: every user mistake exits non-zero with exactly one line
on stderr (no traceback) and leaves the workspace, its warehouse and the folder around it
exactly as they were.

Most runs are subprocesses (`python -m popweave.cli`) so stdout and stderr are seen apart, as
a user sees them; a few use Typer's CliRunner in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from popweave.cli import app
from popweave.model import ALL_TABLES, CANONICAL

PEOPLE = 2_000
SEED = 7
CLI = [sys.executable, "-m", "popweave.cli"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --- helpers ----------------------------------------------------------------------------------


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POPWEAVE_WORKSPACE"}
    env["COLUMNS"] = "200"  # no wrapped lines in tables or messages
    return subprocess.run(
        [*CLI, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, (
        f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    )
    assert "Traceback" not in res.stdout + res.stderr
    return res


def assert_clean_failure(res: subprocess.CompletedProcess[str], mentions: str) -> None:
    """Non-zero exit, nothing on stdout, one `error: …` line on stderr naming the problem."""
    shown = f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert res.returncode != 0, shown
    assert "Traceback" not in res.stdout + res.stderr, shown
    assert res.stdout.strip() == "", shown
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    assert lines[0].startswith("error: "), shown
    assert mentions in lines[0], shown


def row_counts(ws: Path) -> dict[str, int]:
    """Rows per warehouse table, read through a read-only DuckDB connection."""
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        counts = {}
        for t in ALL_TABLES:
            row = con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()
            counts[t.name] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: relative path -> content hash (or 'dir')."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def parse_tables(stdout: str) -> dict[str, int]:
    """The `popweave tables` output as {table: rows}."""
    found = {}
    for line in stdout.splitlines():
        m = re.match(r"^\W*(\w+)\s*\W+\s*([\d,]+)\s*\W*$", line)
        if m:
            found[m.group(1)] = int(m.group(2).replace(",", ""))
    return found


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding a city of PEOPLE people (built once; use `city` to change it)."""
    root = tmp_path_factory.mktemp("built")
    ws = root / "ws"
    ok(run_cli("init", ws, cwd=root))
    ok(run_cli("synth", "--people", PEOPLE, "--seed", SEED, "--workspace", ws, cwd=root))
    return ws


@pytest.fixture
def city(built: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the built workspace, alone in its own folder."""
    parent = tmp_path / "here"
    parent.mkdir()
    ws = parent / "city"
    shutil.copytree(built, ws)
    yield ws
    for p in (ws, *ws.rglob("*")):  # undo any chmod so the folder can be removed
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)


# --- success ----------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0, res.output
    for command in ("init", "synth", "tables", "quarantine", "docs"):
        assert command in res.output


def test_init_creates_an_empty_workspace(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    res = runner.invoke(app, ["init", str(ws)])
    assert res.exit_code == 0, res.output
    assert "Created workspace" in res.output
    assert (ws / "popweave.toml").is_file()
    assert (ws / "quarantine").is_dir()
    assert (ws / "reports").is_dir()
    assert (ws / "warehouse.duckdb").is_file()
    assert entries(tmp_path) == ["ws"]  # no staging folder left beside it
    assert set(row_counts(ws).values()) == {0}

    res = runner.invoke(app, ["tables", "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    shown = parse_tables(res.output)
    for t in CANONICAL:
        assert shown[t.name] == 0


def test_synth_fills_every_canonical_table(built: Path) -> None:
    shown = parse_tables(ok(run_cli("tables", "--workspace", built, cwd=built.parent)).stdout)
    counts = row_counts(built)
    for t in CANONICAL:
        assert shown.get(t.name, 0) > 0, f"{t.name} is empty or missing in:\n{shown}"
        assert shown[t.name] == counts[t.name]
    assert counts["person"] == PEOPLE

    truth = json.loads((built / "truth.json").read_text(encoding="utf-8"))
    assert truth["people"] == PEOPLE
    assert truth["seed"] == SEED

    ok(run_cli("quarantine", "--workspace", built, cwd=built.parent))
    assert entries(built.parent) == ["ws"]
    assert not [n for n in tree(built) if n.endswith((".tmp", ".staging", ".wal"))]


def test_synth_replace_rebuilds_the_city(city: Path) -> None:
    ok(run_cli("synth", "--people", 500, "--seed", 3, "--replace", "--workspace", city, cwd=city))
    assert row_counts(city)["person"] == 500
    assert json.loads((city / "truth.json").read_text(encoding="utf-8"))["people"] == 500
    assert entries(city.parent) == ["city"]
    assert not [n for n in tree(city) if n.endswith((".tmp", ".staging", ".wal"))]


# --- mistakes: one line, no traceback, nothing changed ----------------------------------------


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["synth", "--people", "-5"], "--people"),
        (["synth", "--people", "0"], "--people"),
        (["synth", "--people", "500"], "--replace"),  # synth twice without --replace
        (["init"], "already present"),
    ],
    ids=["people-negative", "people-zero", "synth-twice", "init-existing"],
)
def test_mistake_on_a_built_workspace_changes_nothing(
    city: Path, args: list[str], mentions: str
) -> None:
    counts, files, around = row_counts(city), tree(city), entries(city.parent)
    cmd = [*args, city] if args == ["init"] else [*args, "--workspace", city]
    assert_clean_failure(run_cli(*cmd, cwd=city.parent), mentions)
    assert row_counts(city) == counts
    assert tree(city) == files
    assert entries(city.parent) == around


@pytest.mark.parametrize("command", ["synth", "tables", "quarantine"])
def test_missing_workspace(tmp_path: Path, command: str) -> None:
    args = ["synth", "--people", "100"] if command == "synth" else [command]
    res = run_cli(*args, "--workspace", tmp_path / "nowhere", cwd=tmp_path)
    assert_clean_failure(res, "no workspace")
    assert entries(tmp_path) == []


def test_missing_workspace_by_default(tmp_path: Path) -> None:
    """With no --workspace, ./popweave-data is meant, and its absence is explained."""
    assert_clean_failure(run_cli("tables", cwd=tmp_path), "popweave-data")
    assert entries(tmp_path) == []


def test_init_where_the_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("keep me")
    assert_clean_failure(run_cli("init", tmp_path / "afile" / "ws", cwd=tmp_path), "afile")
    assert_clean_failure(
        run_cli("synth", "--workspace", tmp_path / "afile" / "ws", cwd=tmp_path), "afile"
    )
    assert entries(tmp_path) == ["afile"]
    assert (tmp_path / "afile").read_text() == "keep me"


def test_init_with_an_unwritable_warehouse_leaves_no_workspace(tmp_path: Path) -> None:
    """The warehouse cannot be created (its folder is a regular file): no workspace appears."""
    (tmp_path / "afile").write_text("keep me")
    url = f"duckdb:///{tmp_path / 'afile' / 'w.duckdb'}"
    res = run_cli("init", tmp_path / "ws", "--engine", url, cwd=tmp_path)
    assert_clean_failure(res, "w.duckdb")
    assert entries(tmp_path) == ["afile"]


def test_synth_into_an_unwritable_warehouse_changes_nothing(city: Path) -> None:
    """Emulated for root too: the workspace's engine URL points under a regular file."""
    blocker = city.parent / "afile"
    blocker.write_text("keep me")
    cfg = city / "popweave.toml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace(
            'url = "duckdb:///warehouse.duckdb"', f'url = "duckdb:///{blocker / "w.duckdb"}"'
        ),
        encoding="utf-8",
    )
    counts, files, around = row_counts(city), tree(city), entries(city.parent)
    res = run_cli("synth", "--people", 300, "--replace", "--workspace", city, cwd=city.parent)
    assert_clean_failure(res, "w.duckdb")
    assert row_counts(city) == counts
    assert tree(city) == files
    assert entries(city.parent) == around
    assert blocker.read_text() == "keep me"


@pytest.mark.skipif(IS_ROOT, reason="root writes through read-only permissions")
def test_synth_into_a_read_only_workspace_changes_nothing(city: Path) -> None:
    counts, files = row_counts(city), tree(city)
    city.chmod(0o555)
    res = run_cli("synth", "--people", 300, "--replace", "--workspace", city, cwd=city.parent)
    assert_clean_failure(res, "not writable")
    city.chmod(0o755)
    assert row_counts(city) == counts
    assert tree(city) == files
    assert entries(city.parent) == ["city"]


@pytest.mark.skipif(IS_ROOT, reason="root writes through read-only permissions")
def test_init_in_a_read_only_folder(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert_clean_failure(run_cli("init", parent / "ws", cwd=tmp_path), "not writable")
        assert entries(parent) == []
    finally:
        parent.chmod(0o755)


def test_mistake_in_process_exits_2_without_traceback(built: Path) -> None:
    """The same guard holds when the app runs in-process (CliRunner), not only as a program."""
    counts = row_counts(built)
    res = CliRunner().invoke(app, ["synth", "--people", "-5", "--workspace", str(built)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    assert "--people must be a positive whole number" in res.output
    assert row_counts(built) == counts
