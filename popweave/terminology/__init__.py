"""Code systems, value sets and crosswalks shipped as data files."""

from __future__ import annotations

from popweave.terminology.crosswalk import crosswalk_table, snomed_to_icd10
from popweave.terminology.valuesets import (
    Code,
    UnknownValueSet,
    ValueSet,
    all_valuesets_arrow,
    valueset,
    valueset_names,
)

__all__ = [
    "Code",
    "UnknownValueSet",
    "ValueSet",
    "all_valuesets_arrow",
    "crosswalk_table",
    "snomed_to_icd10",
    "valueset",
    "valueset_names",
]
