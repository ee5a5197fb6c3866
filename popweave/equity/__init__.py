"""Equity: measures by group with intervals, comparisons against a reference group, direct
age-sex standardisation, small-cell suppression and the largest gaps."""

from __future__ import annotations

from popweave.equity.attributes import ATTRIBUTES, attributes
from popweave.equity.table import EquityTable, find_spec, largest_gaps, table

__all__ = ["ATTRIBUTES", "EquityTable", "attributes", "find_spec", "largest_gaps", "table"]
