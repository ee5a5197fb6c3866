"""Synthea CSV export folders to canonical tables.

Reads ``organizations`` (-> ``practice``), ``providers`` (-> ``provider``), ``patients``
(-> ``person``), ``payers`` with ``payer_transitions`` (-> ``enrollment``), ``encounters``,
``conditions``, ``procedures``, ``medications`` and ``immunizations`` (-> ``medication`` with
code system CVX), ``observations`` and ``claims`` with ``claims_transactions``
(-> ``claim_line``), each when present, plus the files popweave's own Synthea export adds
(``popweave_area.csv`` -> ``area``, ``popweave_programme_enrollment.csv`` ->
``programme_enrollment``).

Columns are matched by header name, case-insensitively; missing optional columns are empty
and unknown columns ignored, so Synthea v2 and v3 layouts both load (payer_transitions with
``START_YEAR``/``END_YEAR`` as years or timestamps, or ``START_DATE``/``END_DATE``; an optional
``SYSTEM`` column beside ``CODE``). Files are streamed in blocks (bounded memory) with every
column read as text; the loader's validator reads types. Each row carries ``_file`` and
``_line``: the record's number in the file with the header as line 1 (the physical line, as
long as no quoted value holds a line break).

Mapping rules
-------------
* Identifiers: Synthea's ``Id`` where the file has one; conditions, procedures, medications,
  immunizations and observations have none, so their id is a SHA-1 (20 hex digits) of the
  fields that identify the record (patient, encounter, code, start, and stop or value).
  The same input always gets the same ids, so loading it twice is a duplicate.
* Conditions: SNOMED CT codes are mapped to ICD-10-CM through
  :func:`popweave.terminology.snomed_to_icd10`; unmapped ones stay SNOMED (the model allows
  it). ``source_code_system``/``source_code`` keep the code as received.
  Encounters: ``REASONCODE`` becomes the encounter's code the same way.
* Payers: ``Medicare``, ``Medicaid``, ``Dual Eligible`` -> medicare, medicaid, dual;
  ``NO_INSURANCE`` -> no coverage; any other payer name is a private insurer -> commercial
  (the names ``Commercial``, ``Other`` and ``Uninsured`` are read as such: popweave's export
  writes an explicit uninsured enrollment row with payer ``Uninsured``). Enrollment rows
  are coverage spans, so ``NO_INSURANCE`` spans are skipped (counted in :attr:`skipped`), not
  rejected. A payer id found nowhere is an importer-level reject (``unmapped_value``).
  The plan is the payer's name.
* Observations: ``TYPE`` numeric (or, without TYPE, a value that reads as a number) ->
  ``value_num``, else ``value_text``; ``CATEGORY`` -> the model's categories (procedure,
  imaging, therapy and activity -> other).
* Claims: one ``claim_line`` per ``CHARGE`` transaction of ``claims_transactions.csv``:
  ``allowed_amount`` = the charge's ``AMOUNT``; ``paid_amount`` = the sum of ``PAYMENTS`` of
  the ``PAYMENT`` transactions that follow the charge within its claim, before the claim's
  next charge, in ``CHARGEID`` order (Synthea numbers transactions in the order it makes
  them: a charge, then its payments and transfers; copays can exceed the charge). Synthea
  writes the transactions of many claims interleaved, so this pairing is done first, out of
  core in DuckDB, keeping one small row per charge. Lines are numbered by the order of
  charges within the claim. claims.csv is read for the claim-level fields (one row per
  claim: payer and diagnoses), kept in memory as Arrow columns. Person
  and encounter are the transaction's ``PATIENTID`` and ``APPOINTMENTID``; the payer is the
  claim's primary insurance (none -> uninsured); the diagnosis is the claim's
  ``DIAGNOSIS<n>`` that the line's ``DIAGNOSISREF1`` points to, mapped to ICD-10-CM (null when
  unmapped). Synthea bills SNOMED and CVX codes, which claim lines cannot hold: the code is
  kept only for drugs (RxNorm codes seen in medications.csv). ``PLACEOFSERVICE`` is an
  organisation there, not a CMS code, so place of service stays empty.
* Extra columns written by :mod:`popweave.export.synthea` are read when present (``Id`` in
  files that lack it, patients' ``LANGUAGE``, ``AREA_ID``, ``PCP``, ``PRACTICE``, ...): they
  carry canonical data Synthea has no place for, so an export reloads unchanged.
* An ``ENCOUNTERCLASS`` outside the model's classes is an importer-level reject
  (``unmapped_value``); a record with the wrong number of fields (a truncated line) is one
  with ``unparsable_record``. Every other problem is left to the loader's validation.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from popweave.ingest._text import block_size_for, clip, decode_utf8, shown
from popweave.ingest.base import REJECTS, Batch, Importer, register, rejects
from popweave.model import TABLES
from popweave.model.tables import ENCOUNTER_CLASSES, OBSERVATION_CATEGORIES
from popweave.terminology import snomed_to_icd10

BLOCK_SIZE = 1 << 21
"""Bytes of CSV parsed at a time: bounds memory whatever the file's size."""

