"""The HTML population report: one self-contained file, readable offline.

:func:`build` reads the warehouse (:mod:`popweave.reports.inputs`), draws the figures
(:mod:`popweave.reports.figures`) and returns the document; :func:`write` writes it
atomically. Each section stands alone: when its input is missing (measures or risk not run,
no pilot) the section holds a note saying what to run, and the rest of the report is built.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from popweave.cohorts.period import Period
from popweave.errors import PopweaveError
from popweave.reports import figures as fg
from popweave.reports import inputs
from popweave.reports._html import SUPPRESSED, esc, figure, interval, note, num, page, para, table
from popweave.reports.inputs import Missing, Pilot

#: Section ids and headings, in order; every report has all of them.
SECTIONS: dict[str, str] = {
    "population": "Population overview",
    "map": "Map of areas",
    "measures": "Quality and utilisation measures",
    "disparities": "Disparities by group",
    "trends": "Trends by quarter",
    "risk": "Risk stratification",
    "evaluation": "Programme evaluation",
    "workload": "Coordinator workload",
}


LABELS = {"admit_or_ed": "a hospital stay or ED visit", "high_cost": "high cost",
          "high_need": "high need"}  # fmt: skip


@dataclass
class Report:
    """A built report: the document and, per section, the note shown if it was skipped."""

    html: str
    period: Period
    notes: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Ctx:
    eng: Any
    period: Period
    pilot: Pilot | None
    pilot_problem: str
    figs: int = 0

    def fig(self, f: Any) -> str:
        self.figs += 1
        return figure(f, f"fig{self.figs}")


def _fmt(kind: str, per: float) -> str:
    return ".1%" if kind == "proportion" else (",.1f" if per != 1 else ",.2f")


def _est(v: Any, lo: Any, hi: Any, fmt: str) -> str:
    """``estimate (lower–upper)``, or empty when there is no estimate."""
    e, ci = num(v, fmt), interval(lo, hi, fmt)
    return f"{e} ({ci})" if e and ci else e


def _population(c: _Ctx) -> str:
    p = inputs.population(c.eng, c.period.end)
    kpis = [
        ("people", f"{p.people:,}"),
        ("areas", f"{p.areas:,}"),
        ("on", p.day.isoformat()),
        ("uninsured", f"{_share(p.payer, 'payer', 'uninsured'):.0%}"),
        ("most deprived quintile", f"{_share(p.deprivation, 'deprivation_quintile', '5'):.0%}"),
    ]
    k = "".join(f'<div class="kpi"><b>{esc(v)}</b>{esc(n)}</div>' for n, v in kpis)
    return (
        para(
            f"People alive on {p.day} (the end of the period), by age and sex, payer on that "
            "day and the deprivation quintile of their area (1 least, 5 most deprived)."
        )
        + f'<div class="kpis">{k}</div>'
        + c.fig(fg.population_pyramid(p.pyramid))
        + c.fig(fg.share_bars(p.payer, "payer", "Payer mix"))
        + c.fig(fg.share_bars(p.deprivation, "deprivation_quintile", "Deprivation quintile"))
    )


def _share(df: pd.DataFrame, col: str, value: str) -> float:
    total = float(df["people"].sum())
    return float(df.loc[df[col].astype(str) == value, "people"].sum()) / total if total else 0.0


def _map(c: _Ctx) -> str:
    areas, layers, reverse = inputs.area_layers(c.eng, c.period)
    return para(
        "Each area coloured by deprivation, an indicator or a measure's rate in the period "
        "(choose in the menu). Grey: no value, or fewer than 11 people or events counted "
        "(suppressed)."
    ) + c.fig(fg.area_map(areas, layers, f"{len(areas)} areas", reverse=reverse))


def _measures(c: _Ctx) -> str:
    r = inputs.measure_rates(c.eng, c.period)
    props = r[r["kind"] == "proportion"]
    out = para(
        f"Every measure for {c.period} with its 95% confidence interval (Wilson for "
        "proportions, exact Poisson for rates per member-month). Blue: higher is better; "
        "orange: lower is better (docs/measures.md)."
    )
    if len(props):
        out += c.fig(fg.measure_intervals(props, f"Proportions, {c.period}"))

    def rate(x: Any) -> str:
        return num(x.rate, _fmt(x.kind, x.per))

    def ci(x: Any) -> str:
        return interval(x.lower, x.upper, _fmt(x.kind, x.per))

    cols = [
        ("measure", lambda x: esc(x.measure)),
        ("title", lambda x: esc(x.title)),
        ("rate", rate),
        ("95% CI", ci),
        ("per", lambda x: "" if x.kind == "proportion" else f"{x.per:,.0f} member-months"
         if x.per != 1 else "member-month"),
        ("numerator", lambda x: num(x.numerator, ",.0f")),
        ("denominator", lambda x: num(x.denominator, ",.0f")),
        ("excluded", lambda x: num(x.excluded, ",.0f")),
        ("better", lambda x: "higher" if x.higher_is_better else "lower"),
    ]  # fmt: skip
    return out + table(r, cols, caption=f"Measures, {c.period}")


def _disparities(c: _Ctx) -> str:
    got = inputs.disparities(c.eng, c.period)
    out = para(
        "Rates by group with 95% intervals, each against a reference group (ratio with its "
        "interval, Benjamini-Hochberg q-value across the table). Cells with a count under 11 "
        f"are shown as \u201c{SUPPRESSED}\u201d, with more cells suppressed where needed so that "
        "none can be recovered by subtraction (docs/equity.md)."
    )
    from popweave.equity import find_spec

    for mid, rows in got.items():
        info = find_spec(mid).info
        per, kind = float(info.per), info.kind
        f = _fmt(kind, per)
        out += f"<h3>{esc(info.title)}</h3>"
        out += c.fig(fg.group_intervals(rows, f"{info.title}, {c.period}", kind=kind))

        out += _equity_table(rows, f)
    return out


def _equity_table(rows: pd.DataFrame, f: str) -> str:
    """The equity rows as a table; every count and rate of a suppressed row reads
    "suppressed"."""

    def cell(fn: Callable[[Any], str]) -> Callable[[Any], str]:
        return lambda x: f'<span class="suppressed-cell">{SUPPRESSED}</span>' if (
            x.suppressed) else fn(x)  # fmt: skip

    cols = [
        ("by", lambda x: esc(x.stratifier)),
        ("group", lambda x: esc(x.group) + (" (reference)" if x.is_reference else "")),
        ("n", cell(lambda x: num(x.denominator, ",.0f"))),
        ("events", cell(lambda x: num(x.numerator, ",.0f"))),
        ("rate", cell(lambda x: num(x.rate, f))),
        ("95% CI", cell(lambda x: interval(x.lower, x.upper, f))),
        ("age-sex standardised", cell(lambda x: num(x.std_rate, f))),
        ("ratio (95% CI)", cell(lambda x: "1" if x.is_reference else
         _est(x.ratio, x.ratio_lower, x.ratio_upper, ".2f") or "no comparison")),
        ("q", cell(lambda x: num(x.q_value, ".3g"))),
    ]  # fmt: skip
    return table(rows, cols, row_class=lambda x: "suppressed" if x.suppressed else "")


def _trends(c: _Ctx) -> str:
    got = inputs.trend_charts(c.eng)
    from popweave.equity import find_spec

    out = para(
        "Each measure by quarter with its 95% interval and a control chart: p-chart for "
        "proportions, u-chart for rates, 3-sigma limits that vary with the quarter's size. "
        "Red rings mark special-cause variation by the run rules (beyond 3 sigma, 8 in a row "
        "on one side, 6 rising or falling, 2 of 3 beyond 2 sigma). Open dots: quarters still "
        "being followed up."
    )
    for mid, ch in got.items():
        info = find_spec(mid).info
        out += c.fig(fg.control_chart(ch, info.title, kind=info.kind))
        sig = ch[ch.get("special_cause", pd.Series(False, index=ch.index)).fillna(False)]
        out += para(
            "Special-cause signals: "
            + "; ".join(f"{r.period} ({r.signals})" for r in sig.itertuples())
            + "."
            if len(sig)
            else "No special-cause signal: the variation is consistent with chance."
        )
    return out


def _risk(c: _Ctx) -> str:
    r = inputs.risk(c.eng)
    m = r.metrics
    out = para(
        f"Model of {LABELS.get(r.label, r.label)} in the next 12 months, trained on "
        f"{r.train_date}, tested on {r.test_date}, scores on {r.index_date} (docs/risk-model.md)."
    )
    out += c.fig(fg.risk_pyramid(r.tiers, f"Risk tiers on {r.index_date}"))
    if len(r.reliability):
        out += c.fig(fg.calibration_curve(r.reliability, "Calibration in the test year"))
    se = m.get("auroc_se", float("nan"))
    rows = pd.DataFrame(
        [
            ("people in the test year", num(m.get("n"), ",.0f")),
            ("with the outcome", num(m.get("events"), ",.0f")),
            ("AUROC (95% CI)", _est(m.get("auroc"), m.get("auroc", 0) - 1.96 * se,
                                    m.get("auroc", 0) + 1.96 * se, ".3f")),
            ("Brier score", num(m.get("brier"), ".4f")),
            ("Brier predicting the mean for everyone", num(m.get("brier_reference"), ".4f")),
            ("observed / expected", f"{num(m.get('observed'), '.3f')} / "
             f"{num(m.get('expected'), '.3f')}"),
            ("calibration slope", num(m.get("calibration_slope"), ".2f")),
        ],
        columns=["metric", "value"],
    )  # fmt: skip
    out += table(rows, [("metric", lambda x: esc(x.metric)), ("value", lambda x: x.value)],
                 caption="Model metrics (test year)")  # fmt: skip
    tiers = r.tiers.set_index("tier").reindex(list(fg.TIER_COLOURS)).dropna().reset_index()
    out += table(
        tiers,
        [("tier", lambda x: esc(x.tier)), ("people", lambda x: num(x.people, ",.0f")),
         ("mean risk", lambda x: num(x.mean_score, ".1%"))],
        caption="Tiers",
    )  # fmt: skip
    a = r.audit
    out += "<h3>Fairness audit</h3>" + para(
        "Per group in the test year: discrimination (AUROC), calibration (observed / expected) "
        "and the label-choice check (active chronic conditions at equal score against others; "
        "above 1: sicker than others with the same score). Flagged rows are shaded."
    )
    if len(a):
        out += c.fig(fg.fairness_ratios(a))
        cols = [
            ("attribute", lambda x: esc(x.attribute)),
            ("group", lambda x: esc(x.group)),
            ("n", lambda x: num(x.n, ",.0f")),
            ("AUROC", lambda x: num(x.auroc, ".3f")),
            ("observed / expected (95% CI)",
             lambda x: _est(x.oe_ratio, x.oe_lower, x.oe_upper, ".2f")),
            ("need ratio (95% CI)",
             lambda x: _est(x.need_ratio, x.need_lower, x.need_upper, ".2f")),
            ("flags", lambda x: esc(x.flags or "")),
        ]  # fmt: skip
        out += table(a, cols, row_class=lambda x: "flagged" if x.flags else "")
    return out


def _evaluation(c: _Ctx) -> str:
    if c.pilot is None:
        raise Missing(c.pilot_problem)
    what = f"the programme in {', '.join(c.pilot.areas)} from {c.pilot.start}"
    try:
        ev = inputs.evaluation(c.eng, c.pilot)
    except PopweaveError as exc:
        raise PopweaveError(f"{what}: {exc}") from None
    except (ArithmeticError, ValueError) as exc:  # numpy's LinAlgError is a ValueError
        raise PopweaveError(
            f"{what} could not be evaluated ({type(exc).__name__}: {exc}); "
            "a small programme population can leave too few units to match or model"
        ) from None
    d = ev.did
    lo, hi = d.ratio_ci
    verdict = "includes 1 (no effect)" if lo <= 1 <= hi else "excludes 1"
    out = (
        f'<p class="info">{esc(ev.programme.describe())}: difference-in-differences ratio '
        f"<b>{d.ratio:.2f}</b> (95% CI {lo:.2f}–{hi:.2f}; the interval {verdict}); difference "
        f"{d.difference:+.1%} (95% CI {d.difference_ci[0]:+.1%} to {d.difference_ci[1]:+.1%}).</p>"
    )
    out += '<div class="summary">' + "".join(para(s) for s in ev.summary.splitlines()) + "</div>"
    out += c.fig(fg.did_cells(d.cells)) + c.fig(fg.effect_intervals(ev.effects()))
    cols = [
        ("method", lambda x: esc(x.method)),
        ("effect", lambda x: esc(x.effect)),
        ("estimate", lambda x: num(x.estimate, ".3f") or "not estimable"),
        ("95% CI", lambda x: interval(x.lower, x.upper, ".3f")),
        ("p", lambda x: num(x.p, ".3f")),
    ]
    return out + table(ev.effects(), cols, caption="Estimates")


def _workload(c: _Ctx) -> str:
    day, w = inputs.workload(c.eng)
    out = para(
        f"Patients of the worklist assigned to each coordinator on {day} (popweave assign; "
        f"{int(w['patients'].sum()):,} patients, {len(w):,} coordinators), their summed priority "
        "points and mean travel from the patient's area to the practice."
    )
    out += c.fig(fg.coordinator_workload(w))
    cols = [
        ("coordinator", lambda x: esc(x.coordinator_id)),
        ("practice", lambda x: esc(x.practice_id)),
        ("patients", lambda x: num(x.patients, ",.0f")),
        ("priority", lambda x: num(x.priority, ",.0f")),
        ("mean priority", lambda x: num(x.mean_priority, ".1f")),
        ("mean travel (km)", lambda x: num(x.mean_distance_km, ".1f")),
    ]
    return out + table(w, cols)


BUILDERS: dict[str, Callable[[_Ctx], str]] = {
    "population": _population,
    "map": _map,
    "measures": _measures,
    "disparities": _disparities,
    "trends": _trends,
    "risk": _risk,
    "evaluation": _evaluation,
    "workload": _workload,
}


def plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (no network)."""
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    return js


