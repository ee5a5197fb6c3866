"""Comorbidity indices from ICD-10-CM diagnoses: Charlson, Elixhauser (van Walraven) and the
AHRQ Elixhauser readmission and mortality indices, as Ibis expressions.

Each function takes a table of diagnoses (columns ``person_id`` and ``code``, ICD-10-CM with
or without the dot; :func:`popweave.risk._codes.diagnoses` builds one from a warehouse for a
window) and returns one row per person: a boolean column per category (the condition was
coded, before any hierarchy), the score, and ``categories``, the categories that add to the
score (after the hierarchy, non-zero weight), comma-separated. Nothing is executed here.

Sources (``data/index.yaml``): Quan H et al., Coding algorithms for defining comorbidities in
ICD-9-CM and ICD-10 administrative data, Med Care 2005;43:1130-9 (tables 1 and 2); Quan H et
al., Updating and validating the Charlson comorbidity index, Am J Epidemiol 2011;173:676-82;
Charlson ME et al., J Chronic Dis 1987;40:373-83; van Walraven C et al., Med Care
2009;47:626-33; AHRQ HCUP Elixhauser Comorbidity Software for ICD-10-CM v2019.1 and its
index (Moore BJ et al., Med Care 2017;55:698-705).
"""

from __future__ import annotations

from typing import Any

import ibis

from popweave.risk._codes import code_table, match_prefixes, memtable, rows

#: Charlson weightings: Quan 2011 (updated), Charlson 1987 (original), LACE 2010 (the
#: comorbidity points of the LACE index, van Walraven 2010).
CHARLSON_WEIGHTS = ("quan2011", "charlson1987", "lace2010")
ELIXHAUSER_WEIGHTS = ("van_walraven2009",)


def charlson(diagnoses: Any, *, weights: str = "quan2011", people: Any = None) -> Any:
    """Charlson comorbidity index per person (Quan 2005 ICD-10 coding).

    Parameters: ``diagnoses`` (``person_id``, ``code``); ``weights``, one of
    :data:`CHARLSON_WEIGHTS`; ``people``, a table with ``person_id`` whose every person gets
    a row (no diagnosis: all false, score 0); without it, the people of ``diagnoses``.

    Returns ``person_id``, the 17 category flags (``ami`` ... ``aids``), ``charlson`` and
    ``categories``. The score counts the more severe of mild / moderate-severe liver
    disease, diabetes without / with chronic complications and any malignancy / metastatic
    solid tumour (Quan 2005, as in the R and Python implementations).

    >>> import ibis
    >>> dx = ibis.memtable({"person_id": ["a", "a", "b"], "code": ["I50.9", "E11.22", "C78.00"]})
    >>> t = charlson(dx).order_by("person_id").execute()
    >>> t[["person_id", "chf", "diabwc", "charlson"]].values.tolist()
    [['a', True, True, 3], ['b', False, False, 6]]
    """
    return _index(
        diagnoses,
        "charlson_quan2005_icd10",
        "charlson_categories",
        _choose(weights, CHARLSON_WEIGHTS),
        "charlson",
        people,
    )


def elixhauser(diagnoses: Any, *, weights: str = "van_walraven2009", people: Any = None) -> Any:
    """Elixhauser comorbidities per person (Quan 2005 ICD-10 coding of the 31 conditions) and
    the van Walraven 2009 score.

    Returns ``person_id``, the 31 category flags (``chf`` ... ``depre``), ``van_walraven``
    (may be negative: weights run from -7 to 12) and ``categories``. The score counts the
    more severe of uncomplicated / complicated hypertension and diabetes and of solid tumour
    without metastasis / metastatic cancer. ``people`` as in :func:`charlson`.

    >>> import ibis
    >>> dx = ibis.memtable({"person_id": ["a", "a"], "code": ["I50.9", "F11.20"]})
    >>> elixhauser(dx).execute()[["chf", "drug", "van_walraven"]].values.tolist()
    [[True, True, 0]]
    """
    return _index(
        diagnoses,
        "elixhauser_quan2005_icd10",
        "elixhauser_categories",
        _choose(weights, ELIXHAUSER_WEIGHTS),
        "van_walraven",
        people,
    )


