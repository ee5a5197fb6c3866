"""The analytic store behind Ibis: engines chosen by URL, atomic loads, the load log."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def rebuilding(url: str, root: Path) -> Iterator[Engine]:
    """An empty engine in a staging place; when the block succeeds it replaces the
    warehouse named by ``url`` in one rename, and when it fails the old warehouse stays."""
    scheme, _, rest = url.partition("://")
    if scheme == "duckdb":
        from popweave.warehouse.duckdb import DuckDBEngine

        path = Path(rest[1:]) if rest.startswith("/") else Path(rest)
        if not path.is_absolute():
            path = root / path
        staging = path.with_name(path.name + ".staging")
        for f in (staging, staging.with_name(staging.name + ".wal")):
            f.unlink(missing_ok=True)
        engine: Engine = DuckDBEngine(staging)
        try:
            engine.create_tables()
            yield engine
            engine.close()
            Path(str(path) + ".wal").unlink(missing_ok=True)
            os.replace(staging, path)
        finally:
            engine.close()
            for f in (staging, staging.with_name(staging.name + ".wal")):
                f.unlink(missing_ok=True)
    elif scheme == "spark":
        from popweave.warehouse.spark import SparkEngine

        target = root / "spark"
        staging = root / "spark.staging"
        shutil.rmtree(staging, ignore_errors=True)
        engine = SparkEngine(staging, master=rest or "local[*]")
        try:
            engine.create_tables()
            yield engine
            old = root / "spark.old"
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        raise WorkspaceError(f"unknown engine URL {url!r}")


__all__ = [
    "Engine",
    "LoadReport",
    "counts",
    "load",
    "open_engine",
    "open_workspace_engine",
    "rebuilding",
]
