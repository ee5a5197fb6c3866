"""With a pilot area large enough to detect it, the planted effect is not only inside the
difference-in-differences interval but separated from no effect; with no planted effect the
interval covers 1.

The default city's areas hold about 3,000 people each, too few stays to tell a rate ratio of
0.7 from 1 (see test_city.py); here areas hold 8,000 (96,000 people, 12 areas).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import ibis
import pytest

from popweave.cohorts import Data
from popweave.evaluate import Programme, evaluate
from popweave.synth import build_city
from popweave.synth.params import Params
from popweave.warehouse import load, rebuilding
from popweave.workspace import Workspace


def _pilot_ci(root: Path, rr: float) -> tuple[float, float, float, float]:
    ws = Workspace.init(root)
    city = build_city(96_000, 7, Params(people_per_area=8_000, pilot_readmission_rr=rr))
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, city.tables(), source="pilot city", atomic=False)
    p = city.truth["pilot"]
    assert p["readmission_rate_ratio"] == rr
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as db:
        prog = Programme(dt.date.fromisoformat(p["start_date"]), [p["area_id"]])
        ev = evaluate(Data(ibis.duckdb.from_connection(db)), prog, "readmission_30d")
    lo, hi = ev.did.ratio_ci
    return ev.did.ratio, lo, hi, ev.did.pretrend_p


@pytest.mark.slow
def test_planted_pilot_effect_is_detected(tmp_path: Path) -> None:
    ratio, lo, hi, pretrend = _pilot_ci(tmp_path / "pilot", 0.7)
    assert lo <= 0.7 <= hi, (ratio, lo, hi)
    assert hi < 1.0, f"the effect should be distinguishable from none: {ratio} ({lo}-{hi})"
    assert pretrend > 0.05


@pytest.mark.slow
def test_no_pilot_effect_covers_one(tmp_path: Path) -> None:
    ratio, lo, hi, _ = _pilot_ci(tmp_path / "null", 1.0)
    assert lo <= 1.0 <= hi, (ratio, lo, hi)
