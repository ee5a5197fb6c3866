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
import functools
import itertools
import re
from functools import cache
from typing import Any

import ibis
import ibis.expr.datatypes as dt_
import pyarrow as pa

from popweave.cohorts.data import Data, age_on, as_date
from popweave.model.codes import icd10cm
from popweave.risk._codes import memtable, normalised, rows
from popweave.risk.comorbidity import listed
from popweave.warehouse.prepared import Prepared

VERSIONS = ("v24", "v28")
#: How diagnosis codes are spelled: any way (normalised first), or canonically (matched as is).
CODES = ("any", "canonical")
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


def hcc_factors(diagnoses: Any, people: Any, *, version: str = "v28", codes: str = "any") -> Any:
    """The relative factors each person's score adds up: ``person_id, segment, variable,
    coefficient`` (non-zero factors only).

    ``diagnoses``: ``person_id, code`` (ICD-10-CM, with or without the dot) of the data
    collection year. ``people``: ``person_id, age`` (on 1 February of the payment year),
    ``sex`` (``F``/``M`` or ``female``/``male``; anything else counts as female, as CMS codes
    only 1 and 2), ``dual`` (``none``, ``full``, ``partial``), ``orec`` (``0`` old age, ``1``
    disability, ``2`` ESRD, ``3`` both). Variables are CMS's names: ``F70_74``,
    ``OriginallyDisabled_Female``, ``HCC85``, ``DIABETES_CHF``, ``D3``. ``codes`` as in
    :func:`hcc_scores`.
    """
    check_options(version, 1.0, 0.0, codes)
    t = _Tables.of(version)
    w = _final(diagnoses, people, t, codes)
    w = w.join(t.factors.select("seg", "segment"), "seg").left_join(t.cells, _CELL_KEY)
    words = _words(w, "f", t.words)
    flags = w.select(
        "person_id",
        "segment",
        band=w.cell_variable,
        **{h: _has(words, t, h) for h in t.hccs},
        **{v: w[v] for v in t.flags},
        **_counts(w.hcc_count),
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
    hccs: bool = False,
    codes: str = "any",
) -> Any:
    """CMS-HCC community risk score per person of ``people``.

    Returns ``person_id, segment, score`` (the sum of relative factors), ``risk_score``
    (``score / normalisation * (1 - coding_adjustment)``; e.g. V28 for 2024: normalisation
    1.015, coding adjustment 0.059) and ``hcc_count`` (payment HCCs after hierarchies);
    with ``hccs=True`` also ``hccs``, those HCCs comma-separated by number. Inputs as in
    :func:`hcc_factors`, which lists the factors behind each score. ``codes``: ``"any"``
    spelling (normalised, see ``_codes.normalised``) or ``"canonical"``, codes spelled as the
    warehouse stores them (:func:`popweave.model.codes.icd10cm`: ``E11.9``, ``I10``), which
    are matched exactly (any other spelling then counts for nothing).

    The HCCs are bits of 64-bit words: each distinct code maps once to words of HCC bits
    (plus bits of the mappings an age/sex edit decides, and the children its HCCs drop),
    the diagnoses OR-aggregate to one row per person, and edits, the heart rule and the
    remaining hierarchy rules are masks on those words. The score is the demographic cell
    and count factor, the flag variables' factors, and the HCCs' factors as a weighted
    popcount: per binary digit d of the factors in thousandths, 2**d times the number of
    HCC bits in the segment's mask of that digit.

    >>> import ibis
    >>> dx = ibis.memtable({"person_id": ["a", "a"], "code": ["E11.9", "I50.9"]})
    >>> people = ibis.memtable(
    ...     {"person_id": ["a"], "age": [72], "sex": ["F"], "dual": ["none"], "orec": ["0"]}
    ... )
    >>> t = hcc_scores(dx, people, version="v28", hccs=True).execute()
    >>> t[["segment", "score", "hcc_count", "hccs"]].values.tolist()
    [['CNA', 1.033, 2, 'HCC38,HCC226']]
    """
    check_options(version, normalisation, coding_adjustment, codes)
    t = _Tables.of(version)
    w = _final(diagnoses, people, t, codes)
    w = w.join(t.factors, "seg").left_join(t.cells, _CELL_KEY)
    words = _words(w, "f", t.words)
    milli = w.cell.fill_null(0)
    for v in t.flags:
        milli = milli + ibis.ifelse(w[v], w[f"c_{v}"], ibis.literal(0, "int64"))
    digits: dict[int, list[int]] = {}
    for d, k in t.masks:
        digits.setdefault(d, []).append(k)
    for d, ks in digits.items():
        # bit_count is int8 in DuckDB: the words' counts fit before widening up to 127 bits.
        ones = [_bit_count(words[k] & w[f"m{d}_{k}"]) for k in ks]
        if len(ones) * WORD_BITS <= 127:
            total = sum(ones[1:], ones[0]).cast("int64")
        else:
            total = sum(ones[1:], ones[0].cast("int64"))
        milli = milli + (total if d == 0 else total * ibis.literal(1 << d, "int64"))
    extra = {"hccs": listed({h: _has(words, t, h) for h in t.hccs}, list(t.hccs))} if hccs else {}
    m = w.select("person_id", "segment", "hcc_count", milli=milli, **extra).view()
    score = (m.milli.cast("float64") / 1000.0).round(3)
    return m.select(
        "person_id",
        "segment",
        score=score,
        risk_score=(score / normalisation * (1 - coding_adjustment)).round(3),
        hcc_count=m.hcc_count,
        **({"hccs": m.hccs} if hccs else {}),
    )


