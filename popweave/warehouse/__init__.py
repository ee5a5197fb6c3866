"""The analytic store behind Ibis: engines chosen by URL, atomic loads, the load log."""

from __future__ import annotations

from pathlib import Path

from popweave.errors import WorkspaceError
from popweave.warehouse.base import Engine
from popweave.warehouse.load import LoadReport, counts, load
from popweave.workspace import Workspace


def open_engine(url: str, root: Path, *, create: bool = True) -> Engine:
    """Open the engine named by ``url``; relative paths are taken from ``root``.

    ``duckdb:///warehouse.duckdb`` (relative), ``duckdb:////abs/file.duckdb`` (absolute),
    ``spark://local[*]`` (Parquet under ``root/spark``).
    """
    scheme, _, rest = url.partition("://")
    if scheme == "duckdb":
        from popweave.warehouse.duckdb import DuckDBEngine

        path = Path(rest[1:]) if rest.startswith("/") else Path(rest)
        if not path.is_absolute():
            path = root / path
        engine: Engine = DuckDBEngine(path)
    elif scheme == "spark":
        from popweave.warehouse.spark import SparkEngine

        engine = SparkEngine(root / "spark", master=rest or "local[*]")
    else:
        raise WorkspaceError(f"unknown engine URL {url!r}")
    if create:
        engine.create_tables()
    return engine


def open_workspace_engine(ws: Workspace) -> Engine:
    """The engine of a workspace, with its tables created."""
    return open_engine(ws.engine_url, ws.root)


__all__ = ["Engine", "LoadReport", "counts", "load", "open_engine", "open_workspace_engine"]
