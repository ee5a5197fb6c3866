"""Cohort criteria: each YAML criterion compiles to an Ibis table of ``person_id``.

A criterion is a one-key mapping (``age: {min: 18}``); ``all_of`` / ``any_of`` / ``not``
combine them and ``cohort: NAME`` reuses another definition. ``docs/cohorts.md`` lists them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis

from popweave.cohorts.data import (
    Data,
    age_on,
    as_date,
    coded_events,
    match_codes,
    match_column,
)
from popweave.cohorts.deprivation import area_deprivation
from popweave.cohorts.enrolment import continuously_enrolled, covered_spans
from popweave.cohorts.period import Period, lookback_start, parse_duration, shift
from popweave.cohorts.spec_yaml import Located, LocatedList, check_keys
from popweave.errors import SpecError
from popweave.model.tables import ENCOUNTER_CLASSES, ETHNICITY, PAYERS, RACE, SEX

_OFFSET = re.compile(r"^\s*([+-])\s*(\d+)\s*([ymd])\s*$")
_COMPARE = re.compile(r"^\s*(<=|>=|<|>|==|=)\s*(-?\d+(?:\.\d+)?)\s*$")

#: Encounter classes counted as each care setting in ``diagnosis`` counts.
SETTINGS: dict[str, tuple[str, ...]] = {
    "inpatient": ("inpatient",),
    "emergency": ("emergency",),
    "outpatient": (
        "ambulatory",
        "outpatient",
        "urgentcare",
        "wellness",
        "home",
        "virtual",
        "observation",
    ),
}
#: CMS place-of-service codes for the same settings (claims).
POS_SETTINGS: dict[str, tuple[str, ...]] = {
    "inpatient": ("21", "51", "61"),
    "emergency": ("23",),
    "outpatient": ("02", "10", "11", "12", "19", "20", "22", "49", "50", "71", "72"),
}
SOCIAL_NEEDS = ("transport", "food", "housing")


@dataclass
class Context:
    """What a criterion is evaluated against."""

    data: Data
    index: dt.date
    period: Period
    #: Resolves ``cohort: NAME`` to its criteria (a list) and where it was defined.
    resolve: Callable[[str, Located, str], tuple[LocatedList, str]]
    stack: tuple[str, ...] = ()
    #: Materialised results shared by everything evaluated with this context (and its copies),
    #: keyed by what they compute; ``None`` means nothing is materialised.
    _cache: dict[str, Any] | None = None
    #: Whom ``not`` is taken against: everyone, or a smaller set already known to contain
    #: every person of interest (a measure's denominator), which saves work.
    universe: Any = None

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, materialised once per shared cache (Ibis ``cache()``: a temporary table
        on DuckDB, a cached DataFrame on Spark) when the context has a cache."""
        if self._cache is None:
            return build()
        full = f"{key}|{self.index}|{self.period}"
        if full not in self._cache:
            self._cache[full] = build().cache()
        return self._cache[full]

    def people(self) -> Any:
        if self.universe is not None:
            return self.universe
        return self.data.person.select("person_id")


# --- helpers ---------------------------------------------------------------------------