STR = pa.string()
_NULL = pa.scalar(None, STR)

FILES = (
    "popweave_area",
    "popweave_programme_enrollment",
    "organizations",
    "providers",
    "patients",
    "payers",
    "payer_transitions",
    "encounters",
    "conditions",
    "procedures",
    "medications",
    "immunizations",
    "observations",
    "claims",
    "claims_transactions",
)
"""The files read, in load order (referenced tables first)."""

AREA_COLUMNS = tuple(TABLES["area"].column_names)
PROGRAMME_COLUMNS = tuple(TABLES["programme_enrollment"].column_names)
"""Columns of ``popweave_programme_enrollment.csv`` (upper-cased in the file)."""

SEX = {"m": "male", "f": "female", "male": "male", "female": "female"}
RACE = {
    "native": "american_indian_alaska_native",
    "hawaiian": "native_hawaiian_pacific_islander",
}
ETHNICITY = {"nonhispanic": "not_hispanic", "non-hispanic": "not_hispanic"}
PAYER_NAMES = {
    "medicare": "medicare",
    "medicaid": "medicaid",
    "dual eligible": "dual",
    "dual": "dual",
    "no_insurance": "uninsured",
    "no insurance": "uninsured",
    "uninsured": "uninsured",
    "commercial": "commercial",
    "other": "other",
}
"""Payer names (lower case) with a fixed meaning; any other name is a private insurer."""
NO_INSURANCE = frozenset({"no_insurance", "no insurance"})
"""Synthea's marker payer for time without coverage: such spans are not enrollment rows."""

CATEGORY = {c: c for c in OBSERVATION_CATEGORIES} | {
    "procedure": "other",
    "imaging": "other",
    "therapy": "other",
    "activity": "other",
    "social history": "social-history",
    "vital signs": "vital-signs",
}

SYSTEMS = {
    "SNOMED": "SNOMED",
    "SNOMEDCT": "SNOMED",
    "SCT": "SNOMED",
    "HTTPSNOMEDINFOSCT": "SNOMED",
    "ICD10": "ICD10CM",
    "ICD10CM": "ICD10CM",
    "ICD10PCS": "ICD10PCS",
    "RXNORM": "RXNORM",
    "CVX": "CVX",
    "LOINC": "LOINC",
    "CPT": "CPT",
    "HCPCS": "HCPCS",
    "NDC": "NDC",
}
"""Code system names as Synthea and others spell them (upper case, letters and digits only)."""


def _blank_to_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(arr), ""), _NULL, arr)


def _lookup(arr: pa.Array, mapping: dict[str, str], *, keep: bool = True) -> pa.Array:
    """Map lower-cased values through ``mapping``; unmapped values kept (or null)."""
    low = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    keys = pa.array(list(mapping), STR)
    values = pa.array(list(mapping.values()), STR)
    mapped = pc.take(values, pc.index_in(low, value_set=keys))
    return pc.coalesce(mapped, low) if keep else mapped


def _date(arr: pa.Array) -> pa.Array:
    """The date part of ISO dates and timestamps; anything else passes on for validation."""
    iso = pc.match_substring_regex(arr, r"^\s*\d{4}-\d{2}-\d{2}([T ]|$)")
    return pc.if_else(iso, pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(arr), 0, 10), arr)


def _ids(prefix: str, parts: list[pa.Array]) -> pa.Array:
    """Deterministic ids: SHA-1 of the identifying fields, 20 hex digits."""
    cols = [pc.fill_null(p, "").to_pylist() for p in parts]
    return pa.array(
        [
            prefix + hashlib.sha1("\x1f".join(vals).encode()).hexdigest()[:20]
            for vals in zip(*cols, strict=True)
        ],
        STR,
    )


