"""The PySpark engine (local mode proves the distributed path).

Tables are Parquet batch files listed in a manifest; a load writes new batch files and then
replaces the manifest in one atomic rename, so readers see all of a load or none of it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, ClassVar

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from popweave.model import ALL_TABLES, TABLES, Kind, Table
from popweave.warehouse.base import Engine

_SESSION: Any = None
_VIEWS_OF: list[Any] = [None]
"""The engine whose tables the session's temporary views show (views are per session)."""


def spark_session(master: str = "local[*]") -> Any:
    """One Spark session per process, quiet and UTC."""
    global _SESSION
    if _SESSION is None:
        from pyspark.sql import SparkSession

        _SESSION = (
            SparkSession.builder.master(master)
            .appName("popweave")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "4g")
            .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
            .getOrCreate()
        )
        _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def spark_schema(table: Table) -> Any:
    """The Spark ``StructType`` of a canonical table."""
    from pyspark.sql import types as T

    spark_types = {
        Kind.STRING: T.StringType(),
        Kind.INTEGER: T.LongType(),
        Kind.FLOAT: T.DoubleType(),
        Kind.BOOLEAN: T.BooleanType(),
        Kind.DATE: T.DateType(),
        Kind.TIMESTAMP: T.TimestampNTZType(),
        Kind.MONEY: T.DecimalType(14, 2),
    }
    return T.StructType(
        [T.StructField(c.name, spark_types[c.kind], nullable=True) for c in table.columns]
    )


class SparkEngine(Engine):
    """Warehouse as Parquet under ``root``, queried through Ibis's PySpark backend."""

    name: ClassVar[str] = "spark"
    unsupported: ClassVar[frozenset[str]] = frozenset({"concurrent_writers", "relational_checks"})

    def __init__(self, root: Path, master: str = "local[*]") -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.spark = spark_session(master)
        self._ibis = ibis.pyspark.connect(self.spark)
        self._staged: dict[str, list[str]] | None = None
        self._load_tag = ""
        self._stale = True

    @property
    def ibis(self) -> Any:
        """The Ibis backend; the session's views are pointed at this engine's tables first."""
        if self._stale or _VIEWS_OF[0] is not self:
            self._refresh()
        return self._ibis

    @property
    def _manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def _manifest(self) -> dict[str, list[str]]:
        if not self._manifest_path.exists():
            return {}
        data: dict[str, list[str]] = json.loads(self._manifest_path.read_text())
        return data

    def _write_manifest(self, manifest: dict[str, list[str]]) -> None:
        tmp = self.root / f".manifest.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
            os.replace(tmp, self._manifest_path)
        finally:
            tmp.unlink(missing_ok=True)

    def create_tables(self, tables: tuple[Table, ...] = ALL_TABLES) -> None:
        manifest = self._manifest()
        changed = False
        for t in tables:
            if t.name in manifest:
                continue
            rel = f"tables/{t.name}/_empty.parquet"
            self._write_parquet(t.arrow_schema.empty_table(), rel)
            manifest[t.name] = [rel]
            changed = True
        if changed:
            self._write_manifest(manifest)
            self._stale = True

    def _write_parquet(self, rows: pa.Table, rel: str) -> None:
        """Write ``rows`` to ``root/rel`` atomically (temp file, then rename)."""
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            pq.write_table(rows, tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def begin(self) -> None:
        self._remove_orphans()
        self._staged = {}
        self._load_tag = uuid.uuid4().hex[:12]

    def _remove_orphans(self) -> None:
        """Delete batch files no manifest lists: what a killed load left behind."""
        tables = self.root / "tables"
        if not tables.is_dir():
            return
        listed = {f for files in self._manifest().values() for f in files}
        for path in tables.glob("*/*"):
            if path.is_file() and path.relative_to(self.root).as_posix() not in listed:
                path.unlink(missing_ok=True)

    def append(self, table: Table, batch: pa.Table) -> None:
        if self._staged is None:
            raise RuntimeError("append() outside begin()/commit()")
        files = self._staged.setdefault(table.name, [])
        rel = f"tables/{table.name}/{self._load_tag}-{len(files):04d}.parquet"
        files.append(rel)  # listed first, so a rollback also removes a half-written file
        self._write_parquet(batch.select(table.column_names).cast(table.arrow_schema), rel)

    def commit(self) -> None:
        if self._staged is None:
            raise RuntimeError("commit() outside begin()")
        manifest = self._manifest()
        for name, files in self._staged.items():
            manifest[name] = [*manifest.get(name, []), *files]
        # The rename of the manifest is the commit: readers see all of the load or none of it.
        self._write_manifest(manifest)
        self._staged = None
        self._stale = True

    def rollback(self) -> None:
        if self._staged is None:
            return
        for files in self._staged.values():
            for rel in files:
                (self.root / rel).unlink(missing_ok=True)
        self._staged = None

    def _refresh(self) -> None:
        """Point one temporary view per table at its committed batch files.

        The Spark schema comes from the table definition, not from the files: an empty table
        has nothing to infer from, and TIMESTAMP columns (Arrow ``timestamp[us]`` without a
        zone) must read as ``TIMESTAMP_NTZ`` — wall-clock times already in UTC.
        """
        for name, files in self._manifest().items():
            paths = [str(self.root / f) for f in files]
            if name in TABLES:
                tdef = TABLES[name]
                df = self.spark.read.schema(spark_schema(tdef)).parquet(*paths)
                df = df.select(*tdef.column_names)
            else:
                df = self.spark.read.parquet(*paths)
            df.createOrReplaceTempView(name)
        self._stale = False
        _VIEWS_OF[0] = self

    def count(self, table: str) -> int:
        files = self._manifest().get(table, [])
        return sum(pq.ParquetFile(self.root / f).metadata.num_rows for f in files)

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        files = self._manifest().get(table, [])
        parts = [pq.read_table(self.root / f, columns=columns) for f in files]
        if parts:
            return pa.concat_tables(parts)
        schema = TABLES[table].arrow_schema if table in TABLES else pa.schema([])
        return schema.empty_table().select(columns or schema.names)

    def close(self) -> None:
        if _VIEWS_OF[0] is self:
            _VIEWS_OF[0] = None

    def drop_all(self) -> None:
        """Remove every table (used when a city is rebuilt)."""
        for name in self._manifest():
            self.spark.catalog.dropTempView(name)
        shutil.rmtree(self.root / "tables", ignore_errors=True)
        self._manifest_path.unlink(missing_ok=True)
        self._stale = True
