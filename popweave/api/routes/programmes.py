"""Programmes (education, engagement) and enrolments."""

from __future__ import annotations

from fastapi import APIRouter, status

from popweave.api.deps import CurrentUser, Reason, StoreDep
from popweave.api.schemas import (
    EnrolmentCreate,
    EnrolmentPublic,
    ProgrammeCreate,
    ProgrammePublic,
)
from popweave.api.services.care_extra import list_programmes
from popweave.care import engagement

router = APIRouter(prefix="/programmes", tags=["programmes"])


@router.get("", response_model=list[ProgrammePublic])
def read_programmes(user: CurrentUser, store: StoreDep) -> list[ProgrammePublic]:
    """Every programme."""
    return [
        ProgrammePublic(id=i, name=n, kind=k, description=d)
        for i, n, k, d in list_programmes(store)
    ]


@router.post("", response_model=ProgrammePublic, status_code=status.HTTP_201_CREATED)
def create_programme(body: ProgrammeCreate, user: CurrentUser, store: StoreDep) -> ProgrammePublic:
    """Create a programme (admins and programme managers)."""
    pid = engagement.add_programme(
        store, actor=user, name=body.name, kind=body.kind, description=body.description
    )
    return ProgrammePublic(id=pid, **body.model_dump())


@router.post(
    "/{programme_id}/enrolments",
    response_model=EnrolmentPublic,
    status_code=status.HTTP_201_CREATED,
)
def enrol(
    programme_id: int, body: EnrolmentCreate, user: CurrentUser, store: StoreDep, reason: Reason
) -> EnrolmentPublic:
    """Enrol a patient in a programme."""
    e = engagement.enrol(
        store,
        actor=user,
        programme_id=programme_id,
        person_id=body.person_id,
        start_date=body.start_date,
        end_date=body.end_date,
        reason=reason,
    )
    return EnrolmentPublic.model_validate(e)