def _as_date(value: Any, node: Located, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise node.fail(f"{key}: {value!r} is not a date (YYYY-MM-DD)", key) from None


def _day(value: Any, ctx: Context, node: Located, key: str) -> dt.date:
    """A date, ``index``, ``period_start``/``period_end`` or an offset such as ``-6m``."""
    if isinstance(value, str):
        s = value.strip()
        named = {"index": ctx.index, "period_start": ctx.period.start, "period_end": ctx.period.end}
        if s in named:
            return named[s]
        m = _OFFSET.match(s)
        if m:
            n = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
            unit = m.group(3)
            if unit == "d":
                return ctx.index + dt.timedelta(days=n)
            return shift(ctx.index, years=n if unit == "y" else 0, months=n if unit == "m" else 0)
    return _as_date(value, node, key)


def _window(args: Located, ctx: Context, default: str | None) -> tuple[dt.date | None, dt.date]:
    """(start, end) from ``lookback``, ``window`` or ``ever``; ``start`` None means ever."""
    given = [k for k in ("lookback", "window", "ever") if k in args]
    if len(given) > 1:
        raise args.fail(f"give one of lookback, window, ever (not {', '.join(given)})", given[1])
    key = given[0] if given else None
    if key is None:
        if default is None:
            return None, ctx.index
        return lookback_start(ctx.index, default), ctx.index
    value = args[key]
    if key == "ever":
        if value is not True:
            raise args.fail("ever: expected true", key)
        return None, ctx.index
    if key == "lookback":
        try:
            parse_duration(str(value))
        except ValueError as exc:
            raise args.fail(str(exc), key) from None
        return lookback_start(ctx.index, str(value)), ctx.index
    if value == "period":
        return ctx.period.start, ctx.period.end
    if isinstance(value, Located):
        check_keys(value, {"from", "to"}, "window", required=("from",))
        start = _day(value["from"], ctx, value, "from")
        end = _day(value.get("to", "index"), ctx, value, "to")
        if end < start:
            raise value.fail(f"window ends ({end}) before it starts ({start})")
        return start, end
    raise args.fail("window: expected 'period' or {from: ..., to: ...}", key)


def _codes(args: Located) -> dict[str, list[str]]:
    """Codes by system from ``valueset`` (a name or list) and/or inline ``codes``."""
    out: dict[str, list[str]] = {}
    names = args.get("valueset")
    if names is not None:
        from popweave.terminology.valuesets import UnknownValueSet, valueset

        for name in names if isinstance(names, list) else [names]:
            try:
                vs = valueset(str(name))
            except UnknownValueSet as exc:
                raise args.fail(str(exc.args[0]) if exc.args else str(exc), "valueset") from None
            for system in vs.systems():
                out.setdefault(system, []).extend(vs.codes_for(system))
    inline = args.get("codes")
    if inline is not None:
        if not isinstance(inline, Located):
            raise args.fail("codes: expected a mapping of code system to a list of codes", "codes")
        for system, values in inline.items():
            vals = values if isinstance(values, list) else [values]
            out.setdefault(str(system), []).extend(str(v) for v in vals)
    if names is None and inline is None:
        raise args.fail("needs a valueset (or codes)")
    return out


def _count(args: Located, key: str = "count") -> int:
    n = args.get(key, 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise args.fail(f"{key}: expected a whole number >= 1", key)
    return n


def _compare(text: Any, args: Located, key: str) -> tuple[str, float]:
    m = _COMPARE.match(str(text))
    if not m:
        raise args.fail(f"{key}: {text!r} is not a comparison such as '> 9' or '<= 140'", key)
    return m.group(1).replace("==", "="), float(m.group(2))


def _apply(col: Any, op: str, value: float) -> Any:
    return {
        "<": col < value,
        "<=": col <= value,
        ">": col > value,
        ">=": col >= value,
        "=": col == value,
    }[op]


def _values(args: Any, node: Located, key: str, allowed: tuple[str, ...]) -> list[str]:
    vals = [str(v) for v in (args if isinstance(args, list) else [args])]
    for v in vals:
        if v not in allowed:
            close = difflib.get_close_matches(v, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise node.fail(f"{key}: unknown value {v!r}{hint}; allowed: {', '.join(allowed)}", key)
    return vals


def _args(node: Located, key: str) -> Located:
    args = node[key]
    if not isinstance(args, Located):
        raise node.fail(f"{key}: expected a mapping of options", key)
    return args


def _short_or_long(node: Located, key: str, main: str) -> tuple[Located | None, Any]:
    """``key: VALUE`` or ``key: {main: VALUE, lookback|window|ever: ...}`` -> (options, VALUE)."""
    raw = node[key]
    if not isinstance(raw, Located):
        return None, raw
    check_keys(raw, {main, "lookback", "window", "ever"}, key, (main,))
    return raw, raw[main]


def _persons(expr: Any) -> Any:
    return expr.select("person_id").distinct()


def _at_least(events: Any, n: int, distinct: str = "date") -> Any:
    if n == 1:
        return _persons(events)
    g = events.group_by("person_id").aggregate(n=events[distinct].nunique())
    return g.filter(g.n >= n).select("person_id")


# --- criteria --------------------------------------------------------------------------


def _age(node: Located, ctx: Context) -> Any:
    args = _args(node, "age")
    check_keys(args, {"min", "max", "on"}, "age")
    for k in ("min", "max"):
        if k in args and (not isinstance(args[k], int) or isinstance(args[k], bool)):
            raise args.fail(f"{k}: expected whole years", k)
    day = _day(args.get("on", "index"), ctx, args, "on")
    p = ctx.data.person
    age = age_on(p.birth_date, day)
    cond = ibis.literal(True)
    if "min" in args:
        cond = cond & (age >= args["min"])
    if "max" in args:
        cond = cond & (age <= args["max"])
    return p.filter(cond & (p.birth_date <= day)).select("person_id")


def _person_field(column: str, allowed: tuple[str, ...]) -> Callable[[Located, Context], Any]:
    def crit(node: Located, ctx: Context) -> Any:
        vals = _values(node[column], node, column, allowed)
        p = ctx.data.person
        return p.filter(p[column].isin(vals)).select("person_id")

    return crit


def _place(column: str) -> Callable[[Located, Context], Any]:
    def crit(node: Located, ctx: Context) -> Any:
        raw = node[column]
        vals = [str(v) for v in (raw if isinstance(raw, list) else [raw])]
        p = ctx.data.person
        if column in ("area", "zip"):
            col = p.area_id if column == "area" else p.zip
            return p.filter(col.isin(vals)).select("person_id")
        a = ctx.data.area.filter(ctx.data.area.county.isin(vals)).select("area_id")
        return p.semi_join(a, "area_id").select("person_id")

    return crit


def _deprivation(node: Located, ctx: Context) -> Any:
    raw = node["deprivation_quintile"]
    if isinstance(raw, Located):
        check_keys(raw, {"min", "max"}, "deprivation_quintile")
        lo, hi = int(raw.get("min", 1)), int(raw.get("max", 5))
        wanted = list(range(lo, hi + 1))
    else:
        wanted = [int(v) for v in (raw if isinstance(raw, list) else [raw])]
    if not wanted or any(q < 1 or q > 5 for q in wanted):
        raise node.fail("deprivation_quintile: expected quintiles 1-5 (5 = most deprived)")
    areas = area_deprivation(ctx.data)
    areas = areas.filter(areas.deprivation_quintile.isin(wanted)).select("area_id")
    return ctx.data.person.semi_join(areas, "area_id").select("person_id")


def _alive(node: Located, ctx: Context) -> Any:
    if node["alive"] is not True:
        raise node.fail("alive: expected true (use not: {alive: true} for the dead)", "alive")
    p = ctx.data.person
    return p.filter(p.death_date.isnull() | (p.death_date > ctx.index)).select("person_id")


def _died(node: Located, ctx: Context) -> Any:
    args = _args(node, "died")
    check_keys(args, {"lookback", "window", "ever"}, "died")
    start, end = _window(args, ctx, None)
    p = ctx.data.person
    cond = p.death_date <= end
    if start is not None:
        cond = cond & (p.death_date >= start)
    return p.filter(cond).select("person_id")


def _social_need(node: Located, ctx: Context) -> Any:
    from popweave.terminology.valuesets import valueset

    args, need = _short_or_long(node, "social_need", "need")
    needs = _values(need, args or node, "need" if args else "social_need", SOCIAL_NEEDS)
    start, end = (
        _window(args, ctx, "2y")
        if args is not None
        else (
            lookback_start(ctx.index, "2y"),
            ctx.index,
        )
    )
    codes: list[str] = []
    for n in needs:
        codes.extend(valueset(f"sdoh_{n}").codes_for("LOINC"))
    yes = valueset("sdoh_positive_answers").codes_for("LOINC")
    o = ctx.data.observation
    cond = (o.code_system == "LOINC") & o.code.isin(codes) & o.value_code.isin(yes)
    cond = cond & (o.date <= end) if start is None else cond & o.date.between(start, end)
    return _persons(o.filter(cond))


def _condition(node: Located, ctx: Context) -> Any:
    args = _args(node, "condition")
    check_keys(args, {"valueset", "codes", "lookback", "window", "ever", "onset_by"}, "condition")
    codes = _codes(args)
    c = _conditions(ctx, codes)
    if any(k in args for k in ("lookback", "window", "ever")):
        start, end = _window(args, ctx, None)
    else:
        start, end = ctx.index, ctx.index
    active = c.onset_date <= end
    if start is not None:
        active = active & (c.abatement_date.isnull() | (c.abatement_date >= start))
    if "onset_by" in args:
        active = active & (c.onset_date <= _day(args["onset_by"], ctx, args, "onset_by"))
    return _persons(c.filter(active))


def _conditions(ctx: Context, codes: dict[str, list[str]]) -> Any:
    """Condition rows whose mapped code or code as received is in ``codes``."""
    return match_codes(
        ctx.data.condition,
        codes,
        (("code_system", "code"), ("source_code_system", "source_code")),
    )


def _diagnosis_events(
    ctx: Context,
    codes: dict[str, list[str]],
    start: dt.date | None,
    end: dt.date,
    settings: bool = False,
) -> Any:
    """``(person_id, date, setting)`` for diagnoses in conditions, encounters and claims;
    ``setting`` is only worked out (a join with encounters) when ``settings`` is asked for."""
    d = ctx.data
    icd = codes.get("ICD10CM", [])

    def setting_of(cls: Any) -> Any:
        branches = [(cls.isin(list(v)), k) for k, v in SETTINGS.items()]
        return ibis.cases(*branches, else_="other")

    def in_window(day: Any) -> Any:
        return day <= end if start is None else day.between(start, end)

    parts = []
    e = d.encounter
    cc = _conditions(ctx, codes).pipe(lambda t: t.filter(in_window(t.onset_date)))
    if settings:
        joined = cc.left_join(e.select("encounter_id", "encounter_class"), "encounter_id")
        setting = setting_of(joined.encounter_class.fill_null(""))
        parts.append(
            joined.select(person_id=joined.person_id, date=joined.onset_date, setting=setting)
        )
    else:
        parts.append(
            cc.select(person_id=cc.person_id, date=cc.onset_date, setting=ibis.literal("any"))
        )
    ee = match_codes(e.filter(in_window(as_date(e.start_time))), codes, (("code_system", "code"),))
    parts.append(
        ee.select(
            person_id=ee.person_id,
            date=as_date(ee.start_time),
            setting=setting_of(ee.encounter_class) if settings else ibis.literal("any"),
        )
    )
    if icd:
        cl = d.claim_line
        clf = match_column(cl.filter(in_window(cl.service_date)), "diagnosis_code", icd)
        pos = ibis.cases(
            *[(clf.place_of_service.isin(list(v)), k) for k, v in POS_SETTINGS.items()],
            else_="other",
        )
        parts.append(
            clf.select(
                person_id=clf.person_id,
                date=clf.service_date,
                setting=pos if settings else ibis.literal("any"),
            )
        )
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part, distinct=False)
    return out.distinct()


def _diagnosis(node: Located, ctx: Context) -> Any:
    args = _args(node, "diagnosis")
    check_keys(args, {"valueset", "codes", "lookback", "window", "ever", "count"}, "diagnosis")
    codes = _codes(args)
    start, end = _window(args, ctx, None)
    count = args.get("count", 1)
    events = _diagnosis_events(ctx, codes, start, end, settings=isinstance(count, Located))
    if isinstance(count, Located):
        check_keys(count, set(SETTINGS), "count (settings)")
        sets = []
        for setting in count:
            n = _count(count, setting)
            sets.append(_at_least(events.filter(events.setting == setting), n))
        out = sets[0]
        for s in sets[1:]:
            out = out.union(s, distinct=True)
        return out
    return _at_least(events, _count(args))


def _coded(kind: str, key: str, default: str | None) -> Callable[[Located, Context], Any]:
    def crit(node: Located, ctx: Context) -> Any:
        args = _args(node, key)
        check_keys(args, {"valueset", "codes", "lookback", "window", "ever", "count"}, key)
        codes = _codes(args)
        start, end = _window(args, ctx, default)
        return _at_least(coded_events(ctx.data, kind, codes, start, end), _count(args))

    return crit


def _lab(node: Located, ctx: Context) -> Any:
    args = _args(node, "lab")
    check_keys(
        args,
        {"valueset", "codes", "lookback", "window", "ever", "last", "any", "min", "max"},
        "lab",
    )
    tests = [k for k in ("last", "any", "min", "max") if k in args]
    if len(tests) > 1:
        raise args.fail(f"give one of last, any, min, max (not {', '.join(tests)})", tests[1])
    codes = _codes(args)
    start, end = _window(args, ctx, "1y")
    o = ctx.data.observation
    window = o.date <= end if start is None else o.date.between(start, end)
    res = match_codes(o.filter(window & o.value_num.notnull()), codes, (("code_system", "code"),))
    if not tests:
        return _persons(res)
    which = tests[0]
    op, value = _compare(args[which], args, which)
    if which == "any":
        return _persons(res.filter(_apply(res.value_num, op, value)))
    if which in ("min", "max"):
        g = res.group_by("person_id").aggregate(
            v=res.value_num.min() if which == "min" else res.value_num.max()
        )
        return g.filter(_apply(g.v, op, value)).select("person_id")
    return _last_value(res).pipe(lambda t: t.filter(_apply(t.value, op, value))).select("person_id")


def _last_value(res: Any) -> Any:
    """Most recent result per person; several on that day: the lowest (HEDIS GSD)."""
    last_day = res.group_by("person_id").aggregate(day=res.date.max())
    j = res.join(last_day, [res.person_id == last_day.person_id, res.date == last_day.day])
    return j.group_by(j.person_id).aggregate(value=j.value_num.min(), date=j.date.max())


def last_blood_pressure(ctx: Context, start: dt.date | None, end: dt.date) -> Any:
    """``(person_id, date, systolic, diastolic)``: the most recent day with a BP reading and
    that day's lowest systolic and lowest diastolic (HEDIS CBP)."""
    from popweave.terminology.valuesets import valueset

    sys_codes = valueset("systolic_bp").codes_for("LOINC")
    dia_codes = valueset("diastolic_bp").codes_for("LOINC")
    o = ctx.data.observation
    window = o.date <= end if start is None else o.date.between(start, end)
    bp = o.filter(
        (o.code_system == "LOINC")
        & (o.code.isin(sys_codes) | o.code.isin(dia_codes))
        & window
        & o.value_num.notnull()
    )
    last_day = bp.group_by("person_id").aggregate(day=bp.date.max())
    j = bp.join(last_day, [bp.person_id == last_day.person_id, bp.date == last_day.day])
    return j.group_by(j.person_id).aggregate(
        date=j.date.max(),
        systolic=j.value_num.min(where=j.code.isin(sys_codes)),
        diastolic=j.value_num.min(where=j.code.isin(dia_codes)),
    )


def _blood_pressure(node: Located, ctx: Context) -> Any:
    args = _args(node, "blood_pressure")
    check_keys(args, {"lookback", "window", "ever", "last_below"}, "blood_pressure")
    start, end = _window(args, ctx, "1y")
    last = last_blood_pressure(ctx, start, end)
    if "last_below" not in args:
        return last.select("person_id")
    below = args["last_below"]
    if not (isinstance(below, list) and len(below) == 2):
        raise args.fail("last_below: expected [systolic, diastolic], e.g. [140, 90]", "last_below")
    s, d = float(below[0]), float(below[1])
    return last.filter((last.systolic < s) & (last.diastolic < d)).select("person_id")


def _encounter(node: Located, ctx: Context) -> Any:
    args = _args(node, "encounter")
    check_keys(args, {"class", "lookback", "window", "ever", "count"}, "encounter", ("class",))
    classes = _values(args["class"], args, "class", ENCOUNTER_CLASSES)
    start, end = _window(args, ctx, "1y")
    e = ctx.data.encounter
    day = as_date(e.start_time)
    window = day <= end if start is None else day.between(start, end)
    events = e.filter(e.encounter_class.isin(classes) & window)
    n = _count(args)
    if n == 1:
        return _persons(events)
    g = events.group_by("person_id").aggregate(n=events.encounter_id.nunique())
    return g.filter(g.n >= n).select("person_id")


def _enrolled(node: Located, ctx: Context) -> Any:
    raw = node["enrolled"]
    args = raw if isinstance(raw, Located) else None
    if args is None and raw is not True:
        raise node.fail("enrolled: expected true or a mapping of options", "enrolled")
    opts = args if args is not None else Located()
    if args is not None:
        check_keys(
            args,
            {"continuous", "lookback", "window", "max_gap_days", "max_gaps", "payer", "on"},
            "enrolled",
        )
    payers = _values(opts["payer"], opts, "payer", PAYERS) if "payer" in opts else None
    if opts.get("continuous", False):
        if "lookback" in opts or "window" in opts:
            start, end = _window(opts, ctx, None)
            period = Period(start or ctx.period.start, end)
        else:
            period = ctx.period
        anchor = _day(opts.get("on", "index"), ctx, opts, "on")
        anchor_day = min(anchor, period.end)
        gaps, gap_days = int(opts.get("max_gaps", 1)), int(opts.get("max_gap_days", 45))
        return ctx.memo(
            f"enrolled|{period}|{anchor_day}|{gaps}|{gap_days}|{payers}",
            lambda: continuously_enrolled(
                ctx.data,
                period,
                max_gaps=gaps,
                max_gap_days=gap_days,
                anchor=anchor_day,
                payers=payers,
            ),
        )
    day = _day(opts.get("on", "index"), ctx, opts, "on")
    spans = covered_spans(ctx.data, Period(day, day), payers)
    return _persons(spans)


def _programme(node: Located, ctx: Context) -> Any:
    args, names = _short_or_long(node, "programme", "name")
    wanted = [str(n) for n in (names if isinstance(names, list) else [names])]
    g = ctx.data.programme_enrollment
    g = g.filter(g.programme.isin(wanted))
    if args is not None and any(k in args for k in ("lookback", "window", "ever")):
        start, end = _window(args, ctx, None)
    else:
        start, end = ctx.index, ctx.index
    active = g.start_date <= end
    if start is not None:
        active = active & (g.end_date.isnull() | (g.end_date >= start))
    return _persons(g.filter(active))


def _cohort_ref(node: Located, ctx: Context) -> Any:
    name = str(node["cohort"])
    if name in ctx.stack:
        cycle = " -> ".join([*ctx.stack[ctx.stack.index(name) :], name])
        raise node.fail(f"cohort {name!r} refers back to itself: {cycle}", "cohort")
    criteria, _ = ctx.resolve(name, node, "cohort")
    sub = Context(
        ctx.data, ctx.index, ctx.period, ctx.resolve, (*ctx.stack, name), ctx._cache, ctx.universe
    )
    return compile_all(criteria, sub)


def _all_of(node: Located, ctx: Context) -> Any:
    items = node["all_of"]
    if not isinstance(items, list) or not items:
        raise node.fail("all_of: expected a non-empty list of criteria", "all_of")
    return compile_all(items, ctx)


def _any_of(node: Located, ctx: Context) -> Any:
    items = node["any_of"]
    if not isinstance(items, list) or not items:
        raise node.fail("any_of: expected a non-empty list of criteria", "any_of")
    parts = [compile_criterion(_item(i, node, "any_of"), ctx) for i in items]
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p, distinct=True)
    return out


def _not(node: Located, ctx: Context) -> Any:
    inner = node["not"]
    if isinstance(inner, list):
        sub = compile_all(inner, ctx)
    else:
        sub = compile_criterion(_item(inner, node, "not"), ctx)
    return ctx.people().anti_join(sub, "person_id")


CRITERIA: dict[str, Callable[[Located, Context], Any]] = {
    "age": _age,
    "sex": _person_field("sex", SEX),
    "race": _person_field("race", RACE),
    "ethnicity": _person_field("ethnicity", ETHNICITY),
    "area": _place("area"),
    "zip": _place("zip"),
    "county": _place("county"),
    "deprivation_quintile": _deprivation,
    "social_need": _social_need,
    "alive": _alive,
    "died": _died,
    "condition": _condition,
    "diagnosis": _diagnosis,
    "procedure": _coded("procedure", "procedure", None),
    "medication": _coded("medication", "medication", None),
    "lab": _lab,
    "blood_pressure": _blood_pressure,
    "encounter": _encounter,
    "enrolled": _enrolled,
    "programme": _programme,
    "cohort": _cohort_ref,
    "all_of": _all_of,
    "any_of": _any_of,
    "not": _not,
}


def _item(item: Any, parent: Located, key: str) -> Located:
    if not isinstance(item, Located):
        raise parent.fail(f"{key}: each criterion is a mapping such as 'age: {{min: 18}}'", key)
    return item


def compile_criterion(node: Located, ctx: Context) -> Any:
    """One criterion mapping to an Ibis table of distinct ``person_id``."""
    if len(node) != 1:
        keys = ", ".join(node) or "nothing"
        raise node.fail(f"a criterion has exactly one kind (found {keys}); wrap several in all_of")
    key = next(iter(node))
    if key not in CRITERIA:
        close = difflib.get_close_matches(key, list(CRITERIA), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise node.fail(
            f"unknown criterion {key!r}{hint}; known: {', '.join(sorted(CRITERIA))}", key
        )
    try:
        return CRITERIA[key](node, ctx)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise node.fail(f"{key}: {exc}", key) from None


def compile_all(items: list[Any], ctx: Context) -> Any:
    """All of ``items`` (semi-joins in order)."""
    parent = items if isinstance(items, LocatedList) else None
    out = None
    for it in items:
        if not isinstance(it, Located):
            where = f"{parent.file}:{parent.line}" if parent is not None else "criteria"
            raise SpecError(f"{where}: each criterion is a mapping such as 'age: {{min: 18}}'")
        part = compile_criterion(it, ctx)
        out = part if out is None else out.semi_join(part, "person_id")
    if out is None:
        return ctx.people()
    return out.select("person_id").distinct()
