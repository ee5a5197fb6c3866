"""The DuckDB engine: a single warehouse file, loads in one transaction."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from popweave.errors import WorkspaceError
from popweave.model import ALL_TABLES, Table
from popweave.model.validate import REJECT_SCHEMA
from popweave.warehouse.base import Engine

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULT_MEMORY_LIMIT = os.environ.get("POPWEAVE_DUCKDB_MEMORY", "2GB")


class DuckDBEngine(Engine):
    """Warehouse in one DuckDB file; a load is one transaction, so a crash loses only it."""

    name: ClassVar[str] = "duckdb"

    def __init__(
        self, path: Path, *, read_only: bool = False, memory_limit: str = DEFAULT_MEMORY_LIMIT
    ) -> None:
        self.path = path
        try:
            self.raw: duckdb.DuckDBPyConnection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise WorkspaceError(f"cannot open the warehouse {path}: {exc}") from None
        # Ibis is imported on first use: loads and counts need only DuckDB.
        self._ibis: Any = None
        # DuckDB's default cache is 80% of RAM; a bounded one keeps big loads within budget
        # (it spills to disk beyond it).
        self.raw.execute(f"SET memory_limit = '{memory_limit}'")
        self._in_load = False
        self._closed = False

    @property
    def ibis(self) -> Any:
        if self._ibis is None:
            import ibis

            self._ibis = ibis.duckdb.from_connection(self.raw)
        return self._ibis

    def create_tables(self, tables: tuple[Table, ...] = ALL_TABLES) -> None:
        for t in tables:
            self.raw.execute(t.create_sql())
            # Columns the model gained since the table was made are added (empty).
            info = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            have = {r[0] for r in self.raw.execute(info, [t.name]).fetchall()}
            for c in t.columns:
                if c.name not in have:
                    self.raw.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{c.name}" {c.sql_type}')

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

    def violations(self, table: Table, rows: pa.Table, *, references: bool = True) -> pa.Table:
        view = f"__check_{table.name}"
        keys = ", ".join(f'"{k}"' for k in table.key)
        shown = (
            f'CAST("{table.key[0]}" AS VARCHAR)'
            if len(table.key) == 1
            else "concat_ws('|', " + ", ".join(f'CAST(b."{k}" AS VARCHAR)' for k in table.key) + ")"
        )
        label = "+".join(table.key)
        parts = [
            # Later rows repeating a key within the batch.
            f"""SELECT _row, '{label}' AS field, 'duplicate_id' AS reason, {shown} AS value
                FROM (SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY _row) AS rn
                      FROM "{view}") b WHERE rn > 1""",
            # Keys already in the table: committed, or appended earlier in this load.
            f"""SELECT _row, '{label}', 'duplicate_id', {shown}
                FROM "{view}" b SEMI JOIN "{table.name}" t USING ({keys})""",
        ]
        if references:
            for col in table.columns:
                if col.references:
                    rt, rc = col.references.split(".")
                    parts.append(
                        f"""SELECT _row, '{col.name}', 'unknown_reference', b."{col.name}"
                            FROM "{view}" b ANTI JOIN "{rt}" r ON b."{col.name}" = r."{rc}"
                            WHERE b."{col.name}" IS NOT NULL"""
                    )
        sql = "\nUNION ALL\n".join(parts)
        self.raw.register(view, rows)
        try:
            out = self.raw.sql(
                f"SELECT '{table.name}' AS table_name, _row AS row, field, reason, "
                f"CAST(value AS VARCHAR) AS value FROM ({sql}) ORDER BY row"
            ).to_arrow_table()
        finally:
            self.raw.unregister(view)
        return out.cast(REJECT_SCHEMA)

    def save_result(self, name: str, rows: Any, *, replace: dict[str, Any]) -> int:
        if not _IDENT.fullmatch(name):
            raise ValueError(f"result table name {name!r}: letters, digits and _ only")
        view = f"__result_{name}"
        if isinstance(rows, pa.Table):
            self.raw.register(view, rows)
            source = f'"{view}"'
        else:
            # In-memory tables (long code lists) are registered by Ibis before compiling.
            self.ibis._run_pre_execute_hooks(rows)
            source = f"({self.ibis.compile(rows)})"
        try:
            self.raw.begin()
            try:
                self.raw.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" AS SELECT * FROM {source} LIMIT 0'
                )
                cols = [r[0] for r in self.raw.sql(f'DESCRIBE "{name}"').fetchall()]
                where = " AND ".join(f'"{k}" = ?' for k in replace) or "TRUE"
                self.raw.execute(f'DELETE FROM "{name}" WHERE {where}', list(replace.values()))
                names = ", ".join(f'"{c}"' for c in cols)
                self.raw.execute(f'INSERT INTO "{name}" ({names}) SELECT {names} FROM {source}')
                where_count = f'SELECT count(*) FROM "{name}" WHERE {where}'
                n = int(self.raw.execute(where_count, list(replace.values())).fetchall()[0][0])
                self.raw.commit()
            except BaseException:
                self.raw.rollback()
                raise
        finally:
            if isinstance(rows, pa.Table):
                self.raw.unregister(view)
        return n

    def has_table(self, name: str) -> bool:
        q = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
        return bool(self.raw.execute(q, [name]).fetchall()[0][0])

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
            self.raw.close()
