"""Row validation of Arrow batches against a canonical table, vectorised with pyarrow.compute.

Every rejected row gets one reject record per problem: row number, field, a named reason and
the offending value, so bad rows can be quarantined and good rows kept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from popweave.errors import LoadError
from popweave.model.codes import icd10cm
from popweave.model.schema import Column, Kind, Table

RECORD_REASONS: dict[str, str] = {
    "unparsable_record": "the record cannot be parsed (broken JSON or CSV, truncated line)",
    "bad_encoding": "the record is not valid UTF-8",
    "invalid_resource": "the record breaks its source format's own rules (e.g. FHIR R4)",
    "unmapped_value": "a value has no mapping to the canonical model",
}
"""Reasons an importer rejects a record before it becomes a canonical row."""

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
    accepted_rows: np.ndarray | None = None
    """Row number (with the offset) of each accepted row."""

    @property
    def n_rejected(self) -> int:
        return int(self.rejected_rows.num_rows)

    def numbered(self) -> pa.Table:
        """The accepted rows with their row numbers in a ``_row`` column."""
        rows = (
            self.accepted_rows
            if self.accepted_rows is not None
            else np.arange(self.accepted.num_rows)
        )
        return self.accepted.append_column("_row", pa.array(rows, pa.int64()))

    def reject(self, problems: pa.Table, batch: pa.Table, row_offset: int) -> Validated:
        """This result with the rows named in ``problems`` (REJECT_SCHEMA records found
        later, e.g. by the warehouse's key and reference checks) moved to the rejects."""
        if problems.num_rows == 0:
            return self
        assert self.accepted_rows is not None
        bad = np.unique(problems.column("row").to_numpy())
        drop = np.isin(self.accepted_rows, bad)
        keep_rows = self.accepted_rows[~drop]
        rejects = pa.concat_tables([self.rejects, problems.cast(REJECT_SCHEMA)]).sort_by(
            [("row", "ascending")]
        )
        moved = self.accepted_rows[drop]
        extra = batch.take(pa.array(moved - row_offset)).append_column(
            "_row", pa.array(moved, pa.int64())
        )
        rejected = pa.concat_tables([self.rejected_rows, extra]).sort_by([("_row", "ascending")])
        return Validated(self.accepted.filter(pa.array(~drop)), rejects, rejected, keep_rows)


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
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return _coerce_text(col, pc.cast(arr, pa.string()), problems)
    if arr.type == target:
        return _finite(col, arr, problems) if col.kind is Kind.FLOAT else arr
    try:
        if col.kind is Kind.MONEY and not pa.types.is_decimal(arr.type):
            return _money(col, pc.cast(arr, pa.float64()), problems, arr)
        if col.kind is Kind.INTEGER and pa.types.is_floating(arr.type):
            whole = pc.and_(
                pc.and_(pc.is_finite(arr), pc.equal(pc.floor(arr), arr)),
                pc.less(pc.abs(arr), pa.scalar(2.0**63, arr.type)),
            )
            problems.add(pc.and_(pc.is_valid(arr), pc.invert(whole)), col.name, "wrong_type", arr)
            arr = pc.if_else(whole, arr, pa.scalar(None, arr.type))
        if col.kind is Kind.FLOAT and pa.types.is_floating(arr.type):
            arr = _finite(col, arr, problems)
        if col.kind in (Kind.DATE, Kind.TIMESTAMP) and pa.types.is_timestamp(arr.type):
            # Aware timestamps become UTC wall-clock times; sub-microsecond digits are dropped.
            return pc.cast(arr, options=pc.CastOptions(target, allow_time_truncate=True))
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LoadError(
            f"{problems.table.name}.{col.name}: cannot read {arr.type} as {col.kind.value} ({exc})"
        ) from None


def _finite(
    col: Column, arr: pa.Array, problems: _Problems, shown: pa.Array | None = None
) -> pa.Array:
    """Reject NaN and infinities: they are not numbers a count or a mean can use."""
    finite = pc.is_finite(arr)
    bad = pc.and_(pc.is_valid(arr), pc.invert(finite))
    problems.add(bad, col.name, "wrong_type", arr if shown is None else shown)
    return pc.if_else(finite, arr, pa.scalar(None, arr.type))


_MONEY_LIMIT = 10.0**12
"""DECIMAL(14,2) holds amounts below one trillion."""


def _money(col: Column, amounts: pa.Array, problems: _Problems, shown: pa.Array) -> pa.Array:
    """Round float amounts to cents; amounts DECIMAL(14,2) cannot hold are unreadable."""
    rounded = pc.round(amounts, 2)
    fits = pc.and_(pc.is_finite(rounded), pc.less(pc.abs(rounded), _MONEY_LIMIT))
    problems.add(pc.and_(pc.is_valid(rounded), pc.invert(fits)), col.name, "wrong_type", shown)
    kept = pc.if_else(fits, rounded, pa.scalar(None, pa.float64()))
    return pc.cast(kept, col.arrow_type, safe=False)


_TEXT_PATTERNS: dict[Kind, str] = {
    Kind.INTEGER: _INTEGER,
    Kind.FLOAT: _NUMBER,
    Kind.MONEY: _NUMBER,
    Kind.DATE: _DATE,
    Kind.TIMESTAMP: _TIMESTAMP,
    Kind.BOOLEAN: r"(?i)^(true|false|t|f|1|0|yes|no)$",
}


def _coerce_text(col: Column, arr: pa.Array, problems: _Problems) -> pa.Array:
    """Read text as the column's type; blank text is a missing value, not a type error."""
    none = pa.scalar(None, pa.string())
    stripped = pc.utf8_trim_whitespace(arr)
    blank = pc.equal(stripped, "")
    if col.kind is Kind.STRING:
        # Text is kept as received, except that blank text counts as missing.
        return pc.if_else(blank, none, arr)
    text = pc.if_else(blank, none, stripped)
    ok = pc.match_substring_regex(text, _TEXT_PATTERNS[col.kind])
    problems.add(pc.and_(pc.is_valid(text), pc.invert(ok)), col.name, "wrong_type", arr)
    good = pc.if_else(ok, text, none)
    if col.kind in (Kind.DATE, Kind.TIMESTAMP):
        # Well-formed but impossible dates and times (2023-02-30, 25:00) are unreadable.
        possible = _possible_datetime(good)
        problems.add(pc.and_(pc.is_valid(good), pc.invert(possible)), col.name, "wrong_type", arr)
        good = pc.if_else(possible, good, none)
    if col.kind in (Kind.INTEGER, Kind.FLOAT, Kind.MONEY):
        good = pc.replace_substring_regex(good, r"^\+", "")  # Arrow's parser rejects "+5"
    try:
        out = _cast_text(col, good)
    except (pa.ArrowInvalid, ValueError):
        out = _cast_each(col, good)
    # Anything else that matched the pattern but could not be read (integer overflow) ends here.
    problems.add(pc.and_(pc.is_valid(good), pc.is_null(out)), col.name, "wrong_type", arr)
    if col.kind is Kind.MONEY:
        return _money(col, out, problems, arr)
    if col.kind is Kind.FLOAT:
        return _finite(col, out, problems, arr)
    return out


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


_DATETIME_PARTS = (
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
)


def _possible_datetime(text: pa.Array) -> np.ndarray:
    """Which ISO texts (already well-formed) name a real calendar day and clock time."""
    parts = pc.extract_regex(text, _DATETIME_PARTS)

    def part(name: str, default: int) -> np.ndarray:
        digits = parts.field(name)
        digits = pc.if_else(pc.equal(digits, ""), pa.scalar(None, pa.string()), digits)
        nums = pc.fill_null(pc.cast(digits, pa.int64()), default)
        return np.asarray(nums.to_numpy(zero_copy_only=False), dtype=np.int64)

    year, month, day = part("year", 2000), part("month", 1), part("day", 1)
    hour, minute, second = part("hour", 0), part("minute", 0), part("second", 0)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    good_month = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.where(good_month, month, 0)] + ((month == 2) & leap)
    return np.asarray(
        (year >= 1)
        & good_month
        & (day >= 1)
        & (day <= days)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59),
        dtype=bool,
    )


