"""Per-patient clinical measures from a spec: denominator, exclusions, numerator, evidence.

Each part is a cohort expression evaluated on the period's last day; the result has the
columns of :data:`popweave.measures.base.UNIT_COLUMNS`, one row per denominator patient.
Exclusions win over the numerator (the numerator flag is kept but not counted).
"""

from __future__ import annotations

import functools
from typing import Any

import ibis

from popweave.cohorts.criteria import (
    Context,
    _codes,
    _window,
    compile_all,
    compile_criterion,
    last_blood_pressure,
)
from popweave.cohorts.data import Data, coded_events, match_codes
from popweave.cohorts.definition import Library
from popweave.cohorts.period import Period
from popweave.cohorts.spec_yaml import Located, check_keys, load_text
from popweave.measures.spec import MeasureSpec

#: HEDIS MY2024 required exclusions shared by the clinical measures.
COMMON_EXCLUSIONS_YAML = """
died_in_period:
  died: {window: period}
hospice_palliative:
  any_of:
    - diagnosis: {valueset: hospice_palliative, window: period}
    - procedure: {valueset: hospice_palliative, window: period}
    - encounter: {class: hospice, window: period}
frailty_advanced_illness:
  all_of:
    - age: {min: 66}
    - diagnosis: {valueset: frailty, window: period}
    - diagnosis: {valueset: advanced_illness, lookback: 2y}
"""


def _common() -> dict[str, Located]:
    doc = load_text(COMMON_EXCLUSIONS_YAML, "popweave/measures/clinical.py (common exclusions)")
    return {k: v for k, v in doc.items()}


def context(
    data: Data,
    period: Period,
    library: Library | None = None,
    cache: dict[str, Any] | None = None,
) -> Context:
    return Context(data, period.end, period, (library or Library()).resolver(), (), cache)


def evaluate(
    spec: MeasureSpec,
    data: Data,
    period: Period,
    library: Library | None = None,
    *,
    evidence: bool = True,
    cache: dict[str, Any] | None = None,
) -> Any:
    """Unit rows of a clinical measure for ``period``; without ``evidence`` the ``detail``
    column holds only the exclusion reason (enough for rates, and cheaper). Measures evaluated
    with the same ``cache`` dict share materialised sub-results (enrolment, common
    exclusions)."""
    assert spec.denominator is not None and spec.numerator is not None
    ctx = context(data, period, library, cache)
    denom = compile_all(spec.denominator, ctx)
    rows = denom.select("person_id")
    ctx.universe = rows
    common = _common() if spec.common_exclusions else {}
    exclusions = {**common, **spec.exclusions}
    reasons = []
    for i, (reason, crit) in enumerate(exclusions.items()):
        flag = f"_x{i}"
        if reason in common and crit is common[reason]:
            # The same for every measure of a period: computed once for everyone.
            full = Context(ctx.data, ctx.index, ctx.period, ctx.resolve, (), ctx._cache)
            found = ctx.memo(f"common|{reason}", functools.partial(compile_criterion, crit, full))
        else:
            found = compile_criterion(crit, ctx)
        hit = found.select("person_id").mutate(**{flag: ibis.literal(True)})
        rows = rows.left_join(hit, "person_id").select(rows, hit[flag])
        reasons.append((flag, reason))
    num = compile_all(spec.numerator, ctx).mutate(_num=ibis.literal(True))
    rows = rows.left_join(num, "person_id").select(rows, num._num)
    facts: list[Any] = []
    for i, (label, fact) in enumerate(spec.evidence.items() if evidence else ()):
        table, text = _evidence(label, fact, ctx)
        col = f"_e{i}"
        t = table.select("person_id", **{col: text})
        rows = rows.left_join(t, "person_id").select(rows, t[col])
        facts.append((col, _missing(label, fact)))
    facts = [rows[c].fill_null(missing) for c, missing in facts]
    if reasons:
        branches = [(rows[f].fill_null(False), reason) for f, reason in reasons]
        exclusion = ibis.cases(*branches, else_=ibis.null("string"))
    else:
        exclusion = ibis.null("string")
    excluded = exclusion.notnull()
    numerator = rows._num.fill_null(False)
    gap = numerator if not spec.info.higher_is_better else ~numerator
    action = spec.info.gap_action
    fact_text = _join(facts)
    detail = ibis.cases(
        (excluded, ibis.literal("excluded: ") + exclusion),
        (gap & ibis.literal(bool(action)), _join([*facts, ibis.literal(action)])),
        else_=fact_text,
    )
    return rows.select(
        person_id=rows.person_id,
        unit_id=rows.person_id,
        unit_date=ibis.literal(period.end),
        excluded=excluded,
        exclusion=exclusion,
        numerator=numerator,
        detail=detail,
    )


