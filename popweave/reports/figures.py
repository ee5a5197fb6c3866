"""Plotly figures from the warehouse's result tables, for the HTML report and the web pages.

Every function takes plain DataFrames (the columns named in its docstring, as the result tables
or :mod:`popweave.reports.inputs` give them) and returns a :class:`plotly.graph_objects.Figure`;
none reads the warehouse or needs a network: maps are drawn from the areas' own GeoJSON with no
base map or tile server, so they render offline.

>>> import pandas as pd
>>> fig = risk_pyramid(pd.DataFrame({"tier": ["high", "low"], "people": [5, 95]}))
>>> [t.type for t in fig.data]
['funnel']
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: One palette for every figure: programme / group of interest, comparison, signal, muted.
BLUE, ORANGE, RED, GREY = "#1f5f99", "#d97b29", "#c0392b", "#8c8c8c"
TIER_COLOURS = {"high": "#b2182b", "rising": "#ef8a62", "moderate": "#fddbc7", "low": "#d1e5f0"}
SUPPRESSED = "suppressed"
#: The map's base layers are off, yet plotly.js still loads the world outline (topojson) from
#: its CDN before drawing a geo subplot. Pages that show :func:`area_map` offline run this
#: after plotly.js: an empty outline under the name plotly.js looks for, so nothing is fetched.
OFFLINE_GEO_JS = (
    "window.PlotlyGeoAssets = window.PlotlyGeoAssets || {};"
    "PlotlyGeoAssets.topojson = PlotlyGeoAssets.topojson || {};"
    "PlotlyGeoAssets.topojson.world_110m = PlotlyGeoAssets.topojson.world_110m || "
    '{"type": "Topology", "objects": {}, "arcs": []};'
)
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


def _figure(title: str, **layout: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**{**LAYOUT, "title": {"text": title}, **layout})
    return fig


def _pct_axis(kind: str) -> dict[str, Any]:
    return {"tickformat": ".0%"} if kind == "proportion" else {}


def population_pyramid(pyramid: pd.DataFrame, title: str = "Age and sex") -> go.Figure:
    """Horizontal bars by age band, men to the left: ``age_band``, ``sex``, ``people``
    (bands in display order, youngest first)."""
    bands = list(dict.fromkeys(pyramid["age_band"]))
    fig = _figure(title, barmode="overlay", bargap=0.05, height=420,
                  xaxis={"title": "people"}, yaxis={"categoryorder": "array",
                                                    "categoryarray": bands})  # fmt: skip
    for sex, sign, colour in (("male", -1, BLUE), ("female", 1, ORANGE)):
        s = pyramid[pyramid["sex"] == sex].set_index("age_band").reindex(bands)["people"]
        s = s.fillna(0)
        fig.add_bar(y=bands, x=sign * s.to_numpy(), orientation="h", name=sex, marker_color=colour,
                    customdata=s.to_numpy(), hovertemplate="%{y}: %{customdata:,} " + sex
                    + "<extra></extra>")  # fmt: skip
    top = float(pyramid["people"].max()) if len(pyramid) else 1.0
    step = _nice_step(top / 2)
    ticks = [k * step for k in range(-int(top // step), int(top // step) + 1)]
    fig.update_xaxes(tickvals=ticks, ticktext=[f"{abs(v):,.0f}" for v in ticks])
    return fig


def _log_axis(lo: float, hi: float, title: str) -> dict[str, Any]:
    """A log axis from ``lo`` to ``hi`` labelled at 1-2-5 steps (plotly's own log ticks
    label every minor digit)."""
    lo, hi = max(min(lo, 0.9), 1e-3), max(hi, 1.1)
    ticks = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    return {"type": "log", "title": title, "tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks],
            "range": [math.log10(lo / 1.1), math.log10(hi * 1.1)]}  # fmt: skip


def _bounds(lo: pd.Series, hi: pd.Series) -> tuple[float, float]:
    ok_lo, ok_hi = lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)]
    return (float(ok_lo.min()) if len(ok_lo) else 0.5, float(ok_hi.max()) if len(ok_hi) else 2.0)


def _nice_step(x: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``x`` (at least 1)."""
    if x <= 1:
        return 1.0
    mag = 10 ** math.floor(math.log10(x))
    return float(max(m * mag for m in (1, 2, 5) if m * mag <= x))


