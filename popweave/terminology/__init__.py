"""Code systems, value sets and crosswalks shipped as data files."""

from __future__ import annotations

from popweave.terminology.crosswalk import crosswalk_table, snomed_to_icd10

__all__ = ["crosswalk_table", "snomed_to_icd10"]
