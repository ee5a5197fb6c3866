"""Crosswalks between code systems, read once from the CSV files under ``data/``.

``snomed_to_icd10cm.csv`` maps the SNOMED CT condition codes that Synthea (and FHIR exports made
from it) use to the ICD-10-CM code a coder would assign: columns ``snomed_code``,
``snomed_display``, ``icd10cm_code`` (empty where no code applies, e.g. "Full-time
employment"), ``icd10cm_display`` and ``source`` (how the row was made and checked).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SNOMED_TO_ICD10CM = "snomed_to_icd10cm.csv"
_COLUMNS = ("snomed_code", "snomed_display", "icd10cm_code", "icd10cm_display", "source")


@cache
def crosswalk_table(name: str = SNOMED_TO_ICD10CM) -> pa.Table:
    """The crosswalk file ``name`` as an Arrow table of strings (empty cells are null)."""
    data = resources.files("popweave.terminology").joinpath("data", name).read_bytes()
    return pacsv.read_csv(
        pa.BufferReader(data),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in _COLUMNS},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )


@cache
def _snomed_pairs() -> tuple[pa.Array, pa.Array]:
    t = crosswalk_table(SNOMED_TO_ICD10CM)
    mapped = t.filter(pc.is_valid(t["icd10cm_code"]))
    return (
        mapped["snomed_code"].combine_chunks(),
        mapped["icd10cm_code"].combine_chunks(),
    )


def snomed_to_icd10(codes: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ICD-10-CM codes for SNOMED CT ``codes`` (vectorised); null where there is no mapping."""
    keys, values = _snomed_pairs()
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.combine_chunks()
    if codes.type != pa.string():
        codes = codes.cast(pa.string())
    idx = pc.index_in(pc.utf8_trim_whitespace(codes), value_set=keys)
    return pc.take(values, idx)


__all__ = ["SNOMED_TO_ICD10CM", "crosswalk_table", "snomed_to_icd10"]
