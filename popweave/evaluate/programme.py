"""Evaluate a programme: difference-in-differences, interrupted time series and a matched
comparison of one outcome, with assumption checks and a plain-language summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from popweave.cohorts.data import Data, age_on
from popweave.cohorts.enrolment import payer_on
from popweave.equity.attributes import attributes
from popweave.errors import PopweaveError
from popweave.evaluate.did import DidResult, did
from popweave.evaluate.its import ItsResult, segmented
from popweave.evaluate.matched import MatchedResult, matched
from popweave.evaluate.population import Programme, outcome_units
from popweave.measures.spec import MeasureSpec

COVARIATES = [
    "age",
    "female",
    "medicaid",
    "medicare",
    "uninsured",
    "transport_need",
    "prior_stays_1y",
]


@dataclass
class Evaluation:
    programme: Programme
    outcome: MeasureSpec
    did: DidResult
    its: ItsResult | None
    matched: MatchedResult | None
    summary: str

    def effects(self) -> pd.DataFrame:
        """One row per estimate: method, what it measures, estimate and 95% interval."""
        d = self.did
        rows = [
            ("difference-in-differences", "ratio of before/after ratios", d.ratio, *d.ratio_ci,
             d.ratio_p),
            ("difference-in-differences", "difference in differences", d.difference,
             *d.difference_ci, d.difference_p),
        ]  # fmt: skip
        if self.its is not None:
            i = self.its
            rows.append(("interrupted time series", "level change", i.level_change,
                         *i.level_change_ci, np.nan))  # fmt: skip
            rows.append(("interrupted time series", "slope change per month", i.slope_change,
                         *i.slope_change_ci, np.nan))  # fmt: skip
            rows.append(("interrupted time series", "relative to counterfactual", i.relative,
                         *i.relative_ci, np.nan))  # fmt: skip
        if self.matched is not None:
            m = self.matched
            rows.append(("matched comparison", "risk ratio", m.ratio, *m.ratio_ci, np.nan))
            rows.append(("matched comparison", "risk difference", m.difference,
                         *m.difference_ci, np.nan))  # fmt: skip
        return pd.DataFrame(rows, columns=["method", "effect", "estimate", "lower", "upper", "p"])


def _month_index(day: Any, start: dt.date) -> Any:
    return day.year() * 12 + day.month() - (start.year * 12 + start.month)


def _covariates(data: Data, rows: Any, start: dt.date, end: dt.date) -> Any:
    """Per unit: age at the unit's date, sex, payer at the start, transport need, inpatient
    stays in the year before."""
    from popweave.cohorts.period import Period

    p = data.person
    pay = payer_on(data, start)
    need = attributes(data, Period(start, end), ["transport_need"])
    e = data.encounter
    ip = e.filter(e.encounter_class == "inpatient").select(
        ip_person=e.person_id, ip_day=e.start_time.date()
    )
    keyed = rows.mutate(_k=ibis.row_number())
    prior = (
        keyed.join(
            ip,
            (keyed.person_id == ip.ip_person)
            & (ip.ip_day < keyed.unit_date)
            & (ip.ip_day >= keyed.unit_date - ibis.interval(days=365)),
        )
        .group_by("_k")
        .aggregate(prior=ibis._.count())
    )
    j = keyed.join(p.select("person_id", "birth_date", "sex"), "person_id")
    j = j.left_join(pay, "person_id").select(j, pay.payer)
    j = j.left_join(need, "person_id").select(j, need.transport_need)
    j = j.left_join(prior, "_k").select(j, prior.prior)
    age = age_on(j.birth_date, start)
    payer = j.payer.fill_null("uninsured")
    return j.select(
        person_id=j.person_id,
        unit_date=j.unit_date,
        treated=j.treated,
        y=j.y,
        age=age.cast("float64"),
        female=(j.sex == "female").cast("float64"),
        medicaid=(payer == "medicaid").cast("float64"),
        medicare=(payer == "medicare").cast("float64"),
        uninsured=(payer == "uninsured").cast("float64"),
        transport_need=(j.transport_need == "yes").cast("float64"),
        prior_stays_1y=j.prior.fill_null(0).cast("float64"),
    )


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _summary(prog: Programme, spec: MeasureSpec, d: DidResult, its: ItsResult | None,
             m: MatchedResult | None) -> str:  # fmt: skip
    c = d.cells.set_index(["treated", "post"])["rate"]
    lo, hi = d.ratio_ci
    change = (1 - d.ratio) if d.ratio < 1 else (d.ratio - 1)
    direction = "lower" if d.ratio < 1 else "higher"
    if not all(np.isfinite(x) for x in (d.ratio, lo, hi)):
        verdict = (
            f"Too few events to estimate the effect on {spec.info.title.lower()} (a group has "
            "none before or after the start): no ratio can be given."
        )
    elif lo > 1 or hi < 1:
        verdict = (
            f"After the start, {spec.info.title.lower()} was {change:.0%} {direction} than the "
            f"comparison group's change predicts (ratio {d.ratio:.2f}, 95% CI {lo:.2f}-{hi:.2f}): "
            "a change unlikely to be chance alone."
        )
    else:
        verdict = (
            f"The data are consistent with no effect on {spec.info.title.lower()}: ratio "
            f"{d.ratio:.2f} (95% CI {lo:.2f}-{hi:.2f}) includes 1."
        )
    lines = [
        f"{prog.describe()}, outcome {spec.id}.",
        f"In the programme population the rate went from {_pct(c[(1, 0)])} to "
        f"{_pct(c[(1, 1)])}; in the comparison group from {_pct(c[(0, 0)])} to "
        f"{_pct(c[(0, 1)])}.",
        verdict,
        (
            f"Check: before the start the two groups' trends were parallel (p = "
            f"{d.pretrend_p:.2f}); the comparison is credible."
            if d.pretrend_p >= 0.05
            else f"Caution: before the start the two groups' trends differed (p = "
            f"{d.pretrend_p:.3f}); the difference-in-differences may be biased."
        ),
    ]
    if its is not None and not all(np.isfinite(x) for x in (its.relative, *its.relative_ci)):
        lines.append(
            "Interrupted time series in the programme population alone: too few events per "
            "month to estimate the change."
        )
    elif its is not None:
        lo_i, hi_i = its.relative_ci
        lines.append(
            f"Interrupted time series in the programme population alone: after the start the "
            f"rate was {its.relative:.2f} times the pre-period trend (95% CI {lo_i:.2f}-"
            f"{hi_i:.2f})."
        )
    if m is not None and not all(np.isfinite(x) for x in (m.ratio, *m.ratio_ci)):
        lines.append(
            f"Matched comparison after the start ({m.matched_pairs} of {m.treated_units} "
            "units matched): too few events in a group to give a risk ratio."
        )
    elif m is not None:
        worst = float(m.balance["smd_after"].abs().max())
        lines.append(
            f"Matched comparison after the start ({m.matched_pairs} of {m.treated_units} "
            f"units matched): risk ratio {m.ratio:.2f} (95% CI {m.ratio_ci[0]:.2f}-"
            f"{m.ratio_ci[1]:.2f}); largest standardised difference after matching "
            f"{worst:.2f}"
            + (" (balanced)." if worst < 0.1 else " (imbalanced: interpret with care).")
        )
    return "\n".join(lines)


def evaluate(
    source: Any,
    programme: Programme,
    outcome: str | MeasureSpec = "readmission_30d",
    *,
    level: float = 0.95,
    max_comparison_units: int = 50_000,
) -> Evaluation:
    """Evaluate ``programme`` on ``outcome`` (a measure counted per event).

    Difference-in-differences (:mod:`popweave.evaluate.did`) is the main estimate, with the
    parallel pre-trends test; an interrupted time series of the programme population's
    monthly rate (:mod:`popweave.evaluate.its`) and a matched comparison of the units after
    the start (:mod:`popweave.evaluate.matched`) check it. Per-unit work runs in the engine;
    Python receives counts, monthly series and, for matching, the units after the start
    (comparison units sampled down to ``max_comparison_units``).
    """
    data = source if isinstance(source, Data) else Data.of(source)
    out = outcome_units(data, programme, outcome)
    rows = out.rows.filter(out.rows.unit_date <= out.cutoff).cache()
    month = _month_index(rows.unit_date, programme.start)
    pre = (
        rows.filter(rows.post == 0)
        .mutate(t=month)
        .group_by(["treated", "t"])
        .aggregate(units=ibis._.n.sum(), events=ibis._.y.sum())
        .execute()
    )
    try:
        d = did(rows, pre, level)
    except ValueError as exc:
        raise PopweaveError(
            f"{programme.describe()}: cannot estimate the effect on {out.spec.id}: {exc}"
        ) from None
    series = (
        rows.filter(rows.treated == 1)
        .mutate(t=month)
        .group_by("t")
        .aggregate(units=ibis._.n.sum(), events=ibis._.y.sum())
        .execute()
        .sort_values("t")
    )
    its = None
    series = series[series["units"] > 0]
    if (series["t"] < 0).sum() >= 3 and (series["t"] >= 0).sum() >= 3:
        try:
            its = segmented(
                (series["events"] / series["units"]).to_numpy(), series["t"].to_numpy(float), 0.0,
                level=level,
            )  # fmt: skip
        except (np.linalg.LinAlgError, ValueError):
            its = None  # a degenerate series (e.g. no events at all): no time-series estimate
    post_rows = rows.filter(rows.post == 1)
    n_comp = int(post_rows.filter(post_rows.treated == 0).count().execute())
    if n_comp > max_comparison_units:
        keep = int(10_000 * max_comparison_units / n_comp)
        post_rows = post_rows.filter(
            (post_rows.treated == 1) | ((post_rows.person_id.hash().abs() % 10_000) < keep)
        )
    cov = _covariates(data, post_rows, programme.start, out.span.end).execute()
    # A fixed order: the engine returns rows in any order, matching is greedy.
    cov = cov.sort_values(["treated", "person_id", "unit_date", "y"]).reset_index(drop=True)
    m = None
    if (cov["treated"] == 1).sum() >= 10 and (cov["treated"] == 0).sum() >= 10:
        try:
            m = matched(cov, COVARIATES, level)
        except (np.linalg.LinAlgError, ValueError):
            m = None  # the propensity model cannot be fitted (e.g. perfect separation)
    text = _summary(programme, out.spec, d, its, m)
    return Evaluation(programme, out.spec, d, its, m, text)