def _cast_each(col: Column, good: pa.Array) -> pa.Array:
    """Slow path for a batch holding a value Arrow cannot read: cast one value at a time."""
    out = []
    for v in good.to_pylist():
        try:
            out.append(None if v is None else _cast_text(col, pa.array([v]))[0].as_py())
        except (pa.ArrowInvalid, ValueError):
            out.append(None)
    return pa.array(out, pa.float64() if col.kind is Kind.MONEY else col.arrow_type)


def _cast_text(col: Column, good: pa.Array) -> pa.Array:
    if col.kind is Kind.TIMESTAMP:
        # Offsets are converted to UTC; values without one are taken as recorded.
        txt = pc.replace_substring_regex(
            good, r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:?\d{2})?$", r"\1T00:00:00\2"
        )
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
        return pc.cast(good, pa.float64())
    return pc.cast(good, col.arrow_type)


def validate(
    table: Table,
    batch: pa.Table,
    *,
    today: dt.date | None = None,
    row_offset: int = 0,
    existing_keys: pa.Table | None = None,
    reference_keys: Mapping[str, pa.Array] | None = None,
    relational: bool = True,
) -> Validated:
    """Check ``batch`` against ``table``; return accepted rows (canonical schema) and rejects.

    ``existing_keys`` holds keys already in the warehouse (duplicates are rejected);
    ``reference_keys`` maps ``"table.column"`` to the valid values of that foreign key.
    With ``relational=False`` only the row-by-row rules run: no key or reference checks
    (an engine that checks those itself, in SQL, asks for that).
    Rows are numbered from ``row_offset``. A column the table does not define, or a missing
    required column, is an error for the whole batch (raises :class:`LoadError`).
    """
    today = today or dt.date.today()
    repeated = sorted({c for c in batch.column_names if batch.column_names.count(c) > 1})
    if repeated:
        raise LoadError(f"{table.name}: column(s) given more than once: {', '.join(repeated)}")
    # Columns starting with "_" are provenance (e.g. _file, _line): kept with rejected rows
    # for the quarantine, never loaded.
    unknown = [
        c for c in batch.column_names if c not in table.column_names and not c.startswith("_")
    ]
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
        _check_column(col, arr, problems, today, reference_keys if relational else None, unreadable)

    for col in table.columns:
        if col.icd10cm:
            arrays[col.name] = _canonical_icd10cm(col, arrays)

    for early, late in table.ordered:
        a, b = arrays[early], arrays[late]
        if a.type != b.type:
            a, b = pc.cast(a, pa.timestamp("us")), pc.cast(b, pa.timestamp("us"))
        problems.add(pc.less(b, a), late, "end_before_start", arrays[late])

    if relational:
        _check_keys(table, arrays, problems, existing_keys)

    good = pa.array(~problems.bad)
    canonical = pa.table(arrays, schema=_nullable(table)).filter(good)
    accepted = canonical.cast(table.arrow_schema)
    bad_idx = pa.array(np.flatnonzero(problems.bad))
    rejected_rows = batch.take(bad_idx).append_column(
        "_row", pa.array(np.flatnonzero(problems.bad) + row_offset, pa.int64())
    )
    kept = np.flatnonzero(~problems.bad) + row_offset
    return Validated(accepted, problems.table_of_rejects(), rejected_rows, kept)


