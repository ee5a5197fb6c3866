"""`popweave cohort` and `popweave run measures` end to end on a small synthetic city."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from popweave.cohorts.definition import SHIPPED
from tests.ingest._cli import cli


def ok(res: object) -> str:
    assert getattr(res, "returncode", 1) == 0, (
        getattr(res, "stdout", ""),
        getattr(res, "stderr", ""),
    )
    return str(getattr(res, "stdout", ""))


def one(ws: Path, sql: str) -> int:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return int(con.sql(sql).fetchall()[0][0])


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("analytics")
    ok(cli("init", root / "ws", cwd=root))
    ok(cli("synth", "--people", "3000", "--seed", "5", "-w", root / "ws", cwd=root))
    return root / "ws"


@pytest.mark.parametrize("name", sorted(p.stem for p in SHIPPED.glob("*.yaml")))
def test_every_shipped_cohort_builds(ws: Path, name: str) -> None:
    out = ok(cli("cohort", "build", SHIPPED / f"{name}.yaml", "-w", ws, cwd=ws.parent))
    m = re.search(r"Built cohort (\w+): ([\d,]+) people on (\d{4}-\d\d-\d\d)", out)
    assert m and m.group(1) == name and m.group(3) == "2025-12-31", out
    size = int(m.group(2).replace(",", ""))
    stored = one(ws, f"SELECT count(*) FROM cohort_member WHERE cohort = '{name}'")
    assert stored == size
    if name == "diabetes":
        assert 150 < size < 600  # about 11% of adults in a city of 3,000


def test_show_and_list(ws: Path) -> None:
    ok(cli("cohort", "build", SHIPPED / "diabetes_uncontrolled.yaml", "-w", ws, cwd=ws.parent))
    out = ok(cli("cohort", "show", "diabetes_uncontrolled", "-w", ws, cwd=ws.parent))
    for part in ("Age", "Sex", "Race / ethnicity", "deprivation quintile", "E11"):
        assert part in out, part
    out = ok(cli("cohort", "list", "-w", ws, cwd=ws.parent))
    assert "diabetes_uncontrolled" in out
    res = cli("cohort", "show", "no_such", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "has not been built" in res.stderr


def test_bad_definition_names_file_and_line(ws: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncriteria:\n  - age: {min: 18}\n  - lab: {valueset: hba1c}\n")
    res = cli("cohort", "build", bad, "-w", ws, cwd=tmp_path)
    assert res.returncode == 2
    assert f"{bad}:4:" in res.stderr.replace("\n", "") and "hba1c" in res.stderr


def test_run_measures(ws: Path) -> None:
    out = ok(cli("run", "measures", "--period", "2025", "-w", ws, cwd=ws.parent))
    assert "hba1c_poor_control" in out and "readmission_30d" in out
    assert one(ws, "SELECT count(DISTINCT measure) FROM measure_result WHERE period = '2025'") >= 13
    assert one(ws, "SELECT count(*) FROM care_gap WHERE period = '2025'") > 0
    sql = "SELECT count(DISTINCT stratifier) FROM measure_result WHERE measure = 'controlling_bp'"
    assert one(ws, sql) == 7  # all + 6 stratifiers
    res = cli("run", "measures", "--period", "2025", "--only", "nope", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "unknown measure" in res.stderr