def check_options(
    version: str, normalisation: float, coding_adjustment: float, codes: str = "any"
) -> None:
    """ValueError unless the version is known, the normalisation factor positive, the
    coding adjustment in [0, 1) and ``codes`` one of :data:`CODES`."""
    _Tables.of(version)  # ValueError for an unknown version (the tables are kept)
    if codes not in CODES:
        raise ValueError(f"codes must be one of {', '.join(CODES)}, got {codes!r}")
    if normalisation <= 0:
        raise ValueError(f"normalisation must be positive, got {normalisation}")
    if not 0 <= coding_adjustment < 1:
        raise ValueError(f"the coding adjustment must be in [0, 1), got {coding_adjustment}")


def hcc_score_table(diagnoses: Any, people: Any, **options: Any) -> pa.Table:
    """:func:`hcc_scores` (same options) run, as an Arrow table. On DuckDB the compiled
    statement is kept per options and input schemas
    (:class:`~popweave.warehouse.prepared.Prepared`), so scoring the next population skips
    building and compiling the expression."""
    return _prepared(**options).run(diagnoses=diagnoses, people=people)


@cache
def _prepared(**options: Any) -> Prepared:
    return Prepared(functools.partial(hcc_scores, **options))


#: A mandatory edit's condition: (sex or "", applies below this age, applies from this age).
Pred = tuple[str, int | None, int | None]
#: When a mapping slot counts: always (""), when an edit applies ("edit"), or unless one of
#: the code's edits applies ("unless").
Cond = tuple[str, frozenset[Pred]]
WORD_BITS = 62