def ahrq_elixhauser(diagnoses: Any, *, people: Any = None) -> Any:
    """AHRQ Elixhauser comorbidities (HCUP software v2019.1 ICD-10-CM format) and the AHRQ
    readmission and mortality indices per person.

    Codes match the format's full ICD-10-CM codes exactly. The detailed hypertension groups
    set complicated hypertension and, where they say so, heart failure and renal failure;
    complicated hypertension, diabetes and metastatic cancer supersede their milder forms.
    Unlike the HCUP program, all diagnoses count (there is no principal diagnosis here) and
    there is no MS-DRG screen.

    Returns ``person_id``, 31 flags (``aids`` ... ``wghtloss``, with ``htn`` and ``htncx``),
    ``ahrq_readmission``, ``ahrq_mortality`` and ``categories``. ``people`` as in
    :func:`charlson`.

    >>> import ibis
    >>> dx = ibis.memtable({"person_id": ["a", "a"], "code": ["I13.0", "E11.9"]})
    >>> t = ahrq_elixhauser(dx).execute()
    >>> t[["htncx", "chf", "dm", "ahrq_readmission", "ahrq_mortality"]].values.tolist()
    [[True, True, True, 18, 8]]
    """
    fmt = memtable("ahrq_elixhauser_2019_icd10cm", {"code": "string", "group": "string"})
    groups = memtable("ahrq_elixhauser_groups", {"group": "string", "comorbidity": "string"})
    dx = code_table(diagnoses)
    hit = dx.join(fmt, "code").join(groups, "group")
    flags = hit.select(person_id=hit.person_id, category=hit.comorbidity.lower()).distinct()
    cats = [
        {
            "category": r["comorbidity"].lower(),
            "superseded_by": r["superseded_by"].lower(),
            "ahrq_readmission": int(r["readmission"]),
            "ahrq_mortality": int(r["mortality"]),
        }
        for r in rows("ahrq_elixhauser_comorbidities")
    ]
    return _score(flags, cats, ("ahrq_readmission", "ahrq_mortality"), diagnoses, people)


def _choose(weights: str, allowed: tuple[str, ...]) -> str:
    if weights not in allowed:
        raise ValueError(f"unknown weights {weights!r}: expected one of {', '.join(allowed)}")
    return weights


def _index(
    diagnoses: Any, codes: str, categories: str, weights: str, score: str, people: Any
) -> Any:
    flags = match_prefixes(diagnoses, codes, "category")
    cats = [
        {
            "category": r["category"],
            "superseded_by": r["superseded_by"],
            score: int(r[weights]),
        }
        for r in rows(categories)
    ]
    return _score(flags, cats, (score,), diagnoses, people)


def _score(
    flags: Any,
    cats: list[dict[str, Any]],
    scores: tuple[str, ...],
    diagnoses: Any,
    people: Any,
) -> Any:
    """Pivot ``person_id, category`` to one flag column per category; add the scores."""
    names = [c["category"] for c in cats]
    wide = flags.group_by("person_id").aggregate(**{n: (flags.category == n).any() for n in names})
    base = (people if people is not None else diagnoses).select("person_id").distinct()
    out = base.left_join(wide, "person_id").select(
        "person_id", **{n: ibis.coalesce(wide[n], False) for n in names}
    )
    counted = {
        c["category"]: out[c["category"]] & ~out[c["superseded_by"]]
        if c["superseded_by"]
        else out[c["category"]]
        for c in cats
    }
    values = {
        s: sum(
            (counted[c["category"]].cast("int32") * c[s] for c in cats if c[s]),
            ibis.literal(0, "int32"),
        )
        for s in scores
    }
    contributing = [c["category"] for c in cats if any(c[s] for s in scores)]
    return out.mutate(
        **{s: v.cast("int32") for s, v in values.items()},
        categories=listed(counted, contributing),
    )


def listed(flags: dict[str, Any], names: list[str]) -> Any:
    """The names whose flag is true, comma-separated in the given order ("" for none)."""
    parts = [ibis.ifelse(flags[n], ibis.literal(n), ibis.null("string")) for n in names]
    return ibis.coalesce(ibis.literal(",").join(parts), ibis.literal(""))