def share_bars(counts: pd.DataFrame, column: str, title: str) -> go.Figure:
    """People per category as bars with their share: ``column`` and ``people``."""
    total = float(counts["people"].sum()) or 1.0
    fig = _figure(title, height=320, showlegend=False, yaxis={"title": "people"})
    fig.add_bar(x=counts[column].astype(str), y=counts["people"], marker_color=BLUE,
                text=[f"{p / total:.0%}" for p in counts["people"]], textposition="outside",
                hovertemplate="%{x}: %{y:,} people<extra></extra>")  # fmt: skip
    return fig


def _ring_area(ring: Sequence[Sequence[float]]) -> float:
    """Signed area of a lon/lat ring (shoelace): positive when counter-clockwise."""
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in itertools.pairwise(ring))


def d3_winding(geometry: dict[str, Any]) -> dict[str, Any]:
    """The polygon with the winding d3-geo (and so Plotly's geo maps) expects: exterior rings
    clockwise, holes counter-clockwise -- the reverse of RFC 7946. Wound the other way a
    polygon would fill the whole globe except itself."""

    def fix(rings: list[Any]) -> list[Any]:
        out = []
        for i, ring in enumerate(rings):
            ccw = _ring_area(ring) > 0
            out.append(ring[::-1] if ccw == (i == 0) else ring)
        return out

    if geometry.get("type") == "Polygon":
        return {**geometry, "coordinates": fix(geometry["coordinates"])}
    if geometry.get("type") == "MultiPolygon":
        return {**geometry, "coordinates": [fix(p) for p in geometry["coordinates"]]}
    return geometry


def area_geojson(areas: pd.DataFrame) -> dict[str, Any]:
    """A FeatureCollection of the areas' ``geometry`` (GeoJSON text), ``id`` = ``area_id``."""
    feats = []
    for area_id, geom in zip(areas["area_id"], areas["geometry"], strict=True):
        if not isinstance(geom, str) or not geom.strip():
            continue
        g = d3_winding(json.loads(geom))
        feats.append({"type": "Feature", "id": str(area_id), "properties": {}, "geometry": g})
    return {"type": "FeatureCollection", "features": feats}


def area_map(
    areas: pd.DataFrame,
    layers: dict[str, str],
    title: str = "Areas",
    *,
    reverse: Sequence[str] = (),
) -> go.Figure:
    """Choropleth of the areas, one selectable layer per column of ``layers`` (column ->
    label) with a menu to switch between them. ``areas``: ``area_id``, ``name``, ``geometry``
    and the layer columns (missing values are drawn grey: suppressed or not measured).
    ``reverse``: columns where higher is better (coloured the other way round). No base map:
    the projection fits the areas' own bounds; offline, run :data:`OFFLINE_GEO_JS` on the
    page after plotly.js."""
    geo = area_geojson(areas)
    cols = [c for c in layers if c in areas]
    fig = _figure(title, height=520)
    buttons = []
    for i, col in enumerate(cols):
        z = pd.to_numeric(areas[col], errors="coerce")
        shown = z.notna()
        fig.add_choropleth(
            geojson=geo, locations=areas["area_id"][shown].astype(str), z=z[shown],
            featureidkey="id", name=layers[col], visible=i == 0,
            colorscale="Blues" if col in reverse else "OrRd",
            marker_line_color="white", marker_line_width=0.8,
            colorbar={"title": {"text": layers[col], "side": "right"}, "len": 0.8},
            text=areas["name"][shown].astype(str),
            hovertemplate="%{text} (%{location})<br>" + layers[col] + ": %{z:,.3~g}<extra></extra>",
        )  # fmt: skip
        missing = areas[~shown]
        fig.add_choropleth(
            geojson=geo, locations=missing["area_id"].astype(str), z=[0.0] * len(missing),
            featureidkey="id", name=f"{layers[col]}: no value", visible=i == 0, showscale=False,
            colorscale=[[0, "#e0e0e0"], [1, "#e0e0e0"]], marker_line_color="white",
            text=missing["name"].astype(str),
            hovertemplate="%{text} (%{location}): " + SUPPRESSED + " or no value<extra></extra>",
        )  # fmt: skip
        vis = [j // 2 == i for j in range(2 * len(cols))]
        buttons.append({"label": layers[col], "method": "update", "args": [{"visible": vis}]})
    # No base layers; scope and resolution pin the outline's name to OFFLINE_GEO_JS's.
    fig.update_geos(fitbounds="locations", visible=False, projection_type="mercator",
                    scope="world", resolution=110)  # fmt: skip
    if len(buttons) > 1:
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 0, "y": 1.08, "xanchor": "left",
                                        "yanchor": "bottom", "direction": "down"}])  # fmt: skip
    return fig


