"""The importer contract, the registry of importers, and running one into a workspace."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from popweave.errors import PopweaveError
from popweave.model.quarantine import IMPORTER_REJECT_SCHEMA
from popweave.warehouse import Engine, LoadReport, load
from popweave.warehouse.load import REJECTS, AlreadyLoaded, loaded_before

Batch = tuple[str, pa.Table]
"""(canonical table name, rows) — or (``REJECTS``, importer-level reject records)."""


class Importer(ABC):
    """Reads one kind of input and yields canonical rows in bounded chunks.

    Subclasses set ``name`` (the ``popweave ingest NAME`` word) and ``description``, take
    the input path (and options) in the constructor, and implement :meth:`batches`.
    Batches are yielded referenced tables first (areas, practices, providers, people, then
    events); columns are canonical column names (text or typed) plus the provenance columns
    ``_file`` (str) and ``_line`` (int, 1-based), which the quarantine records. Records that
    cannot become rows at all are yielded as ``(REJECTS, table)`` in
    ``IMPORTER_REJECT_SCHEMA``. :meth:`advance` reports bytes read for the progress bar.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = Path(path)
        self.options = options
        self._progress: Callable[[int], None] | None = None

    @abstractmethod
    def inputs(self) -> list[Path]:
        """The files this import reads (for the fingerprint and the progress total)."""

    @abstractmethod
    def batches(self) -> Iterator[Batch]:
        """Canonical rows in chunks, referenced tables first."""

    def advance(self, nbytes: int) -> None:
        """Report ``nbytes`` more input read."""
        if self._progress:
            self._progress(nbytes)

    def check(self) -> None:
        """Raise a PopweaveError naming the path if the input is missing or unreadable."""
        if not self.path.exists():
            raise PopweaveError(f"{self.path}: no such file or folder")
        if not self.inputs():
            raise PopweaveError(f"{self.path}: no {self.name} files found there")


REGISTRY: dict[str, type[Importer]] = {}


def register(cls: type[Importer]) -> type[Importer]:
    """Class decorator: make an importer available to ``popweave ingest``."""
    REGISTRY[cls.name] = cls
    return cls


def rejects(rows: list[dict[str, Any]]) -> pa.Table:
    """Importer-level reject records as a table (keys as in IMPORTER_REJECT_SCHEMA)."""
    return pa.Table.from_pylist(rows, schema=IMPORTER_REJECT_SCHEMA)


def fingerprint(files: list[Path], kind: str) -> str:
    """SHA-256 over the importer kind and each file's name and bytes, read in 1 MiB blocks."""
    h = hashlib.sha256(kind.encode())
    for f in sorted(files):
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


@dataclass
class IngestResult:
    """What an ingest run did: the load report, or the earlier load it matched."""

    report: LoadReport | None
    skipped_as: str | None = None


def run(
    importer: Importer,
    engine: Engine,
    *,
    quarantine_dir: Path | None,
    progress: Callable[[int], None] | None = None,
    on_table: Callable[[str, int], None] | None = None,
    force: bool = False,
) -> IngestResult:
    """Import into ``engine`` as one all-or-nothing load. The same inputs loaded before are
    skipped (idempotent re-runs) unless ``force``.

    A re-run from the same source is caught before loading (its inputs are hashed first);
    otherwise the inputs are hashed in a thread while they load, and a load whose inputs
    turn out to match an earlier load is rolled back at the end — same result, no wait.
    """
    importer.check()
    source = f"{importer.name}:{importer.path}"
    files = importer.inputs()
    if not force and _has_source(engine, source):
        digest = fingerprint(files, importer.name)
        if earlier := loaded_before(engine, digest):
            return IngestResult(None, earlier)
        input_hash: str | Callable[[], str] = digest
    else:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="popweave-fingerprint")
        pending = pool.submit(fingerprint, files, importer.name)
        pool.shutdown(wait=False)
        input_hash = pending.result
    importer._progress = progress
    try:
        report = load(
            engine,
            importer.batches(),
            source=source,
            quarantine_dir=quarantine_dir,
            progress=on_table,
            input_hash=input_hash,
            unique_input=not force,
        )
    except AlreadyLoaded as same:
        return IngestResult(None, same.load_id)
    return IngestResult(report)


def _has_source(engine: Engine, source: str) -> bool:
    log = engine.read("load_log", ["source"])
    return source in set(log.column("source").to_pylist())


__all__ = ["REGISTRY", "REJECTS", "Batch", "Importer", "IngestResult", "register", "run"]