def _canonical_icd10cm(col: Column, arrays: dict[str, pa.Array]) -> pa.Array:
    """The column's ICD-10-CM codes in canonical spelling (:func:`codes.icd10cm`); with a
    code-system column, only the rows it marks ``ICD10CM``."""
    arr = arrays[col.name]
    canonical = icd10cm(arr)
    if col.icd10cm == "always":
        return canonical
    marked = pc.fill_null(pc.equal(arrays[col.icd10cm or ""], "ICD10CM"), False)
    return pc.if_else(marked, canonical, arr)


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
        low = pc.less(arr, _bound(col.minimum, arr.type))
        reason = "negative_money" if col.kind is Kind.MONEY and col.minimum == 0 else "out_of_range"
        problems.add(low, col.name, reason, arr)
    if col.maximum is not None:
        high = pc.greater(arr, _bound(col.maximum, arr.type))
        problems.add(high, col.name, "out_of_range", arr)
    if col.kind in (Kind.DATE, Kind.TIMESTAMP):
        if col.not_future:
            limit = (
                pa.scalar(today, pa.date32())
                if col.kind is Kind.DATE
                else pa.scalar(
                    dt.datetime.combine(today + dt.timedelta(days=1), dt.time()), pa.timestamp("us")
                )
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


def _bound(value: float, type_: pa.DataType) -> pa.Scalar:
    """A range limit as a scalar of the column's type (decimals need an exact Decimal)."""
    if pa.types.is_decimal(type_):
        return pa.scalar(Decimal(repr(float(value))), pa.decimal128(38, type_.scale))
    if pa.types.is_integer(type_):
        return pa.scalar(float(value), pa.float64())
    return pa.scalar(value, type_)


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