def measure_intervals(rates: pd.DataFrame, title: str = "Measures with 95% intervals") -> go.Figure:
    """Dot-and-whisker plot of proportions: ``measure``, ``title``, ``rate``, ``lower``,
    ``upper``, ``denominator`` (and optional ``higher_is_better``), one row per measure."""
    r = rates.sort_values("rate").reset_index(drop=True)
    fig = _figure(title, height=max(260, 34 * len(r) + 90), showlegend=False,
                  xaxis={"tickformat": ".0%", "range": [0, 1], "title": "rate"},
                  margin={**LAYOUT["margin"], "l": 10})  # fmt: skip
    better = r.get("higher_is_better", pd.Series([True] * len(r)))
    colours = [BLUE if bool(b) else ORANGE for b in better]
    fig.add_scatter(
        x=r["rate"], y=r["measure"], mode="markers", marker={"color": colours, "size": 9},
        error_x={"type": "data", "symmetric": False, "array": r["upper"] - r["rate"],
                 "arrayminus": r["rate"] - r["lower"], "color": GREY, "thickness": 1.5},
        customdata=np.stack([r["lower"], r["upper"], r["denominator"]], axis=-1),
        text=r.get("title", r["measure"]),
        hovertemplate="%{text}<br>%{x:.1%} (95% %{customdata[0]:.1%}-%{customdata[1]:.1%})"
        "<br>n = %{customdata[2]:,.0f}<extra></extra>",
    )  # fmt: skip
    return fig


def group_intervals(rows: pd.DataFrame, title: str, *, kind: str = "proportion") -> go.Figure:
    """Rates by group with 95% intervals, suppressed groups labelled "suppressed" in place of
    a dot. ``rows``: ``group``, ``rate``, ``lower``, ``upper``, ``suppressed``, optional
    ``is_reference`` and ``stratifier`` (several stratifiers are stacked, labelled
    ``stratifier: group``)."""
    r = rows.reset_index(drop=True).copy()
    label = (
        r["stratifier"].astype(str) + ": " + r["group"].astype(str)
        if "stratifier" in r and r["stratifier"].nunique() > 1
        else r["group"].astype(str)
    )
    r["label"] = label + np.where(r.get("is_reference", False), " (ref)", "")
    sup = r["suppressed"].fillna(False).astype(bool)
    shown = r[~sup]
    fig = _figure(title, height=max(260, 26 * len(r) + 100), showlegend=True,
                  xaxis=_pct_axis(kind) | {"title": "rate"},
                  yaxis={"categoryorder": "array", "categoryarray": list(r["label"])[::-1]},
                  legend={"orientation": "h", "y": -0.15})  # fmt: skip
    fig.add_scatter(
        x=shown["rate"], y=shown["label"], mode="markers", name="rate (95% CI)",
        marker={"color": [ORANGE if ref else BLUE for ref in shown.get("is_reference",
                          pd.Series([False] * len(shown)))], "size": 9},
        error_x={"type": "data", "symmetric": False, "array": shown["upper"] - shown["rate"],
                 "arrayminus": shown["rate"] - shown["lower"], "color": GREY},
        hovertemplate="%{y}: %{x:.3~g}<extra></extra>",
    )  # fmt: skip
    hidden = r[sup]
    if len(hidden):
        x0 = float(np.nanmin(shown["lower"])) if len(shown) else 0.0
        fig.add_scatter(
            x=[x0] * len(hidden), y=hidden["label"], mode="text", name="suppressed (n < 11)",
            text=[SUPPRESSED] * len(hidden), textposition="middle right",
            textfont={"color": GREY, "size": 11}, hovertemplate="%{y}: suppressed<extra></extra>",
        )  # fmt: skip
    return fig


