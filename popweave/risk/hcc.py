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
import itertools
import re
from functools import cache
from typing import Any

import ibis
import pyarrow as pa

from popweave.cohorts.data import Data, age_on, as_date
from popweave.risk._codes import memtable, normalised, rows
from popweave.risk.comorbidity import listed

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
    w = _wide(diagnoses, people, t)
    flags = w.select(
        "person_id", "segment", "band", *t.variables[: -len(COUNTS)], **_counts(w.hcc_count)
    )
    long = flags.pivot_longer(list(t.variables), names_to="variable", values_to="on")
    hit = long.filter(long.on).select("person_id", "segment", "variable")
    band = flags.filter(flags.band.notnull()).select("person_id", "segment", variable=flags.band)
    v = hit.union(band, distinct=False)
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

    One pass: the diagnoses join the mapping once and pivot to one row per person (a bit
    per HCC, OR-aggregated); edits, the heart rule, hierarchies, interactions and counts are
    column expressions on that row, and the score is one sum of flag x coefficient against
    the segment's row of the relative factors.

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
    w = _wide(diagnoses, people, t)
    w = w.join(t.factors, "segment").left_join(t.cells, ["segment", "band"])
    flags = {v: w[v] for v in t.variables[: -len(COUNTS)]} | _counts(w.hcc_count)
    terms = [flags[v].cast("float64") * w[f"c_{v}"] for v in t.scored]
    score = sum(terms, w.cell.fill_null(0.0)).round(3)
    return w.select(
        w.person_id,
        w.segment,
        score=score,
        risk_score=(score / normalisation * (1 - coding_adjustment)).round(3),
        hccs=listed({h: w[h] for h in t.hccs}, list(t.hccs)),
        hcc_count=w.hcc_count,
    )


#: A mandatory edit's condition: (sex or "", applies below this age, applies from this age).
Pred = tuple[str, int | None, int | None]
#: When a mapping slot counts: always (""), when an edit applies ("edit"), or unless one of
#: the code's edits applies ("unless").
Cond = tuple[str, frozenset[Pred]]
WORD_BITS = 62


