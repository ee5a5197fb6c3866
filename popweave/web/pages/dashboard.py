"""The manager dashboard: population overview and the measures table with intervals
(aggregates only), with the report's figures when :mod:`popweave.reports.figures` is
installed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from popweave.api.deps import PageUser, StoreDep, WarehouseDep
from popweave.api.services.measures import measure_rates, population_overview
from popweave.web.render import render

router = APIRouter()
REASON = "population overview (web)"
STRATIFIERS = ("all", "age_band", "sex", "race_ethnicity", "payer", "deprivation_quintile")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, user: PageUser, store: StoreDep, wh: WarehouseDep, stratifier: str = "all"
) -> HTMLResponse:
    if stratifier not in STRATIFIERS:
        raise ValueError(f"unknown stratifier {stratifier!r}; known: {', '.join(STRATIFIERS)}")
    ov = population_overview(store, wh, actor=user, reason=REASON)
    rates = measure_rates(store, wh, actor=user, reason=REASON, stratifier=stratifier)
    return render(
        request,
        "dashboard.html",
        user,
        ov=ov,
        rates=rates,
        stratifier=stratifier,
        stratifiers=STRATIFIERS,
        figures=[],
    )
