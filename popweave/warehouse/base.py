"""The engine contract: one small base class, each engine in its own file."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import pyarrow as pa

from popweave.model import ALL_TABLES, Table


class Engine(ABC):
    """An analytic store behind Ibis, with all-or-nothing loads.

    A load is ``begin()``, any number of ``append(table, batch)``, then ``commit()``; on any
    error ``rollback()`` leaves every table exactly as before ``begin()``.
    What an engine cannot do is declared in ``unsupported``, not tested for ad hoc.
    """

    name: ClassVar[str]
    unsupported: ClassVar[frozenset[str]] = frozenset()

    @property
    @abstractmethod
    def ibis(self) -> Any:
        """The Ibis backend connection, for building expressions."""

    @abstractmethod
    def create_tables(self, tables: tuple[Table, ...] = ALL_TABLES) -> None:
        """Create any of ``tables`` that do not exist yet."""

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def append(self, table: Table, batch: pa.Table) -> None:
        """Stage ``batch`` (canonical schema) for appending to ``table``."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def count(self, table: str) -> int:
        """Committed rows in ``table``."""

    @abstractmethod
    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """Committed rows of ``table`` (selected columns) as Arrow."""

    def violations(self, table: Table, rows: pa.Table, *, references: bool = True) -> pa.Table:
        """Key and reference problems of ``rows`` (canonical columns plus ``_row``), checked
        against the warehouse including rows appended earlier in this load: duplicate keys
        (within ``rows`` too) and, with ``references``, foreign keys that point nowhere.
        Returns reject records (``popweave.model.validate.REJECT_SCHEMA``). Engines that
        list ``"relational_checks"`` in ``unsupported`` leave this to the loader."""
        raise NotImplementedError(f"{self.name} does not check keys itself")

    def save_result(self, name: str, rows: Any, *, replace: dict[str, Any]) -> int:
        """Atomically replace the rows of result table ``name`` whose columns equal
        ``replace`` by ``rows`` (Arrow, or an Ibis expression evaluated in the engine); the
        table is created on first use. Returns the number of rows written."""
        raise NotImplementedError(f"{self.name} does not store result tables")

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists (canonical or result table)."""
        return name in self.ibis.list_tables()

    def table(self, name: str) -> Any:
        """An Ibis table expression for ``name``."""
        return self.ibis.table(name)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