def _join(parts: list[Any]) -> Any:
    if not parts:
        return ibis.literal("")
    out = parts[0]
    for p in parts[1:]:
        out = out + ibis.literal("; ") + p
    return out


def _fmt_num(x: Any) -> Any:
    return x.round(1).cast("string")


def _evidence(label: str, fact: Located, ctx: Context) -> tuple[Any, Any]:
    """(table with person_id, text column expression) for one evidence fact."""
    kind = next(iter(fact))
    args = fact[kind]
    if not isinstance(args, Located):
        raise fact.fail(f"{kind}: expected a mapping of options", kind)
    if kind == "last_lab":
        check_keys(args, {"valueset", "codes", "lookback", "window", "ever"}, kind)
        codes = _codes(args)
        start, end = _window(args, ctx, "1y")
        o = ctx.data.observation
        window = o.date <= end if start is None else o.date.between(start, end)
        res = match_codes(
            o.filter(o.value_num.notnull() & window), codes, (("code_system", "code"),)
        )
        last_day = res.group_by("person_id").aggregate(day=res.date.max())
        j = res.join(last_day, [res.person_id == last_day.person_id, res.date == last_day.day])
        last = j.group_by(j.person_id).aggregate(
            value=j.value_num.min(), date=j.date.max(), unit=j.unit.max()
        )
        text = (
            ibis.literal(f"last {label} ")
            + _fmt_num(last.value)
            + last.unit.fill_null("")
            + ibis.literal(" on ")
            + last.date.cast("string")
        )
        return last, text
    if kind == "last_bp":
        check_keys(args, {"lookback", "window", "ever"}, kind)
        start, end = _window(args, ctx, "1y")
        bp = last_blood_pressure(ctx, start, end)
        text = (
            ibis.literal(f"last {label} ")
            + bp.systolic.cast("int64").cast("string").fill_null("?")
            + ibis.literal("/")
            + bp.diastolic.cast("int64").cast("string").fill_null("?")
            + ibis.literal(" on ")
            + bp.date.cast("string")
        )
        return bp, text
    check_keys(args, {"valueset", "codes", "lookback", "window", "ever", "kind"}, kind)
    source = str(args.get("kind", "procedure"))
    if source not in ("procedure", "medication", "diagnosis"):
        raise args.fail("kind: expected procedure, medication or diagnosis", "kind")
    codes = _codes(args)
    start, end = _window(args, ctx, None)
    ev = coded_events(ctx.data, source, codes, start, end)
    last = ev.group_by("person_id").aggregate(date=ev.date.max())
    text = ibis.literal(f"last {label} on ") + last.date.cast("string")
    return last, text


def _missing(label: str, fact: Located) -> Any:
    kind = next(iter(fact))
    args = fact[kind]
    where = "in the period"
    if isinstance(args, Located):
        if "lookback" in args:
            where = f"in the last {args['lookback']}"
        elif args.get("ever"):
            where = "on record"
    return ibis.literal(f"no {label} {where}")
