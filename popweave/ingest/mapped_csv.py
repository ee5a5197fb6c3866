"""Any CSV into one canonical table, through a YAML column mapping (``popweave ingest csv``).

The mapping names the target table, the source column (or a constant) of each canonical
column, optional value maps and date formats, the delimiter and the encoding; see
``docs/ingest-csv.md``. Also home of :func:`read_csv`, the streaming CSV reader the OMOP
importer uses too.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from popweave.errors import PopweaveError
from popweave.ingest._text import block_size_for, clip
from popweave.ingest.base import REJECTS, Batch, Importer, register, rejects
from popweave.model import TABLES
from popweave.model.schema import Kind
from popweave.model.tables import LOAD_LOG

BLOCK_SIZE = 1 << 20
"""Bytes of CSV parsed at a time: memory stays bounded whatever the file's size."""


# --- streaming CSV reading ----------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read from it (for the progress bar)."""

    def __init__(self, fh: io.BufferedReader) -> None:
        self.fh = fh
        self.nread = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.fh.readinto(b)
        self.nread += n or 0
        return n or 0

    def close(self) -> None:
        self.fh.close()
        super().close()


@dataclass
class CsvChunk:
    """Rows of a CSV as text columns (blank text kept as ""), and the file line of each."""

    rows: pa.Table
    lines: np.ndarray
    bad: list[tuple[int, str]]
    """Lines that could not be parsed (wrong number of fields): (line, text)."""


def read_header(path: Path, delimiter: str, encoding: str) -> list[str]:
    """The column names on the first line of ``path`` (a byte-order mark is dropped)."""
    try:
        with path.open(encoding=encoding, newline="") as fh:
            first = fh.readline()
    except (UnicodeDecodeError, LookupError) as exc:
        raise PopweaveError(f"{path}: cannot read the header as {encoding} ({exc})") from None
    except OSError as exc:
        raise PopweaveError(f"{path}: cannot read ({exc.strerror or exc})") from None
    first = first.lstrip("\ufeff")
    if not first.strip():
        raise PopweaveError(f"{path}: empty file (no header line)")
    return [c.strip() for c in next(csv.reader([first], delimiter=delimiter))]


def sniff_delimiter(path: Path, encoding: str = "utf-8") -> str:
    """Tab if the header line holds tabs and no commas, else comma."""
    with path.open("rb") as fh:
        first = fh.readline().decode(encoding, errors="replace")
    return "\t" if "\t" in first and "," not in first else ","


