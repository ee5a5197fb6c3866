"""Measure specs in YAML: what is measured, for whom, and where the definition comes from.

A clinical measure gives ``denominator``, ``exclusions`` and ``numerator`` in the cohort
language; a utilisation measure names a built-in ``logic``. ``docs/measures.md`` describes
the shipped library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from popweave.cohorts.spec_yaml import Located, LocatedList, check_keys, load_file
from popweave.errors import SpecError
from popweave.measures.base import MeasureInfo

LIBRARY = Path(__file__).with_name("library")
STRATIFIERS = ("age_band", "sex", "race_ethnicity", "payer", "area", "deprivation_quintile")
EVIDENCE_KINDS = ("last_lab", "last_bp", "last_service")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")

FIELDS = {
    "id",
    "title",
    "kind",
    "unit",
    "source",
    "higher_is_better",
    "gap_action",
    "denominator",
    "exclusions",
    "common_exclusions",
    "numerator",
    "evidence",
    "logic",
    "params",
    "per",
    "stratifiers",
}


@dataclass(frozen=True)
class MeasureSpec:
    info: MeasureInfo
    file: str
    denominator: LocatedList | None = None
    exclusions: dict[str, Located] = field(default_factory=dict)
    common_exclusions: bool = False
    numerator: LocatedList | None = None
    evidence: dict[str, Located] = field(default_factory=dict)
    logic: str | None = None
    stratifiers: tuple[str, ...] = STRATIFIERS

    @property
    def id(self) -> str:
        return self.info.id


def _criteria(doc: Located, key: str) -> LocatedList:
    v = doc[key]
    if isinstance(v, Located):
        out = LocatedList([v])
        out.file, out.line = v.file, v.line
        return out
    if not isinstance(v, LocatedList) or not v:
        raise doc.fail(f"{key}: expected a criterion or a non-empty list of criteria", key)
    return v


def parse(doc: Located, logic_names: set[str] | None = None) -> MeasureSpec:
    """A spec from its YAML mapping; every problem names the file and line."""
    check_keys(doc, FIELDS, "a measure spec", required=("id", "title", "kind", "source"))
    mid = str(doc["id"])
    if not _ID.match(mid):
        raise doc.fail(f"id {mid!r}: use lower-case letters, digits and _", "id")
    kind = doc["kind"]
    if kind not in ("proportion", "rate"):
        raise doc.fail(f"kind {kind!r}: expected proportion or rate", "kind")
    hib = doc.get("higher_is_better", True)
    if not isinstance(hib, bool):
        raise doc.fail("higher_is_better: expected true or false", "higher_is_better")
    per = doc.get("per", 1)
    if not isinstance(per, int | float) or isinstance(per, bool) or per <= 0:
        raise doc.fail("per: expected a positive number", "per")
    params = doc.get("params", {}) or {}
    if not isinstance(params, dict):
        raise doc.fail("params: expected a mapping", "params")
    info = MeasureInfo(
        id=mid,
        title=str(doc["title"]),
        kind=kind,
        unit=str(doc.get("unit", "patient")),
        source=str(doc["source"]),
        higher_is_better=hib,
        per=float(per),
        params=dict(params),
        gap_action=str(doc.get("gap_action", "")),
    )
    strat = doc.get("stratifiers", list(STRATIFIERS))
    if not isinstance(strat, list):
        raise doc.fail("stratifiers: expected a list", "stratifiers")
    for s in strat:
        if s not in STRATIFIERS:
            raise doc.fail(
                f"stratifiers: unknown {s!r}; known: {', '.join(STRATIFIERS)}", "stratifiers"
            )
    if "logic" in doc:
        logic = str(doc["logic"])
        if logic_names is not None and logic not in logic_names:
            raise doc.fail(
                f"logic {logic!r} is not built in; known: {', '.join(sorted(logic_names))}",
                "logic",
            )
        for k in ("denominator", "numerator", "exclusions"):
            if k in doc:
                raise doc.fail(f"{k}: a measure with built-in logic takes params instead", k)
        return MeasureSpec(info, doc.file, logic=logic, stratifiers=tuple(strat))
    if kind != "proportion":
        raise doc.fail("a rate measure needs a built-in logic", "kind")
    for k in ("denominator", "numerator"):
        if k not in doc:
            raise doc.fail(f"a measure spec needs {k!r} (or a built-in logic)")
    excl = doc.get("exclusions") or Located()
    if not isinstance(excl, Located):
        raise doc.fail("exclusions: expected a mapping of reason to criterion", "exclusions")
    for reason, crit in excl.items():
        if not _ID.match(reason):
            raise excl.fail(f"exclusion reason {reason!r}: use lower-case and _", reason)
        if not isinstance(crit, Located):
            raise excl.fail(f"{reason}: expected a criterion mapping", reason)
    common = doc.get("common_exclusions", False)
    if not isinstance(common, bool):
        raise doc.fail("common_exclusions: expected true or false", "common_exclusions")
    ev = doc.get("evidence") or Located()
    if not isinstance(ev, Located):
        raise doc.fail("evidence: expected a mapping of label to a fact", "evidence")
    for label, fact in ev.items():
        if (
            not isinstance(fact, Located)
            or len(fact) != 1
            or next(iter(fact)) not in EVIDENCE_KINDS
        ):
            raise ev.fail(f"evidence {label!r}: expected one of {', '.join(EVIDENCE_KINDS)}", label)
    return MeasureSpec(
        info,
        doc.file,
        denominator=_criteria(doc, "denominator"),
        exclusions=dict(excl),
        common_exclusions=common,
        numerator=_criteria(doc, "numerator"),
        evidence=dict(ev),
        stratifiers=tuple(strat),
    )


def load_specs(*folders: Path, logic_names: set[str] | None = None) -> list[MeasureSpec]:
    """Every ``*.yaml`` spec in ``folders`` (default: the shipped library), sorted by id."""
    out: dict[str, MeasureSpec] = {}
    for folder in folders or (LIBRARY,):
        if not folder.is_dir():
            raise SpecError(f"{folder}: no such folder of measure specs")
        for path in sorted(folder.glob("*.yaml")):
            spec = parse(load_file(path), logic_names)
            if spec.id in out:
                raise SpecError(
                    f"{path}:1: measure id {spec.id!r} also defined in {out[spec.id].file}"
                )
            out[spec.id] = spec
    return [out[k] for k in sorted(out)]


def spec_ids(specs: list[MeasureSpec]) -> list[str]:
    return [s.id for s in specs]


def as_dict(spec: MeasureSpec) -> dict[str, Any]:
    i = spec.info
    return {
        "id": i.id,
        "title": i.title,
        "kind": i.kind,
        "unit": i.unit,
        "source": i.source,
        "higher_is_better": i.higher_is_better,
    }
