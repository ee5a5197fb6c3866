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

from popweave.model import ALL_TABLES, TABLES, Table
from popweave.warehouse.base import Engine

_SESSION: Any = None


def spark_session(master: str = "local[*]") -> Any:
    """One Spark session per process, quiet and UTC."""
    global _SESSION
    if _SESSION is None:
        from pyspark.sql import SparkSession

        _SESSION = (
            SparkSession.builder.master(master)
            .appName("popweave")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "4g")
            .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
            .getOrCreate()
        )
        _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


class SparkEngine(Engine):
    """Warehouse as Parquet under ``root``, queried through Ibis's PySpark backend."""

    name: ClassVar[str] = "spark"
    unsupported: ClassVar[frozenset[str]] = frozenset({"concurrent_writers"})

    def __init__(self, root: Path, master: str = "local[*]") -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.spark = spark_session(master)
        self._ibis = ibis.pyspark.connect(self.spark)
        self._staged: dict[str, list[str]] | None = None
        self._load_tag = ""
        self._refresh()

    @property
    def ibis(self) -> Any:
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
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, self._manifest_path)

    def create_tables(self, tables: tuple[Table, ...] = ALL_TABLES) -> None:
        manifest = self._manifest()
        changed = False
        for t in tables:
            if t.name in manifest:
                continue
            rel = f"tables/{t.name}/_empty.parquet"
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(t.arrow_schema.empty_table(), self.root / rel)
            manifest[t.name] = [rel]
            changed = True
        if changed:
            self._write_manifest(manifest)
            self._refresh()

    def begin(self) -> None:
        self._staged = {}
        self._load_tag = uuid.uuid4().hex[:12]

    def append(self, table: Table, batch: pa.Table) -> None:
        assert self._staged is not None, "append() outside begin()/commit()"
        files = self._staged.setdefault(table.name, [])
        rel = f"tables/{table.name}/{self._load_tag}-{len(files):04d}.parquet"
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(batch.cast(table.arrow_schema), self.root / rel)
        files.append(rel)

    def commit(self) -> None:
        assert self._staged is not None
        manifest = self._manifest()
        for name, files in self._staged.items():
            manifest[name] = [*manifest.get(name, []), *files]
        self._write_manifest(manifest)
        self._staged = None
        self._refresh()

    def rollback(self) -> None:
        if self._staged is None:
            return
        for files in self._staged.values():
            for rel in files:
                (self.root / rel).unlink(missing_ok=True)
        self._staged = None

    def _refresh(self) -> None:
        """Point one temporary view per table at its committed batch files."""
        for name, files in self._manifest().items():
            paths = [str(self.root / f) for f in files]
            schema = TABLES[name].arrow_schema if name in TABLES else None
            df = self.spark.read.parquet(*paths)
            if schema is not None:
                df = df.select(*schema.names)
            df.createOrReplaceTempView(name)

    def count(self, table: str) -> int:
        files = self._manifest().get(table, [])
        return sum(pq.ParquetFile(self.root / f).metadata.num_rows for f in files)

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        files = self._manifest().get(table, [])
        parts = [pq.read_table(self.root / f, columns=columns) for f in files]
        return pa.concat_tables(parts) if parts else pa.table({})

    def drop_all(self) -> None:
        """Remove every table (used when a city is rebuilt)."""
        shutil.rmtree(self.root / "tables", ignore_errors=True)
        self._manifest_path.unlink(missing_ok=True)
