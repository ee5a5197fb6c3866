"""A small city (3,000 people) gives degenerate inputs: the evaluation says what it cannot
estimate instead of crashing or printing nan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import ibis
import pytest

from popweave.cohorts import Data
from popweave.errors import PopweaveError
from popweave.evaluate import Programme, evaluate
from popweave.synth import build_city
from popweave.warehouse import load, rebuilding
from popweave.workspace import Workspace


@pytest.mark.slow
def test_small_city_areas_evaluate_without_crashing(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    city = build_city(3_000, 5)
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, city.tables(), source="small", atomic=False)
    db = duckdb.connect(str(ws.root / "warehouse.duckdb"), read_only=True)
    data = Data(ibis.duckdb.from_connection(db))
    outcomes = {"estimated": 0, "refused": 0}
    for area in [f"A{i}" for i in range(1, 13)]:
        try:
            ev = evaluate(data, Programme(dt.date(2024, 7, 1), [area]), "readmission_30d")
        except PopweaveError as exc:  # a clear one-line refusal, never a crash
            assert "cannot estimate" in str(exc) and area in str(exc)
            outcomes["refused"] += 1
            continue
        assert "nan" not in ev.summary, (area, ev.summary)
        outcomes["estimated"] += 1
    assert outcomes["estimated"] > 0
