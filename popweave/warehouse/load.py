"""All-or-nothing loads: validate, quarantine rejects, append, log, commit — or leave all as was."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from popweave.errors import LoadError, PopweaveError
from popweave.model import TABLES, Validated, validate
from popweave.model import quarantine as quarantine_files
from popweave.model.tables import CANONICAL, LOAD_LOG
from popweave.warehouse.base import Engine


@dataclass
class LoadReport:
    """What one load did, per table."""

    load_id: str
    source: str
    accepted: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    quarantine: list[Path] = field(default_factory=list)

    @property
    def total_accepted(self) -> int:
        return sum(self.accepted.values())

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())


class _Hasher:
    """SHA-256 of a table's accepted rows, independent of how they were split into batches.

    Each column feeds its own hash with a canonical byte form (validity bytes, then values:
    fixed-width values with nulls zeroed; text as lengths and UTF-8 bytes), so the hash of a
    table is the same however its rows arrive; the table's hash combines the column hashes.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        # Per column three streams: validity, text lengths, values.
        self.streams = [
            [hashlib.sha256(f"{f.name}:{f.type}:{k}".encode()) for k in range(3)] for f in schema
        ]
        self.rows = 0

    def add(self, rows: pa.Table) -> None:
        self.rows += rows.num_rows
        for streams, name in zip(self.streams, self.schema.names, strict=True):
            for chunk in rows.column(name).chunks:
                _feed(streams, chunk)

    def hexdigest(self) -> str:
        if self.rows == 0:
            return hashlib.sha256().hexdigest()
        top = hashlib.sha256(str(self.rows).encode())
        for streams in self.streams:
            for h in streams:
                top.update(h.digest())
        return top.hexdigest()


def _feed(streams: list[Any], arr: pa.Array) -> None:
    """Update the (validity, lengths, values) hashes with the canonical bytes of ``arr``."""
    valid, lengths, h = streams
    valid.update(np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), np.uint8).tobytes())
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        filled = pc.fill_null(arr, "")
        n = pc.binary_length(filled).to_numpy(zero_copy_only=False)
        lengths.update(np.asarray(n, np.int64).tobytes())
        h.update(_utf8(filled))
        return
    if pa.types.is_decimal(t):
        filled = pc.fill_null(arr, pa.scalar(0, t)) if arr.null_count else arr
        buf = filled.buffers()[1]
        h.update(memoryview(buf)[filled.offset * 16 : (filled.offset + len(filled)) * 16])
        return
    if pa.types.is_boolean(t):
        h.update(
            np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), np.uint8).tobytes()
        )
        return
    if pa.types.is_temporal(t):
        arr = arr.cast(pa.int64() if t.bit_width == 64 else pa.int32())
    filled = pc.fill_null(arr, pa.scalar(0, arr.type)) if arr.null_count else arr
    h.update(filled.to_numpy(zero_copy_only=False).tobytes())


def _utf8(arr: pa.Array) -> bytes | memoryview:
    """The UTF-8 bytes of all values of a string array, back to back."""
    if len(arr) == 0:
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data = arr.buffers()[2]
    if data is None:
        return b""
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


