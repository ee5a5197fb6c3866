"""Row validation of Arrow batches against a canonical table, vectorised with pyarrow.compute.

Every rejected row gets one reject record per problem: row number, field, a named reason and
the offending value, so bad rows can be quarantined and good rows kept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from popweave.errors import LoadError
from popweave.model.schema import Column, Kind, Table

REASONS: dict[str, str] = {
    "missing_required": "a required field is empty",
    "wrong_type": "the value cannot be read as the field's type",
    "not_allowed": "the value is not one of the field's allowed values",
    "unknown_code_system": "the code system is not one popweave knows for this field",
    "out_of_range": "the number is outside the field's range",
    "negative_money": "a money amount is negative",
    "future_date": "the date lies after the load",
    "implausible_date": "the date lies before 1900",
    "end_before_start": "an end lies before its start",
    "duplicate_id": "the key already occurs (earlier in this load or in the warehouse)",
    "unknown_reference": "the referenced row does not exist",
}
"""Named reasons for rejecting a row, with their meaning."""

REJECT_SCHEMA = pa.schema(
    [
        ("table_name", pa.string()),
        ("row", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("value", pa.string()),
    ]
)

_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_INTEGER = r"^\s*[+-]?\d+\s*$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass
class Validated:
    """The outcome of validating one batch: accepted rows and one record per problem."""

    accepted: pa.Table
    rejects: pa.Table
    rejected_rows: pa.Table
    """The rejected input rows, as received, with a ``_row`` column."""

    @property
    def n_rejected(self) -> int:
        return self.rejected_rows.num_rows


class _Problems:
    """Collects (row mask, field, reason, values) and turns them into reject records."""

    def __init__(self, table: Table, n: int, row_offset: int) -> None:
        self.table = table
        self.n = n
        self.row_offset = row_offset
        self.bad = np.zeros(n, dtype=bool)
        self.parts: list[pa.Table] = []

    def add(self, mask: pa.Array | np.ndarray, field: str, reason: str, values: pa.Array) -> None:
        m = _to_numpy_mask(mask)
        if not m.any():
            return
        self.bad |= m
        idx = np.flatnonzero(m)
        vals = values.take(pa.array(idx))
        if not pa.types.is_string(vals.type):
            vals = (
                pc.cast(vals, pa.string())
                if _castable_to_str(vals.type)
                else pa.array([str(v) for v in vals.to_pylist()], pa.string())
            )
        self.parts.append(
            pa.table(
                {
                    "table_name": pa.array([self.table.name] * len(idx), pa.string()),
                    "row": pa.array(idx + self.row_offset, pa.int64()),
                    "field": pa.array([field] * len(idx), pa.string()),
                    "reason": pa.array([reason] * len(idx), pa.string()),
                    "value": vals,
                },
                schema=REJECT_SCHEMA,
            )
        )

    def table_of_rejects(self) -> pa.Table:
        if not self.parts:
            return REJECT_SCHEMA.empty_table()
        return pa.concat_tables(self.parts).sort_by([("row", "ascending")])


def _castable_to_str(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_binary(t))


def _to_numpy_mask(mask: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        return mask.astype(bool)
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def _coerce(col: Column, arr: pa.Array, problems: _Problems) -> pa.Array:
    """Cast ``arr`` to the column's Arrow type; values that cannot be read become nulls."""
    target = col.arrow_type
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
        stripped = pc.utf8_trim_whitespace(arr)
        # Empty strings are missing values, not type errors.
        arr = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), arr)
        if col.kind is Kind.STRING:
            return arr
        pattern = {
            Kind.INTEGER: _INTEGER,
            Kind.FLOAT: _NUMBER,
            Kind.MONEY: _NUMBER,
            Kind.DATE: _DATE,
            Kind.TIMESTAMP: _TIMESTAMP,
            Kind.BOOLEAN: r"^(?i)(true|false|t|f|1|0|yes|no)$",
        }[col.kind]
        ok = pc.match_substring_regex(arr, pattern)
        problems.add(pc.and_(pc.is_valid(arr), pc.invert(ok)), col.name, "wrong_type", arr)
        good = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
        try:
            out = _cast_text(col, good)
        except (pa.ArrowInvalid, ValueError):
            out = _cast_each(col, good)
        # Well-formed but impossible values (2023-02-30) end here.
        problems.add(pc.and_(pc.is_valid(good), pc.is_null(out)), col.name, "wrong_type", good)
        return out
    try:
        if col.kind is Kind.MONEY and not pa.types.is_decimal(arr.type):
            arr = pc.round(pc.cast(arr, pa.float64()), 2)
        if col.kind is Kind.INTEGER and pa.types.is_floating(arr.type):
            whole = pc.equal(pc.floor(arr), arr)
            problems.add(pc.invert(whole), col.name, "wrong_type", arr)
            arr = pc.if_else(whole, arr, pa.scalar(None, arr.type))
        return pc.cast(arr, target, safe=col.kind is not Kind.MONEY)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LoadError(
            f"{problems.table.name}.{col.name}: cannot read {arr.type} as {col.kind.value} ({exc})"
        ) from None