def control_chart(chart: pd.DataFrame, title: str, *, kind: str = "proportion") -> go.Figure:
    """Rate per period with the centre line, 3-sigma control limits and points of special
    cause in red: ``period``, ``rate``, ``lower``, ``upper`` and, for a control chart,
    ``centre``, ``lcl``, ``ucl``, ``special_cause``, ``signals`` (``partial`` marks a period
    still being followed up)."""
    c = chart.reset_index(drop=True)
    fig = _figure(title, height=340, yaxis=_pct_axis(kind), legend={"orientation": "h", "y": -0.2})
    fig.add_scatter(
        x=c["period"], y=c["rate"], mode="lines+markers", name="rate (95% CI)",
        line={"color": BLUE}, marker={"color": BLUE, "size": 7},
        error_y={"type": "data", "symmetric": False, "array": c["upper"] - c["rate"],
                 "arrayminus": c["rate"] - c["lower"], "color": "#b0c4de"},
    )  # fmt: skip
    if "centre" in c:
        fig.add_scatter(x=c["period"], y=c["centre"], mode="lines", name="centre",
                        line={"color": GREY, "dash": "dash"})  # fmt: skip
        for col, name in (("ucl", "upper control limit"), ("lcl", "lower control limit")):
            fig.add_scatter(x=c["period"], y=c[col], mode="lines", name=name,
                            line={"color": RED, "dash": "dot", "shape": "hvh", "width": 1},
                            showlegend=col == "ucl")  # fmt: skip
        sc = c[c["special_cause"].fillna(False).astype(bool)]
        if len(sc):
            fig.add_scatter(
                x=sc["period"],
                y=sc["rate"],
                mode="markers",
                name="special cause",
                marker={"color": RED, "size": 12, "symbol": "circle-open"},
                text=sc["signals"],
                hovertemplate="%{x}: %{text}<extra></extra>",
            )
    if "partial" in c and c["partial"].any():
        p = c[c["partial"].astype(bool)]
        fig.add_scatter(
            x=p["period"],
            y=p["rate"],
            mode="markers",
            name="partial period",
            marker={"color": "white", "size": 7, "line": {"color": BLUE, "width": 2}},
        )
    return fig


def risk_pyramid(tiers: pd.DataFrame, title: str = "Risk tiers") -> go.Figure:
    """The risk pyramid: people per tier, highest tier at the top: ``tier``, ``people``
    (optional ``mean_score``)."""
    order = [t for t in TIER_COLOURS if t in set(tiers["tier"])]
    t = tiers.set_index("tier").reindex(order).reset_index()
    fig = _figure(title, height=320, showlegend=False)
    fig.add_funnel(y=t["tier"], x=t["people"], textinfo="value+percent total",
                   marker={"color": [TIER_COLOURS[x] for x in t["tier"]]},
                   connector={"fillcolor": "#f2f2f2", "line": {"width": 0}})  # fmt: skip
    return fig


def calibration_curve(reliability: pd.DataFrame, title: str = "Calibration") -> go.Figure:
    """Observed outcome rate against mean predicted risk per bin with 95% intervals and the
    diagonal of perfect calibration: ``mean_predicted``, ``observed``, ``lower``, ``upper``,
    ``n``."""
    r = reliability.sort_values("mean_predicted")
    top = float(max(r["upper"].max(), r["mean_predicted"].max(), 0.1))
    top = min(1.0, math.ceil(top * 10) / 10)
    fig = _figure(title, height=380, xaxis={"title": "predicted risk", "tickformat": ".0%",
                  "range": [0, top]}, yaxis={"title": "observed", "tickformat": ".0%",
                  "range": [0, top]}, legend={"orientation": "h", "y": -0.2})  # fmt: skip
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                    line={"color": GREY, "dash": "dash"})  # fmt: skip
    fig.add_scatter(
        x=r["mean_predicted"], y=r["observed"], mode="lines+markers", name="model",
        marker={"color": BLUE, "size": 8}, line={"color": BLUE},
        error_y={"type": "data", "symmetric": False, "array": r["upper"] - r["observed"],
                 "arrayminus": r["observed"] - r["lower"], "color": "#b0c4de"},
        customdata=r["n"], hovertemplate="predicted %{x:.1%}, observed %{y:.1%}, "
        "n = %{customdata:,.0f}<extra></extra>",
    )  # fmt: skip
    return fig


def fairness_ratios(audit: pd.DataFrame, title: str = "Observed / expected by group") -> go.Figure:
    """Observed / expected outcome ratio per audited group with its 95% interval (1 = well
    calibrated): ``attribute``, ``group``, ``oe_ratio``, ``oe_lower``, ``oe_upper``."""
    a = audit.reset_index(drop=True)
    labels = a["attribute"].astype(str) + ": " + a["group"].astype(str)
    flagged = a.get("flags", pd.Series([""] * len(a))).fillna("").astype(bool)
    xaxis = _log_axis(*_bounds(a["oe_lower"], a["oe_upper"]), "observed / expected")
    fig = _figure(title, height=max(260, 24 * len(a) + 100), showlegend=False, xaxis=xaxis,
                  yaxis={"categoryorder": "array",
                         "categoryarray": list(labels)[::-1]})  # fmt: skip
    fig.add_vline(x=1, line_color=GREY, line_dash="dash")
    fig.add_scatter(
        x=a["oe_ratio"], y=labels, mode="markers",
        marker={"color": [RED if f else BLUE for f in flagged], "size": 8},
        error_x={"type": "data", "symmetric": False, "array": a["oe_upper"] - a["oe_ratio"],
                 "arrayminus": a["oe_ratio"] - a["oe_lower"], "color": GREY},
        hovertemplate="%{y}: %{x:.2f}<extra></extra>",
    )  # fmt: skip
    return fig


