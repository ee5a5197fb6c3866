"""Quarantine: rejected rows kept with their reasons, one Parquet file per table per load."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from popweave.model.validate import Validated, rows_as_json

QUARANTINE_SCHEMA = pa.schema(
    [
        ("load_id", pa.string()),
        ("source", pa.string()),
        ("table_name", pa.string()),
        ("row", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("value", pa.string()),
        ("record", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
    ]
)
"""One row per problem. ``row`` counts rows of the load's table from 0; ``file`` and ``line``
(1-based) say where the record was read, when the importer knows."""


PENDING_SUFFIX = ".pending"
"""Quarantine files of a load that has not committed yet end in this (hidden, not read)."""


def write(
    directory: Path,
    load_id: str,
    source: str,
    table: str,
    result: Validated,
    *,
    part: int | None = None,
    pending: bool = False,
) -> Path | None:
    """Write the rejects of ``result`` under ``directory``; atomic (temp file, then rename).

    ``part`` numbers the files of one load and table; with ``pending`` the file stays hidden
    until :func:`publish` (the loader publishes after its commit, so a load that fails or is
    killed never shows rejects of rows that are not in the warehouse).
    """
    if result.rejects.num_rows == 0:
        return None
    rows = result.rejected_rows
    data = rows.drop_columns([c for c in rows.column_names if c.startswith("_")])
    row_ids = rows.column("_row").to_pylist()
    records = dict(zip(row_ids, rows_as_json(data), strict=True))
    where: dict[int, tuple[str | None, int | None]] = {}
    if "_file" in rows.column_names or "_line" in rows.column_names:
        files = (
            rows.column("_file").to_pylist()
            if "_file" in rows.column_names
            else [None] * len(row_ids)
        )
        lines = (
            rows.column("_line").to_pylist()
            if "_line" in rows.column_names
            else [None] * len(row_ids)
        )
        where = {r: (f, line) for r, f, line in zip(row_ids, files, lines, strict=True)}
    rej = result.rejects
    n = rej.num_rows
    rej_rows = rej.column("row").to_pylist()
    out = pa.table(
        {
            "load_id": pa.array([load_id] * n, pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "table_name": rej.column("table_name"),
            "row": rej.column("row"),
            "field": rej.column("field"),
            "reason": rej.column("reason"),
            "value": rej.column("value"),
            "record": pa.array([records.get(r) for r in rej_rows], pa.string()),
            "file": pa.array([where.get(r, (None, None))[0] for r in rej_rows], pa.string()),
            "line": pa.array([where.get(r, (None, None))[1] for r in rej_rows], pa.int64()),
        },
        schema=QUARANTINE_SCHEMA,
    )
    return _store(directory, out, load_id, table, part, pending)


IMPORTER_REJECT_SCHEMA = pa.schema(
    [
        QUARANTINE_SCHEMA.field(name)
        for name in ("table_name", "field", "reason", "value", "record", "file", "line")
    ]
)
"""Records an importer rejects before they become canonical rows (broken JSON, bad bytes)."""


def write_records(
    directory: Path,
    load_id: str,
    source: str,
    records: pa.Table,
    *,
    part: int | None = None,
    pending: bool = False,
) -> Path | None:
    """Quarantine importer-level rejects (``IMPORTER_REJECT_SCHEMA`` rows); atomic."""
    if records.num_rows == 0:
        return None
    records = records.select(IMPORTER_REJECT_SCHEMA.names).cast(IMPORTER_REJECT_SCHEMA)
    n = records.num_rows
    out = pa.table(
        {
            "load_id": pa.array([load_id] * n, pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "table_name": records.column("table_name"),
            "row": pa.nulls(n, pa.int64()),
            **{
                c: records.column(c) for c in ("field", "reason", "value", "record", "file", "line")
            },
        },
        schema=QUARANTINE_SCHEMA,
    )
    return _store(directory, out, load_id, "records", part, pending)


def _store(
    directory: Path, out: pa.Table, load_id: str, table: str, part: int | None, pending: bool
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stem = load_id if part is None else f"{load_id}-{part:04d}"
    final = directory / f"{stem}-{table}.parquet"
    target = directory / f".{final.name}{PENDING_SUFFIX}" if pending else final
    tmp = directory / f".{final.name}.tmp"
    try:
        pq.write_table(out, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def publish(path: Path) -> Path:
    """Make a pending quarantine file visible; returns its final path."""
    name = path.name
    if not (name.startswith(".") and name.endswith(PENDING_SUFFIX)):
        return path
    final = path.with_name(name[1 : -len(PENDING_SUFFIX)])
    os.replace(path, final)
    return final


def pending(directory: Path) -> dict[str, list[Path]]:
    """Pending quarantine files under ``directory`` by load id."""
    out: dict[str, list[Path]] = {}
    if not directory.is_dir():
        return out
    for p in sorted(directory.glob(f".*.parquet{PENDING_SUFFIX}")):
        out.setdefault(p.name[1:].split("-", 1)[0], []).append(p)
    return out


def read(directory: Path) -> pa.Table:
    """All quarantined records under ``directory`` (empty table if none)."""
    files = sorted(directory.glob("*.parquet")) if directory.exists() else []
    if not files:
        return QUARANTINE_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=QUARANTINE_SCHEMA) for f in files])


def summary(directory: Path) -> pa.Table:
    """Counts of quarantined records by table, field and reason."""
    tbl = read(directory)
    if tbl.num_rows == 0:
        return pa.schema(
            [
                ("table_name", pa.string()),
                ("field", pa.string()),
                ("reason", pa.string()),
                ("count", pa.int64()),
            ]
        ).empty_table()
    counts = tbl.group_by(["table_name", "field", "reason"]).aggregate([("row", "count")])
    counts = counts.rename_columns(["table_name", "field", "reason", "count"])
    return counts.sort_by([("count", "descending")]).filter(pc.greater(counts["count"], 0))
