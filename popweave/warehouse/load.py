"""All-or-nothing loads: validate, quarantine rejects, append, log, commit — or leave all as was."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from popweave.errors import LoadError, PopweaveError
from popweave.model import TABLES, validate
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

    The rows are hashed in a canonical text form (a CSV header once, then one line per row;
    null and empty text differ), so the same content gives the same hash on every engine.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.h = hashlib.sha256()
        self.closed = False
        self._writer = pa_csv.CSVWriter(self, schema)

    def write(self, data: bytes) -> int:
        self.h.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def add(self, rows: pa.Table) -> None:
        self._writer.write_table(rows)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


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
    keys = _KeyCache(engine)
    hashers: dict[str, _Hasher] = {}
    started: dict[str, dt.datetime] = {}
    offsets: dict[str, int] = {}
    staged: list[Path] = []
    engine.begin()
    try:
        for name, batch in items:
            if name not in TABLES or name == LOAD_LOG.name:
                raise LoadError(f"{source}: unknown table {name!r}")
            tdef = TABLES[name]
            started.setdefault(name, _now())
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
                row_offset=offsets.get(name, 0),
                existing_keys=keys.get(name, tdef.key),
                reference_keys=refs,
            )
            offsets[name] = offsets.get(name, 0) + batch.num_rows
            if name not in hashers:
                hashers[name] = _Hasher(tdef.arrow_schema)
            if result.accepted.num_rows:
                engine.append(tdef, result.accepted)
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
            if progress:
                progress(name, batch.num_rows)
        engine.append(LOAD_LOG, _log_rows(report, started, hashers))
        engine.commit()
    except BaseException as exc:
        try:
            engine.rollback()
        finally:
            for p in staged:
                p.unlink(missing_ok=True)
        if isinstance(exc, PopweaveError) or not isinstance(exc, Exception):
            raise
        raise LoadError(f"{source}: load failed and was rolled back: {exc}") from exc
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
    report: LoadReport, started: dict[str, dt.datetime], hashers: dict[str, _Hasher]
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
        },
        schema=LOAD_LOG.arrow_schema,
    )


def counts(engine: Engine) -> dict[str, int]:
    """Committed rows per canonical table."""
    return {name: engine.count(name) for name in TABLES}


__all__ = ["LoadReport", "counts", "load"]
