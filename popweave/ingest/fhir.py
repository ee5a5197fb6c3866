"""FHIR R4 importer: Bulk Data NDJSON (one resource type per file, or mixed) and JSON Bundles.

Resources are read in load order (see ``_fhir_map.LEVEL``): a typed Bulk file
(``Patient.000.ndjson``) is read once, in its level's pass; a mixed NDJSON file or a Bundle is
read in each pass that finds resources of that level in it. NDJSON is read in blocks, line by
line, so memory stays bounded: a line longer than ``max_line_bytes`` is skipped unread and
quarantined. Records that cannot be parsed or are not resources popweave can use are
quarantined here (``unparsable_record``, ``bad_encoding``, ``invalid_resource``); everything
else becomes canonical rows (as text) and the loader checks them.

Options: ``validate=True`` checks each resource against FHIR R4 (fhir.resources, R4B models —
the same definitions as R4 for every resource read here) before mapping it; resources that
fail are quarantined as ``invalid_resource``. ``chunk_rows`` bounds the rows per batch.

Resource types without a canonical table (DocumentReference, Device, AllergyIntolerance, ...)
are counted in ``skipped``, not rejected; so are Locations that are not popweave areas
(facility sites), Claims an ExplanationOfBenefit already gave, and the Bulk Data client's
``log.ndjson``, which holds no resources and is not read.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from popweave.ingest._fhir_map import (
    LEVEL,
    LEVELS,
    RESOURCE_TABLE,
    SUBJECT,
    Invalid,
    Json,
    Mapper,
    Row,
    txt,
)
from popweave.ingest._fhir_parallel import Workers, map_parallel
from popweave.ingest.base import REJECTS, Batch, Importer, register, rejects
from popweave.model import TABLES

BLOCK = 1 << 22
"""Bytes read at a time from an NDJSON file."""
MAX_LINE = 64 << 20
"""Longest NDJSON line read (bytes); longer lines are skipped unread and quarantined."""
RECORD_CHARS = 4000
"""How much of a rejected record the quarantine keeps."""
NOT_INPUTS = frozenset({"log.ndjson"})
"""Files in a Bulk Data folder that hold no resources (the bulk client's export log)."""

COLUMNS: dict[str, list[str]] = {t: [*TABLES[t].column_names] for t in set(RESOURCE_TABLE.values())}
_TYPE_NAMES = frozenset(LEVEL) | {
    "AllergyIntolerance",
    "CarePlan",
    "CareTeam",
    "Device",
    "DiagnosticReport",
    "DocumentReference",
    "ImagingStudy",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationStatement",
    "Provenance",
    "SupplyDelivery",
    "Goal",
    "Group",
    "OperationOutcome",
    "ServiceRequest",
}


MAPPING_ERRORS = (Invalid, AttributeError, TypeError, KeyError, ValueError, IndexError)
"""What a handler raises for a resource it cannot map: Invalid, or an element of the wrong
JSON shape (e.g. ``"period": "2020"``)."""

PARALLEL_FROM_LEVEL = 5
"""Encounters and the events after them: the levels with the large files."""
PARALLEL_TYPES = frozenset(t for t, lvl in LEVEL.items() if lvl in (5, 6) and t != "Coverage")
"""Typed files mapped in worker processes: they add no state that others in the group read
(Coverage's payers are read by claims; Claim, a level later, reads which EOBs were seen)."""


def resource_type_of(path: Path) -> str | None:
    """The resource type a Bulk Data file name announces (``Patient.000.ndjson``), if any."""
    head = path.name.split(".", 1)[0]
    return head if head in _TYPE_NAMES else None


_MODELS: dict[str, Any] = {}


def _model(typ: str) -> Any:
    """The fhir.resources (R4B) model class of a resource type."""
    if typ not in _MODELS:
        mod = importlib.import_module(f"fhir.resources.R4B.{typ.lower()}")
        _MODELS[typ] = getattr(mod, typ)
    return _MODELS[typ]


@register
class FhirImporter(Importer):
    name: ClassVar[str] = "fhir"
    description: ClassVar[str] = "FHIR R4 Bulk Data NDJSON or JSON Bundles"

    def __init__(self, path: Path, **options: Any) -> None:
        super().__init__(path, **options)
        self.validate = bool(options.get("validate", False))
        self.chunk_rows = int(options.get("chunk_rows", 100_000))
        self.max_line_bytes = int(options.get("max_line_bytes", MAX_LINE))
        self.skipped: Counter[str] = Counter()
        self._rejects: list[dict[str, Any]] = []
        # Large typed files of the event levels are mapped in worker processes.
        self.workers = int(options.get("workers", os.cpu_count() or 1))
        self.parallel_bytes = int(options.get("parallel_bytes", 32 << 20))

    def inputs(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            return []
        found = [
            p
            for p in self.path.rglob("*")
            if p.is_file()
            and p.name.endswith((".ndjson", ".json"))
            and p.name not in NOT_INPUTS
            and not p.name.startswith(".")
        ]
        return sorted(found)

    # -- the passes ---------------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        m = Mapper()
        self.mapper = m
        files = self.inputs()
        typed = {f: (resource_type_of(f) if f.suffix == ".ndjson" else None) for f in files}
        # The large typed files of the event levels go to worker processes in one pass
        # (encounters first, so their rows load before the events that refer to them).
        # Coverage stays sequential: the events' claims need its payers.
        group = sorted(
            (f for f in files if typed[f] in PARALLEL_TYPES),
            key=lambda f: (LEVEL[typed[f] or ""], str(f)),
        )
        parallel = self.workers > 1 and sum(f.stat().st_size for f in group) >= self.parallel_bytes
        # The workers start now, so they are ready when the sequential levels are read.
        pool = Workers(self.workers, self._worker_options()) if parallel else None
        try:
            yield from self._levels(m, files, typed, group, pool)
        finally:
            if pool is not None:
                pool.close()
        self.skipped.update(m.skipped)

    def _worker_options(self) -> dict[str, Any]:
        return {"chunk_rows": self.chunk_rows, "max_line_bytes": self.max_line_bytes}

    def _levels(
        self,
        m: Mapper,
        files: list[Path],
        typed: dict[Path, str | None],
        group: list[Path],
        pool: Workers | None,
    ) -> Iterator[Batch]:
        levels: dict[Path, set[int]] = {}  # levels found in mixed files after their first read
        parallel = pool is not None
        for level in range(LEVELS):
            for f in files:
                if parallel and f in group:
                    continue
                t = typed[f]
                if t is not None:
                    lvl = LEVEL.get(t)
                    if lvl is None:
                        if level == 0:
                            self._skip_file(f, t)
                        continue
                    if lvl != level:
                        continue
                elif f in levels and level not in levels[f]:
                    continue
                first = t is not None or f not in levels
                seen = levels.setdefault(f, set())
                yield from self._read(m, f, level, typed=t is not None, first=first, seen=seen)
            yield from self._flush(m, force=True)
            if pool is not None and level == PARALLEL_FROM_LEVEL:
                yield from map_parallel(self, m, group, pool)

    def _skip_file(self, f: Path, typ: str) -> None:
        """A Bulk file of a type with no canonical table: count its records, parse nothing."""
        n = 0
        last = b"\n"
        with f.open("rb") as fh:
            while block := fh.read(BLOCK):
                self.advance(len(block))
                n += block.count(b"\n")
                last = block[-1:]
        self.skipped[typ] += n + (last != b"\n")

    def _read(
        self, m: Mapper, f: Path, level: int, *, typed: bool, first: bool, seen: set[int]
    ) -> Iterator[Batch]:
        name = str(f)
        if f.suffix == ".json":
            data = f.read_bytes()
            if first:
                self.advance(len(data))
            parsed = self._parse(data, name, 1, report=first)
            if parsed is not None:
                self._resource(m, parsed, name, 1, level, None, first, seen)
            yield from self._flush(m)
            return
        with f.open("rb") as fh:
            for lineno, line in self._lines(fh, name, report=first):
                parsed = self._parse(line, name, lineno, report=first)
                if parsed is not None:
                    self._resource(
                        m, parsed, name, lineno, None if typed else level, None, first, seen
                    )
                if len(self._rejects) >= 1000 or lineno % 2048 == 0:
                    yield from self._flush(m)
        yield from self._flush(m)

    def read_range(self, m: Mapper, name: str, fh: BinaryIO, first_line: int) -> Iterator[Batch]:
        """Map the typed NDJSON lines in ``fh`` (a byte range of ``name`` that starts at
        line ``first_line``); used by the parallel reader's workers."""
        seen: set[int] = set()
        handlers = m.handlers
        loads = orjson.loads
        fast = not self.validate
        for lineno, line in self._lines(fh, name, report=True, first_line=first_line):
            if fast:  # a plain resource of a known type: straight to its handler
                try:
                    r = loads(line)
                except orjson.JSONDecodeError:
                    r = None
                if type(r) is dict:
                    typ = r.get("resourceType")
                    if type(typ) is str and (handler := handlers.get(typ)) is not None:
                        try:
                            handler(r, name, lineno)
                        except MAPPING_ERRORS as exc:
                            self._not_mapped(typ, exc, r, name, lineno)
                        continue
            parsed = self._parse(line, name, lineno, report=True)
            if parsed is not None:
                self._resource(m, parsed, name, lineno, None, None, True, seen)
        yield from self._flush(m, force=True)

    def _lines(
        self, fh: BinaryIO, name: str, *, report: bool, first_line: int = 1
    ) -> Iterator[tuple[int, bytes]]:
        """Non-blank lines with their numbers, read in blocks; overlong lines are rejected."""
        limit = self.max_line_bytes
        lineno = first_line - 1
        pending: list[bytes] = []
        pending_len = 0
        too_long = False
        while block := fh.read(BLOCK):
            if report:
                self.advance(len(block))
            parts = block.split(b"\n")
            last = parts.pop()
            for p in parts:
                lineno += 1
                if pending or too_long:
                    if too_long:
                        self._too_long(name, lineno, pending_len + len(p), report)
                        too_long, pending_len = False, 0
                        continue
                    pending.append(p)
                    p = b"".join(pending)
                    pending, pending_len = [], 0
                if len(p) > limit:
                    self._too_long(name, lineno, len(p), report)
                elif p.strip():
                    yield lineno, p
            if last:
                pending_len += len(last)
                if too_long:
                    continue
                pending.append(last)
                if pending_len > limit:
                    too_long, pending = True, []
        if pending or too_long:
            lineno += 1
            if too_long:
                self._too_long(name, lineno, pending_len, report)
            else:
                p = b"".join(pending)
                if p.strip():
                    yield lineno, p

    def _too_long(self, name: str, lineno: int, n: int, report: bool) -> None:
        if report:
            self._reject(
                "unknown",
                "",
                "unparsable_record",
                f"line of {n:,} bytes is longer than the {self.max_line_bytes:,}-byte limit",
                "",
                name,
                lineno,
            )

    def _parse(self, data: bytes, name: str, lineno: int, *, report: bool) -> Json | None:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if report:
                message = str(exc)
                try:
                    text = data.decode("utf-8")
                    reason = "unparsable_record"
                except UnicodeDecodeError as bad:
                    text = data.decode("utf-8", "replace")
                    reason, message = "bad_encoding", str(bad)
                self._reject("unknown", "", reason, message, text, name, lineno)
            return None
        if not isinstance(parsed, dict):
            if report:
                self._reject(
                    "unknown",
                    "",
                    "invalid_resource",
                    "not a JSON object",
                    data.decode("utf-8", "replace"),
                    name,
                    lineno,
                )
            return None
        return parsed

    def _resource(
        self,
        m: Mapper,
        r: Json,
        name: str,
        lineno: int,
        level: int | None,
        full_url: str | None,
        first: bool,
        seen: set[int],
    ) -> None:
        """Map one resource (Bundles: their entries) if it belongs to ``level`` (None: any)."""
        typ = r.get("resourceType")
        if typ == "Bundle":
            entries = r.get("entry") or ()
            local: list[tuple[Json, str | None, int]] = []
            for k, e in enumerate(entries, 1):
                res = e.get("resource") if isinstance(e, dict) else None
                if not isinstance(res, dict):
                    continue
                url = e.get("fullUrl")
                local.append((res, url if type(url) is str else None, k))
                rt, rid = res.get("resourceType"), res.get("id")
                if type(url) is str and type(rt) is str:
                    if rid is None and url.startswith("urn:"):
                        rid = url.rsplit(":", 1)[-1]
                    if rid is not None:
                        m.full_urls[url] = (rt, str(rid))
            for res, url, k in local:
                self._resource(m, res, name, k if lineno == 1 else lineno, level, url, first, seen)
            return
        if type(typ) is not str or not typ:
            if first:
                self._reject(
                    "unknown",
                    "resourceType",
                    "invalid_resource",
                    "no resourceType",
                    r,
                    name,
                    lineno,
                )
            return
        lvl = LEVEL.get(typ)
        if lvl is None:
            if first:
                self.skipped[typ] += 1
            return
        seen.add(lvl)
        if level is not None and lvl != level:
            return
        if r.get("id") is None and full_url and full_url.startswith("urn:"):
            r = {**r, "id": full_url.rsplit(":", 1)[-1]}
        table = RESOURCE_TABLE.get(typ, "unknown")
        if self.validate:
            try:
                model = _model(typ).model_validate(r)
            except ValueError as exc:
                field = ""
                errors = getattr(exc, "errors", None)
                if callable(errors):
                    locs = [".".join(str(x) for x in e.get("loc", ())) for e in errors()]
                    field = locs[0] if locs else ""
                self._reject(table, field, "invalid_resource", str(exc)[:500], r, name, lineno)
                return
            r = orjson.loads(model.model_dump_json(by_alias=True, exclude_none=True))
        try:
            m.handlers[typ](r, name, lineno)
        except MAPPING_ERRORS as exc:
            self._not_mapped(typ, exc, r, name, lineno)

    def _not_mapped(self, typ: str, exc: Exception, r: Json, name: str, lineno: int) -> None:
        """Quarantine a resource its handler could not map."""
        table = RESOURCE_TABLE.get(typ, "unknown")
        if isinstance(exc, Invalid):
            self._reject(table, exc.field, "invalid_resource", str(exc), r, name, lineno)
        else:
            # An element of the wrong JSON shape (e.g. "period": "2020"): not valid FHIR.
            self._reject(
                table, "", "invalid_resource", f"{type(exc).__name__}: {exc}", r, name, lineno
            )

    def _reject(
        self,
        table: str,
        field: str,
        reason: str,
        value: str,
        record: Any,
        name: str,
        lineno: int,
    ) -> None:
        if not isinstance(record, str):
            record = orjson.dumps(record, default=str).decode()
        self._rejects.append(
            {
                "table_name": table,
                "field": field,
                "reason": reason,
                "value": value[:RECORD_CHARS],
                "record": record[:RECORD_CHARS],
                "file": name,
                "line": lineno,
            }
        )

    def _flush(self, m: Mapper, *, force: bool = False) -> Iterator[Batch]:
        if self._rejects:
            yield REJECTS, rejects(self._rejects)
            self._rejects = []
        for table, rows in m.rows.items():
            if rows and (force or len(rows) >= self.chunk_rows):
                yield table, _arrow(table, rows)
                m.rows[table] = []


_TYPED: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "money": pa.float64(),
    "boolean": pa.bool_(),
}
KINDS: dict[str, list[str]] = {
    t: [c.kind.value for c in TABLES[t].columns] for t in set(RESOURCE_TABLE.values())
}


def _column(kind: str, values: tuple[Any, ...]) -> pa.Array:
    """A column for the loader: typed where every value reads cleanly as the column's type
    (no text to parse), else text (the loader reads it and rejects what it cannot)."""
    typed = _TYPED.get(kind)
    if typed is not None:
        try:
            return pa.array(values, typed)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
    try:
        text = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([txt(v) for v in values], pa.string())
    if kind == "date":
        try:
            return pc.cast(text, pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return text
    return text


def _arrow(table: str, rows: list[Row]) -> pa.Table:
    """Rows (canonical values, then file and line) as an Arrow table."""
    names = COLUMNS[table]
    cols = list(zip(*rows, strict=True))
    arrays = [_column(k, col) for k, col in zip(KINDS[table], cols, strict=False)]
    arrays.append(pa.array(cols[-2], pa.string()))
    arrays.append(pa.array(cols[-1], pa.int64()))
    return pa.Table.from_arrays(arrays, names=[*names, "_file", "_line"])


__all__ = ["SUBJECT", "FhirImporter", "resource_type_of"]
