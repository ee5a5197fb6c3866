"""The canonical data model: tables defined once, row validation, quarantine of rejects."""

from popweave.model.schema import Column, Kind, Table
from popweave.model.tables import ALL_TABLES, CANONICAL, CODE_SYSTEMS, TABLES, table
from popweave.model.validate import REASONS, Validated, validate

__all__ = [
    "ALL_TABLES",
    "CANONICAL",
    "CODE_SYSTEMS",
    "REASONS",
    "TABLES",
    "Column",
    "Kind",
    "Table",
    "Validated",
    "table",
    "validate",
]
