"""A hand-built workspace for the worklist rules: people with known reasons, risk tiers and
care gaps written as the risk and measure runs write them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from popweave.warehouse import load, open_workspace_engine
from popweave.warehouse.base import Engine
from popweave.workspace import Workspace
from tests.cohorts.pop import Pop
from tests.warehouse.conftest import rows_to_table

AS_OF = dt.date(2025, 12, 31)
TRANSPORT, FOOD, HOUSING = "93030-5", "88122-7", "93033-9"
YES, NO = "LA33-6", "LA32-8"


def city() -> tuple[Pop, list[dict[str, Any]], list[dict[str, Any]]]:
    """People P1-P8 with their reasons; risk and care-gap rows."""
    p = Pop()
    p.area("A2")
    for cid, area in (("C1", "A1"), ("C2", "A2")):
        p.add("practice", practice_id=cid, name=f"Clinic {cid}", area_id=area, coordinators=1)
    # P1: high tier, discharged home 3 days ago, no visit since, 2 gaps, transport need.
    p.person("P1", practice_id="C1", language="es")
    p.stay("P1", "2025-12-28", "2025-12-28")
    p.lab("P1", "2025-06-01", TRANSPORT, answer=YES)
    # P2: discharged 10 days ago and seen since: no discharge reason; moderate tier.
    p.person("P2", practice_id="C1")
    p.stay("P2", "2025-12-21", "2025-12-21")
    p.encounter("P2", "2025-12-24")
    # P3: discharged to a nursing facility: not a discharge home; one gap.
    p.person("P3", practice_id="C2", area_id="A2")
    p.stay("P3", "2025-12-30", "2025-12-30", disposition="03")
    # P4: positive transport answer, then a negative one: the latest counts; food need.
    p.person("P4", practice_id="C2", area_id="A2")
    p.lab("P4", "2024-05-01", TRANSPORT, answer=YES)
    p.lab("P4", "2025-05-01", TRANSPORT, answer=NO)
    p.lab("P4", "2025-05-01", FOOD, answer="LA28397-0")
    # P5: nothing to act on (low tier). P6: died, with gaps. P7: housing answer 3 years old.
    p.person("P5", practice_id="C1")
    p.person("P6", practice_id="C1", death="2025-11-01")
    p.person("P7", practice_id="C2", area_id="A2")
    p.lab("P7", "2022-11-01", HOUSING, answer=YES)
    # P8: discharged home 40 days ago: outside the window. Rising tier.
    p.person("P8", practice_id="C2", area_id="A2")
    p.stay("P8", "2025-11-21", "2025-11-21")
    p.encounter("P8", "2025-12-31")  # the last day with an encounter: the default as-of date
    risk = [
        {"person_id": "P1", "tier": "high", "score": 0.8},
        {"person_id": "P2", "tier": "moderate", "score": 0.4},
        {"person_id": "P5", "tier": "low", "score": 0.1},
        {"person_id": "P8", "tier": "rising", "score": 0.45},
    ]
    gaps = [
        {"person_id": "P1", "measure": "diabetic_eye_exam"},
        {"person_id": "P1", "measure": "hba1c_poor_control"},
        {"person_id": "P1", "measure": "hba1c_control"},  # not a listed gap
        {"person_id": "P3", "measure": "colorectal_screening"},
        {"person_id": "P6", "measure": "colorectal_screening"},
    ]
    return p, risk, gaps


def build(root: Path) -> Workspace:
    ws = Workspace.init(root)
    p, risk, gaps = city()
    with open_workspace_engine(ws) as eng:
        batches = {name: rows_to_table(name, rows) for name, rows in p.rows.items()}
        report = load(eng, batches, source="hand-built", today=dt.date(2026, 1, 1))
        assert report.total_rejected == 0, report.rejected
        rs = pa.Table.from_pylist(
            [{"index_date": AS_OF, "label": "admit_or_ed", **r} for r in risk]
        )
        eng.save_result("risk_score", rs, replace={"index_date": AS_OF})
        gs = pa.Table.from_pylist(
            [
                {"period": "2025", "detail": "", "action": "", "unit_id": g["person_id"], **g}
                for g in gaps
            ]
        )
        eng.save_result("care_gap", gs, replace={"period": "2025"})
    return ws


@pytest.fixture(scope="module")
def hand_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build(tmp_path_factory.mktemp("outreach") / "ws")


@pytest.fixture
def engine(hand_ws: Workspace) -> Iterator[Engine]:
    with open_workspace_engine(hand_ws) as eng:
        yield eng
