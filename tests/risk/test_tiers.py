"""Risk tiers from two index dates, and `popweave run risk` end to end."""

from __future__ import annotations

import doctest
from pathlib import Path

import duckdb
import ibis
import pytest

from popweave.risk import tiers
from popweave.risk.tiers import TierRules, assign_tiers
from tests.ingest._cli import cli


def test_docstring_example_runs() -> None:
    assert doctest.testmod(tiers).failed == 0


def _scores(values: list[float]) -> ibis.Table:
    return ibis.memtable({"person_id": [f"P{i:03d}" for i in range(len(values))], "score": values})


def test_thresholds_are_percentiles_and_configurable() -> None:
    now = _scores([i / 100 for i in range(100)])
    t = assign_tiers(now).execute().set_index("person_id")
    assert t.tier.value_counts().to_dict() == {"low": 75, "moderate": 20, "high": 5}
    t = assign_tiers(now, rules=TierRules(high=0.9, moderate=0.5)).execute()
    assert t.tier.value_counts().to_dict() == {"low": 50, "moderate": 40, "high": 10}


def test_rising_needs_a_gain_a_floor_and_a_previous_score() -> None:
    now = _scores([i / 100 for i in range(100)])
    # P060 and P040 jumped from the bottom; P080 held its place; P010 jumped but stays low.
    prev_values = [i / 100 for i in range(100)]
    prev_values[60], prev_values[40], prev_values[10] = -1.0, -1.0, -2.0
    prev = _scores(prev_values).filter(lambda t: t.person_id != "P070")
    t = assign_tiers(now, prev).execute().set_index("person_id")
    assert t.loc["P060", "tier"] == "rising"  # percentile 0.61 from 0.01
    assert t.loc["P040", "tier"] == "low"  # gained, but below the 0.5 floor
    assert t.loc["P080", "tier"] == "moderate"
    assert t.loc["P070", "tier"] == "low" and t.loc["P070", "previous_score"] != 0
    assert t.loc["P060", "change"] == pytest.approx(0.60 + 1.0)
    assert t.loc["P097", "tier"] == "high"


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        TierRules(high=95)
    with pytest.raises(ValueError, match="must not exceed"):
        TierRules(high=0.5, moderate=0.8)


@pytest.fixture
def ws(city_ws: Path) -> Path:
    return city_ws


@pytest.mark.slow
def test_run_risk_writes_scores_factors_tiers_and_audit(ws: Path) -> None:
    res = cli("run", "risk", "--high", "0.9", "-w", ws, cwd=ws.parent)
    assert res.returncode == 0, res.stderr
    assert "AUROC" in res.stdout and "Brier" in res.stdout and "Risk tiers" in res.stdout
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:

        def one(sql: str) -> object:
            return con.sql(sql).fetchall()[0][0]

        n = one("SELECT count(*) FROM risk_score WHERE index_date = DATE '2025-12-31'")
        assert isinstance(n, int) and n > 3000
        high = one("SELECT avg((tier = 'high')::int) FROM risk_score")
        assert high == pytest.approx(0.10, abs=0.01)
        assert one("SELECT count(DISTINCT person_id) FROM risk_factor") > 1000
        assert one("SELECT count(*) FROM risk_metric WHERE metric = 'auroc'") == 1
        assert one("SELECT count(*) FROM risk_audit WHERE attribute = 'sex'") == 2
        assert one("SELECT count(*) FROM area_index") == 12
    # A second run replaces the rows of the same index date and label.
    assert cli("run", "risk", "-w", ws, cwd=ws.parent).returncode == 0
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM risk_score").fetchall()[0][0] == n


def test_run_risk_errors_are_one_line(ws: Path) -> None:
    res = cli("run", "risk", "--date", "31/12/2025", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "expected YYYY-MM-DD" in res.stderr
    res = cli("run", "risk", "--label", "wealth", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "unknown label" in res.stderr
    res = cli("run", "risk", "--high", "2", "-w", ws, cwd=ws.parent)
    assert res.returncode == 2 and "between 0 and 1" in res.stderr
