"""The canonical spelling of ICD-10-CM codes on Arrow arrays is the terminology's rule."""

from __future__ import annotations

import doctest

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from popweave.model import codes
from popweave.terminology.icd10 import normalise


def test_doctests() -> None:
    assert doctest.testmod(codes).failed == 0


@given(st.lists(st.text(alphabet="aEe1190.xX \t", max_size=9), max_size=20))
def test_same_as_the_scalar_rule(values: list[str]) -> None:
    got = codes.icd10cm(pa.array(values, pa.string())).to_pylist()
    assert got == [normalise(v) for v in values]
