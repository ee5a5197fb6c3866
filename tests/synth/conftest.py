"""One 20,000-person city per test session, in a real DuckDB workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from popweave.synth import City, build_city
from popweave.warehouse import LoadReport, load, rebuilding
from popweave.workspace import Workspace

PEOPLE = 20_000
SEED = 20_260_101


@dataclass
class Built:
    ws: Workspace
    city: City
    report: LoadReport
    truth: dict[str, Any]
    db: duckdb.DuckDBPyConnection

    def one(self, sql: str) -> Any:
        return self.db.sql(sql).fetchall()[0][0]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.sql(sql).fetchall()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("city") / "ws"
    ws = Workspace.init(root)
    city = build_city(PEOPLE, SEED)
    with rebuilding(ws.engine_url, ws.root) as eng:
        report = load(eng, city.tables(), source="test city", quarantine_dir=ws.quarantine_dir)
    ws.truth_path.write_text(json.dumps(city.truth))
    db = duckdb.connect(str(Path(ws.root) / "warehouse.duckdb"), read_only=True)
    yield Built(ws, city, report, json.loads(ws.truth_path.read_text()), db)
    db.close()
