"""Text columns read as bytes, decoded as UTF-8 with the undecodable rows singled out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def decode_utf8(batch: pa.Table | pa.RecordBatch) -> tuple[pa.Table, np.ndarray]:
    """``batch`` with binary columns cast to strings, and a mask of rows holding bytes that
    are not UTF-8 (those rows' bad values become null). Valid batches take the fast path."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    bad = np.zeros(table.num_rows, dtype=bool)
    cols = []
    for col in table.columns:
        if not pa.types.is_binary(col.type):
            cols.append(col)
            continue
        try:
            cols.append(pc.cast(col, pa.string()))
        except pa.ArrowInvalid:
            values = col.to_pylist()
            out: list[str | None] = []
            for i, v in enumerate(values):
                if v is None:
                    out.append(None)
                    continue
                try:
                    out.append(v.decode("utf-8"))
                except UnicodeDecodeError:
                    bad[i] = True
                    out.append(None)
            cols.append(pa.chunked_array([pa.array(out, pa.string())]))
    return pa.table(cols, names=table.column_names), bad


def shown(raw: pa.Table, row: int) -> str:
    """One raw row as text for the quarantine, undecodable bytes escaped."""
    parts = []
    for col in raw.columns:
        v = col[row].as_py()
        parts.append(
            ""
            if v is None
            else v.decode("utf-8", "backslashreplace")
            if isinstance(v, bytes)
            else str(v)
        )
    return ",".join(parts)
