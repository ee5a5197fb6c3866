"""Ibis expressions compiled once and run many times.

Building and compiling a large Ibis expression (a scoring model of a few hundred columns)
takes longer than DuckDB takes to run it on a hundred thousand people. A :class:`Prepared`
expression is built over placeholder tables and compiled to SQL once per input schemas; on
DuckDB each run substitutes the real inputs as common table expressions in front of that
SQL. On other engines it builds the expression over the inputs and runs it through Ibis.
"""

from __future__ import annotations

import functools
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import duckdb
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
            op = table.op()
            if isinstance(op, ops.DatabaseTable):
                # Scanned where it is used rather than buffered for a second use; its SQL is
                # kept (other inputs may hold data, so theirs is not).
                inputs.append(f'"{PREFIX}{name}" AS NOT MATERIALIZED ({_stored(op)})')
            else:  # computed once
                memtables += tuple(op.find(ops.InMemoryTable))
                inputs.append(f'"{PREFIX}{name}" AS ({ibis.to_sql(table, dialect="duckdb")})')
        query = f"WITH {', '.join(inputs)} SELECT * FROM ({sql})"
        # execute() then Arrow copies the result once more than sql() then Arrow, which binds
        # a relation first; for 100,000 scored rows the copy is the cheaper. DuckDB warns of
        # the copy; the filter is set on each run as a caller's catch_warnings may drop it.
        warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning, __name__)
        con = backend.con
        _register(con, memtables)
        try:
            return con.execute(query).to_arrow_table()
        except duckdb.CatalogException:  # a kept in-memory table was dropped: register again
            _register(con, memtables, again=True)
            return con.execute(query).to_arrow_table()

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


@functools.lru_cache(maxsize=256)
def _stored(table: ops.DatabaseTable) -> str:
    """A stored input table's DuckDB SQL."""
    return str(ibis.to_sql(table.to_expr(), dialect="duckdb"))


#: The in-memory tables registered per DuckDB connection.
_registered: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_registering = threading.Lock()


def _register(con: Any, tables: tuple[ops.InMemoryTable, ...], *, again: bool = False) -> None:
    """Make in-memory tables visible to DuckDB under their Ibis names (as Ibis does), once
    per connection (``again``: every one, as after a table was dropped)."""
    with _registering:
        done = _registered.setdefault(con, set())
        for t in tables:
            if again or t.name not in done:
                con.register(t.name, t.data.to_pyarrow(t.schema))
                done.add(t.name)
