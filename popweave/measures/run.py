"""Compute measures for a period, with rates by stratum and per-patient care gaps.

Everything per person or per event runs in the engine as Ibis expressions; Python sees only
aggregates (counts and sums per stratum), on which it computes the confidence intervals.
Results are written to three warehouse tables, replaced per (period, measure):
``measure_result`` (rates by stratum), ``measure_unit`` (every denominator unit with its flags)
and ``care_gap`` (the units with an open gap, with what would close it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd

from popweave.cohorts.data import Data
from popweave.cohorts.definition import Library
from popweave.cohorts.period import Period
from popweave.errors import PopweaveError
from popweave.measures import clinical
from popweave.measures.intervals import rate_exact, wilson
from popweave.measures.spec import MeasureSpec, load_specs
from popweave.measures.strata import strata

RESULT_TABLE = "measure_result"
UNIT_TABLE = "measure_unit"
GAP_TABLE = "care_gap"
Z95 = 1.959963984540054


def logic_registry() -> dict[str, Callable[..., Any]]:
    from popweave.measures.utilisation import LOGIC

    return dict(LOGIC)


def units(
    spec: MeasureSpec,
    data: Data,
    period: Period,
    library: Library | None = None,
    cache: dict[str, Any] | None = None,
) -> Any:
    """The measure's rows (unit rows for proportions, person exposure rows for rates)."""
    if spec.logic is not None:
        fn = logic_registry()[spec.logic]
        return fn(data, period, **spec.info.params)
    return clinical.evaluate(spec, data, period, library, cache=cache)


def outcome_rows(spec: MeasureSpec, data: Data, period: Period) -> Any:
    """The measure's rows as ``(person_id, unit_date, y, n)``: the numerator flag over 1 per
    unit not excluded (proportions), or events over exposure dated the period's end (rates)."""
    rows = units(spec, data, period)
    if spec.info.kind == "proportion":
        rows = rows.filter(~rows.excluded)
        return rows.select(
            person_id=rows.person_id,
            unit_date=rows.unit_date,
            y=rows.numerator.cast("float64"),
            n=ibis.literal(1.0),
        )
    return rows.select(
        person_id=rows.person_id,
        unit_date=ibis.literal(period.end),
        y=rows.events.cast("float64"),
        n=rows.exposure.cast("float64"),
    )


