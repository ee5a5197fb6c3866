"""A small hand-built warehouse for spec tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from popweave.warehouse.base import Engine
from tests.cohorts.pop import Pop


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    p = Pop()
    p.person("P1")
    eng = p.load(tmp_path_factory.mktemp("spec"))
    yield eng
    eng.close()
