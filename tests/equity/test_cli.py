"""`popweave equity`, `popweave trend` and `popweave evaluate` end to end on a small city."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.ingest._cli import cli


def ok(res: object) -> str:
    assert getattr(res, "returncode", 1) == 0, (
        getattr(res, "stdout", ""),
        getattr(res, "stderr", ""),
    )
    return str(getattr(res, "stdout", ""))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("equity_cli")
    ok(cli("init", root / "ws", cwd=root))
    ok(cli("synth", "--people", "3000", "--seed", "5", "-w", root / "ws", cwd=root))
    return root / "ws"


def test_equity_command(ws: Path, tmp_path: Path) -> None:
    out = ok(
        cli("equity", "ed_visits_per_1000", "--period", "2025", "--by", "deprivation_quintile",
            "--reference", "1", "--csv", tmp_path / "eq.csv", "-w", ws, cwd=ws.parent)
    )  # fmt: skip
    assert "(ref)" in out and "equity_result" in out
    assert (tmp_path / "eq.csv").read_text().startswith("measure,period,stratifier,group")
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        n = con.sql("SELECT count(*) FROM equity_result WHERE measure = 'ed_visits_per_1000'")
        assert n.fetchall()[0][0] >= 5
    res = cli("equity", "ed_visits_per_1000", "--by", "shoe_size", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "cannot stratify by shoe_size" in res.stderr


def test_trend_command(ws: Path, tmp_path: Path) -> None:
    out = ok(
        cli("trend", "readmission_30d", "--by", "year", "--csv", tmp_path / "t.csv",
            "-w", ws, cwd=ws.parent)
    )  # fmt: skip
    assert "2024" in out and "(partial)" in out
    assert "special_cause" in (tmp_path / "t.csv").read_text().splitlines()[0]
    res = cli("trend", "readmission_30d", "--by", "week", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "month, quarter, year" in res.stderr


def test_evaluate_command(ws: Path) -> None:
    import json

    pilot = json.loads((ws / "truth.json").read_text())["pilot"]
    out = ok(
        cli("evaluate", "--area", pilot["area_id"], "--start", pilot["start_date"],
            "--outcome", "readmission_30d", "--comparison", "all", "-w", ws, cwd=ws.parent)
    )  # fmt: skip
    assert "difference-in-differences" in out and "before the start" in out
    res = cli("evaluate", "--start", "2024-07-01", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "--area AREA or --cohort NAME" in res.stderr
