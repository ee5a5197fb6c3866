"""A care plan's medication list comes from the warehouse, authorised and audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from popweave.care.medications import medication_list
from popweave.care.store import CareStore
from popweave.security.models import AuditEvent
from popweave.security.policy import AccessDenied
from popweave.warehouse.base import Engine
from tests.care.world import WHY, make_world
from tests.cohorts.pop import Pop

AS_OF = dt.date(2025, 6, 30)


def _warehouse(root: Path) -> Engine:
    p = Pop()
    p.person("P1")
    p.person("P2")
    p.drug("P1", "2025-01-10", "860975")  # metformin, earlier fill
    p.drug("P1", "2025-06-15", "860975")  # latest fill: 30 days, still current
    p.drug("P1", "2024-12-01", "259255")  # atorvastatin, last fill ran out
    p.drug("P1", "2024-01-01", "314076")  # lisinopril: before the look-back
    p.drug("P2", "2025-06-01", "312938")
    return p.load(root)


def test_list_of_a_panel_patient_is_read_and_audited(care_store: CareStore, tmp_path: Path) -> None:
    w = make_world(care_store, panel=("P1",))
    eng = _warehouse(tmp_path)
    try:
        with care_store.begin() as s:
            before = s.scalar(select(func.count()).select_from(AuditEvent))
        meds = medication_list(care_store, eng, actor=w.cm, person_id="P1", reason=WHY, as_of=AS_OF)
        assert [(m.code, m.last_date, m.fills, m.current) for m in meds] == [
            ("860975", dt.date(2025, 6, 15), 2, True),
            ("259255", dt.date(2024, 12, 1), 1, False),
        ]
        with care_store.begin() as s:
            after = s.scalar(select(func.count()).select_from(AuditEvent))
            entities = s.scalars(
                select(AuditEvent.entity_id).where(AuditEvent.entity == "medication")
            ).all()
        assert after - before == 2
        assert sorted(entities) == ["RXNORM|259255", "RXNORM|860975"]
        with pytest.raises(AccessDenied):
            medication_list(care_store, eng, actor=w.cm, person_id="P2", reason=WHY, as_of=AS_OF)
        with pytest.raises(AccessDenied):
            medication_list(
                care_store, eng, actor=w.analyst, person_id="P1", reason=WHY, as_of=AS_OF
            )
    finally:
        eng.close()
