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
    ]
)


def write(directory: Path, load_id: str, source: str, table: str, result: Validated) -> Path | None:
    """Write the rejects of ``result`` under ``directory``; atomic (temp file, then rename)."""
    if result.rejects.num_rows == 0:
        return None
    rows = result.rejected_rows
    records = dict(
        zip(rows.column("_row").to_pylist(), rows_as_json(rows.drop_columns(["_row"])), strict=True)
    )
    rej = result.rejects
    n = rej.num_rows
    out = pa.table(
        {
            "load_id": pa.array([load_id] * n, pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "table_name": rej.column("table_name"),
            "row": rej.column("row"),
            "field": rej.column("field"),
            "reason": rej.column("reason"),
            "value": rej.column("value"),
            "record": pa.array([records.get(r) for r in rej.column("row").to_pylist()],
                               pa.string()),
        },
        schema=QUARANTINE_SCHEMA,
    )
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{load_id}-{table}.parquet"
    tmp = directory / f".{final.name}.tmp"
    pq.write_table(out, tmp)
    os.replace(tmp, final)
    return final


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
        return pa.table({"table_name": [], "field": [], "reason": [], "count": []})
    counts = tbl.group_by(["table_name", "field", "reason"]).aggregate([("row", "count")])
    counts = counts.rename_columns(["table_name", "field", "reason", "count"])
    return counts.sort_by([("count", "descending")]).filter(pc.greater(counts["count"], 0))