class _Tables:
    """One model version, read as data: HCC slots and the code -> bit-word mapping, the
    heart rule, the hierarchy, groups, interactions and the relative factors by segment."""

    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown CMS-HCC version {version!r}: expected v24 or v28")
        name = f"hcc_{version}"
        edits: dict[str, list[tuple[Pred, str]]] = {}
        for r in rows(f"{name}_edits"):
            pred = (r["sex"], _int(r["age_lt"]), _int(r["age_ge"]))
            edits.setdefault(r["code"], []).append((pred, r["hcc"]))
        by_code: dict[str, set[tuple[str, Cond]]] = {}
        for r in rows(f"{name}_icd10"):
            own = edits.get(r["code"], [])
            cond: Cond = ("unless", frozenset(p for p, _ in own)) if own else ("", frozenset())
            by_code.setdefault(r["code"], set()).add((r["hcc"], cond))
        for code, own in edits.items():
            for pred, hcc in own:
                if hcc:
                    by_code.setdefault(code, set()).add((hcc, ("edit", frozenset([pred]))))
        pairs, blockers = hierarchy(version)
        self.pairs = pairs
        self.blockers = blockers
        names = {h for slots in by_code.values() for h, _ in slots}
        names |= {h for pair in pairs for h in pair}
        self.hccs: tuple[str, ...] = tuple(sorted(names, key=_number))
        #: (hcc, condition) per bit, bit i in word i // WORD_BITS.
        self.slots: tuple[tuple[str, Cond], ...] = tuple(
            sorted({s for slots in by_code.values() for s in slots}, key=_slot_key)
        )
        index = {s: i for i, s in enumerate(self.slots)}
        self.words = -(-len(self.slots) // WORD_BITS)
        codes = sorted(by_code)
        masks = [[0] * self.words for _ in codes]
        for m, code in zip(masks, codes, strict=True):
            for s in by_code[code]:
                i = index[s]
                m[i // WORD_BITS] |= 1 << (i % WORD_BITS)
        self.mapping = ibis.memtable(
            pa.table(
                {
                    "code": pa.array(codes, pa.string()),
                    **{
                        f"w{k}": pa.array([m[k] for m in masks], pa.int64())
                        for k in range(self.words)
                    },
                }
            )
        )
        self.requires: dict[str, list[str]] = {}
        for r in rows(f"{name}_requires"):
            self.requires.setdefault(r["hcc"], []).append(r["requires"])
        self.groups: dict[str, list[str]] = {}
        for r in rows(f"{name}_groups"):
            self.groups.setdefault(r["group"], []).append(r["hcc"])
        self.interactions = tuple(
            (r["variable"], r["term1"], r["term2"]) for r in rows(f"{name}_interactions")
        )
        self.bands = _bands(version)
        coefs: dict[str, dict[str, float]] = {}
        for r in rows(f"{name}_coefficients"):
            coefs.setdefault(r["variable"], {})[r["segment"]] = float(r["coefficient"])
        self.coefficients = memtable(
            f"{name}_coefficients",
            {"segment": "string", "variable": "string", "coefficient": "float"},
        )
        #: Flag variables: payment HCCs, interactions, originally disabled, payment-HCC counts.
        self.variables: tuple[str, ...] = (
            *self.hccs,
            *(v for v, _, _ in self.interactions),
            *ORIGDS,
            *COUNTS,
        )
        #: The flag variables with a non-zero relative factor in some segment.
        self.scored = tuple(v for v in self.variables if any(coefs.get(v, {}).values()))
        wide = self.scored
        #: The demographic cell's factor by segment and band (``F70_74``).
        cells = [
            (seg, f"{sex}{suffix}", coefs[f"{sex}{suffix}"][seg])
            for seg in SEGMENTS
            for _, _, suffix in self.bands[seg[2]]
            for sex in "FM"
            if seg in coefs.get(f"{sex}{suffix}", {})
        ]
        self.cells = ibis.memtable(
            pa.table(
                {
                    "segment": pa.array([c[0] for c in cells], pa.string()),
                    "band": pa.array([c[1] for c in cells], pa.string()),
                    "cell": pa.array([c[2] for c in cells], pa.float64()),
                }
            )
        )
        self.factors = ibis.memtable(
            pa.table(
                {
                    "segment": pa.array(SEGMENTS, pa.string()),
                    **{
                        f"c_{v}": pa.array(
                            [coefs.get(v, {}).get(s, 0.0) for s in SEGMENTS], pa.float64()
                        )
                        for v in wide
                    },
                }
            )
        )

    @classmethod
    @cache
    def of(cls, version: str) -> _Tables:
        return cls(version)


COUNTS = (*(f"D{k}" for k in range(1, 10)), "D10P")
ORIGDS = ("OriginallyDisabled_Female", "OriginallyDisabled_Male")


def _int(v: str) -> int | None:
    return int(v) if v else None


def _number(hcc: str) -> int:
    return int(hcc[3:])


def _slot_key(s: tuple[str, Cond]) -> tuple[int, str, list[Pred]]:
    return _number(s[0]), s[1][0], sorted(s[1][1], key=repr)


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
    """The age/sex cell (``F70_74``). The disabled bands end below 65 and the aged ones
    start at 65, so the age alone picks the band."""
    bands = sorted(b for kind in t.bands.values() for b in kind)
    if any(a[1] >= b[0] for a, b in itertools.pairwise(bands)):
        raise NotImplementedError(f"overlapping age bands: {bands}")
    suffix = ibis.cases(
        *[(p.age <= hi, suffix) for _, hi, suffix in bands], else_=ibis.null("string")
    )
    return ibis.ifelse(p.age >= bands[0][0], p.sex + suffix, ibis.null("string"))


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


def _holds(pred: Pred, x: Any) -> Any:
    """Whether a mandatory edit applies to the person of row ``x``."""
    sex, below, from_ = pred
    out = ibis.literal(True)
    if sex:
        out &= x.sex == sex
    if below is not None:
        out &= x.age < below
    if from_ is not None:
        out &= x.age >= from_
    return out


def _coded(x: Any, t: _Tables) -> dict[str, Any]:
    """The condition categories of row ``x`` (bit words ``w0 ...``, ``age``, ``sex``) after
    the mandatory edits and the V28 heart rule, before hierarchies: one boolean per HCC."""
    parts: dict[str, list[Any]] = {h: [] for h in t.hccs}
    for i, (hcc, (kind, preds)) in enumerate(t.slots):
        bit = ibis.literal(1 << (i % WORD_BITS), "int64")
        on = (x[f"w{i // WORD_BITS}"] & bit) != 0
        if kind == "edit":
            on &= _holds(next(iter(preds)), x)
        elif kind == "unless":
            on &= ~_any([_holds(p, x) for p in sorted(preds, key=repr)])
        parts[hcc].append(on)
    cc = {h: _any(ons) for h, ons in parts.items()}
    for hcc, needs in t.requires.items():
        cc[hcc] = cc[hcc] & _any([cc[n] for n in needs])
    return cc


def _ranked(cc: dict[str, Any], t: _Tables) -> dict[str, Any]:
    """The HCCs left after the hierarchies (see :func:`hierarchy`), as column expressions."""
    blockers: dict[tuple[str, str], list[str]] = {}
    for parent, child, blocker in t.blockers:
        blockers.setdefault((parent, child), []).append(blocker)
    drops: dict[str, list[Any]] = {}
    for parent, child in t.pairs:
        drop = cc[parent]
        if (parent, child) in blockers:
            drop &= ~_any([cc[b] for b in blockers[parent, child]])
        drops.setdefault(child, []).append(drop)
    return {h: cc[h] & ~_any(drops[h]) if h in drops else cc[h] for h in t.hccs}


def _any(values: list[Any]) -> Any:
    if not values:
        return ibis.literal(False)
    out = values[0]
    for v in values[1:]:
        out |= v
    return out


def _wide(diagnoses: Any, people: Any, t: _Tables) -> Any:
    """One row per person of ``people``: ``person_id, segment, band``, a boolean per payment
    HCC after hierarchies, per interaction, per count ``D1 ... D10P`` and per
    originally-disabled factor, and ``hcc_count``."""
    # The distinct codes are normalised and mapped, then joined back to the diagnoses.
    raw = diagnoses.select(raw=diagnoses.code).distinct()
    codes = raw.join(t.mapping, normalised(raw.raw) == t.mapping.code).drop("code")
    hit = diagnoses.join(codes, diagnoses.code == codes.raw)
    bits = hit.group_by("person_id").aggregate(
        **{f"w{k}": hit[f"w{k}"].bit_or() for k in range(t.words)}
    )
    p = _people(people)
    x = p.left_join(bits, "person_id")
    x = x.select(
        *(x[c] for c in ("person_id", "age", "sex", "aged", "disabled", "origds", "segment")),
        **{f"w{k}": x[f"w{k}"].fill_null(0) for k in range(t.words)},
    )
    cc = x.select(
        "person_id", "age", "sex", "aged", "disabled", "origds", "segment", **_coded(x, t)
    )
    final = cc.select(
        "person_id", "age", "sex", "aged", "disabled", "origds", "segment", **_ranked(cc, t)
    )
    f = final
    terms: dict[str, Any] = {h: f[h] for h in t.hccs}
    terms |= {g: _any([f[h] for h in members]) for g, members in t.groups.items()}
    terms["DISABLED"] = f.disabled
    return f.select(
        "person_id",
        "segment",
        *t.hccs,
        band=_band(f, t),
        **{v: terms[a] & terms[b] for v, a, b in t.interactions},
        OriginallyDisabled_Female=f.origds & f.aged & (f.sex == "F"),
        OriginallyDisabled_Male=f.origds & f.aged & (f.sex == "M"),
        hcc_count=sum((f[h].cast("int32") for h in t.hccs), ibis.literal(0, "int32")),
    )


def _counts(n: Any) -> dict[str, Any]:
    """The payment-HCC count factors ``D1 ... D10P`` of the count ``n``."""
    return {**{f"D{k}": n == k for k in range(1, 10)}, "D10P": n >= 10}


def _apply_hierarchy(cc: Any, t: _Tables) -> Any:
    """``person_id, hcc`` less the HCCs a hierarchy rule sets to 0 (see :func:`hierarchy`):
    pivoted to one boolean per HCC, ranked, and back to rows."""
    wide = cc.group_by("person_id").aggregate(**{h: (cc.hcc == h).any() for h in t.hccs})
    final = wide.select("person_id", **_ranked({h: wide[h] for h in t.hccs}, t))
    long = final.pivot_longer(list(t.hccs), names_to="hcc", values_to="on")
    return long.filter(long.on).select("person_id", "hcc")
