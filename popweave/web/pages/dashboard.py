"""The manager dashboard: population overview and the measures table with intervals
(aggregates only), with the report's figures when :mod:`popweave.reports.figures` is
installed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from popweave.api.deps import PageUser, StoreDep, WarehouseDep
from popweave.api.services.measures import (
    MeasureRow,
    Overview,
    measure_rates,
    population_overview,
)
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
        figures=figures(ov, rates) if stratifier == "all" else [],
    )


def figures(ov: Overview, rates: list[MeasureRow]) -> list[str]:
    """The report's figures (risk pyramid, measures with intervals) as HTML fragments; none
    when :mod:`popweave.reports.figures` is not installed (the tables stay)."""
    try:
        from popweave.reports import figures as fig
    except ImportError:
        return []
    out = []
    if any(ov.tiers.values()):
        tiers = pd.DataFrame({"tier": list(ov.tiers), "people": list(ov.tiers.values())})
        out.append(fig.risk_pyramid(tiers))
    props = pd.DataFrame(
        [
            vars(r)
            for r in rates
            if r.kind == "proportion" and not r.suppressed and r.rate is not None
        ]
    )
    if not props.empty:
        out.append(fig.measure_intervals(props))
    return [f.to_html(full_html=False, include_plotlyjs=False) for f in out]


@router.get("/vendor/plotly.min.js", response_model=None)
def plotly_js() -> FileResponse:
    """plotly.js from the installed plotly package (served locally, no network)."""
    try:
        import plotly
    except ImportError:
        raise HTTPException(404, "plotly is not installed") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return FileResponse(path, media_type="text/javascript")
