"""Text columns read as bytes, decoded as UTF-8 with the undecodable rows singled out."""

from __future__ import annotations

from pathlib import Path

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
    return clip(",".join(parts))


RECORD_LIMIT = 10_000
"""Characters of a rejected record kept in the quarantine (the rest is cut, and says so)."""


def clip(text: str) -> str:
    """``text`` cut to RECORD_LIMIT characters for the quarantine."""
    if len(text) <= RECORD_LIMIT:
        return text
    return text[:RECORD_LIMIT] + f"... [{len(text) - RECORD_LIMIT:,} more characters]"


def block_size_for(path: Path, minimum: int) -> int:
    """A CSV reader block size that holds the file's longest line (the reader cannot parse a
    record longer than its block): ``minimum``, or the next power of two above twice it."""
    longest = 0
    carry = 0  # length of the line still open at the end of the previous chunk
    with path.open("rb") as fh:
        while chunk := fh.read(16 << 20):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            if len(ends) == 0:
                carry += len(chunk)
                continue
            first = carry + int(ends[0])
            inner = int(np.diff(ends).max()) if len(ends) > 1 else 0
            longest = max(longest, first, inner)
            carry = len(chunk) - int(ends[-1]) - 1
    longest = max(longest, carry)
    need = 2 * longest + 1024
    if need <= minimum:
        return minimum
    return 1 << (need - 1).bit_length()