def _proportions(rows: Any, by: str | None) -> pd.DataFrame:
    keys = [by] if by else []
    g = rows.group_by(keys) if keys else rows
    agg = g.aggregate(
        units=rows.count(),
        excluded=rows.excluded.cast("int64").sum(),
        numerator=(rows.numerator & ~rows.excluded).cast("int64").sum(),
    ).execute()
    agg = agg.fillna({"units": 0, "excluded": 0, "numerator": 0})
    agg = agg.astype({"units": "int64", "excluded": "int64", "numerator": "int64"})
    agg["denominator"] = agg["units"] - agg["excluded"]
    num = agg["numerator"].to_numpy(dtype=np.float64)
    den = agg["denominator"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["rate"] = np.where(den > 0, num / den, np.nan)
    lo, hi = wilson(num, den)
    agg["lower"], agg["upper"] = lo, hi
    out: pd.DataFrame = agg
    return out


def _rates(rows: Any, by: str | None, spec: MeasureSpec) -> pd.DataFrame:
    keys = [by] if by else []
    g = rows.group_by(keys) if keys else rows
    x, y = rows.exposure, rows.events
    agg = g.aggregate(
        units=rows.count(),
        exposure=x.sum(),
        events=y.sum(),
        sxx=(x * x).sum(),
        syy=(y * y).sum(),
        sxy=(x * y).sum(),
    ).execute()
    per = spec.info.per
    agg = agg.fillna(0)
    ex = agg["exposure"].astype(float).to_numpy()
    ev = agg["events"].astype(float).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(ex > 0, ev / ex, np.nan)
    if spec.info.unit == "member-month" and spec.info.id.startswith("pmpm"):
        # Ratio of sums with persons as clusters (Cochran 1977, s. 6.4).
        n = agg["units"].astype(float).to_numpy()
        ss = (
            agg["syy"].astype(float).to_numpy()
            - 2 * r * agg["sxy"].astype(float).to_numpy()
            + r * r * agg["sxx"].astype(float).to_numpy()
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where((n > 1) & (ex > 0), n / (n - 1) * ss / (ex * ex), np.nan)
        half = Z95 * np.sqrt(np.maximum(var, 0))
        lo, hi = (r - half) * per, (r + half) * per
    else:
        lo, hi = rate_exact(ev, ex, per)
    out = pd.DataFrame(
        {
            **({by: agg[by]} if by else {}),
            "units": agg["units"],
            "excluded": 0,
            "denominator": ex,
            "numerator": ev,
            "rate": r * per,
            "lower": lo,
            "upper": hi,
        }
    )
    return out


@dataclass
class MeasureRun:
    """The outcome of :func:`run`: DataFrames for notebooks, tables in the warehouse."""

    period: Period
    specs: list[MeasureSpec]
    results: pd.DataFrame
    _units: dict[str, Any] = field(default_factory=dict)
    _gaps: dict[str, Any] = field(default_factory=dict)

    def rates(self, stratifier: str | None = None) -> pd.DataFrame:
        """Overall rates (``stratifier=None``) or rates by one stratifier."""
        r = self.results
        out: pd.DataFrame = r[r["stratifier"] == (stratifier or "all")].reset_index(drop=True)
        return out

    def units(self, measure: str) -> pd.DataFrame:
        """Every unit of ``measure`` with its flags (proportions) or exposure (rates)."""
        out: pd.DataFrame = self._units[measure].execute()
        return out

    def gaps(self, measure: str | None = None) -> pd.DataFrame:
        """Open care gaps: who, why, what would close it."""
        frames: list[pd.DataFrame] = [
            g.execute() for m, g in self._gaps.items() if measure in (None, m)
        ]
        if not frames:
            return pd.DataFrame(columns=["measure", "person_id", "unit_id", "unit_date", "detail"])
        return pd.concat(frames, ignore_index=True)


def _gap_rows(spec: MeasureSpec, rows: Any) -> Any:
    inverse = not spec.info.higher_is_better
    open_ = ~rows.excluded & (rows.numerator if inverse else ~rows.numerator)
    g = rows.filter(open_)
    return g.select(
        measure=ibis.literal(spec.id),
        person_id=g.person_id,
        unit_id=g.unit_id,
        unit_date=g.unit_date,
        detail=g.detail,
    )


def run(
    engine: Any,
    period: Period | int | str,
    *,
    specs: list[MeasureSpec] | None = None,
    spec_folders: tuple[Path, ...] = (),
    only: list[str] | None = None,
    save: bool = True,
    library: Library | None = None,
    progress: Callable[[str], None] | None = None,
) -> MeasureRun:
    """Compute measures for ``period`` on ``engine`` (or on :class:`Data` with
    ``save=False``); with ``save`` write the result tables."""
    per = period if isinstance(period, Period) else Period.parse(str(period))
    logic = set(logic_registry())
    if specs is None:
        folders = spec_folders or ()
        specs = (
            load_specs(*folders, logic_names=logic) if folders else load_specs(logic_names=logic)
        )
    if only:
        unknown = sorted(set(only) - {s.id for s in specs})
        if unknown:
            known = ", ".join(s.id for s in specs)
            raise PopweaveError(f"unknown measure(s) {', '.join(unknown)}; known: {known}")
        specs = [s for s in specs if s.id in only]
    if isinstance(engine, Data):
        if save:
            raise PopweaveError("pass an engine (not Data) to save results")
        data = engine
    else:
        data = Data.of(engine)
    # Sub-results shared by the measures (strata, enrolment, common exclusions) are
    # materialised once per run in the engine (temporary tables) when results are saved.
    cache: dict[str, Any] | None = {} if save else None
    st = strata(data, per)
    if cache is not None:
        st = st.cache()
    computed = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    frames = []
    run_ = MeasureRun(per, specs, pd.DataFrame())
    for spec in specs:
        if progress:
            progress(spec.id)
        rows = units(spec, data, per, library, cache)
        if save:
            rows = _materialise(engine, spec, rows, per)
        run_._units[spec.id] = rows
        joined = rows.left_join(st, "person_id").select(rows, *[st[c] for c in spec.stratifiers])
        parts = []
        for by in (None, *spec.stratifiers):
            agg = (
                _proportions(joined, by)
                if spec.info.kind == "proportion"
                else _rates(joined, by, spec)
            )
            agg = agg.rename(columns={by: "stratum"}) if by else agg.assign(stratum="all")
            agg["stratum"] = agg["stratum"].astype(str)
            agg["stratifier"] = by or "all"
            parts.append(agg)
        res = pd.concat(parts, ignore_index=True)
        res["measure"] = spec.id
        res["title"] = spec.info.title
        res["kind"] = spec.info.kind
        res["per"] = spec.info.per
        res["higher_is_better"] = spec.info.higher_is_better
        res["period"] = str(per)
        res["computed_at"] = computed
        res = res[
            [
                "period",
                "measure",
                "title",
                "kind",
                "stratifier",
                "stratum",
                "units",
                "excluded",
                "denominator",
                "numerator",
                "rate",
                "lower",
                "upper",
                "per",
                "higher_is_better",
                "computed_at",
            ]
        ]
        res[["units", "excluded"]] = res[["units", "excluded"]].fillna(0)
        res = res.astype({"units": "int64", "excluded": "int64"})
        res[["denominator", "numerator"]] = res[["denominator", "numerator"]].astype("float64")
        frames.append(res)
        if spec.info.kind == "proportion":
            run_._gaps[spec.id] = _gap_rows(spec, rows)
            if save:
                gaps = _gap_rows(spec, rows).mutate(
                    period=ibis.literal(str(per)), action=ibis.literal(spec.info.gap_action)
                )
                engine.save_result(
                    GAP_TABLE, gaps, replace={"period": str(per), "measure": spec.id}
                )
        if save:
            import pyarrow as pa

            engine.save_result(
                RESULT_TABLE,
                pa.Table.from_pandas(res, preserve_index=False),
                replace={"period": str(per), "measure": spec.id},
            )
    run_.results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return run_


def _materialise(engine: Any, spec: MeasureSpec, rows: Any, per: Period) -> Any:
    """Store the unit rows once, so strata and gaps read a table, not the whole query."""
    if spec.info.kind == "proportion":
        cols = ["person_id", "unit_id", "unit_date", "excluded", "exclusion", "numerator", "detail"]
        zero = dict.fromkeys(("exposure", "events"), ibis.literal(None, "float64"))
    else:
        cols = ["person_id", "exposure", "events"]
        zero = {
            "unit_id": rows.person_id,
            "unit_date": ibis.literal(per.end),
            "excluded": ibis.literal(False),
            "exclusion": ibis.literal(None, "string"),
            "numerator": ibis.literal(None, "boolean"),
            "detail": ibis.literal(None, "string"),
        }
    stored = rows.select(
        period=ibis.literal(str(per)),
        measure=ibis.literal(spec.id),
        **{c: rows[c] for c in cols},
        **zero,
    )
    stored = stored.select(
        "period",
        "measure",
        "person_id",
        "unit_id",
        "unit_date",
        "excluded",
        "exclusion",
        "numerator",
        "detail",
        "exposure",
        "events",
    )
    engine.save_result(UNIT_TABLE, stored, replace={"period": str(per), "measure": spec.id})
    t = engine.table(UNIT_TABLE)
    t = t.filter((t.period == str(per)) & (t.measure == spec.id))
    return t.select(*cols)