class _Tables:
    """One model version, read as data: the code -> bit-word mapping, the heart rule, the
    hierarchy as drop masks, groups, interactions and the relative factors by segment.

    HCC ``i`` (by number) is bit ``i % WORD_BITS`` of word ``i // WORD_BITS``. A mapping an
    age/sex edit decides (``conditional``) has a bit of its own after the HCCs."""

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
        names = {h for slots in by_code.values() for h, _ in slots}
        names |= {h for pair in pairs for h in pair}
        self.hccs: tuple[str, ...] = tuple(sorted(names, key=_number))
        self.pos = {h: i for i, h in enumerate(self.hccs)}
        self.words = -(-len(self.hccs) // WORD_BITS)
        #: The mappings an edit decides, (hcc, condition): slot j is bit len(hccs) + j of
        #: the mapping words, after the HCCs (in the last HCC word's spare bits if they fit).
        self.conditional: tuple[tuple[str, Cond], ...] = tuple(
            sorted({s for ss in by_code.values() for s in ss if s[1][0]}, key=_slot_key)
        )
        self.mwords = -(-(len(self.hccs) + len(self.conditional)) // WORD_BITS)
        index = {s: len(self.hccs) + j for j, s in enumerate(self.conditional)}
        self.requires: dict[str, list[str]] = {}
        for r in rows(f"{name}_requires"):
            self.requires.setdefault(r["hcc"], []).append(r["requires"])
        #: The hierarchy (see :func:`hierarchy`): a parent, its blockers and the word masks
        #: of the children it drops when it is coded and none of the blockers is.
        drops: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        blocked: dict[tuple[str, str], list[str]] = {}
        for parent, child, blocker in blockers:
            blocked.setdefault((parent, child), []).append(blocker)
        for parent, child in pairs:
            key = (parent, tuple(sorted(blocked.get((parent, child), []), key=_number)))
            mask = drops.setdefault(key, [0] * self.words)
            mask[self.pos[child] // WORD_BITS] |= 1 << (self.pos[child] % WORD_BITS)
        rules = [(p, bs, tuple(m)) for (p, bs), m in drops.items()]
        # Drops are a union over coded parents, so those of a code's HCCs are OR-aggregated
        # with its bits (``d`` words) unless they depend on more than the code: blockers,
        # the heart rule, an edit. Those are per-person terms (``person_drops``).
        per_person = set(self.requires) | {h for h, _ in self.conditional}
        #: Children masks a coded HCC drops whatever else is coded.
        self.own_drops: dict[str, tuple[int, ...]] = {
            p: m for p, bs, m in rules if not bs and p not in per_person
        }
        self.person_drops = tuple(r for r in rules if r[1] or r[0] in per_person)
        codes = sorted(by_code)
        cols = {f"w{k}": [0] * len(codes) for k in range(self.mwords)}
        cols |= {f"d{k}": [0] * len(codes) for k in range(self.words)}
        for n, code in enumerate(codes):
            for s in by_code[code]:
                i = index[s] if s[1][0] else self.pos[s[0]]
                cols[f"w{i // WORD_BITS}"][n] |= 1 << (i % WORD_BITS)
                if not s[1][0]:
                    for k, m in enumerate(self.own_drops.get(s[0], ())):
                        cols[f"d{k}"][n] |= m
        words = {c: pa.array(v, pa.int64()) for c, v in cols.items()}
        self.mapping = ibis.memtable(pa.table({"code": pa.array(codes, pa.string()), **words}))
        #: The same, keyed by the canonical spelling (``E11.9``).
        self.canonical = ibis.memtable(
            pa.table({"code": icd10cm(pa.array(codes, pa.string())), **words})
        )
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
        #: Boolean variables of a person's row: interactions, originally disabled.
        self.flags: tuple[str, ...] = self.variables[len(self.hccs) : -len(COUNTS)]
        #: Age bands (low, high, suffix) of both kinds, by age; a person's band is
        #: 2 * index + 1 for men (see :func:`_band`).
        self.band_list = sorted(b for kind in self.bands.values() for b in kind)
        if any(a[1] >= b[0] for a, b in itertools.pairwise(self.band_list)):
            raise NotImplementedError(f"overlapping age bands: {self.band_list}")
        #: By segment, band (-1: none) and payment-HCC count n (10: 10 or more): the factor
        #: of the demographic cell (``F70_74``) plus that of D<n>, in thousandths.
        cells = []
        for n, seg in enumerate(SEGMENTS):
            keys = [(-1, None)] + [
                (2 * i + male, var)
                for i, band in enumerate(self.band_list)
                if band in self.bands[seg[2]]
                for male, var in enumerate((f"F{band[2]}", f"M{band[2]}"))
                if seg in coefs.get(var, {})
            ]
            for band_key, var in keys:
                cell = _milli(coefs[var][seg]) if var else 0
                for count in range(len(COUNTS) + 1):
                    d = _milli(coefs.get(COUNTS[count - 1], {}).get(seg, 0.0)) if count else 0
                    cells.append((n, band_key, count, cell + d, var))
        self.cells = ibis.memtable(
            pa.table(
                {
                    "seg": pa.array([c[0] for c in cells], pa.int8()),
                    "band": pa.array([c[1] for c in cells], pa.int8()),
                    "n": pa.array([c[2] for c in cells], pa.int8()),
                    "cell": pa.array([c[3] for c in cells], pa.int64()),
                    "cell_variable": pa.array([c[4] for c in cells], pa.string()),
                }
            )
        )
        # The relative factors of the payment HCCs, in thousandths, as binary digits: mask
        # m<d>_<k> of a segment holds the HCCs of word k whose factor has digit d set, so
        # the sum of a person's HCC factors is sum over d, k of
        # 2**d * popcount(word k & m<d>_<k>). Flag variables add c_<variable>.
        masks: dict[tuple[int, int], list[int]] = {}
        for h, i in self.pos.items():
            k, b = divmod(i, WORD_BITS)
            for n, seg in enumerate(SEGMENTS):
                milli = _milli(coefs.get(h, {}).get(seg, 0.0))
                if milli < 0:
                    raise NotImplementedError(f"negative relative factor {h} {seg}")
                for d in range(milli.bit_length()):
                    if milli >> d & 1:
                        masks.setdefault((d, k), [0] * len(SEGMENTS))[n] |= 1 << b
        self.masks = tuple(sorted(masks))
        self.factors = ibis.memtable(
            pa.table(
                {
                    "seg": pa.array(range(len(SEGMENTS)), pa.int8()),
                    "segment": pa.array(SEGMENTS, pa.string()),
                    **{f"m{d}_{k}": pa.array(masks[d, k], pa.int64()) for d, k in self.masks},
                    **{
                        f"c_{v}": pa.array(
                            [_milli(coefs.get(v, {}).get(seg, 0.0)) for seg in SEGMENTS],
                            pa.int64(),
                        )
                        for v in self.flags
                    },
                }
            )
        )

    @classmethod
    @cache
    def of(cls, version: str) -> _Tables:
        return cls(version)


COUNTS = (*(f"D{k}" for k in range(1, 10)), "D10P")
#: The columns a person's row joins the cells on (:attr:`_Tables.cells`).
_CELL_KEY = ["seg", "band", "n"]
ORIGDS = ("OriginallyDisabled_Female", "OriginallyDisabled_Male")


def _int(v: str) -> int | None:
    return int(v) if v else None


def _milli(coefficient: float) -> int:
    """A relative factor in thousandths (CMS publishes them to three decimals)."""
    m = round(coefficient * 1000)
    if abs(m - coefficient * 1000) > 1e-6:
        raise NotImplementedError(f"relative factor {coefficient} has more than 3 decimals")
    return m


@ibis.udf.agg.builtin(name="bit_or")  # type: ignore[untyped-decorator]
def _bit_or(x: int) -> int:  # type: ignore[empty-body]
    """The bitwise OR of a group (DuckDB and Spark SQL ``bit_or``; Ibis has no Spark rule)."""


@ibis.udf.scalar.builtin(name="bit_count")  # type: ignore[untyped-decorator]
def _bit_count(x: int) -> dt_.int8:
    """The number of bits set (DuckDB and Spark SQL ``bit_count``)."""


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
    """The age/sex cell as ``2 * band + male`` (``t.band_list``), -1 below the first band.
    The disabled bands end below 65 and the aged ones start at 65, so the age alone picks
    the band."""
    index = ibis.cases(*[(p.age <= hi, i) for i, (_, hi, _) in enumerate(t.band_list)])
    cell = (index * 2 + p.male.cast("int8")).cast("int8")
    return ibis.ifelse(p.age >= t.band_list[0][0], cell, ibis.literal(-1, "int8"))


def _people(people: Any) -> Any:
    """``person_id, age, male, aged, disabled, origds`` and ``seg``, the index of the segment
    in :data:`SEGMENTS` (CMS macro AGESEXV2 for DISABL and ORIGDS)."""
    p = people.select(
        person_id=people.person_id,
        age=people.age.cast("int32"),
        male=people.sex.cast("string").substr(0, 1).upper() == "M",
        dual=people.dual,
        orec=people.orec.cast("string"),
    )
    aged = p.age >= 65
    disabled = (p.age < 65) & (p.orec != "0")
    dual = ibis.cases((p.dual == "full", 2), (p.dual == "partial", 4), else_=0)
    return p.select(
        "person_id",
        "age",
        "male",
        aged=aged,
        disabled=disabled,
        origds=(p.orec == "1") & ~disabled,
        seg=(dual + ibis.ifelse(aged, 0, 1)).cast("int8"),
    )


def _holds(pred: Pred, x: Any) -> Any:
    """Whether a mandatory edit applies to the person of row ``x``."""
    sex, below, from_ = pred
    parts = []
    if sex:
        parts.append(x.male if sex == "M" else ~x.male)
    if below is not None:
        parts.append(x.age < below)
    if from_ is not None:
        parts.append(x.age >= from_)
    out = parts[0] if parts else ibis.literal(True)
    for p in parts[1:]:
        out &= p
    return out


def _words(x: Any, prefix: str, n: int) -> list[Any]:
    return [x[f"{prefix}{k}"] for k in range(n)]


def _has(words: list[Any], t: _Tables, hcc: str) -> Any:
    """Whether the bit of ``hcc`` is set in ``words``."""
    k, b = divmod(t.pos[hcc], WORD_BITS)
    return (words[k] & ibis.literal(1 << b, "int64")) != 0


def _has_any(words: list[Any], t: _Tables, hccs: list[str]) -> Any:
    """Whether any bit of ``hccs`` is set in ``words``: one AND per word."""
    masks = [0] * t.words
    for h in hccs:
        masks[t.pos[h] // WORD_BITS] |= 1 << (t.pos[h] % WORD_BITS)
    return _any([(words[k] & ibis.literal(m, "int64")) != 0 for k, m in enumerate(masks) if m])


def _coded(x: Any, t: _Tables) -> list[Any]:
    """The condition categories of row ``x`` (mapping words ``w0 ...``, ``age``, ``male``)
    after the mandatory edits: HCC words."""
    mapped = _words(x, "w", t.mwords)
    out = mapped[: t.words]
    if t.conditional and len(t.hccs) % WORD_BITS:  # the last HCC word holds edit slots too
        last = ibis.literal((1 << (len(t.hccs) % WORD_BITS)) - 1, "int64")
        out[-1] = out[-1] & last
    for j, (hcc, (kind, preds)) in enumerate(t.conditional):
        i = len(t.hccs) + j
        on = (mapped[i // WORD_BITS] & ibis.literal(1 << (i % WORD_BITS), "int64")) != 0
        if kind == "edit":
            on &= _holds(next(iter(preds)), x)
        else:
            on &= ~_any([_holds(p, x) for p in sorted(preds, key=repr)])
        k, b = divmod(t.pos[hcc], WORD_BITS)
        out[k] = out[k] | ibis.ifelse(on, ibis.literal(1 << b, "int64"), ibis.literal(0, "int64"))
    return out


def _heart(words: list[Any], t: _Tables) -> list[Any]:
    """The words after the V28 heart rule: an HCC that requires others (``t.requires``) is
    kept only with one of them."""
    out = list(words)
    for hcc, needs in t.requires.items():
        k, b = divmod(t.pos[hcc], WORD_BITS)
        keep = ibis.ifelse(
            _has_any(words, t, needs), ibis.literal(-1, "int64"), ibis.literal(~(1 << b), "int64")
        )
        out[k] = out[k] & keep
    return out


def _ranked(words: list[Any], own: list[Any], t: _Tables) -> list[Any]:
    """The HCC words left after the hierarchies (see :func:`hierarchy`): each word less
    ``own`` (the OR-aggregated ``d`` words, children the coded HCCs drop by themselves) and
    the children of ``t.person_drops`` whose parent is coded and no blocker is."""
    drop = list(own)
    for parent, blockers, masks in t.person_drops:
        on = _has(words, t, parent)
        if blockers:
            on &= ~_has_any(words, t, list(blockers))
        for k, m in enumerate(masks):
            if m:
                term = ibis.ifelse(on, ibis.literal(m, "int64"), ibis.literal(0, "int64"))
                drop[k] = drop[k] | term
    # a & ~d, written a - (a & d): Ibis 12 prints ~(x | y) as ~x | y.
    return [w - (w & d) for w, d in zip(words, drop, strict=True)]


def _any(values: list[Any]) -> Any:
    if not values:
        return ibis.literal(False)
    out = values[0]
    for v in values[1:]:
        out |= v
    return out


def _final(diagnoses: Any, people: Any, t: _Tables, codes: str = "any") -> Any:
    """One row per person of ``people``: ``person_id, seg, band`` (see :func:`_people`,
    :func:`_band`), the payment-HCC words after hierarchies ``f0 ...``, a boolean per flag
    variable (``t.flags``), ``hcc_count`` and ``n``, the count capped at 10 (D10P)."""
    if codes == "canonical":
        hit = diagnoses.join(t.canonical, diagnoses.code == t.canonical.code)
    else:
        # The distinct codes are normalised and mapped, then joined back to the diagnoses.
        raw = diagnoses.select(raw=diagnoses.code).distinct()
        mapped = raw.join(t.mapping, normalised(raw.raw) == t.mapping.code).drop("code")
        hit = diagnoses.join(mapped, diagnoses.code == mapped.raw)
    cols = [*(f"w{k}" for k in range(t.mwords)), *(f"d{k}" for k in range(t.words))]
    bits = hit.group_by("person_id").aggregate(**{c: _bit_or(hit[c]) for c in cols})
    p = _people(people)
    x = p.left_join(bits, "person_id")
    keep = ("person_id", "male", "aged", "disabled", "origds", "seg")
    own = [f"d{k}" for k in range(t.words)]
    x = x.select(*keep, "age", **{c: x[c].fill_null(0) for c in cols})
    # One select per step, each on the previous one's columns (.view() keeps Ibis from
    # merging them, which would repeat each step's expression wherever the next uses it).
    c = x.select(
        *keep, *own, band=_band(x, t), **{f"c{k}": w for k, w in enumerate(_coded(x, t))}
    ).view()
    if t.requires:
        heart = _heart(_words(c, "c", t.words), t)
        c = c.select(*keep, *own, "band", **{f"c{k}": w for k, w in enumerate(heart)}).view()
    ranked = _ranked(_words(c, "c", t.words), _words(c, "d", t.words), t)
    f = c.select(*keep, "band", **{f"f{k}": w for k, w in enumerate(ranked)}).view()
    words = _words(f, "f", t.words)
    count = sum((_bit_count(w) for w in words[1:]), _bit_count(words[0]).cast("int64"))
    f = f.select(*f.columns, hcc_count=count).view()
    words = _words(f, "f", t.words)
    terms: dict[str, Any] = {h: _has(words, t, h) for h in t.hccs}
    terms |= {g: _has_any(words, t, members) for g, members in t.groups.items()}
    terms["DISABLED"] = f.disabled
    flags = {v: terms[a] & terms[b] for v, a, b in t.interactions}
    flags["OriginallyDisabled_Female"] = f.origds & f.aged & ~f.male
    flags["OriginallyDisabled_Male"] = f.origds & f.aged & f.male
    n = f.hcc_count
    return f.select(
        "person_id",
        "seg",
        "band",
        *(f"f{k}" for k in range(t.words)),
        **flags,
        hcc_count=n.cast("int32"),
        n=ibis.least(n, ibis.literal(len(COUNTS), "int64")).cast("int8"),
    )


def _counts(n: Any) -> dict[str, Any]:
    """The payment-HCC count factors ``D1 ... D10P`` of the count ``n``."""
    return {**{f"D{k}": n == k for k in range(1, 10)}, "D10P": n >= 10}


def _apply_hierarchy(cc: Any, t: _Tables) -> Any:
    """``person_id, hcc`` less the HCCs a hierarchy rule sets to 0 (see :func:`hierarchy`):
    each HCC's bit and own drops OR-aggregated to words as a code's are, ranked, and back
    to rows."""
    cols: dict[str, list[int]] = {f"{c}{k}": [] for c in "wd" for k in range(t.words)}
    for h in t.hccs:
        k, b = divmod(t.pos[h], WORD_BITS)
        for n in range(t.words):
            cols[f"w{n}"].append(1 << b if n == k else 0)
            cols[f"d{n}"].append(t.own_drops.get(h, (0,) * t.words)[n])
    table = ibis.memtable(
        pa.table(
            {
                "hcc": pa.array(t.hccs, pa.string()),
                **{c: pa.array(v, pa.int64()) for c, v in cols.items()},
            }
        )
    )
    j = cc.join(table, "hcc")
    w = j.group_by("person_id").aggregate(**{c: _bit_or(j[c]) for c in cols})
    ranked = _ranked(_words(w, "w", t.words), _words(w, "d", t.words), t)
    final = w.select("person_id", **{f"f{k}": r for k, r in enumerate(ranked)})
    words = _words(final, "f", t.words)
    flags = final.select("person_id", **{h: _has(words, t, h) for h in t.hccs})
    long = flags.pivot_longer(list(t.hccs), names_to="hcc", values_to="on")
    return long.filter(long.on).select("person_id", "hcc")
