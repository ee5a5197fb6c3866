"""The DuckDB engine: a single warehouse file, loads in one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import duckdb
import ibis
import pyarrow as pa

from popweave.errors import WorkspaceError
from popweave.model import ALL_TABLES, Table
from popweave.warehouse.base import Engine


class DuckDBEngine(Engine):
    """Warehouse in one DuckDB file; a load is one transaction, so a crash loses only it."""

    name: ClassVar[str] = "duckdb"

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        try:
            self._ibis = ibis.duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise WorkspaceError(f"cannot open the warehouse {path}: {exc}") from None
        self.raw: duckdb.DuckDBPyConnection = self._ibis.con
        self._in_load = False
        self._closed = False

    @property
    def ibis(self) -> Any:
        return self._ibis

    def create_tables(self, tables: tuple[Table, ...] = ALL_TABLES) -> None:
        for t in tables:
            self.raw.execute(t.create_sql())

    def begin(self) -> None:
        self.raw.begin()
        self._in_load = True

    def append(self, table: Table, batch: pa.Table) -> None:
        view = f"__batch_{table.name}"
        self.raw.register(view, batch)
        try:
            cols = ", ".join(f'"{c}"' for c in table.column_names)
            self.raw.execute(f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM "{view}"')
        finally:
            self.raw.unregister(view)

    def commit(self) -> None:
        self.raw.commit()
        self._in_load = False

    def rollback(self) -> None:
        if self._in_load:
            self.raw.rollback()
            self._in_load = False

    def count(self, table: str) -> int:
        return int(self.raw.sql(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        return self.raw.sql(f'SELECT {cols} FROM "{table}"').to_arrow_table()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._ibis.disconnect()