def read_csv(
    path: Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    advance: Callable[[int], None] | None = None,
    columns: list[str] | None = None,
    lower: bool = False,
    block_size: int = BLOCK_SIZE,
) -> Iterator[CsvChunk]:
    """Stream ``path`` as text columns in chunks of about ``block_size`` bytes.

    Each row comes with its 1-based file line (records are one line each: values holding
    line breaks are not supported). Lines with the wrong number of fields are reported in
    ``CsvChunk.bad``; blank lines are skipped. ``columns`` keeps only those columns (names as
    after ``lower``, which lower-cases the header); ``advance`` is told the bytes read.
    """
    header = read_header(path, delimiter, encoding)
    block_size = block_size_for(path, block_size)
    names = [h.lower() for h in header] if lower else header
    keep = names if columns is None else [c for c in names if c in set(columns)]
    bad: list[tuple[int, str]] = []

    def invalid(row: Any) -> str:
        bad.append((int(row.number) if row.number is not None else -1, clip(str(row.text))))
        return "skip"

    raw = path.open("rb")
    counting = _Counting(raw)
    reported = 0
    try:
        reader = pacsv.open_csv(
            io.BufferedReader(counting, buffer_size=block_size),
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=1,
                use_threads=False,
                block_size=block_size,
                encoding=encoding,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                include_columns=keep,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        next_line = 2
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            rows = pa.Table.from_batches([batch])
            n = rows.num_rows
            skip = {line for line, _ in bad}
            lines = np.empty(n, np.int64)
            i = 0
            while i < n:
                while next_line in skip:
                    next_line += 1
                lines[i] = next_line
                next_line += 1
                i += 1
            chunk_bad = [(line, text) for line, text in bad if line < next_line]
            bad[:] = [(line, text) for line, text in bad if line >= next_line]
            rows, lines = _drop_blank(rows, lines)
            if advance is not None:
                advance(counting.nread - reported)
                reported = counting.nread
            yield CsvChunk(rows, lines, chunk_bad)
        if bad:
            yield CsvChunk(pa.table({k: pa.array([], pa.string()) for k in keep}), _EMPTY, bad)
        if advance is not None:
            advance(path.stat().st_size - reported)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise PopweaveError(f"{path}: cannot read as CSV ({exc})") from None
    finally:
        counting.close()


_EMPTY = np.empty(0, np.int64)


def _drop_blank(rows: pa.Table, lines: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Drop rows whose every field is blank (empty lines in the file)."""
    if rows.num_rows == 0 or rows.num_columns == 0:
        return rows, lines
    blank = None
    for col in rows.columns:
        empty = pc.equal(pc.utf8_trim_whitespace(col), "")
        blank = empty if blank is None else pc.and_(blank, empty)
    assert blank is not None
    mask = np.asarray(pc.fill_null(blank, True).to_numpy(zero_copy_only=False), dtype=bool)
    if not mask.any():
        return rows, lines
    return rows.filter(pa.array(~mask)), lines[~mask]


def record_json(rows: pa.Table, index: int) -> str:
    """One source row as a JSON object (for the quarantine)."""
    return orjson.dumps({c: rows.column(c)[index].as_py() for c in rows.column_names}).decode()


# --- the mapping file ---------------------------------------------------------------------------


class ColumnMap(BaseModel):
    """Where one canonical column comes from."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    """Source column (header name)."""
    constant: str | None = None
    """A fixed value for every row."""
    values: dict[str, str | None] | None = None
    """Source value -> canonical value; a value not listed is rejected (``unmapped_value``)."""
    default: str | None = None
    """Used when the source value is blank."""
    format: str | None = None
    """strptime format of a date or timestamp column, e.g. ``%m/%d/%Y``."""

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, v: Any) -> Any:
        # YAML reads M: male fine, but 1: male or yes: true as int / bool: keep them as text.
        if isinstance(v, dict):
            return {_text(k): (None if x is None else _text(x)) for k, x in v.items()}
        return v

    @field_validator("constant", "default", mode="before")
    @classmethod
    def _text_value(cls, v: Any) -> Any:
        return None if v is None else _text(v)

    @model_validator(mode="after")
    def _one_source(self) -> ColumnMap:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of `column` or `constant`")
        return self


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class Mapping(BaseModel):
    """A mapping file: one CSV layout into one canonical table."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    """What the file is (system, export, who sends it)."""
    table: str
    delimiter: str = ","
    encoding: str = "utf-8"
    date_format: str | None = None
    """Default strptime format of the table's date columns."""
    datetime_format: str | None = None
    """Default strptime format of the table's timestamp columns."""
    columns: dict[str, ColumnMap]

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `person_id: MRN` is short for `person_id: {column: MRN}`.
        if isinstance(v, dict):
            return {
                k: {"column": x} if isinstance(x, str | int) and not isinstance(x, bool) else x
                for k, x in v.items()
            }
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        v = {"tab": "\t", "\\t": "\t"}.get(v, v)
        if len(v) != 1:
            raise ValueError(f"must be one character (or `tab`), not {v!r}")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}") from None
        return v

    @field_validator("table")
    @classmethod
    def _known_table(cls, v: str) -> str:
        if v not in TABLES or v == LOAD_LOG.name:
            known = ", ".join(t for t in TABLES if t != LOAD_LOG.name)
            raise ValueError(f"unknown table {v!r}; known: {known}")
        return v

    @model_validator(mode="after")
    def _columns_fit_table(self) -> Mapping:
        tdef = TABLES[self.table]
        for name, cm in self.columns.items():
            if name not in tdef.column_names:
                raise _KeyError(
                    f"columns.{name}",
                    f"{name!r} is not a column of {self.table} "
                    f"(columns: {', '.join(tdef.column_names)})",
                )
            if cm.format is not None and tdef.column(name).kind not in (Kind.DATE, Kind.TIMESTAMP):
                raise _KeyError(f"columns.{name}.format", f"{name} is not a date or time column")
        missing = [c.name for c in tdef.columns if c.required and c.name not in self.columns]
        if missing:
            raise _KeyError(
                "columns",
                f"required column(s) of {self.table} not mapped: {', '.join(missing)}",
            )
        return self


class _KeyError(ValueError):
    """A mapping problem at a known key (reported as ``file: key: message``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class _TextLoader(yaml.SafeLoader):
    """YAML without implicit types: every plain scalar is text (``yes``, ``01`` and ``1.0``
    stay as written, as CSV values are), except an empty value or ``~`` (null)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; any problem is one PopweaveError naming file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PopweaveError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PopweaveError(f"{path}: cannot read the mapping file ({exc})") from None
    try:
        data = yaml.load(text, Loader=_TextLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PopweaveError(f"{path}: not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise PopweaveError(f"{path}: a mapping file is a YAML mapping (source:, table:, columns:)")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _KeyError):
            key, msg = ctx_err.key, ctx_err.message
        else:
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "missing (required)"
            elif err["type"] == "extra_forbidden":
                msg = "unknown key"
        more = len(exc.errors()) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise PopweaveError(f"{path}: {key}: {msg}{tail}") from None


# --- the importer -------------------------------------------------------------------------------


@register
class MappedCsvImporter(Importer):
    """One CSV file into one canonical table, by a YAML column mapping."""

    name = "mapped_csv"
    description = "any CSV file, mapped to a canonical table by a YAML file (--mapping)"

    def __init__(self, path: Path, **options: Any) -> None:
        super().__init__(path, **options)
        m = options.get("mapping")
        self.mapping_path: Path | None = Path(m) if m is not None else None
        self._mapping: Mapping | None = None

    @property
    def mapping(self) -> Mapping:
        if self.mapping_path is None:
            raise PopweaveError("`ingest csv` needs a column mapping: --mapping MAP.yaml")
        if self._mapping is None:
            self._mapping = load_mapping(self.mapping_path)
        return self._mapping

    def inputs(self) -> list[Path]:
        # The mapping is an input: the same CSV under another mapping is another load.
        files = [self.path] if self.path.is_file() else []
        if files and self.mapping_path is not None and self.mapping_path.is_file():
            files.append(self.mapping_path)
        return files

    def check(self) -> None:
        if not self.path.exists():
            raise PopweaveError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise PopweaveError(f"{self.path}: not a file (`ingest csv` reads one CSV file)")
        m = self.mapping
        header = read_header(self.path, m.delimiter, m.encoding)
        for name, cm in m.columns.items():
            if cm.column is not None and cm.column not in header:
                shown = ", ".join(header[:30]) + (", ..." if len(header) > 30 else "")
                raise PopweaveError(
                    f"{self.mapping_path}: columns.{name}: source column {cm.column!r} is not in "
                    f"the header of {self.path} (found: {shown})"
                )

    def batches(self) -> Iterator[Batch]:
        m = self.mapping
        tdef = TABLES[m.table]
        wanted = sorted({cm.column for cm in m.columns.values() if cm.column is not None})
        file = str(self.path)
        if self.mapping_path is not None:  # read already; an input all the same
            self.advance(self.mapping_path.stat().st_size)
        for chunk in read_csv(
            self.path,
            delimiter=m.delimiter,
            encoding=m.encoding,
            advance=self.advance,
            columns=wanted,
        ):
            bad_records = [
                {
                    "table_name": m.table,
                    "field": None,
                    "reason": "unparsable_record",
                    "value": None,
                    "record": text,
                    "file": file,
                    "line": line,
                }
                for line, text in chunk.bad
            ]
            rows, lines = chunk.rows, chunk.lines
            n = rows.num_rows
            out: dict[str, pa.Array] = {}
            drop = np.zeros(n, dtype=bool)
            problems: list[tuple[int, str, str, str | None]] = []  # (row, field, reason, value)
            for name, cm in m.columns.items():
                col = tdef.column(name)
                if cm.constant is not None:
                    out[name] = pa.array([cm.constant] * n, pa.string())
                    continue
                assert cm.column is not None
                raw = rows.column(cm.column).combine_chunks()
                text = pc.utf8_trim_whitespace(raw)
                present = np.asarray(
                    pc.not_equal(text, "").to_numpy(zero_copy_only=False), dtype=bool
                )
                values: pa.Array = pc.if_else(pa.array(present), text, None)
                if cm.values is not None:
                    keys = pa.array(list(cm.values), pa.string())
                    idx = pc.index_in(values, value_set=keys)
                    mapped = pc.take(pa.array(list(cm.values.values()), pa.string()), idx)
                    unmapped = present & ~np.asarray(
                        pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool
                    )
                    for i in np.flatnonzero(unmapped):
                        problems.append((int(i), name, "unmapped_value", raw[i].as_py()))
                    values = mapped
                fmt = cm.format or (
                    m.date_format
                    if col.kind is Kind.DATE
                    else m.datetime_format
                    if col.kind is Kind.TIMESTAMP
                    else None
                )
                if fmt is not None:
                    values, unread = _parse_dates(values, fmt, col.kind)
                    for i in np.flatnonzero(unread):
                        problems.append((int(i), name, "wrong_type", raw[i].as_py()))
                if cm.default is not None:
                    values = pc.if_else(pa.array(present), values, cm.default)
                out[name] = values
            for row, name, reason, value in problems:
                drop[row] = True
                bad_records.append(
                    {
                        "table_name": m.table,
                        "field": name,
                        "reason": reason,
                        "value": value,
                        "record": record_json(rows, row),
                        "file": file,
                        "line": int(lines[row]),
                    }
                )
            if bad_records:
                yield REJECTS, rejects(bad_records)
            if n == 0:
                continue
            out["_file"] = pa.array([file] * n, pa.string())
            out["_line"] = pa.array(lines, pa.int64())
            batch = pa.table(out)
            if drop.any():
                batch = batch.filter(pa.array(~drop))
            if batch.num_rows:
                yield m.table, batch


def _parse_dates(values: pa.Array, fmt: str, kind: Kind) -> tuple[pa.Array, np.ndarray]:
    """Read ``values`` with strptime ``fmt`` into ISO text; also which present ones failed."""
    if len(values) == 0:
        return values, np.zeros(0, dtype=bool)
    parsed = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    failed = np.asarray(
        pc.and_(pc.is_valid(values), pc.is_null(parsed)).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    pattern = "%Y-%m-%d" if kind is Kind.DATE else "%Y-%m-%dT%H:%M:%S"
    return pc.strftime(parsed, format=pattern), failed


__all__ = ["ColumnMap", "CsvChunk", "MappedCsvImporter", "Mapping", "load_mapping", "read_csv"]
