"""Quality measures: rates with 95% intervals (aggregates; small cells suppressed)."""

from __future__ import annotations

from fastapi import APIRouter

from popweave.api.deps import CurrentUser, Reason, StoreDep, WarehouseDep
from popweave.api.schemas import MeasurePublic
from popweave.api.services.measures import measure_rates

router = APIRouter(prefix="/measures", tags=["measures"])


@router.get("", response_model=list[MeasurePublic])
def read_measures(
    user: CurrentUser,
    store: StoreDep,
    wh: WarehouseDep,
    reason: Reason,
    period: str | None = None,
    stratifier: str = "all",
    measure: str | None = None,
) -> list[MeasurePublic]:
    """Measure rates of the latest (or given) period by one stratifier."""
    rows = measure_rates(
        store,
        wh,
        actor=user,
        reason=reason,
        period=period,
        stratifier=stratifier,
        measure=measure,
    )
    return [MeasurePublic.model_validate(r) for r in rows]