class _KeyCache:
    """Keys of each table: committed ones read once, plus those accepted so far in this load."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.parts: dict[tuple[str, tuple[str, ...]], list[pa.Table]] = {}
        self.joined: dict[tuple[str, tuple[str, ...]], pa.Table] = {}

    @staticmethod
    def _schema(table: str, cols: tuple[str, ...]) -> pa.Schema:
        tdef = TABLES[table]
        return pa.schema([pa.field(c, tdef.column(c).arrow_type, nullable=True) for c in cols])

    def get(self, table: str, cols: tuple[str, ...]) -> pa.Table:
        k = (table, cols)
        if k not in self.parts:
            committed = self.engine.read(table, list(cols))
            self.parts[k] = [committed.select(list(cols)).cast(self._schema(table, cols))]
        if k not in self.joined:
            parts = self.parts[k]
            self.joined[k] = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        return self.joined[k]

    def add(self, table: str, batch: pa.Table) -> None:
        for (t, cols), parts in self.parts.items():
            if t == table:
                parts.append(batch.select(list(cols)).cast(self._schema(t, cols)))
                self.joined.pop((t, cols), None)


Batches = Mapping[str, pa.Table] | Iterable[tuple[str, pa.Table]]


def load(
    engine: Engine,
    batches: Batches,
    *,
    source: str,
    quarantine_dir: Path | None = None,
    today: dt.date | None = None,
    check_references: bool = True,
    progress: Callable[[str, int], None] | None = None,
    atomic: bool = True,
    input_hash: str | Callable[[], str] | None = None,
    unique_input: bool = False,
) -> LoadReport:
    """Validate and append ``batches`` (table name -> Arrow rows) as one all-or-nothing load.

    A mapping is loaded in the model's order (referenced tables first); a sequence of
    ``(table, batch)`` pairs in its own order, and references are checked against rows
    committed before and rows accepted earlier in the same load.

    Rows that break the model are quarantined with their reasons and the good rows kept.
    Any error (including an interrupt) rolls the whole load back and removes its quarantine
    files: the warehouse is left exactly as it was. Quarantine files stay hidden until the
    load commits, so a load killed outside Python's control leaves no visible rejects either
    (the next load removes them, or publishes them if their load did commit).

    A batch named ``"_rejects"`` holds records an importer could not turn into rows
    (``quarantine.IMPORTER_REJECT_SCHEMA``): they are quarantined and counted as rejected.
    ``input_hash`` (a fingerprint of the input files, or a function that returns it when the
    load is about to commit) is logged; see :func:`loaded_before`. With ``unique_input`` a load
    whose input hash a committed load already has is rolled back and :class:`AlreadyLoaded`
    raised.

    ``atomic=False`` commits after every batch: only for an engine whose whole warehouse is
    published at once afterwards (see ``rebuilding``), where it bounds the engine's memory.

    Row rules run in the calling thread while the engine checks keys and references and
    appends the previous batch in a worker thread, so a large load uses two cores.
    Returns the per-table counts.
    """
    items: Iterable[tuple[str, pa.Table]]
    if isinstance(batches, Mapping):
        # One batch per table: load referenced tables first, whatever the mapping's order.
        order = {t.name: i for i, t in enumerate(CANONICAL)}
        items = sorted(batches.items(), key=lambda kv: order.get(kv[0], len(order)))
    else:
        items = batches
    report = LoadReport(load_id=uuid.uuid4().hex[:16], source=source)
    if quarantine_dir is not None:
        _settle_pending(engine, quarantine_dir)
    in_sql = "relational_checks" not in engine.unsupported
    keys = None if in_sql else _KeyCache(engine)
    hashers: dict[str, _Hasher] = {}
    started: dict[str, dt.datetime] = {}
    offsets: dict[str, int] = {}
    staged: list[Path] = []

    def store(name: str, batch: pa.Table, result: Validated, offset: int) -> None:
        """Engine work for one batch: key/reference checks, append, hash, quarantine."""
        if failed.is_set():  # an earlier batch failed: the load is being rolled back
            return
        try:
            _store(name, batch, result, offset)
        except BaseException:
            failed.set()
            raise

    def _store(name: str, batch: pa.Table, result: Validated, offset: int) -> None:
        tdef = TABLES[name]
        if in_sql:
            found = engine.violations(tdef, result.numbered(), references=check_references)
            result = result.reject(found, batch, offset)
        if result.accepted.num_rows:
            engine.append(tdef, result.accepted)
            if keys is not None:
                keys.add(name, result.accepted)
            hashers[name].add(result.accepted)
        if quarantine_dir is not None:
            path = quarantine_files.write(
                quarantine_dir,
                report.load_id,
                source,
                name,
                result,
                part=len(staged),
                pending=True,
            )
            if path:
                staged.append(path)
        report.accepted[name] = report.accepted.get(name, 0) + result.accepted.num_rows
        report.rejected[name] = report.rejected.get(name, 0) + result.n_rejected
        if not atomic:
            engine.commit()
            engine.begin()
        if progress:
            progress(name, batch.num_rows)

    def store_rejects(records: pa.Table) -> None:
        if failed.is_set():
            return
        if quarantine_dir is not None:
            path = quarantine_files.write_records(
                quarantine_dir, report.load_id, source, records, part=len(staged), pending=True
            )
            if path:
                staged.append(path)
        for name, n in Counter(records.column("table_name").to_pylist()).items():
            report.rejected[name] = report.rejected.get(name, 0) + n
            report.accepted.setdefault(name, 0)
            started.setdefault(name, _now())

    failed = threading.Event()
    pending: deque[Future[None]] = deque()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="popweave-load")
    engine.begin()
    try:
        for name, batch in items:
            if name == REJECTS:
                pending.append(worker.submit(store_rejects, batch))
                continue
            if name not in TABLES or name == LOAD_LOG.name:
                raise LoadError(f"{source}: unknown table {name!r}")
            tdef = TABLES[name]
            started.setdefault(name, _now())
            hashers.setdefault(name, _Hasher(tdef.arrow_schema))
            offset = offsets.get(name, 0)
            offsets[name] = offset + batch.num_rows
            if in_sql:
                result = validate(tdef, batch, today=today, row_offset=offset, relational=False)
            else:
                assert keys is not None
                while pending:  # the key cache must hold every earlier batch
                    pending.popleft().result()
                refs: dict[str, pa.Array] = {}
                if check_references:
                    for col in tdef.columns:
                        if col.references and col.name in batch.column_names:
                            rt, rc = col.references.split(".")
                            refs[col.references] = _combine(keys.get(rt, (rc,)).column(rc))
                result = validate(
                    tdef,
                    batch,
                    today=today,
                    row_offset=offset,
                    existing_keys=keys.get(name, tdef.key),
                    reference_keys=refs,
                )
            pending.append(worker.submit(store, name, batch, result, offset))
            while len(pending) > 1:  # bound memory: at most one batch waits for the engine
                pending.popleft().result()
        while pending:
            pending.popleft().result()
        digest = input_hash() if callable(input_hash) else input_hash
        if unique_input and digest and (earlier := loaded_before(engine, digest)):
            raise AlreadyLoaded(earlier)
        engine.append(LOAD_LOG, _log_rows(report, started, hashers, digest))
        engine.commit()
    except BaseException as exc:
        for f in pending:  # let the engine finish what it is doing before rolling back
            f.cancel()
        worker.shutdown(wait=True)
        try:
            engine.rollback()
        finally:
            for p in staged:
                p.unlink(missing_ok=True)
        if isinstance(exc, PopweaveError) or not isinstance(exc, Exception):
            raise
        raise LoadError(f"{source}: load failed and was rolled back: {exc}") from exc
    finally:
        worker.shutdown(wait=True)
    report.quarantine = [quarantine_files.publish(p) for p in staged]
    return report


def _settle_pending(engine: Engine, directory: Path) -> None:
    """Finish what a killed load left: publish rejects of committed loads, drop the rest."""
    left = quarantine_files.pending(directory)
    if not left:
        return
    committed = set(engine.read(LOAD_LOG.name, ["load_id"]).column("load_id").to_pylist())
    for load_id, paths in left.items():
        for p in paths:
            if load_id in committed:
                quarantine_files.publish(p)
            else:
                p.unlink(missing_ok=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _combine(arr: pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)


def _log_rows(
    report: LoadReport,
    started: dict[str, dt.datetime],
    hashers: dict[str, _Hasher],
    input_hash: str | None = None,
) -> pa.Table:
    names = list(report.accepted)
    finished = _now()
    empty = hashlib.sha256().hexdigest()
    return pa.table(
        {
            "load_id": [report.load_id] * len(names),
            "source": [report.source] * len(names),
            "table_name": names,
            "rows_accepted": [report.accepted[n] for n in names],
            "rows_rejected": [report.rejected[n] for n in names],
            "started": [started[n] for n in names],
            "finished": [finished] * len(names),
            "content_hash": [hashers[n].hexdigest() if n in hashers else empty for n in names],
            "input_hash": [input_hash] * len(names),
        },
        schema=LOAD_LOG.arrow_schema,
    )


class AlreadyLoaded(PopweaveError):
    """The same input was loaded before (by the load whose id is ``load_id``)."""

    def __init__(self, load_id: str) -> None:
        super().__init__(f"the same input was loaded before (load {load_id})")
        self.load_id = load_id


def loaded_before(engine: Engine, input_hash: str) -> str | None:
    """The load id of a committed load of the same inputs, if there is one."""
    log = engine.read(LOAD_LOG.name, ["load_id", "input_hash"])
    for load_id, h in zip(
        log.column("load_id").to_pylist(), log.column("input_hash").to_pylist(), strict=True
    ):
        if h == input_hash:
            return str(load_id)
    return None


def counts(engine: Engine) -> dict[str, int]:
    """Committed rows per canonical table."""
    return {name: engine.count(name) for name in TABLES}


REJECTS = "_rejects"
"""Batch name for importer-level rejects."""

__all__ = ["REJECTS", "AlreadyLoaded", "LoadReport", "counts", "load", "loaded_before"]
