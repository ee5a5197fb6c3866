"""Ibis expressions compiled once and run many times.

Building and compiling a large Ibis expression (a scoring model of a few hundred columns)
takes longer than DuckDB takes to run it on a hundred thousand people. A :class:`Prepared`
expression is built over placeholder tables and compiled to SQL once per input schemas; on
DuckDB each run substitutes the real inputs as common table expressions in front of that
SQL. On other engines it builds the expression over the inputs and runs it through Ibis.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.operations as ops
import pyarrow as pa

#: Placeholder table names carry this prefix, so they cannot clash with a user's tables.
PREFIX = "__popweave_input_"


class Prepared:
    """``build(**tables) -> ibis.Table`` kept compiled per input schemas.

    >>> import ibis
    >>> con = ibis.duckdb.connect()
    >>> t = con.create_table("t", ibis.memtable({"x": [1, 2, 3]}))
    >>> double = Prepared(lambda t: t.select(y=t.x * 2))
    >>> double.run(t=t).column("y").to_pylist()
    [2, 4, 6]
    """

    def __init__(self, build: Callable[..., Any]) -> None:
        self.build = build
        self._sql: dict[tuple[Any, ...], tuple[str, tuple[ops.InMemoryTable, ...]]] = {}
        self._lock = threading.Lock()

    def expr(self, **tables: Any) -> Any:
        """The Ibis expression over the given tables (any engine)."""
        return self.build(**tables)

    def run(self, **tables: Any) -> pa.Table:
        """The expression's result over the given tables, as Arrow."""
        backend = _backend(tables.values())
        if backend.name != "duckdb":
            return self.expr(**tables).to_pyarrow()
        sql, memtables = self._compiled(tables)
        inputs = []
        for name, table in tables.items():
            memtables += tuple(table.op().find(ops.InMemoryTable))
            inputs.append(f'"{PREFIX}{name}" AS ({ibis.to_sql(table, dialect="duckdb")})')
        for m in memtables:
            _register(backend, m)
        query = f"WITH {', '.join(inputs)} SELECT * FROM ({sql})"
        # execute() then Arrow copies the result once more than sql() then Arrow, which binds
        # a relation first; for 100,000 scored rows the copy is the cheaper. DuckDB warns of
        # the copy; the filter is set on each run as a caller's catch_warnings may drop it.
        warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning, __name__)
        return backend.con.execute(query).to_arrow_table()

    def _compiled(self, tables: dict[str, Any]) -> tuple[str, tuple[ops.InMemoryTable, ...]]:
        key = tuple((name, t.schema()) for name, t in sorted(tables.items()))
        with self._lock:
            if key not in self._sql:
                holders = {n: ibis.table(s, name=f"{PREFIX}{n}") for n, s in key}
                expr = self.build(**holders)
                found = tuple(expr.op().find(ops.InMemoryTable))
                self._sql[key] = (ibis.to_sql(expr, dialect="duckdb", pretty=False), found)
            return self._sql[key]


def _backend(tables: Any) -> Any:
    """The one backend the tables are bound to (Ibis's default one when only in-memory
    tables are given)."""
    found = {}  # by identity: two in-memory DuckDB connections compare equal
    for t in tables:
        try:
            backend = t._find_backend()
        except Exception:  # an expression of in-memory tables only: no backend
            continue
        found[id(backend)] = backend
    if len(found) > 1:
        raise ValueError("the tables belong to different connections")
    return next(iter(found.values())) if found else ibis.get_backend()


def _register(backend: Any, table: ops.InMemoryTable) -> None:
    """Make an in-memory table visible to DuckDB under its Ibis name (as Ibis does)."""
    backend.con.register(table.name, table.data.to_pyarrow(table.schema))
