"""Community organisations and closed-loop referrals to them."""

from __future__ import annotations

from fastapi import APIRouter, status

from popweave.api.deps import CurrentUser, Reason, StoreDep
from popweave.api.schemas import (
    OrganisationPublic,
    ReferralCreate,
    ReferralPublic,
    ReferralUpdate,
)
from popweave.care import plans, referrals

router = APIRouter(prefix="/referrals", tags=["referrals"])


@router.get("/organisations", response_model=list[OrganisationPublic])
def list_organisations(
    user: CurrentUser, store: StoreDep, service: str | None = None, area_id: str | None = None
) -> list[OrganisationPublic]:
    """Community organisations, most free capacity first."""
    return [
        OrganisationPublic.model_validate(o)
        for o in referrals.find_organisations(store, service=service, area_id=area_id)
    ]


@router.get("", response_model=list[ReferralPublic])
def list_referrals(
    person_id: str, user: CurrentUser, store: StoreDep, reason: Reason
) -> list[ReferralPublic]:
    """The referrals of one patient."""
    rec = plans.patient_record(store, actor=user, person_id=person_id, reason=reason)
    return [ReferralPublic.model_validate(r) for r in rec.referrals]


@router.post("", response_model=ReferralPublic, status_code=status.HTTP_201_CREATED)
def create_referral(
    body: ReferralCreate, user: CurrentUser, store: StoreDep, reason: Reason
) -> ReferralPublic:
    """Send a referral to an organisation that offers the service."""
    r = referrals.refer(
        store,
        actor=user,
        person_id=body.person_id,
        org_id=body.org_id,
        service=body.service,
        reason=reason,
        sent_on=body.sent_on,
    )
    return ReferralPublic.model_validate(r)


@router.patch("/{referral_id}", response_model=ReferralPublic)
def update_referral(
    referral_id: int, body: ReferralUpdate, user: CurrentUser, store: StoreDep, reason: Reason
) -> ReferralPublic:
    """Move a referral along its loop (accepted, delivered, declined, expired)."""
    r = referrals.advance_referral(
        store,
        actor=user,
        referral_id=referral_id,
        status=body.status,
        reason=reason,
        on=body.on,
        note=body.note,
        version=body.version,
    )
    return ReferralPublic.model_validate(r)
