"""The vocabulary of the canonical model: columns, tables and their types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa


class Kind(StrEnum):
    """Logical column types; each maps to one Arrow type and one SQL type."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    MONEY = "money"


ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.STRING: pa.string(),
    Kind.INTEGER: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOLEAN: pa.bool_(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.MONEY: pa.decimal128(14, 2),
}

SQL_TYPES: dict[Kind, str] = {
    Kind.STRING: "VARCHAR",
    Kind.INTEGER: "BIGINT",
    Kind.FLOAT: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.DATE: "DATE",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.MONEY: "DECIMAL(14,2)",
}


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it is required, and what values it may hold.

    ``allowed`` lists permitted values; ``references`` is ``"table.column"`` for foreign keys;
    ``minimum`` / ``maximum`` bound numbers; ``not_future`` rejects dates after the load.
    ``icd10cm`` marks a column of ICD-10-CM codes, stored in canonical spelling (see
    :func:`popweave.model.codes.icd10cm`): ``"always"``, or the name of the code-system column
    whose ``ICD10CM`` rows hold them.
    """

    name: str
    kind: Kind
    required: bool = False
    description: str = ""
    allowed: tuple[str, ...] = ()
    references: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    not_future: bool = False
    not_before: str | None = None
    icd10cm: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns in order and its key."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    grain: str = ""
    ordered: tuple[tuple[str, str], ...] = field(default=())
    """Pairs (earlier, later) of columns where the later may not precede the earlier."""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name} has no column {name}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.arrow_type, nullable=not c.required) for c in self.columns]
        )

    def create_sql(self, quote: str = '"') -> str:
        cols = ",\n  ".join(f"{quote}{c.name}{quote} {c.sql_type}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {quote}{self.name}{quote} (\n  {cols}\n)"
