"""Person and area attributes to stratify by, as one Ibis table per period.

Each person's race, ethnicity, combined race/ethnicity, language, sex, age band, payer, home
area and its deprivation quintile (``popweave.measures.strata``) on the period's last day,
and social needs from screening answers: ``transport_need``, ``food_need``,
``housing_need`` and ``social_need`` (any of the three) are ``yes`` (a positive answer,
value set ``sdoh_positive_answers``, to a question of value set ``sdoh_<need>``), ``no``
(screened, never positive) or ``not screened``, over the look-back window (the cohort
language's default of 2 years ending on the period's last day, or the whole period if it is
longer).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from popweave.cohorts.criteria import SOCIAL_NEEDS
from popweave.cohorts.data import Data
from popweave.cohorts.period import Period, lookback_start
from popweave.measures.strata import strata

#: Attributes from ``popweave.measures.strata``.
STRATA = ("age_band", "sex", "race_ethnicity", "payer", "area", "deprivation_quintile")
#: Attributes taken from the person table as they are.
PERSON = ("race", "ethnicity", "language")
NEEDS = tuple(f"{n}_need" for n in SOCIAL_NEEDS)
#: Every attribute a measure can be stratified by.
ATTRIBUTES = (*STRATA, *PERSON, "social_need", *NEEDS)
YES, NO, NOT_SCREENED = "yes", "no", "not screened"


def need_window(period: Period) -> tuple[dt.date, dt.date]:
    """The screening look-back: 2 years to the period's end, or the whole period if longer."""
    return min(period.start, lookback_start(period.end, "2y")), period.end


def _screening(data: Data, period: Period, needs: tuple[str, ...]) -> Any:
    """``(person_id, <need>_need ...)`` for everyone screened in the window."""
    from popweave.terminology.valuesets import valueset

    start, end = need_window(period)
    yes = valueset("sdoh_positive_answers").codes_for("LOINC")
    o = data.observation
    codes = {n: valueset(f"sdoh_{n}").codes_for("LOINC") for n in needs}
    allc = sorted({c for v in codes.values() for c in v})
    o = o.filter((o.code_system == "LOINC") & o.code.isin(allc) & o.date.between(start, end))
    pos = o.value_code.isin(yes).fill_null(False)
    aggs = {f"_{n}": (pos & o.code.isin(codes[n])).cast("int64").max() for n in needs}
    aggs.update({f"_{n}_asked": o.code.isin(codes[n]).cast("int64").max() for n in needs})
    return o.group_by("person_id").aggregate(**aggs)


def _label(flag: Any, asked: Any) -> Any:
    return ibis.cases(
        (flag.fill_null(0) > 0, YES), (asked.fill_null(0) > 0, NO), else_=NOT_SCREENED
    )


def attributes(data: Data, period: Period, names: tuple[str, ...] | list[str]) -> Any:
    """``(person_id, <name> ...)`` for every person: the attributes ``names`` as strings."""
    names = tuple(dict.fromkeys(names))
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown:
        raise ValueError(f"unknown attribute(s) {', '.join(unknown)}")
    st = strata(data, period)
    cols: dict[str, Any] = {"person_id": st.person_id}
    cols.update({n: st[n] for n in STRATA if n in names})
    out = st.select(**cols)
    person_cols = [n for n in PERSON if n in names]
    if person_cols:
        p = data.person
        ps = p.select(
            "person_id", **{c: p[c].cast("string").fill_null("unknown") for c in person_cols}
        )
        out = out.join(ps, "person_id")
    needs = tuple(n for n in SOCIAL_NEEDS if f"{n}_need" in names or "social_need" in names)
    if needs:
        s = _screening(data, period, needs)
        j = out.left_join(s, "person_id")
        extra: dict[str, Any] = {}
        for n in needs:
            if f"{n}_need" in names:
                extra[f"{n}_need"] = _label(j[f"_{n}"], j[f"_{n}_asked"])
        if "social_need" in names:
            flag = sum((j[f"_{n}"].fill_null(0) for n in needs), ibis.literal(0))
            asked = sum((j[f"_{n}_asked"].fill_null(0) for n in needs), ibis.literal(0))
            extra["social_need"] = _label(flag, asked)
        out = j.select(*[j[c] for c in out.columns], **extra)
    return out.select("person_id", *names)