def _system(arr: pa.Array, default: str) -> pa.Array:
    norm = pc.replace_substring_regex(pc.utf8_upper(arr), r"[^A-Z0-9]", "")
    keys = pa.array(list(SYSTEMS), STR)
    mapped = pc.take(pa.array(list(SYSTEMS.values()), STR), pc.index_in(norm, value_set=keys))
    # Unknown names pass on (the validator rejects them as unknown code systems).
    return pc.fill_null(pc.coalesce(mapped, arr), default)


Drop = tuple[np.ndarray, str, str, bool]
"""Rows to leave out: (mask, canonical field, source column, skipped-not-rejected)."""
Built = tuple[dict[str, pa.Array], list[Drop]]


class _Block:
    """One block of rows of a Synthea CSV file: columns by upper-case name, blanks as nulls."""

    def __init__(self, batch: pa.RecordBatch, names: dict[str, str], file: str, lines: np.ndarray):
        self.batch = batch
        self.names = names
        self.file = file
        self.lines = lines
        self.n = batch.num_rows

    def has(self, name: str) -> bool:
        return name in self.names

    def col(self, *names: str) -> pa.Array:
        """The first of ``names`` the file has (blanks as nulls), else all nulls."""
        for name in names:
            if name in self.names:
                arr = self.batch.column(self.names[name])
                return _blank_to_null(arr.cast(STR) if arr.type != STR else arr)
        return pa.nulls(self.n, STR)

    def record(self, i: int) -> str:
        return json.dumps(
            {k: self.batch.column(v)[i].as_py() for k, v in self.names.items()},
            ensure_ascii=False,
        )


