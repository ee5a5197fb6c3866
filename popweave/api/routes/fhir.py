"""FHIR R4-shaped exports: MeasureReport, Group, CarePlan, Task (JSON, fhir+json)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from popweave.api.deps import CurrentUser, Reason, StoreDep, WarehouseDep
from popweave.api.services import fhir

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"


def _fhir(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=FHIR_JSON)


@router.get("/MeasureReport")
def measure_reports(
    user: CurrentUser,
    store: StoreDep,
    wh: WarehouseDep,
    reason: Reason,
    period: str | None = None,
    measure: str | None = None,
) -> JSONResponse:
    """A Bundle of summary MeasureReports (stratified, with 95% intervals)."""
    res = fhir.measure_reports(store, wh, actor=user, reason=reason, period=period, measure=measure)
    return _fhir(fhir.bundle(res))


@router.get("/Group/{cohort}")
def group(
    cohort: str,
    user: CurrentUser,
    store: StoreDep,
    wh: WarehouseDep,
    reason: Reason,
    limit: Annotated[int, Query(ge=1, le=100000)] = 10000,
) -> JSONResponse:
    """A built cohort as a Group (members the user may see)."""
    return _fhir(
        fhir.cohort_group(store, wh, actor=user, cohort=cohort, reason=reason, limit=limit)
    )


@router.get("/CarePlan")
def care_plans(patient: str, user: CurrentUser, store: StoreDep, reason: Reason) -> JSONResponse:
    """A Bundle of one patient's CarePlans (goals contained)."""
    return _fhir(fhir.bundle(fhir.care_plans(store, actor=user, person_id=patient, reason=reason)))


@router.get("/Task")
def task_bundle(
    user: CurrentUser,
    store: StoreDep,
    reason: Reason,
    patient: str | None = None,
    open_only: bool = True,
) -> JSONResponse:
    """A Bundle of the Tasks the user may see (of one patient)."""
    res = fhir.task_resources(
        store, actor=user, reason=reason, person_id=patient, open_only=open_only
    )
    return _fhir(fhir.bundle(res))
