"""Read-only access to the warehouse for the web server: one connection, one Ibis backend
per worker thread (DuckDB cursors are independent), so requests run their queries in
parallel while nothing can write."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from popweave.errors import WorkspaceError
from popweave.workspace import Workspace

T = TypeVar("T")
# Warehouse look-ups kept per server process (a patient's rows, a panel's worklist rows);
# POPWEAVE_WEB_CACHE=0 turns the cache off.
CACHE_ENTRIES = int(os.environ.get("POPWEAVE_WEB_CACHE", "4096"))


class Warehouse:
    """The workspace's warehouse opened for reading by many threads."""

    def __init__(self, ws: Workspace) -> None:
        scheme, _, rest = ws.engine_url.partition("://")
        self._local = threading.local()
        self._lock = threading.RLock()
        self._raw: Any = None
        self._engine: Any = None
        self._memo: dict[str, Any] = {}
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        if scheme == "duckdb":
            import duckdb

            from popweave.warehouse.duckdb import DEFAULT_MEMORY_LIMIT

            path = Path(rest[1:]) if rest.startswith("/") else Path(rest)
            path = path if path.is_absolute() else ws.root / path
            if not path.is_file():
                raise WorkspaceError(f"no warehouse at {path}; build one with `popweave synth`")
            try:
                self._raw = duckdb.connect(str(path), read_only=True)
            except duckdb.Error as exc:
                raise WorkspaceError(
                    f"cannot open the warehouse {path} for reading: {exc} (another popweave "
                    "command may be writing to it; wait for it to finish)"
                ) from None
            self._raw.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
            self._tables = {r[0] for r in self._raw.execute("SHOW TABLES").fetchall()}
        else:
            from popweave.warehouse import open_workspace_engine

            self._engine = open_workspace_engine(ws)
            self._tables = set()

    def backend(self) -> Any:
        """The Ibis backend of this thread."""
        b = getattr(self._local, "backend", None)
        if b is None:
            import ibis

            b = ibis.duckdb.from_connection(self._raw.cursor())
            self._local.backend = b
        return b

    @property
    def is_duckdb(self) -> bool:
        """Whether :meth:`rows` can run SQL (DuckDB); other engines go through Ibis."""
        return self._raw is not None

    def cursor(self) -> Any:
        """This thread's DuckDB cursor (for parameterised SQL)."""
        c = getattr(self._local, "cursor", None)
        if c is None:
            c = self._raw.cursor()
            self._local.cursor = c
        return c

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a parameterised DuckDB query (``?`` placeholders) as dicts: no Ibis
        expression to build or compile, no DataFrame, so a page costs little Python."""
        cur = self.cursor().execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def memo(self, key: str, make: Any) -> Any:
        """``make()`` computed once per key: the warehouse cannot change while it is open
        read-only, so what is derived from it alone (the worklist's date, compiled SQL)
        holds until the server stops."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = make()
            return self._memo[key]

    def cached(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, kept for the :data:`CACHE_ENTRIES` keys used last (the warehouse is
        read-only while open, so rows read from it stay true; what the user may see of them
        is decided on each request, after this)."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                hit: T = self._cache[key]
                return hit
        value = make()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return value

    def has_table(self, name: str) -> bool:
        if self._engine is not None:
            return bool(self._engine.has_table(name))
        return name in self._tables

    def table(self, name: str) -> Any:
        """The Ibis table ``name`` on this thread's backend."""
        if self._engine is not None:
            return self._engine.table(name)
        return self.backend().table(name)

    def execute(self, expr: Any) -> pd.DataFrame:
        """Run an Ibis expression built from :meth:`table` (serialised on engines that are
        not DuckDB)."""
        if self._engine is not None:
            with self._lock:
                out: pd.DataFrame = expr.execute()
                return out
        res: pd.DataFrame = self.backend().execute(expr)
        return res

    @property
    def ibis(self) -> Any:
        """This thread's Ibis backend (as :class:`popweave.warehouse.base.Engine` has it)."""
        return self._engine.ibis if self._engine is not None else self.backend()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        if self._engine is not None:
            self._engine.close()