@register
class SyntheaImporter(Importer):
    """Synthea CSV export folder (v2 or v3 layouts)."""

    name: ClassVar[str] = "synthea"
    description: ClassVar[str] = "Synthea CSV export folder"

    def __init__(self, path: Path, **options: Any) -> None:
        super().__init__(path, **options)
        self.block_size = int(options.get("block_size", BLOCK_SIZE))
        self.skipped: dict[str, int] = {}
        """Records deliberately not loaded, by table (e.g. NO_INSURANCE spans)."""
        self._payers: dict[str, str] | None = None
        self._payer_names: dict[str, str] = {}
        self._drug_codes: set[str] = set()
        self._no_insurance: set[str] = set()

    def _file(self, stem: str) -> Path | None:
        if self.path.is_file():
            return self.path if self.path.stem.lower() == stem else None
        for p in (self.path / f"{stem}.csv", self.path / f"{stem.upper()}.csv"):
            if p.is_file():
                return p
        return None

    def inputs(self) -> list[Path]:
        return [p for stem in FILES if (p := self._file(stem)) is not None]

    # -- reading -------------------------------------------------------------------------

    def _blocks(self, path: Path, reject: list[dict[str, Any]], table: str) -> Iterator[_Block]:
        """Blocks of ``path``; records with the wrong number of fields go to ``reject``."""
        names = _header(path)
        header = list(names.values())
        skipped: list[int] = []

        def invalid(row: Any) -> str:
            reject.append(
                {
                    "table_name": table,
                    "field": None,
                    "reason": "unparsable_record",
                    "value": f"{row.actual_columns} fields, expected {row.expected_columns}",
                    "record": clip(str(row.text)),
                    "file": path.name,
                    "line": row.number,
                }
            )
            if row.number is not None:
                skipped.append(int(row.number))
            return "skip"

        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                block_size=block_size_for(path, self.block_size), use_threads=False
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid),
            # Bytes first: a value that is not UTF-8 rejects its record, not the file.
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.binary() for h in header}, strings_can_be_null=False
            ),
        )
        next_line = 2
        size = path.stat().st_size
        done = 0
        for batch in reader:
            n = batch.num_rows
            gone = sorted(s for s in skipped if s >= next_line)
            cand = np.arange(next_line, next_line + n + len(gone), dtype=np.int64)
            if gone:
                cand = cand[~np.isin(cand, gone)]
            lines = cand[:n]
            if n:
                next_line = int(lines[-1]) + 1
            # Progress: the reader does not say how far it got; its text is about this long.
            approx = min(size, done + batch.nbytes)
            self.advance(approx - done)
            done = approx
            text, undecodable = decode_utf8(batch)
            if undecodable.any():
                raw = pa.Table.from_batches([batch])
                for i in np.flatnonzero(undecodable):
                    reject.append(
                        {
                            "table_name": table,
                            "field": None,
                            "reason": "bad_encoding",
                            "value": None,
                            "record": shown(raw, int(i)),
                            "file": path.name,
                            "line": int(lines[i]),
                        }
                    )
                text = text.filter(pa.array(~undecodable))
                lines = lines[~undecodable]
            decoded = text.combine_chunks().to_batches()
            rb = decoded[0] if decoded else pa.RecordBatch.from_pylist([], schema=text.schema)
            yield _Block(rb, names, path.name, lines)
        self.advance(size - done)

    def _emit(
        self, table: str, block: _Block, cols: dict[str, pa.Array], keep: pa.Array | None = None
    ) -> Batch:
        out = pa.table(
            {
                **cols,
                "_file": pa.array([block.file] * block.n, STR),
                "_line": pa.array(block.lines, pa.int64()),
            }
        )
        if keep is not None:
            out = out.filter(keep)
        return table, out

    def _rejects(
        self, block: _Block, mask: np.ndarray, table: str, field: str, column: str
    ) -> list[Any]:
        values = block.col(column) if block.has(column) else None
        rows = []
        for i in np.flatnonzero(mask):
            rows.append(
                {
                    "table_name": table,
                    "field": field,
                    "reason": "unmapped_value",
                    "value": None if values is None else values[int(i)].as_py(),
                    "record": block.record(int(i)),
                    "file": block.file,
                    "line": int(block.lines[i]),
                }
            )
        return rows

    def _generic(self, stem: str, table: str, build: Callable[[_Block], Built]) -> Iterator[Batch]:
        path = self._file(stem)
        if path is None:
            return
        bad: list[dict[str, Any]] = []
        for block in self._blocks(path, bad, table):
            cols, drops = build(block)
            gone = np.zeros(block.n, bool)
            for mask, field, column, skip in drops:
                mask = mask & ~gone
                if skip:
                    self.skipped[table] = self.skipped.get(table, 0) + int(mask.sum())
                else:
                    bad.extend(self._rejects(block, mask, table, field, column))
                gone |= mask
            if bad:
                yield REJECTS, rejects(bad)
                bad = []
            yield self._emit(table, block, cols, pa.array(~gone) if gone.any() else None)
        if bad:
            yield REJECTS, rejects(bad)

    # -- tables --------------------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        yield from self._generic("popweave_area", "area", self._area)
        yield from self._generic("organizations", "practice", self._practice)
        yield from self._generic("providers", "provider", self._provider)
        yield from self._generic("patients", "person", self._person)
        self._read_payers()
        yield from self._generic("payer_transitions", "enrollment", self._enrollment)
        yield from self._generic(
            "popweave_programme_enrollment", "programme_enrollment", self._programme
        )
        yield from self._generic("encounters", "encounter", self._encounter)
        yield from self._generic("conditions", "condition", self._condition)
        yield from self._generic("procedures", "procedure", self._procedure)
        yield from self._generic("medications", "medication", self._medication)
        yield from self._generic("immunizations", "medication", self._immunization)
        yield from self._generic("observations", "observation", self._observation)
        yield from self._claim_lines()

    @staticmethod
    def _area(b: _Block) -> Built:
        return {c: b.col(c.upper()) for c in AREA_COLUMNS}, []

    @staticmethod
    def _programme(b: _Block) -> Built:
        return {c: b.col(c.upper()) for c in PROGRAMME_COLUMNS}, []

    @staticmethod
    def _practice(b: _Block) -> Built:
        return {
            "practice_id": b.col("ID"),
            "name": b.col("NAME"),
            "area_id": b.col("AREA_ID"),
            "lat": b.col("LAT"),
            "lon": b.col("LON"),
            "hours_per_week": b.col("HOURS_PER_WEEK"),
            "evening_hours": b.col("EVENING_HOURS"),
            "coordinators": b.col("COORDINATORS"),
            "coordinator_capacity": b.col("COORDINATOR_CAPACITY"),
        }, []

    @staticmethod
    def _provider(b: _Block) -> Built:
        return {
            "provider_id": b.col("ID"),
            "name": b.col("NAME"),
            "practice_id": b.col("ORGANIZATION"),
            "specialty": b.col("SPECIALITY", "SPECIALTY"),
        }, []

    @staticmethod
    def _person(b: _Block) -> Built:
        return {
            "person_id": b.col("ID"),
            "birth_date": _date(b.col("BIRTHDATE")),
            "death_date": _date(b.col("DEATHDATE")),
            "sex": _lookup(b.col("GENDER"), SEX),
            "race": _lookup(b.col("RACE"), RACE),
            "ethnicity": _lookup(b.col("ETHNICITY"), ETHNICITY),
            "language": b.col("LANGUAGE"),
            "area_id": b.col("AREA_ID"),
            "zip": b.col("ZIP"),
            "pcp_provider_id": b.col("PCP"),
            "practice_id": b.col("PRACTICE"),
        }, []

    def _read_payers(self) -> None:
        """Payer id -> canonical payer (payers.csv is small: one row per payer)."""
        self._payers = {}
        path = self._file("payers")
        if path is None:
            return
        for block in self._blocks(path, [], "enrollment"):
            names = block.col("NAME")
            canon = _lookup(names, PAYER_NAMES, keep=False)
            canon = pc.fill_null(canon, "commercial")
            for pid, name, c in zip(
                block.col("ID").to_pylist(),
                names.to_pylist(),
                canon.to_pylist(),
                strict=True,
            ):
                if pid is not None:
                    self._payers[pid] = c
                    if (name or "").strip().lower() in NO_INSURANCE:
                        self._no_insurance.add(pid)
                    self._payer_names[pid] = name
            self.skipped.setdefault("enrollment", 0)

    def _payer_of(self, ids: pa.Array) -> pa.Array:
        """Canonical payers of payer ids (a canonical name is also accepted); null if unknown."""
        payers = self._payers or {}
        keys = pa.array(list(payers), STR)
        by_id = pc.take(pa.array(list(payers.values()), STR), pc.index_in(ids, value_set=keys))
        return pc.coalesce(by_id, _lookup(ids, PAYER_NAMES, keep=False))

    def _enrollment(self, b: _Block) -> Built:
        start = b.col("START_DATE", "START_YEAR")
        end = b.col("END_DATE", "END_YEAR")
        year = r"^\s*\d{4}\s*$"
        start = pc.if_else(
            pc.match_substring_regex(start, year),
            pc.binary_join_element_wise(pc.utf8_trim_whitespace(start), "01-01", "-"),
            _date(start),
        )
        end = pc.if_else(
            pc.match_substring_regex(end, year),
            pc.binary_join_element_wise(pc.utf8_trim_whitespace(end), "12-31", "-"),
            _date(end),
        )
        pid = b.col("PAYER")
        payer = self._payer_of(pid)
        names = self._payer_names
        plan = (
            b.col("PLAN")
            if b.has("PLAN")
            else pa.array([names.get(p) if p is not None else None for p in pid.to_pylist()], STR)
        )
        person = b.col("PATIENT")
        ids = b.col("ID") if b.has("ID") else _ids("S", [person, start, pid, b.col("MEMBERID")])
        cols = {
            "enrollment_id": ids,
            "person_id": person,
            "payer": payer,
            "plan": plan,
            "start_date": start,
            "end_date": end,
        }
        unmapped = _np(pc.and_(pc.is_valid(pid), pc.is_null(payer)))
        none = pa.array(sorted(self._no_insurance), STR)
        uninsured = _np(pc.is_in(pid, value_set=none))
        return cols, [(unmapped, "payer", "PAYER", False), (uninsured, "payer", "PAYER", True)]

    def _encounter(self, b: _Block) -> Built:
        cls = pc.utf8_lower(pc.utf8_trim_whitespace(b.col("ENCOUNTERCLASS")))
        known = pc.is_in(cls, value_set=pa.array(ENCOUNTER_CLASSES, STR))
        unmapped = pc.and_(pc.is_valid(cls), pc.invert(known))
        if b.has("REASON_SYSTEM"):  # popweave's export: the canonical pair as it was
            code = b.col("REASONCODE")
            system = pc.if_else(pc.is_valid(code), _system(b.col("REASON_SYSTEM"), "SNOMED"), _NULL)
        else:
            system, code = self._mapped_codes(b.col("REASONCODE"), pa.nulls(b.n, STR))
        return {
            "encounter_id": b.col("ID"),
            "person_id": b.col("PATIENT"),
            "encounter_class": cls,
            "start_time": b.col("START"),
            "end_time": b.col("STOP"),
            "practice_id": b.col("ORGANIZATION"),
            "provider_id": b.col("PROVIDER"),
            "discharge_disposition": b.col("DISCHARGE_DISPOSITION"),
            "code_system": system,
            "code": code,
        }, [(_np(unmapped), "encounter_class", "ENCOUNTERCLASS", False)]

    @staticmethod
    def _mapped_codes(codes: pa.Array, systems: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(code_system, code) of SNOMED-or-other codes: SNOMED mapped to ICD-10-CM if it can."""
        system = _system(systems, "SNOMED")
        snomed = pc.equal(system, "SNOMED")
        icd = pc.if_else(snomed, snomed_to_icd10(codes), _NULL)
        mapped = pc.is_valid(icd)
        out_sys = pc.if_else(pc.is_valid(codes), pc.if_else(mapped, "ICD10CM", system), _NULL)
        return out_sys, pc.if_else(mapped, icd, codes)

    def _condition(self, b: _Block) -> Built:
        person, enc, start = b.col("PATIENT"), b.col("ENCOUNTER"), b.col("START")
        if b.has("SOURCE_SYSTEM") or b.has("SOURCE_CODE"):
            # popweave's export: the canonical pair and the source pair as they were.
            system, code = _system(b.col("SYSTEM"), "SNOMED"), b.col("CODE")
            src_sys, src = b.col("SOURCE_SYSTEM"), b.col("SOURCE_CODE")
        else:
            raw_sys = _system(b.col("SYSTEM"), "SNOMED")
            system, code = self._mapped_codes(b.col("CODE"), raw_sys)
            src_sys, src = raw_sys, b.col("CODE")
        ids = (
            b.col("ID")
            if b.has("ID")
            else _ids("C", [person, enc, b.col("SYSTEM"), b.col("CODE"), start])
        )
        return {
            "condition_id": ids,
            "person_id": person,
            "encounter_id": enc,
            "onset_date": _date(start),
            "abatement_date": _date(b.col("STOP")),
            "code_system": system,
            "code": code,
            "source_code_system": src_sys,
            "source_code": src,
        }, []

    @staticmethod
    def _procedure(b: _Block) -> Built:
        person, enc, start, code = (
            b.col("PATIENT"),
            b.col("ENCOUNTER"),
            b.col("START"),
            b.col("CODE"),
        )
        ids = b.col("ID") if b.has("ID") else _ids("Q", [person, enc, code, start, b.col("STOP")])
        return {
            "procedure_id": ids,
            "person_id": person,
            "encounter_id": enc,
            "date": _date(start),
            "code_system": _system(b.col("SYSTEM"), "SNOMED"),
            "code": code,
        }, []

    def _medication(self, b: _Block) -> Built:
        person, enc, start, code = (
            b.col("PATIENT"),
            b.col("ENCOUNTER"),
            b.col("START"),
            b.col("CODE"),
        )
        system = _system(b.col("SYSTEM"), "RXNORM")
        rx = pc.filter(code, pc.and_(pc.equal(system, "RXNORM"), pc.is_valid(code)))
        self._drug_codes.update(pc.unique(rx).to_pylist())
        stop = b.col("STOP")
        ids = b.col("ID") if b.has("ID") else _ids("M", [person, enc, code, start, stop])
        return {
            "medication_id": ids,
            "person_id": person,
            "encounter_id": enc,
            "start_date": _date(start),
            "end_date": _date(stop),
            "code_system": system,
            "code": code,
            "days_supply": b.col("DAYS_SUPPLY"),
        }, []

    @staticmethod
    def _immunization(b: _Block) -> Built:
        person, enc, day, code = b.col("PATIENT"), b.col("ENCOUNTER"), b.col("DATE"), b.col("CODE")
        ids = b.col("ID") if b.has("ID") else _ids("V", [person, enc, code, day])
        return {
            "medication_id": ids,
            "person_id": person,
            "encounter_id": enc,
            "start_date": _date(day),
            "end_date": _date(b.col("STOP")),
            "code_system": _system(b.col("SYSTEM"), "CVX"),
            "code": code,
            "days_supply": b.col("DAYS_SUPPLY"),
        }, []

    @staticmethod
    def _observation(b: _Block) -> Built:
        person, enc, day, code = b.col("PATIENT"), b.col("ENCOUNTER"), b.col("DATE"), b.col("CODE")
        value = b.col("VALUE")
        if b.has("TYPE"):
            numeric = pc.equal(pc.utf8_lower(b.col("TYPE")), "numeric")
        else:
            numeric = pc.match_substring_regex(
                value, r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
            )
        numeric = pc.fill_null(numeric, False)
        text = pc.if_else(numeric, _NULL, value)
        if b.has("VALUE_TEXT"):
            text = pc.coalesce(b.col("VALUE_TEXT"), text)
        ids = b.col("ID") if b.has("ID") else _ids("O", [person, enc, code, day, value])
        return {
            "observation_id": ids,
            "person_id": person,
            "encounter_id": enc,
            "date": _date(day),
            "category": _lookup(b.col("CATEGORY"), CATEGORY),
            "code_system": _system(b.col("SYSTEM"), "LOINC"),
            "code": code,
            "value_num": pc.if_else(numeric, value, _NULL),
            "value_text": text,
            "value_code": b.col("VALUE_CODE"),
            "unit": b.col("UNITS"),
        }, []

    # -- claims --------------------------------------------------------------------------

    def _claims(self) -> pa.Table:
        """Claim-level fields (payer, diagnoses) of claims.csv, read once when needed."""
        cols = ["ID", "PATIENTID", "APPOINTMENTID", "PRIMARYPATIENTINSURANCEID"] + [
            f"DIAGNOSIS{k}" for k in range(1, 9)
        ]
        path = self._file("claims")
        parts: list[pa.Table] = []
        if path is not None:
            for block in self._blocks(path, [], "claim_line"):
                parts.append(pa.table({c: block.col(c) for c in cols}))
        if not parts:
            return pa.table({c: pa.array([], STR) for c in cols})
        return pa.concat_tables(parts)

    def _claim_lines(self) -> Iterator[Batch]:
        path = self._file("claims_transactions")
        if path is None:
            claims_file = self._file("claims")
            if claims_file is not None:
                self.advance(claims_file.stat().st_size)
            return
        names = _header(path)
        charges = None if {"LINE_NUMBER", "PAID"} <= set(names) else _charges(path, names)
        claims = None
        if not {"PAYER", "DIAGNOSIS_CODE"} <= set(names):
            claims = self._claims()
        bad: list[dict[str, Any]] = []
        for block in self._blocks(path, bad, "claim_line"):
            lines, unmapped = self._lines(block, claims, charges)
            if bad or unmapped:
                yield REJECTS, rejects(bad + unmapped)
                bad = []
            yield "claim_line", lines
        if bad:
            yield REJECTS, rejects(bad)

    def _lines(
        self, b: _Block, claims: pa.Table | None, charges: pa.Table | None
    ) -> tuple[pa.Table, list[Any]]:
        is_charge = pc.equal(pc.utf8_upper(pc.fill_null(b.col("TYPE"), "")), "CHARGE")
        idx = np.flatnonzero(_np(is_charge))
        c = _Block(b.batch.take(pa.array(idx, pa.int64())), b.names, b.file, b.lines[idx])
        n = c.n
        cclaim = c.col("CLAIMID")
        if charges is not None:
            key = pc.binary_join_element_wise(
                pc.fill_null(cclaim, ""), pc.fill_null(c.col("CHARGEID"), ""), "\x1f"
            )
            at = pc.index_in(key, value_set=charges.column("key"))
            line_no = pc.take(charges.column("line_number"), at).cast(STR)
            paid = pc.take(charges.column("paid"), at).cast(STR)
        else:
            line_no, paid = c.col("LINE_NUMBER"), c.col("PAID")
        person = c.col("PATIENTID")
        encounter = c.col("APPOINTMENTID")
        joined = None
        if claims is not None:
            joined = claims.take(pc.index_in(cclaim, value_set=claims.column("ID")))
            person = pc.coalesce(person, joined.column("PATIENTID").combine_chunks())
            encounter = pc.coalesce(encounter, joined.column("APPOINTMENTID").combine_chunks())
        unknown = np.zeros(n, bool)
        if c.has("PAYER"):
            payer = c.col("PAYER")
        else:
            pid = (
                joined.column("PRIMARYPATIENTINSURANCEID").combine_chunks()
                if joined is not None
                else pa.nulls(n, STR)
            )
            none = pc.fill_null(pc.equal(pid, "0"), True)
            payer = pc.if_else(none, "uninsured", self._payer_of(pid))
            unknown = _np(pc.is_null(payer))
        if c.has("DIAGNOSIS_CODE"):
            dx = c.col("DIAGNOSIS_CODE")
        elif joined is not None:
            ref = pc.fill_null(c.col("DIAGNOSISREF1"), "1")
            dx = pa.nulls(n, STR)
            for k in range(1, 9):
                dx = pc.if_else(
                    pc.equal(ref, str(k)), joined.column(f"DIAGNOSIS{k}").combine_chunks(), dx
                )
            dx = snomed_to_icd10(dx)
        else:
            dx = pa.nulls(n, STR)
        code = c.col("PROCEDURECODE")
        if c.has("CODE_SYSTEM"):
            system = c.col("CODE_SYSTEM")
        else:
            drug = pc.is_in(code, value_set=pa.array(sorted(self._drug_codes), STR))
            system = pc.if_else(drug, "RXNORM", _NULL)
            code = pc.if_else(drug, code, _NULL)
        cols = {
            "claim_id": cclaim,
            "line_number": line_no,
            "person_id": person,
            "encounter_id": encounter,
            "service_date": _date(c.col("FROMDATE")),
            "payer": payer,
            "code_system": system,
            "code": code,
            "diagnosis_code": dx,
            "place_of_service": c.col("POS"),
            "allowed_amount": c.col("AMOUNT"),
            "paid_amount": paid,
        }
        bad = self._rejects(c, unknown, "claim_line", "payer", "PAYER") if unknown.any() else []
        _, out = self._emit("claim_line", c, cols, pa.array(~unknown) if unknown.any() else None)
        return out, bad


def _header(path: Path) -> dict[str, str]:
    """Upper-case column name -> the name as written in the file's header."""
    with path.open("rb") as fh:  # only the header line is decoded here
        first = fh.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    header = next(csv.reader([first]), [])
    names: dict[str, str] = {}
    for h in header:
        names.setdefault(h.strip().upper(), h)
    return names


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _charges(path: Path, names: dict[str, str]) -> pa.Table:
    """Per CHARGE transaction: its line number within the claim and the payments made on it.

    Synthea writes the transactions of many claims interleaved; within a claim, ordered by
    ``CHARGEID`` (a running number), each payment follows the charge it pays. DuckDB does the
    ordering and sums out of core; the result has one small row per charge.
    """

    def q(name: str) -> str:
        real = names.get(name)
        return "NULL" if real is None else '"' + real.replace('"', '""') + '"'

    sql = f"""
        WITH t AS (
            SELECT {q("CLAIMID")} AS claim, {q("CHARGEID")} AS charge,
                   TRY_CAST({q("CHARGEID")} AS BIGINT) AS seq,
                   upper(trim({q("TYPE")})) AS kind,
                   TRY_CAST({q("PAYMENTS")} AS DOUBLE) AS pay
            FROM read_csv({_sql_text(str(path))}, all_varchar = true, header = true,
                          ignore_errors = true)
        ), o AS (
            SELECT *, last_value(CASE WHEN kind = 'CHARGE' THEN seq END IGNORE NULLS)
                OVER (PARTITION BY claim ORDER BY seq
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS owner
            FROM t
        ), paid AS (
            SELECT claim, owner, round(sum(pay), 2) AS paid FROM o
            WHERE kind = 'PAYMENT' AND owner IS NOT NULL GROUP BY claim, owner
        )
        SELECT c.claim || chr(31) || c.charge AS key,
               row_number() OVER (PARTITION BY c.claim ORDER BY c.seq) AS line_number,
               coalesce(p.paid, 0.0) AS paid
        FROM o AS c LEFT JOIN paid AS p ON p.claim = c.claim AND p.owner = c.seq
        WHERE c.kind = 'CHARGE'
    """
    con = duckdb.connect()
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def _np(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)


__all__ = ["SyntheaImporter"]
