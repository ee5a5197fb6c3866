"""The prioritised, explainable outreach worklist: one Ibis expression over the warehouse.

Per living person, on an *as-of* date, points for each reason to reach out (weights in
:class:`Weights`, defaults in ``data/worklist.yaml``):

- **risk tier** from ``risk_score`` (``popweave run risk``; the latest index date on or before
  the as-of date, one label);
- **open care gaps** from ``care_gap`` (``popweave run measures``; one period), per gap of a
  listed measure, at most ``max_gaps``;
- **a recent discharge with no follow-up**: the latest inpatient stay that ended home or with
  home health within ``discharge_window_days`` before the as-of date, with no ambulatory,
  home, virtual or wellness visit since; ``discharge`` points on the day of discharge, falling
  linearly to half of them at the end of the window;
- **social needs**: the latest answer to each screening question (transport, food, housing;
  value sets ``sdoh_*``) within ``screening_days``, when it is positive
  (``sdoh_positive_answers``).

``priority`` is the sum; people with no points are not on the list. ``reason`` lists the
reasons in words, e.g. ``high risk tier; discharged 3 days ago, no follow-up; 2 open gaps:
HbA1c > 9% or not tested, no eye exam; transport need``. The list is written to the result
table ``outreach_worklist``, replaced per as-of date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import yaml

from popweave.cohorts.data import Data, as_date
from popweave.errors import PopweaveError
from popweave.terminology.valuesets import valueset

WORKLIST_TABLE = "outreach_worklist"
RISK_TABLE = "risk_score"
GAP_TABLE = "care_gap"
ASSIGNMENT_TABLE = "outreach_assignment"
NEEDS = ("transport", "food", "housing")
TIERS = ("high", "rising", "moderate", "low")
TIER_WORDS = {
    "high": "high risk tier",
    "rising": "rising risk",
    "moderate": "moderate risk tier",
    "low": "low risk tier",
}


def _defaults() -> dict[str, Any]:
    text = resources.files("popweave.outreach").joinpath("data/worklist.yaml").read_text()
    out: dict[str, Any] = yaml.safe_load(text)
    return out


@dataclass(frozen=True)
class Weights:
    """Points per reason (see the module docstring); :meth:`load` reads a YAML file."""

    tier: dict[str, float] = field(default_factory=lambda: dict(_defaults()["tier"]))
    gap: float = field(default_factory=lambda: float(_defaults()["gap"]))
    max_gaps: int = field(default_factory=lambda: int(_defaults()["max_gaps"]))
    discharge: float = field(default_factory=lambda: float(_defaults()["discharge"]))
    discharge_window_days: int = field(
        default_factory=lambda: int(_defaults()["discharge_window_days"])
    )
    discharge_dispositions: tuple[str, ...] = field(
        default_factory=lambda: tuple(_defaults()["discharge_dispositions"])
    )
    followup_classes: tuple[str, ...] = field(
        default_factory=lambda: tuple(_defaults()["followup_classes"])
    )
    needs: dict[str, float] = field(default_factory=lambda: dict(_defaults()["needs"]))
    screening_days: int = field(default_factory=lambda: int(_defaults()["screening_days"]))
    gaps: dict[str, str] = field(default_factory=lambda: dict(_defaults()["gaps"]))

    def __post_init__(self) -> None:
        bad = [k for k in self.tier if k not in TIERS]
        bad += [k for k in self.needs if k not in NEEDS]
        if bad:
            raise PopweaveError(
                f"worklist weights: unknown key(s) {', '.join(bad)}; tiers are "
                f"{', '.join(TIERS)} and needs {', '.join(NEEDS)}"
            )
        numbers = [self.gap, self.discharge, *self.tier.values(), *self.needs.values()]
        if any(v < 0 for v in numbers) or self.max_gaps < 0 or self.discharge_window_days < 1:
            raise PopweaveError(
                "worklist weights must not be negative and the discharge window is at least 1 day"
            )

    @classmethod
    def load(cls, path: str | Path) -> Weights:
        """Weights from a YAML file shaped like ``data/worklist.yaml``; missing keys keep
        their defaults, mappings (``tier``, ``needs``, ``gaps``) are merged key by key."""
        p = Path(path)
        try:
            given = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PopweaveError(f"{p}: cannot read worklist weights ({exc})") from None
        if not isinstance(given, dict):
            raise PopweaveError(f"{p}: expected a mapping of weights, e.g. 'gap: 8'")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise PopweaveError(
                f"{p}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        base = cls()
        kw: dict[str, Any] = {}
        for k, v in given.items():
            cur = getattr(base, k)
            if isinstance(cur, dict):
                kw[k] = {**cur, **(v or {})}
            elif isinstance(cur, tuple):
                kw[k] = tuple(v)
            else:
                kw[k] = v
        return dataclasses.replace(base, **kw)


def _latest(engine: Any, table: str, column: str, where: Any = None) -> Any:
    if not engine.has_table(table):
        return None
    t = engine.table(table)
    if where is not None:
        t = t.filter(where(t))
    v = t.aggregate(v=t[column].max()).execute()["v"].iloc[0]
    return None if v is None or pd.isna(v) else v


def default_as_of(engine: Any) -> dt.date:
    """The last day with an encounter (as ``popweave run risk``)."""
    from popweave.risk.run import last_day

    return last_day(Data.of(engine))


def _risk(engine: Any, as_of: dt.date, label: str) -> Any:
    day = _latest(
        engine,
        RISK_TABLE,
        "index_date",
        lambda t: (t.label == label) & (t.index_date <= as_of),
    )
    if day is None:
        return None
    r = engine.table(RISK_TABLE)
    r = r.filter((r.label == label) & (r.index_date == day))
    return r.select("person_id", risk_tier=r.tier, risk_score=r.score.cast("float64"))


def _gaps(engine: Any, period: str | None, w: Weights) -> Any:
    if not w.gaps or not engine.has_table(GAP_TABLE):
        return None
    per = period or _latest(engine, GAP_TABLE, "period")
    if per is None:
        return None
    g = engine.table(GAP_TABLE)
    g = g.filter((g.period == str(per)) & g.measure.isin(list(w.gaps)))
    flags = {f"_g{i}": (g.measure == m).any() for i, m in enumerate(w.gaps)}
    agg = g.group_by("person_id").aggregate(open_gaps=g.measure.nunique(), **flags)
    labels = [
        ibis.cases((agg[f"_g{i}"], text), else_=None) for i, text in enumerate(w.gaps.values())
    ]
    return agg.select("person_id", "open_gaps", gap_list=ibis.literal(", ").join(labels).nullif(""))


def _discharge(data: Data, as_of: dt.date, w: Weights) -> Any:
    start = as_of - dt.timedelta(days=w.discharge_window_days)
    e = data.encounter
    stays = e.filter(
        (e.encounter_class == "inpatient")
        & e.end_time.notnull()
        & e.discharge_disposition.isin(list(w.discharge_dispositions))
    )
    stays = stays.mutate(discharge_date=as_date(stays.end_time))
    stays = stays.filter(stays.discharge_date.between(start, as_of))
    last = stays.group_by("person_id").aggregate(discharge_date=stays.discharge_date.max())
    v = e.filter(e.encounter_class.isin(list(w.followup_classes)))
    v = v.mutate(visit_date=as_date(v.start_time))
    v = v.filter(v.visit_date.between(start, as_of)).select("person_id", "visit_date")
    open_ = last.anti_join(v, [last.person_id == v.person_id, v.visit_date > last.discharge_date])
    return open_.mutate(
        days_since_discharge=ibis.literal(as_of).delta(open_.discharge_date, unit="day")
    )


def _needs(data: Data, as_of: dt.date, w: Weights) -> Any:
    needs = [n for n in NEEDS if w.needs.get(n, 0) > 0]
    if not needs:
        return None
    codes = {n: valueset(f"sdoh_{n}").codes_for("LOINC") for n in needs}
    yes = valueset("sdoh_positive_answers").codes_for("LOINC")
    o = data.observation
    allc = sorted({c for v in codes.values() for c in v})
    start = as_of - dt.timedelta(days=w.screening_days)
    o = o.filter((o.code_system == "LOINC") & o.code.isin(allc) & o.date.between(start, as_of))
    need = ibis.cases(*((o.code.isin(codes[n]), n) for n in needs), else_=None)
    o = o.mutate(_need=need, _yes=o.value_code.isin(yes).fill_null(False))
    # The latest answer per question, by one aggregate (no window): positive when a positive
    # answer was given on the latest day a question was answered.
    last = o.group_by(["person_id", "_need"]).aggregate(
        _last=o.date.max(), _last_yes=o.date.max(where=o._yes)
    )
    pos = last._last_yes.notnull() & (last._last_yes == last._last)
    return last.group_by("person_id").aggregate(
        **{f"{n}_need": ((last._need == n) & pos).any() for n in needs}
    )


def _left(t: Any, other: Any) -> Any:
    return t if other is None else t.left_join(other, "person_id").drop("person_id_right")


def _words(n: Any, one: str, many: str) -> Any:
    return ibis.cases((n == 1, one), else_=many)


def worklist_expr(
    engine: Any,
    *,
    as_of: dt.date | None = None,
    period: str | None = None,
    weights: Weights | None = None,
    risk_label: str = "admit_or_ed",
    practice: str | list[str] | None = None,
    area: str | list[str] | None = None,
    coordinator: str | None = None,
) -> Any:
    """The worklist as an Ibis table, highest priority first (builds, runs only the look-ups
    of the defaults: the as-of date, the latest risk index date and care-gap period).

    Parameters: ``as_of`` (default: the last day with an encounter); ``period`` of the care
    gaps (default: the latest in ``care_gap``); ``weights`` (default :class:`Weights`);
    ``risk_label`` of the risk scores; filters ``practice`` and ``area`` (one id or a list)
    and ``coordinator`` (the panel of one coordinator in the latest ``outreach_assignment``).

    Returns one row per person with any points: ``person_id, practice_id, area_id, language,
    priority, risk_tier, risk_score, open_gaps, gap_list, discharge_date,
    days_since_discharge, <need>_need ..., tier_points, gap_points, discharge_points,
    need_points, reason``. Inputs that were never computed (no ``risk_score`` or
    ``care_gap`` table) add no points.
    """
    w = weights or Weights()
    data = Data.of(engine)
    d = as_of or default_as_of(engine)
    p = data.person
    p = p.filter(p.death_date.isnull() | (p.death_date > d))
    if practice is not None:
        p = p.filter(p.practice_id.isin([practice] if isinstance(practice, str) else practice))
    if area is not None:
        p = p.filter(p.area_id.isin([area] if isinstance(area, str) else area))
    if coordinator is not None:
        if not engine.has_table(ASSIGNMENT_TABLE):
            raise PopweaveError(
                "no coordinator panels yet: run `popweave assign` before filtering by coordinator"
            )
        a = engine.table(ASSIGNMENT_TABLE)
        run_at = _latest(engine, ASSIGNMENT_TABLE, "as_of")
        a = a.filter((a.as_of == run_at) & (a.coordinator_id == coordinator))
        p = p.semi_join(a, "person_id")
    t = p.select("person_id", "practice_id", "area_id", "language")

    risk = _risk(engine, d, risk_label)
    t = _left(t, risk)
    if risk is None:
        t = t.mutate(risk_tier=ibis.null("string"), risk_score=ibis.null("float64"))
    gaps = _gaps(engine, period, w)
    t = _left(t, gaps)
    if gaps is None:
        t = t.mutate(open_gaps=ibis.null("int64"), gap_list=ibis.null("string"))
    t = _left(t, _discharge(data, d, w))
    needs = _needs(data, d, w)
    t = _left(t, needs)
    for n in NEEDS:
        col = f"{n}_need"
        t = (
            t.mutate(**{col: t[col].fill_null(False)})
            if col in t.columns
            else t.mutate(**{col: ibis.literal(False)})
        )

    tier_points = ibis.cases(*((t.risk_tier == k, float(v)) for k, v in w.tier.items()), else_=0.0)
    n_gaps = t.open_gaps.fill_null(0)
    counted = ibis.cases((n_gaps > w.max_gaps, w.max_gaps), else_=n_gaps)
    gap_points = counted.cast("float64") * w.gap
    days = t.days_since_discharge
    window = float(w.discharge_window_days)
    discharge_points = (w.discharge * (1.0 - days.cast("float64") / (2.0 * window))).fill_null(0.0)
    need_points: Any = ibis.literal(0.0)
    for n in NEEDS:
        need_points = need_points + ibis.cases(
            (t[f"{n}_need"], float(w.needs.get(n, 0))), else_=0.0
        )
    t = t.mutate(
        tier_points=tier_points,
        gap_points=gap_points,
        discharge_points=discharge_points,
        need_points=need_points,
    )
    t = t.mutate(priority=t.tier_points + t.gap_points + t.discharge_points + t.need_points)
    t = t.filter(t.priority > 0)

    pieces = [
        ibis.cases(
            *((t.risk_tier == k, TIER_WORDS[k]) for k, v in w.tier.items() if v > 0), else_=None
        ),
        ibis.cases(
            (days == 0, "discharged today, no follow-up"),
            (days == 1, "discharged 1 day ago, no follow-up"),
            else_="discharged " + days.cast("string") + " days ago, no follow-up",
        ),
        ibis.cases(
            (n_gaps > 0, n_gaps.cast("string") + _words(n_gaps, " open gap: ", " open gaps: ")),
            else_=None,
        )
        + t.gap_list,
        *(
            ibis.cases((t[f"{n}_need"], f"{n} need"), else_=None)
            for n in NEEDS
            if w.needs.get(n, 0) > 0
        ),
    ]
    # Discharge words only when the discharge counts (days is NULL otherwise, and so the piece).
    t = t.mutate(reason=ibis.literal("; ").join(pieces))
    cols = [
        "person_id",
        "practice_id",
        "area_id",
        "language",
        "priority",
        "risk_tier",
        "risk_score",
        "open_gaps",
        "gap_list",
        "discharge_date",
        "days_since_discharge",
        *(f"{n}_need" for n in NEEDS),
        "tier_points",
        "gap_points",
        "discharge_points",
        "need_points",
        "reason",
    ]
    t = t.mutate(open_gaps=n_gaps.cast("int64")).select(*cols)
    return t.order_by([t.priority.desc(), t.person_id])


def worklist(engine: Any, *, top: int | None = None, **kwargs: Any) -> pd.DataFrame:
    """The worklist as a DataFrame (the ``top`` rows, or all); keywords as
    :func:`worklist_expr`."""
    t = worklist_expr(engine, **kwargs)
    if top is not None:
        t = t.limit(top)
    out: pd.DataFrame = t.execute()
    return out


def save_worklist(
    engine: Any,
    *,
    as_of: dt.date | None = None,
    **kwargs: Any,
) -> tuple[dt.date, int]:
    """Write the whole worklist (no filters) to ``outreach_worklist``, replacing the rows of
    the same as-of date; returns the date and the number of rows."""
    d = as_of or default_as_of(engine)
    t = worklist_expr(engine, as_of=d, **kwargs)
    t = t.mutate(as_of=ibis.literal(d)).select("as_of", *t.columns)
    n = engine.save_result(WORKLIST_TABLE, t, replace={"as_of": d})
    return d, n
