"""Outreach attempts (calls, letters, visits) and their outcome."""

from __future__ import annotations

from fastapi import APIRouter, status

from popweave.api.deps import CurrentUser, Reason, StoreDep
from popweave.api.schemas import OutreachCreate, OutreachPublic
from popweave.care import engagement, plans

router = APIRouter(prefix="/outreach", tags=["outreach"])


@router.get("", response_model=list[OutreachPublic])
def list_outreach(
    person_id: str, user: CurrentUser, store: StoreDep, reason: Reason
) -> list[OutreachPublic]:
    """The outreach attempts for one patient."""
    rec = plans.patient_record(store, actor=user, person_id=person_id, reason=reason)
    return [OutreachPublic.model_validate(o) for o in rec.outreach]


@router.post("", response_model=OutreachPublic, status_code=status.HTTP_201_CREATED)
def record_outreach(
    body: OutreachCreate, user: CurrentUser, store: StoreDep, reason: Reason
) -> OutreachPublic:
    """Record one attempt to reach a patient."""
    o = engagement.record_outreach(
        store,
        actor=user,
        person_id=body.person_id,
        channel=body.channel,
        outcome=body.outcome,
        reason=reason,
        task_id=body.task_id,
        note=body.note,
    )
    return OutreachPublic.model_validate(o)
