"""The worklist's rules on a hand-built workspace: points, reasons, filters, weights, the
stored table and the command."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from popweave.errors import PopweaveError
from popweave.outreach import WORKLIST_TABLE, Weights, save_worklist, worklist
from popweave.warehouse.base import Engine
from popweave.workspace import Workspace
from tests.ingest._cli import cli
from tests.outreach.conftest import AS_OF


def test_every_reason_is_counted_and_said(engine: Engine) -> None:
    w = worklist(engine).set_index("person_id")
    assert set(w.index) == {"P1", "P2", "P3", "P4", "P8"}  # P5 low tier, P6 died, P7 too old
    p1 = w.loc["P1"]
    assert p1.reason == (
        "high risk tier; discharged 3 days ago, no follow-up; 2 open gaps: "
        "HbA1c > 9% or not tested, no eye exam; transport need"
    )
    assert p1.days_since_discharge == 3 and p1.open_gaps == 2
    assert p1.priority == pytest.approx(30 + 40 * (1 - 3 / 60) + 2 * 8 + 10)
    assert w.loc["P2"].reason == "moderate risk tier" and w.loc["P2"].priority == 10
    assert w.loc["P3"].reason == "1 open gap: colorectal screening due"
    assert w.loc["P4"].reason == "food need"  # the later, negative transport answer wins
    assert w.loc["P8"].reason == "rising risk"  # discharged 40 days ago: outside the window
    assert list(w.index) == ["P1", "P8", "P2", "P3", "P4"]  # priority, then person


def test_filters_by_practice_and_area(engine: Engine) -> None:
    assert list(worklist(engine, practice="C1").person_id) == ["P1", "P2"]
    assert set(worklist(engine, area=["A2"]).person_id) == {"P3", "P4", "P8"}
    assert list(worklist(engine, top=2).person_id) == ["P1", "P8"]


def test_weights_are_configurable(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("gap: 50\nneeds: {food: 0}\ntier: {rising: 0}\n")
    w = Weights.load(f)
    assert w.needs == {"transport": 10, "food": 0, "housing": 8} and w.tier["high"] == 30
    df = worklist(engine, weights=w).set_index("person_id")
    assert "P4" not in df.index and "P8" not in df.index
    assert df.index[0] == "P1" and df.loc["P3"].priority == 50
    f.write_text("gaps_weight: 3\n")
    with pytest.raises(PopweaveError, match="unknown key"):
        Weights.load(f)
    with pytest.raises(PopweaveError, match="negative"):
        Weights(gap=-1)


def test_coordinator_filter_needs_an_assignment(engine: Engine) -> None:
    with pytest.raises(PopweaveError, match="popweave assign"):
        worklist(engine, coordinator="K1")


def test_stored_and_replaced(hand_ws: Workspace) -> None:
    from popweave.warehouse import open_workspace_engine

    with open_workspace_engine(hand_ws) as eng:
        assert save_worklist(eng) == (AS_OF, 5)
        assert save_worklist(eng) == (AS_OF, 5)
        n = eng.table(WORKLIST_TABLE).count().execute()
    assert n == 5


def test_command_prints_the_top(hand_ws: Workspace) -> None:
    root = Path(hand_ws.root)
    res = cli("worklist", "--top", "1", "--practice", "C1", "-w", root, cwd=root.parent)
    assert res.returncode == 0, res.stderr
    assert "P1" in res.stdout and "P2" not in res.stdout
    assert "discharged 3 days ago" in res.stdout
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        assert con.sql(f"SELECT count(*) FROM {WORKLIST_TABLE}").fetchall()[0][0] == 5
    bad = cli("worklist", "--weights", root / "nope.yaml", "-w", root, cwd=root.parent)
    assert bad.returncode == 2 and "cannot read worklist weights" in bad.stderr


def test_assign_command_and_panels(hand_ws: Workspace) -> None:
    root = Path(hand_ws.root)
    res = cli("assign", "-w", root, cwd=root.parent)
    assert res.returncode == 0, res.stderr
    # Without centroids each practice's coordinator covers the practice's own area only.
    assert "optimal:" in res.stdout and "outreach_assignment" in res.stdout
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT person_id, coordinator_id FROM outreach_assignment").fetchall()
    assert ("P3", "C2-K1") in rows and ("P2", "C1-K1") in rows
    bad = cli("assign", "--method", "best", "-w", root, cwd=root.parent)
    assert bad.returncode == 2 and "unknown method 'best'" in bad.stderr