def build(
    eng: Any,
    period: str | None = None,
    *,
    pilot: Pilot | None = None,
    truth: Path | None = None,
    title: str = "Population health report",
    progress: Callable[[str], None] | None = None,
) -> Report:
    """The report for ``period`` (default: the latest measured period). ``pilot`` is the
    programme to evaluate, else the one in ``truth`` (a workspace's ``truth.json``)."""
    per = inputs.resolve_period(eng, period)
    problem = "no programme to evaluate: give --programme-area and --programme-start."
    if pilot is None and truth is not None:
        try:
            pilot = inputs.pilot_from_truth(truth)
        except Missing as exc:
            problem = str(exc)
    ctx = _Ctx(eng, per, pilot, problem)
    rep = Report("", per)
    parts = []
    for sid, heading in SECTIONS.items():
        if progress:
            progress(heading)
        t0 = time.perf_counter()
        try:
            body = BUILDERS[sid](ctx)
        except PopweaveError as exc:
            rep.notes[sid] = str(exc)
            body = note(f"Not shown: {exc}")
        rep.seconds[sid] = time.perf_counter() - t0
        parts.append(f'<section id="{sid}"><h2>{esc(heading)}</h2>{body}</section>')
    nav = "".join(f'<a href="#{s}">{esc(h)}</a>' for s, h in SECTIONS.items())
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    rep.html = page(
        title=title,
        subtitle=f"Period {per} ({per.start} to {per.end}); generated {stamp}.",
        nav=nav,
        body="\n".join(parts),
        plotlyjs=plotly_js(),
        geojs=fg.OFFLINE_GEO_JS,
    )
    return rep


def write(text: str, out: Path) -> Path:
    """Write ``text`` to ``out`` atomically: a temporary file in the same folder, renamed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