def _cast_each(col: Column, good: pa.Array) -> pa.Array:
    """Slow path for a batch holding an impossible value: cast one value at a time."""
    out = []
    for v in good.to_pylist():
        try:
            out.append(None if v is None else _cast_text(col, pa.array([v]))[0].as_py())
        except (pa.ArrowInvalid, ValueError):
            out.append(None)
    return pa.array(out, col.arrow_type)


def _cast_text(col: Column, good: pa.Array) -> pa.Array:
    if col.kind is Kind.TIMESTAMP:
        # Offsets are converted to UTC; values without one are taken as recorded.
        txt = pc.replace_substring_regex(good, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
        txt = pc.replace_substring(txt, " ", "T")
        txt = pc.replace_substring_regex(txt, r"T(\d{2}:\d{2})([+\-Z]|$)", r"T\1:00\2")
        has_tz = pc.match_substring_regex(txt, r"(Z|[+-]\d{2}:?\d{2})$")
        none = pa.scalar(None, pa.string())
        naive = pc.cast(pc.if_else(has_tz, none, txt), pa.timestamp("us"))
        aware = pc.cast(pc.if_else(has_tz, txt, none), pa.timestamp("us", "UTC"))
        return pc.coalesce(naive, pc.cast(aware, pa.timestamp("us")))
    if col.kind is Kind.BOOLEAN:
        low = pc.utf8_lower(good)
        truthy = pc.is_in(low, value_set=pa.array(["true", "t", "1", "yes"]))
        return pc.if_else(pc.is_valid(low), truthy, pa.scalar(None, pa.bool_()))
    if col.kind is Kind.MONEY:
        return pc.cast(pc.round(pc.cast(good, pa.float64()), 2), col.arrow_type, safe=False)
    return pc.cast(good, col.arrow_type)


def validate(
    table: Table,
    batch: pa.Table,
    *,
    today: dt.date | None = None,
    row_offset: int = 0,
    existing_keys: pa.Table | None = None,
    reference_keys: Mapping[str, pa.Array] | None = None,
) -> Validated:
    """Check ``batch`` against ``table``; return accepted rows (canonical schema) and rejects.

    ``existing_keys`` holds keys already in the warehouse (duplicates are rejected);
    ``reference_keys`` maps ``"table.column"`` to the valid values of that foreign key.
    Rows are numbered from ``row_offset``. A column the table does not define, or a missing
    required column, is an error for the whole batch (raises :class:`LoadError`).
    """
    today = today or dt.date.today()
    unknown = [c for c in batch.column_names if c not in table.column_names]
    if unknown:
        raise LoadError(
            f"{table.name}: unknown column(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(table.column_names)}"
        )
    absent = [c.name for c in table.columns if c.required and c.name not in batch.column_names]
    if absent:
        raise LoadError(f"{table.name}: required column(s) missing: {', '.join(absent)}")

    n = batch.num_rows
    problems = _Problems(table, n, row_offset)
    arrays: dict[str, pa.Array] = {}
    for col in table.columns:
        raw = (
            _combine(batch.column(col.name))
            if col.name in batch.column_names
            else pa.nulls(n, col.arrow_type)
        )
        arr = _coerce(col, raw, problems)
        arrays[col.name] = arr
        unreadable = _to_numpy_mask(pc.and_(_present(raw), pc.is_null(arr)))
        _check_column(col, arr, problems, today, reference_keys, unreadable)

    for early, late in table.ordered:
        a, b = arrays[early], arrays[late]
        if a.type != b.type:
            a, b = pc.cast(a, pa.timestamp("us")), pc.cast(b, pa.timestamp("us"))
        problems.add(pc.less(b, a), late, "end_before_start", arrays[late])

    _check_keys(table, arrays, problems, existing_keys)

    good = pa.array(~problems.bad)
    canonical = pa.table(arrays, schema=_nullable(table)).filter(good)
    accepted = canonical.cast(table.arrow_schema)
    bad_idx = pa.array(np.flatnonzero(problems.bad))
    rejected_rows = batch.take(bad_idx).append_column(
        "_row", pa.array(np.flatnonzero(problems.bad) + row_offset, pa.int64())
    )
    return Validated(accepted, problems.table_of_rejects(), rejected_rows)


def _present(raw: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(raw.type):
        raw = raw.dictionary_decode()
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        return pc.and_(pc.is_valid(raw), pc.not_equal(pc.utf8_trim_whitespace(raw), ""))
    return pc.is_valid(raw)


def _nullable(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in table.columns])


def _check_column(
    col: Column,
    arr: pa.Array,
    problems: _Problems,
    today: dt.date,
    reference_keys: Mapping[str, pa.Array] | None,
    unreadable: np.ndarray,
) -> None:
    valid = pc.is_valid(arr)
    if col.required:
        # A value already reported as unreadable is not also reported as missing.
        missing = _to_numpy_mask(pc.invert(valid)) & ~unreadable
        problems.add(missing, col.name, "missing_required", arr)
    if col.allowed:
        ok = pc.is_in(arr, value_set=pa.array(col.allowed, pa.string()))
        reason = "unknown_code_system" if col.name.endswith("code_system") else "not_allowed"
        problems.add(pc.and_(valid, pc.invert(ok)), col.name, reason, arr)
    if col.minimum is not None:
        low = pc.less(arr, pa.scalar(col.minimum).cast(arr.type))
        reason = "negative_money" if col.kind is Kind.MONEY else "out_of_range"
        problems.add(low, col.name, reason, arr)
    if col.maximum is not None:
        problems.add(pc.greater(arr, pa.scalar(col.maximum).cast(arr.type)), col.name,
                     "out_of_range", arr)
    if col.kind in (Kind.DATE, Kind.TIMESTAMP):
        if col.not_future:
            limit = (
                pa.scalar(today, pa.date32())
                if col.kind is Kind.DATE
                else pa.scalar(dt.datetime.combine(today + dt.timedelta(days=1), dt.time()),
                               pa.timestamp("us"))
            )
            cmp = pc.greater(arr, limit) if col.kind is Kind.DATE else pc.greater_equal(arr, limit)
            problems.add(cmp, col.name, "future_date", arr)
        if col.not_before:
            first = dt.date.fromisoformat(col.not_before)
            lim = (
                pa.scalar(first, pa.date32())
                if col.kind is Kind.DATE
                else pa.scalar(dt.datetime.combine(first, dt.time()), pa.timestamp("us"))
            )
            problems.add(pc.less(arr, lim), col.name, "implausible_date", arr)
    if col.references and reference_keys is not None and col.references in reference_keys:
        keys = reference_keys[col.references]
        ok = pc.is_in(arr, value_set=keys)
        problems.add(pc.and_(valid, pc.invert(ok)), col.name, "unknown_reference", arr)


def _check_keys(
    table: Table,
    arrays: dict[str, pa.Array],
    problems: _Problems,
    existing_keys: pa.Table | None,
) -> None:
    """Reject later duplicates of a key within the batch, and keys already in the warehouse."""
    n = problems.n
    if n == 0:
        return
    key_cols = list(table.key)
    label = "+".join(key_cols)
    keys = pa.table({k: arrays[k] for k in key_cols})
    show = _key_text(keys)
    # Rows already rejected for a missing key are not duplicates of anything.
    indexed = keys.append_column("_i", pa.array(np.arange(n), pa.int64())).filter(
        pa.array(~problems.bad)
    )
    first = indexed.group_by(key_cols, use_threads=False).aggregate([("_i", "min")])
    keep = np.zeros(n, dtype=bool)
    keep[first.column("_i_min").to_numpy()] = True
    dup = (~keep) & (~problems.bad)
    problems.add(dup, label, "duplicate_id", show)
    if existing_keys is not None and existing_keys.num_rows:
        existing = _key_text(existing_keys.select(key_cols))
        clash = pc.is_in(show, value_set=existing)
        problems.add(clash, label, "duplicate_id", show)


def _key_text(keys: pa.Table) -> pa.Array:
    if keys.num_columns == 1:
        return pc.cast(_combine(keys.column(0)), pa.string())
    parts = [pc.cast(_combine(keys.column(i)), pa.string()) for i in range(keys.num_columns)]
    return pc.binary_join_element_wise(*parts, "|")


def rows_as_json(rows: pa.Table) -> list[str]:
    """Each row as a JSON object, for the quarantine."""
    return [json.dumps(r, default=str, ensure_ascii=False) for r in rows.to_pylist()]
