"""One patient: care record, risk and its reasons, care gaps and timeline."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from popweave.api.deps import CurrentUser, Reason, StoreDep, WarehouseDep
from popweave.api.schemas import (
    EnrolmentPublic,
    PatientPublic,
    ReferralPublic,
    TaskPublic,
)
from popweave.api.services.patients import patient_overview

router = APIRouter(prefix="/patients", tags=["patients"])


@router.get("/{person_id}", response_model=PatientPublic)
def read_patient(
    person_id: str, user: CurrentUser, store: StoreDep, wh: WarehouseDep, reason: Reason
) -> PatientPublic:
    """Everything on one patient the user may see (audited)."""
    o = patient_overview(store, wh, actor=user, person_id=person_id, reason=reason)
    rec = o.record
    return PatientPublic(
        person_id=person_id,
        person=o.person,
        risk=o.risk,
        risk_factors=o.risk_factors,
        care_gaps=o.care_gaps,
        timeline=o.timeline,
        care_plans=[asdict(p) for p in rec.care_plans],
        tasks=[TaskPublic.model_validate(t) for t in rec.tasks],
        referrals=[ReferralPublic.model_validate(r) for r in rec.referrals],
        enrolments=[EnrolmentPublic.model_validate(e) for e in rec.enrolments],
        withheld=o.withheld,
    )
