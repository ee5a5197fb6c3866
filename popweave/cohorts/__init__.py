"""Declarative population definitions (YAML) compiled to Ibis expressions."""

from __future__ import annotations

from popweave.cohorts.data import Data
from popweave.cohorts.definition import CohortDef, Library, members
from popweave.cohorts.period import Period

__all__ = ["CohortDef", "Data", "Library", "Period", "members"]