def did_cells(cells: pd.DataFrame, title: str = "Before and after the start") -> go.Figure:
    """Difference-in-differences picture: the outcome rate before and after the start in the
    programme and comparison groups, and the programme's counterfactual (its before rate
    moved by the comparison group's change, on the ratio scale). ``cells``: ``treated``,
    ``post``, ``rate``."""
    c = cells.set_index(["treated", "post"])["rate"]
    x = ["before", "after"]
    fig = _figure(title, height=340, yaxis={"tickformat": ".0%", "title": "rate", "rangemode":
                  "tozero"}, legend={"orientation": "h", "y": -0.2})  # fmt: skip
    fig.add_scatter(x=x, y=[c[(0, 0)], c[(0, 1)]], name="comparison", mode="lines+markers",
                    line={"color": GREY})  # fmt: skip
    fig.add_scatter(x=x, y=[c[(1, 0)], c[(1, 1)]], name="programme", mode="lines+markers",
                    line={"color": BLUE})  # fmt: skip
    if c[(0, 0)] > 0:
        cf = c[(1, 0)] * c[(0, 1)] / c[(0, 0)]
        fig.add_scatter(x=x, y=[c[(1, 0)], cf], name="programme without the programme",
                        mode="lines", line={"color": BLUE, "dash": "dot"})  # fmt: skip
    return fig


def effect_intervals(effects: pd.DataFrame, title: str = "Estimated effects") -> go.Figure:
    """Ratio estimates with 95% intervals on a log axis (1 = no effect): ``method``,
    ``effect``, ``estimate``, ``lower``, ``upper``; rows that are not ratios or have no
    estimate are left out."""
    e = effects[effects["effect"].str.contains("ratio|relative", regex=True)]
    e = e[np.isfinite(e["estimate"]) & (e["lower"] > 0)].reset_index(drop=True)
    labels = e["method"] + ": " + e["effect"]
    xaxis = _log_axis(*_bounds(e["lower"], e["upper"]), "ratio (1 = no effect)")
    fig = _figure(title, height=max(220, 40 * len(e) + 110), showlegend=False, xaxis=xaxis,
                  yaxis={"categoryorder": "array",
                         "categoryarray": list(labels)[::-1]})  # fmt: skip
    fig.add_vline(x=1, line_color=GREY, line_dash="dash")
    fig.add_scatter(
        x=e["estimate"], y=labels, mode="markers", marker={"color": BLUE, "size": 10},
        error_x={"type": "data", "symmetric": False, "array": e["upper"] - e["estimate"],
                 "arrayminus": e["estimate"] - e["lower"], "color": GREY},
        hovertemplate="%{y}: %{x:.2f}<extra></extra>",
    )  # fmt: skip
    return fig


def coordinator_workload(load: pd.DataFrame, title: str = "Coordinator workload") -> go.Figure:
    """Patients assigned per coordinator, with their summed priority and mean travel on
    hover: ``coordinator_id``, ``patients``, ``priority``, ``mean_distance_km`` (optional
    ``caseload``, drawn as a marker)."""
    w = load.sort_values("patients", ascending=False)
    fig = _figure(title, height=max(300, 18 * len(w) + 120), showlegend="caseload" in w,
                  xaxis={"title": "patients", "tickangle": -45},
                  legend={"orientation": "h", "y": -0.3})  # fmt: skip
    fig.add_bar(
        x=w["coordinator_id"], y=w["patients"], name="assigned", marker_color=BLUE,
        customdata=np.stack([w["priority"], w["mean_distance_km"]], axis=-1),
        hovertemplate="%{x}: %{y:,} patients, priority %{customdata[0]:,.0f}, mean travel "
        "%{customdata[1]:.1f} km<extra></extra>",
    )  # fmt: skip
    if "caseload" in w:
        fig.add_scatter(
            x=w["coordinator_id"],
            y=w["caseload"],
            mode="markers",
            name="caseload",
            marker={"color": ORANGE, "symbol": "line-ew-open", "size": 18},
        )
    return fig
