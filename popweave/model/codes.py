"""Canonical spelling of codes as the warehouse stores them.

ICD-10-CM codes are stored upper case, without white space, with the dot after the third
character (``E11.9``, ``W19.XXXA``); three-character categories have no dot (``I10``). Claims
usually carry them without the dot and hand-entered data in any case, so every load rewrites
them (:func:`popweave.model.validate.validate`) and readers can match codes exactly. The rule
is that of :func:`popweave.terminology.icd10.normalise`, on Arrow arrays.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def icd10cm(codes: pa.Array) -> pa.Array:
    """ICD-10-CM codes in canonical spelling (nulls stay null; purely textual, so invalid
    codes are rewritten too): ``" e119 "`` -> ``"E11.9"``, ``"i10"`` -> ``"I10"``.

    >>> icd10cm(pa.array(["e119", " E11.9 ", "I10", "w19.xxxa", None])).to_pylist()
    ['E11.9', 'E11.9', 'I10', 'W19.XXXA', None]
    """
    bare = pc.utf8_upper(pc.replace_substring_regex(codes, r"[\s\pZ.]+", ""))
    head = pc.utf8_slice_codeunits(bare, 0, 3)
    tail = pc.utf8_slice_codeunits(bare, 3)
    dotted = pc.binary_join_element_wise(head, tail, ".")
    return pc.if_else(pc.greater(pc.utf8_length(bare), 3), dotted, bare)
