"""CMS-HCC risk scores (V24 and V28 community models) as Ibis expressions.

The method is CMS's SAS software (V2419P1M, V2823T2M) read as data: diagnoses map to
condition categories (``data/hcc_<version>_icd10.csv``) after the mandatory age/sex edits
(``_edits.csv``); V28 counts HCC 223 only with another heart-failure HCC (``_requires.csv``);
hierarchies set the less severe HCCs to 0 in CMS's order (``_hierarchy.csv``); interactions
multiply HCCs, diagnostic groups and the disabled flag (``_interactions.csv``,
``_groups.csv``); the count of payment HCCs gives D1 ... D10P; the age/sex cell and the
originally-disabled factor come from age, sex and the original reason for entitlement.
Relative factors are those of the six community segments (``_coefficients.csv``).

Segment: non-dual (CN), full-benefit dual (CF) or partial-benefit dual (CP), aged (A, age
65 or over) or disabled (D). DISABL = age < 65 and OREC not 0; ORIGDS = OREC 1 and not
DISABL (CMS macro AGESEXV2). The score is the sum of the relative factors; the risk score
divides it by a normalisation factor and applies the MA coding adjustment, both
parameters (CMS publishes them per payment year).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

import ibis

from popweave.cohorts.data import Data, age_on, as_date
from popweave.risk._codes import code_table, memtable, rows

VERSIONS = ("v24", "v28")
SEGMENTS = ("CNA", "CND", "CFA", "CFD", "CPA", "CPD")


def hcc_people(data: Data, *, as_of: dt.date) -> Any:
    """``person_id, age, sex, dual, orec`` of people with Medicare (or dual) coverage on
    ``as_of`` (CMS: 1 February of the payment year).

    ``dual``: ``full`` with a dual or a Medicaid enrolment beside Medicare on that day, else
    ``none`` (the warehouse does not tell partial from full benefit). ``orec``: the
    warehouse holds no original reason for entitlement, so under-65s count as entitled by
    disability (1) and others by age (0).
    """
    e = data.enrollment
    on = (as_date(e.start_date) <= as_of) & (e.end_date.isnull() | (as_date(e.end_date) >= as_of))
    cover = (
        e.filter(on)
        .group_by("person_id")
        .aggregate(
            medicare=e.payer.isin(["medicare", "dual"]).any(),
            medicaid=e.payer.isin(["medicaid", "dual"]).any(),
        )
    )
    p = data.person
    j = p.join(cover.filter(cover.medicare), "person_id")
    age = age_on(j.birth_date, as_of)
    return j.select(
        person_id=j.person_id,
        age=age,
        sex=ibis.ifelse(j.sex == "male", "M", "F"),
        dual=ibis.ifelse(j.medicaid, "full", "none"),
        orec=ibis.ifelse(age < 65, "1", "0"),
    )


def hcc_factors(diagnoses: Any, people: Any, *, version: str = "v28") -> Any:
    """The relative factors each person's score adds up: ``person_id, segment, variable,
    coefficient`` (non-zero factors only).

    ``diagnoses``: ``person_id, code`` (ICD-10-CM, with or without the dot) of the data
    collection year. ``people``: ``person_id, age`` (on 1 February of the payment year),
    ``sex`` (``F``/``M`` or ``female``/``male``; anything else counts as female, as CMS codes
    only 1 and 2), ``dual`` (``none``, ``full``, ``partial``), ``orec`` (``0`` old age, ``1``
    disability, ``2`` ESRD, ``3`` both). Variables are CMS's names: ``F70_74``,
    ``OriginallyDisabled_Female``, ``HCC85``, ``DIABETES_CHF``, ``D3``.
    """
    t = _Tables.of(version)
    p = _people(people)
    return _factors(_final_hccs(diagnoses, p, t), p, t)


def _factors(final: Any, p: Any, t: _Tables) -> Any:
    terms = final.select("person_id", term=final.hcc)
    groups = final.join(t.groups, "hcc").select("person_id", term=ibis._.group).distinct()
    disabled = p.filter(p.disabled).select("person_id", term=ibis.literal("DISABLED"))
    terms = terms.union(groups, distinct=False).union(disabled, distinct=False)
    first = terms.join(t.interactions, terms.term == t.interactions.term1)
    other = terms.view()
    inter = first.semi_join(
        other, [first.person_id == other.person_id, first.term2 == other.term]
    ).select("person_id", variable=ibis._.variable)
    n = final.group_by("person_id").aggregate(n=final.hcc.count())
    count = n.select("person_id", variable=ibis.ifelse(n.n >= 10, "D10P", "D" + n.n.cast("string")))
    band = p.select("person_id", variable=_band(p, t))
    origds = p.filter(p.origds & p.aged).select(
        "person_id",
        variable=ibis.ifelse(p.sex == "F", "OriginallyDisabled_Female", "OriginallyDisabled_Male"),
    )
    parts = [final.select("person_id", variable=final.hcc), inter, count, band, origds]
    variables = parts[0]
    for part in parts[1:]:
        variables = variables.union(part, distinct=False)
    v = variables.join(p.select("person_id", "segment"), "person_id")
    out = v.join(t.coefficients, ["segment", "variable"])
    return out.filter(out.coefficient != 0).select(
        "person_id", "segment", "variable", "coefficient"
    )


def hcc_scores(
    diagnoses: Any,
    people: Any,
    *,
    version: str = "v28",
    normalisation: float = 1.0,
    coding_adjustment: float = 0.0,
) -> Any:
    """CMS-HCC community risk score per person of ``people``.

    Returns ``person_id, segment, score`` (the sum of relative factors), ``risk_score``
    (``score / normalisation * (1 - coding_adjustment)``; e.g. V28 for 2024: normalisation
    1.015, coding adjustment 0.059), ``hccs`` (payment HCCs after hierarchies,
    comma-separated, by number) and ``hcc_count``. Inputs as in :func:`hcc_factors`.

    >>> import ibis
    >>> dx = ibis.memtable({"person_id": ["a", "a"], "code": ["E11.9", "I50.9"]})
    >>> people = ibis.memtable(
    ...     {"person_id": ["a"], "age": [72], "sex": ["F"], "dual": ["none"], "orec": ["0"]}
    ... )
    >>> t = hcc_scores(dx, people, version="v28").execute()
    >>> t[["segment", "score", "hccs"]].values.tolist()
    [['CNA', 1.033, 'HCC38,HCC226']]
    """
    if normalisation <= 0:
        raise ValueError(f"normalisation must be positive, got {normalisation}")
    t = _Tables.of(version)
    p = _people(people)
    final = _final_hccs(diagnoses, p, t)
    f = _factors(final, p, t)
    sums = f.group_by("person_id").aggregate(score=f.coefficient.sum())
    number = final.hcc.substr(3).cast("int32")
    hccs = final.group_by("person_id").aggregate(
        hccs=final.hcc.group_concat(",", order_by=number), hcc_count=final.hcc.count()
    )
    out = p.left_join(sums, "person_id").left_join(hccs, "person_id")
    score = ibis.coalesce(out.score, 0.0).round(3)
    return out.select(
        out.person_id,
        out.segment,
        score=score,
        risk_score=(score / normalisation * (1 - coding_adjustment)).round(3),
        hccs=ibis.coalesce(out.hccs, ""),
        hcc_count=ibis.coalesce(out.hcc_count, 0),
    )


class _Tables:
    """The package tables of one model version as Ibis tables."""

    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown CMS-HCC version {version!r}: expected v24 or v28")
        name = f"hcc_{version}"
        s = "string"
        self.mapping = memtable(f"{name}_icd10", {"code": s, "hcc": s})
        self.edits = memtable(
            f"{name}_edits", {"code": s, "sex": s, "age_lt": "int", "age_ge": "int", "hcc": s}
        )
        self.requires = memtable(f"{name}_requires", {"hcc": s, "requires": s})
        self.groups = memtable(f"{name}_groups", {"group": s, "hcc": s})
        self.interactions = memtable(
            f"{name}_interactions", {"variable": s, "term1": s, "term2": s}
        )
        self.coefficients = memtable(
            f"{name}_coefficients", {"segment": s, "variable": s, "coefficient": "float"}
        )
        pairs, blockers = hierarchy(version)
        self.pairs = ibis.memtable(
            {"parent": [a for a, _ in pairs], "child": [b for _, b in pairs]},
            schema={"parent": "string", "child": "string"},
        )
        self.blockers = (
            ibis.memtable(
                {
                    "parent": [a for a, _, _ in blockers],
                    "child": [b for _, b, _ in blockers],
                    "blocker": [c for _, _, c in blockers],
                },
                schema={"parent": "string", "child": "string", "blocker": "string"},
            )
            if blockers
            else None
        )
        self.bands = _bands(version)
        self.has_requires = bool(rows(f"{name}_requires"))

    @classmethod
    @cache
    def of(cls, version: str) -> _Tables:
        return cls(version)


@cache
def hierarchy(
    version: str,
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...]]:
    """The hierarchy as (parent, child) pairs and (parent, child, blocker) triples.

    CMS applies the rules in order, each only if its parent is still 1 then. So a pair
    drops its child unless a *blocker* fired first: an earlier rule that set the parent to 0
    without listing the child (V28: HCC62 sets 63 to 0, so 63 does not drop 202). Every
    other way a parent is set to 0 drops the child anyway. Blockers that could themselves
    be set to 0 first would need more rounds; the shipped tables have none (checked here).
    """
    rules: dict[str, tuple[int, list[str]]] = {}
    for r in rows(f"hcc_{version}_hierarchy"):
        rules.setdefault(r["parent"], (int(r["rule"]), []))[1].append(r["child"])
    listers = {
        p: [q for q, (qn, kids) in rules.items() if p in kids and qn < n]
        for p, (n, _) in rules.items()
    }
    pairs, blockers = [], []
    for p, (_, kids) in rules.items():
        for c in kids:
            pairs.append((p, c))
            for q in listers[p]:
                if c not in rules[q][1]:
                    if listers.get(q):
                        raise NotImplementedError(f"blocker {q} of {p}->{c} has its own parents")
                    blockers.append((p, c, q))
    return tuple(pairs), tuple(blockers)


def _bands(version: str) -> dict[str, list[tuple[int, int, str]]]:
    """Age bands (low, high, suffix) of the aged and disabled community cells."""
    out: dict[str, list[tuple[int, int, str]]] = {"A": [], "D": []}
    seen: set[tuple[str, str]] = set()
    for r in rows(f"hcc_{version}_coefficients"):
        m = re.fullmatch(r"F(\d+)_(\d+|GT)", r["variable"])
        kind = r["segment"][2]
        if m and (kind, r["variable"]) not in seen:
            seen.add((kind, r["variable"]))
            hi = 200 if m.group(2) == "GT" else int(m.group(2))
            out[kind].append((int(m.group(1)), hi, r["variable"][1:]))
    return out


def _band(p: Any, t: _Tables) -> Any:
    cases = [
        ((p.aged == (kind == "A")) & p.age.between(lo, hi), p.sex + suffix)
        for kind, bands in t.bands.items()
        for lo, hi, suffix in bands
    ]
    return ibis.cases(*cases, else_=ibis.null("string"))


def _people(people: Any) -> Any:
    sex = people.sex.cast("string").upper().substr(0, 1)
    p = people.select(
        person_id=people.person_id,
        age=people.age.cast("int32"),
        sex=ibis.ifelse(sex == "M", "M", "F"),
        dual=people.dual,
        orec=people.orec.cast("string"),
    )
    aged = p.age >= 65
    disabled = (p.age < 65) & (p.orec != "0")
    dual = ibis.cases((p.dual == "full", "CF"), (p.dual == "partial", "CP"), else_="CN")
    return p.mutate(
        aged=aged,
        disabled=disabled,
        origds=(p.orec == "1") & ~disabled,
        segment=dual + ibis.ifelse(aged, "A", "D"),
    )


def _final_hccs(diagnoses: Any, p: Any, t: _Tables) -> Any:
    """``person_id, hcc`` after edits, the V28 heart rule and hierarchies."""
    dx = code_table(diagnoses)
    who = p.select("person_id", "age", person_sex=p.sex)
    e = dx.join(t.edits, "code").join(who, "person_id")
    applies = (
        (e.sex.isnull() | (e.sex == "") | (e.sex == e.person_sex))
        & (e.age_lt.isnull() | (e.age < e.age_lt))
        & (e.age_ge.isnull() | (e.age >= e.age_ge))
    )
    edited = e.filter(applies).select("person_id", "code", "hcc").distinct()
    mapped = dx.join(t.mapping, "code").anti_join(edited, ["person_id", "code"])
    cc = (
        mapped.select("person_id", "hcc")
        .union(edited.filter(edited.hcc.notnull() & (edited.hcc != "")).select("person_id", "hcc"))
        .distinct()
    )
    if t.has_requires:
        needs = cc.join(t.requires, "hcc")
        other = cc.view()
        met = needs.semi_join(
            other, [needs.person_id == other.person_id, needs.requires == other.hcc]
        )
        unmet = needs.select("person_id", "hcc").anti_join(met, ["person_id", "hcc"])
        cc = cc.anti_join(unmet, ["person_id", "hcc"])
    return _apply_hierarchy(cc, t)


def _apply_hierarchy(cc: Any, t: _Tables) -> Any:
    """``person_id, hcc`` less the HCCs a hierarchy rule sets to 0 (see :func:`hierarchy`)."""
    cand = cc.join(t.pairs, cc.hcc == t.pairs.parent).select("person_id", "parent", "child")
    if t.blockers is not None:
        b = cand.join(t.blockers, ["parent", "child"])
        present = cc.view()
        blocked = b.semi_join(present, [b.person_id == present.person_id, b.blocker == present.hcc])
        cand = cand.anti_join(blocked, ["person_id", "parent", "child"])
    drops = cand.select("person_id", hcc=cand.child)
    return cc.anti_join(drops, ["person_id", "hcc"])
