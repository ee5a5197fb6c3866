"""A second 20,000-person city with no planted effects (readmission rate ratios for
no-vehicle households, the most deprived quintile and the pilot all 1.0), built once per
session for the tests that check an analysis finds nothing where nothing was planted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import duckdb
import pytest

from popweave.synth import Params, build_city
from popweave.warehouse import load, rebuilding
from popweave.workspace import Workspace
from tests.synth.conftest import PEOPLE, SEED, Built

NO_EFFECT = Params(
    readmission_rr_no_vehicle=1.0, readmission_rr_deprived=1.0, pilot_readmission_rr=1.0
)


@pytest.fixture(scope="session")
def null_built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("null_city") / "ws"
    ws = Workspace.init(root)
    city = build_city(PEOPLE, SEED, NO_EFFECT)
    with rebuilding(ws.engine_url, ws.root) as eng:
        report = load(eng, city.tables(), source="null city", quarantine_dir=ws.quarantine_dir)
    ws.truth_path.write_text(json.dumps(city.truth))
    db = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    yield Built(ws, city, report, json.loads(ws.truth_path.read_text()), db)
    db.close()
