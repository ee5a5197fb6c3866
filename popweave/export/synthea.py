"""The warehouse written out as a Synthea CSV export folder.

Each canonical table goes to the Synthea file that holds it, with Synthea's headers (v3
layout) and, after them, upper-case columns for canonical data Synthea has no place for, which
:mod:`popweave.ingest.synthea` reads back, so export and import are a lossless round trip:

* ``popweave_area.csv``: the ``area`` table (Synthea has none), columns upper-cased.
* ``popweave_programme_enrollment.csv``: programme memberships (Synthea has none), likewise.
* ``organizations.csv`` (practices) + ``AREA_ID``, ``HOURS_PER_WEEK``, ``EVENING_HOURS``,
  ``COORDINATORS``, ``COORDINATOR_CAPACITY``; ``providers.csv``.
* ``patients.csv`` + ``LANGUAGE``, ``AREA_ID``, ``PCP``, ``PRACTICE``. Sex, race and
  ethnicity use Synthea's words (M/F, native, hawaiian, nonhispanic); values Synthea lacks
  (other, unknown, multiple) are written as popweave's words.
* ``payers.csv``: one payer per canonical payer (Medicare, Medicaid, Dual Eligible,
  Commercial, Uninsured, Other); ``payer_transitions.csv`` (enrollment) with dates in
  ``START_YEAR``/``END_YEAR`` (as Synthea v3.0 does) + ``Id``, ``PLAN``.
* ``encounters.csv`` + ``DISCHARGE_DISPOSITION``, ``REASON_SYSTEM`` (the encounter's code is
  the ``REASONCODE``).
* ``conditions.csv`` with a ``SYSTEM`` column (the canonical pair) + ``Id``,
  ``SOURCE_SYSTEM``, ``SOURCE_CODE``; ``procedures.csv`` + ``Id``, ``SYSTEM``.
* ``medications.csv`` + ``Id``, ``SYSTEM``, ``DAYS_SUPPLY``; CVX-coded medications go to
  ``immunizations.csv`` + ``Id``, ``STOP``, ``DAYS_SUPPLY``.
* ``observations.csv`` + ``Id``, ``SYSTEM``, ``VALUE_TEXT`` (text beside a numeric value),
  ``VALUE_CODE``.
* ``claims.csv`` (one row per claim) and ``claims_transactions.csv``: per claim line a
  ``CHARGE`` (``AMOUNT`` = allowed) and a ``PAYMENT`` (``PAYMENTS`` = paid); the charge row
  carries ``LINE_NUMBER``, ``CODE_SYSTEM``, ``DIAGNOSIS_CODE``, ``POS``, ``PAYER``, ``PAID``.

Tables are read through Ibis in chunks; every file is written to a hidden temp name and
renamed into place when complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from popweave.export.base import Exporter, register
from popweave.ingest.synthea import AREA_COLUMNS, PROGRAMME_COLUMNS
from popweave.warehouse import Engine

CHUNK_ROWS = 200_000
STR = pa.string()
_NULL = pa.scalar(None, STR)

Cols = dict[str, pa.Array]

PAYER_NAMES = {
    "medicare": "Medicare",
    "medicaid": "Medicaid",
    "dual": "Dual Eligible",
    "commercial": "Commercial",
    "uninsured": "Uninsured",
    "other": "Other",
}


def _h(header: str) -> list[str]:
    """A Synthea header line as a list of column names."""
    return header.split(",")


ORGANIZATIONS = _h("Id,NAME,ADDRESS,CITY,STATE,ZIP,LAT,LON,PHONE,REVENUE,UTILIZATION")
PROVIDERS = _h("Id,ORGANIZATION,NAME,GENDER,SPECIALITY,ADDRESS,CITY,STATE,ZIP,LAT,LON,UTILIZATION")
PATIENTS = _h(
    "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,RACE,"
    "ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,LAT,LON,HEALTHCARE_EXPENSES,"
    "HEALTHCARE_COVERAGE"
)
PAYERS = _h(
    "Id,NAME,ADDRESS,CITY,STATE_HEADQUARTERED,ZIP,PHONE,AMOUNT_COVERED,AMOUNT_UNCOVERED,REVENUE,"
    "COVERED_ENCOUNTERS,UNCOVERED_ENCOUNTERS,COVERED_MEDICATIONS,UNCOVERED_MEDICATIONS,"
    "COVERED_PROCEDURES,UNCOVERED_PROCEDURES,COVERED_IMMUNIZATIONS,UNCOVERED_IMMUNIZATIONS,"
    "UNIQUE_CUSTOMERS,QOLS_AVG,MEMBER_MONTHS"
)
PAYER_TRANSITIONS = _h(
    "PATIENT,MEMBERID,START_YEAR,END_YEAR,PAYER,SECONDARY_PAYER,OWNERSHIP,OWNERNAME"
)
ENCOUNTERS = _h(
    "Id,START,STOP,PATIENT,ORGANIZATION,PROVIDER,PAYER,ENCOUNTERCLASS,CODE,DESCRIPTION,"
    "BASE_ENCOUNTER_COST,TOTAL_CLAIM_COST,PAYER_COVERAGE,REASONCODE,REASONDESCRIPTION"
)
CONDITIONS = _h("START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION")
PROCEDURES = _h(
    "START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION,BASE_COST,REASONCODE,REASONDESCRIPTION"
)
MEDICATIONS = _h(
    "START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,PAYER_COVERAGE,DISPENSES,"
    "TOTALCOST,REASONCODE,REASONDESCRIPTION"
)
IMMUNIZATIONS = _h("DATE,PATIENT,ENCOUNTER,CODE,DESCRIPTION,BASE_COST")
OBSERVATIONS = _h("DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE")
CLAIMS = _h(
    "Id,PATIENTID,PROVIDERID,PRIMARYPATIENTINSURANCEID,SECONDARYPATIENTINSURANCEID,DEPARTMENTID,"
    "PATIENTDEPARTMENTID,DIAGNOSIS1,DIAGNOSIS2,DIAGNOSIS3,DIAGNOSIS4,DIAGNOSIS5,DIAGNOSIS6,"
    "DIAGNOSIS7,DIAGNOSIS8,REFERRINGPROVIDERID,APPOINTMENTID,CURRENTILLNESSDATE,SERVICEDATE,"
    "SUPERVISINGPROVIDERID,STATUS1,STATUS2,STATUSP,OUTSTANDING1,OUTSTANDING2,OUTSTANDINGP,"
    "LASTBILLEDDATE1,LASTBILLEDDATE2,LASTBILLEDDATEP,HEALTHCARECLAIMTYPEID1,HEALTHCARECLAIMTYPEID2"
)
CLAIMS_TRANSACTIONS = _h(
    "ID,CLAIMID,CHARGEID,PATIENTID,TYPE,AMOUNT,METHOD,FROMDATE,TODATE,PLACEOFSERVICE,"
    "PROCEDURECODE,MODIFIER1,MODIFIER2,DIAGNOSISREF1,DIAGNOSISREF2,DIAGNOSISREF3,DIAGNOSISREF4,"
    "UNITS,DEPARTMENTID,NOTES,UNITAMOUNT,TRANSFEROUTID,TRANSFERTYPE,PAYMENTS,ADJUSTMENTS,"
    "TRANSFERS,OUTSTANDING,APPOINTMENTID,LINENOTE,PATIENTINSURANCEID,FEESCHEDULEID,PROVIDERID,"
    "SUPERVISINGPROVIDERID"
)


def _s(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text as the importer reads it back: ISO dates, ``...T...Z`` times, shortest floats."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_timestamp(t):
        txt = pc.cast(arr.cast(pa.timestamp("us")), STR)
        txt = pc.replace_substring_regex(txt, r"\.0+$", "")
        txt = pc.replace_substring(txt, " ", "T")
        return pc.binary_join_element_wise(txt, pa.scalar("Z"), "")
    return arr if t == STR else pc.cast(arr, STR)


def _map(arr: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), STR)
    mapped = pc.take(pa.array(list(mapping.values()), STR), pc.index_in(arr, value_set=keys))
    return pc.coalesce(mapped, arr)


def _payer_id(payer: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar("popweave-"), _s(payer), "")


class _Writer:
    """One CSV file: header first, then chunks; written under a temp name, renamed at close."""

    def __init__(self, out: Path, name: str, header: list[str]) -> None:
        self.final = out / name
        self.tmp = out / f".{name}.tmp"
        self.header = header
        self.rows = 0
        self.fh = self.tmp.open("wb")
        self.fh.write((",".join(header) + "\n").encode())
        self.options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def write(self, cols: Cols, n: int) -> None:
        table = pa.table({h: cols[h] if h in cols else pa.nulls(n, STR) for h in self.header})
        pacsv.write_csv(table, self.fh, self.options)
        self.rows += n

    def close(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


@register
class SyntheaExporter(Exporter):
    """Synthea CSV (v3 layout) with popweave's extra columns for a lossless round trip."""

    name: ClassVar[str] = "synthea"
    description: ClassVar[str] = "Synthea CSV export folder"

    def __init__(self, chunk_rows: int = CHUNK_ROWS) -> None:
        self.chunk_rows = chunk_rows

    def write(
        self, engine: Engine, out: Path, progress: Callable[[str, int], None] | None = None
    ) -> dict[Path, int]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[Path, int] = {}
        open_writers: list[_Writer] = []

        def emit(
            table: str,
            files: list[tuple[str, list[str], Callable[[pa.Table], tuple[Cols, int]]]],
            expr: Any = None,
        ) -> None:
            writers = [_Writer(out, name, header) for name, header, _ in files]
            open_writers.extend(writers)
            for chunk in self._chunks(engine, table, expr):
                for w, (_, _, fn) in zip(writers, files, strict=True):
                    cols, n = fn(chunk)
                    if n:
                        w.write(cols, n)
                if progress:
                    progress(table, chunk.num_rows)
            for w in writers:
                w.close()
                open_writers.remove(w)
                written[w.final] = w.rows

        try:
            emit("area", [("popweave_area.csv", [c.upper() for c in AREA_COLUMNS], _area)])
            emit("practice", [("organizations.csv", [*ORGANIZATIONS, *PRACTICE_EXTRA], _org)])
            emit("provider", [("providers.csv", PROVIDERS, _provider)])
            emit("person", [("patients.csv", [*PATIENTS, *PERSON_EXTRA], _patient)])
            self._payers(out, written)
            emit(
                "enrollment",
                [("payer_transitions.csv", [*PAYER_TRANSITIONS, "Id", "PLAN"], _transition)],
            )
            emit(
                "programme_enrollment",
                [
                    (
                        "popweave_programme_enrollment.csv",
                        [c.upper() for c in PROGRAMME_COLUMNS],
                        _programme,
                    )
                ],
            )
            emit("encounter", [("encounters.csv", [*ENCOUNTERS, *ENCOUNTER_EXTRA], _encounter)])
            emit("condition", [("conditions.csv", [*CONDITIONS, *CONDITION_EXTRA], _condition)])
            emit("procedure", [("procedures.csv", [*PROCEDURES, "Id"], _procedure)])
            emit(
                "medication",
                [
                    ("medications.csv", [*MEDICATIONS, *MEDICATION_EXTRA], _medication),
                    ("immunizations.csv", [*IMMUNIZATIONS, *IMMUNIZATION_EXTRA], _immunization),
                ],
            )
            emit(
                "observation",
                [("observations.csv", [*OBSERVATIONS, *OBSERVATION_EXTRA], _observation)],
            )
            t = engine.table("claim_line")
            claims = t.group_by("claim_id").aggregate(
                person_id=t.person_id.min(),
                encounter_id=t.encounter_id.min(),
                service_date=t.service_date.min(),
                payer=t.payer.min(),
                diagnosis_code=t.diagnosis_code.min(),
            )
            emit("claim_line", [("claims.csv", CLAIMS, _claim)], claims)
            emit(
                "claim_line",
                [("claims_transactions.csv", [*CLAIMS_TRANSACTIONS, *LINE_EXTRA], _transactions)],
            )
        except BaseException:
            for w in open_writers:
                w.abort()
            raise
        return written

    def _chunks(self, engine: Engine, table: str, expr: Any = None) -> Iterator[pa.Table]:
        e = engine.table(table) if expr is None else expr
        raw = getattr(engine, "raw", None)
        if isinstance(raw, duckdb.DuckDBPyConnection):
            # DuckDB streams the query's result in record batches (bounded memory).
            batches: Iterator[pa.RecordBatch] = raw.sql(
                str(engine.ibis.compile(e))
            ).to_arrow_reader(self.chunk_rows)
        else:
            batches = e.to_pyarrow_batches(chunk_size=self.chunk_rows)
        for batch in batches:
            if batch.num_rows:
                yield pa.Table.from_batches([batch])

    @staticmethod
    def _payers(out: Path, written: dict[Path, int]) -> None:
        w = _Writer(out, "payers.csv", [*PAYERS, "OWNERSHIP"])
        try:
            payers = pa.array(list(PAYER_NAMES), STR)
            w.write(
                {"Id": _payer_id(payers), "NAME": pa.array(list(PAYER_NAMES.values()), STR)},
                len(payers),
            )
        except BaseException:
            w.abort()
            raise
        w.close()
        written[w.final] = w.rows


PRACTICE_EXTRA = [
    "AREA_ID",
    "HOURS_PER_WEEK",
    "EVENING_HOURS",
    "COORDINATORS",
    "COORDINATOR_CAPACITY",
]
PERSON_EXTRA = ["LANGUAGE", "AREA_ID", "PCP", "PRACTICE"]
ENCOUNTER_EXTRA = ["DISCHARGE_DISPOSITION", "REASON_SYSTEM"]
CONDITION_EXTRA = ["Id", "SOURCE_SYSTEM", "SOURCE_CODE"]
MEDICATION_EXTRA = ["Id", "SYSTEM", "DAYS_SUPPLY"]
IMMUNIZATION_EXTRA = ["Id", "STOP", "DAYS_SUPPLY"]
OBSERVATION_EXTRA = ["Id", "SYSTEM", "VALUE_TEXT", "VALUE_CODE"]
LINE_EXTRA = ["LINE_NUMBER", "CODE_SYSTEM", "DIAGNOSIS_CODE", "POS", "PAYER", "PAID"]


def _area(t: pa.Table) -> tuple[Cols, int]:
    return {c.upper(): _s(t[c]) for c in AREA_COLUMNS}, t.num_rows


def _programme(t: pa.Table) -> tuple[Cols, int]:
    return {c.upper(): _s(t[c]) for c in PROGRAMME_COLUMNS}, t.num_rows


def _org(t: pa.Table) -> tuple[Cols, int]:
    cols = {"Id": _s(t["practice_id"]), "NAME": _s(t["name"])}
    cols |= {"LAT": _s(t["lat"]), "LON": _s(t["lon"])}
    cols |= {c: _s(t[c.lower()]) for c in PRACTICE_EXTRA}
    return cols, t.num_rows


def _provider(t: pa.Table) -> tuple[Cols, int]:
    return {
        "Id": _s(t["provider_id"]),
        "ORGANIZATION": _s(t["practice_id"]),
        "NAME": _s(t["name"]),
        "SPECIALITY": _s(t["specialty"]),
    }, t.num_rows


def _patient(t: pa.Table) -> tuple[Cols, int]:
    return {
        "Id": _s(t["person_id"]),
        "BIRTHDATE": _s(t["birth_date"]),
        "DEATHDATE": _s(t["death_date"]),
        "RACE": _map(
            _s(t["race"]),
            {
                "american_indian_alaska_native": "native",
                "native_hawaiian_pacific_islander": "hawaiian",
            },
        ),
        "ETHNICITY": _map(_s(t["ethnicity"]), {"not_hispanic": "nonhispanic"}),
        "GENDER": _map(_s(t["sex"]), {"male": "M", "female": "F"}),
        "ZIP": _s(t["zip"]),
        "LANGUAGE": _s(t["language"]),
        "AREA_ID": _s(t["area_id"]),
        "PCP": _s(t["pcp_provider_id"]),
        "PRACTICE": _s(t["practice_id"]),
    }, t.num_rows


def _transition(t: pa.Table) -> tuple[Cols, int]:
    return {
        "PATIENT": _s(t["person_id"]),
        "START_YEAR": _s(t["start_date"]),
        "END_YEAR": _s(t["end_date"]),
        "PAYER": _payer_id(t["payer"]),
        "Id": _s(t["enrollment_id"]),
        "PLAN": _s(t["plan"]),
    }, t.num_rows


def _encounter(t: pa.Table) -> tuple[Cols, int]:
    return {
        "Id": _s(t["encounter_id"]),
        "START": _s(t["start_time"]),
        "STOP": _s(t["end_time"]),
        "PATIENT": _s(t["person_id"]),
        "ORGANIZATION": _s(t["practice_id"]),
        "PROVIDER": _s(t["provider_id"]),
        "ENCOUNTERCLASS": _s(t["encounter_class"]),
        "REASONCODE": _s(t["code"]),
        "DISCHARGE_DISPOSITION": _s(t["discharge_disposition"]),
        "REASON_SYSTEM": _s(t["code_system"]),
    }, t.num_rows


def _condition(t: pa.Table) -> tuple[Cols, int]:
    return {
        "START": _s(t["onset_date"]),
        "STOP": _s(t["abatement_date"]),
        "PATIENT": _s(t["person_id"]),
        "ENCOUNTER": _s(t["encounter_id"]),
        "SYSTEM": _s(t["code_system"]),
        "CODE": _s(t["code"]),
        "Id": _s(t["condition_id"]),
        "SOURCE_SYSTEM": _s(t["source_code_system"]),
        "SOURCE_CODE": _s(t["source_code"]),
    }, t.num_rows


def _procedure(t: pa.Table) -> tuple[Cols, int]:
    return {
        "START": _s(t["date"]),
        "PATIENT": _s(t["person_id"]),
        "ENCOUNTER": _s(t["encounter_id"]),
        "SYSTEM": _s(t["code_system"]),
        "CODE": _s(t["code"]),
        "Id": _s(t["procedure_id"]),
    }, t.num_rows


def _medication(t: pa.Table) -> tuple[Cols, int]:
    t = t.filter(pc.not_equal(t["code_system"], "CVX"))
    return {
        "START": _s(t["start_date"]),
        "STOP": _s(t["end_date"]),
        "PATIENT": _s(t["person_id"]),
        "ENCOUNTER": _s(t["encounter_id"]),
        "CODE": _s(t["code"]),
        "Id": _s(t["medication_id"]),
        "SYSTEM": _s(t["code_system"]),
        "DAYS_SUPPLY": _s(t["days_supply"]),
    }, t.num_rows


def _immunization(t: pa.Table) -> tuple[Cols, int]:
    t = t.filter(pc.equal(t["code_system"], "CVX"))
    return {
        "DATE": _s(t["start_date"]),
        "PATIENT": _s(t["person_id"]),
        "ENCOUNTER": _s(t["encounter_id"]),
        "CODE": _s(t["code"]),
        "Id": _s(t["medication_id"]),
        "STOP": _s(t["end_date"]),
        "DAYS_SUPPLY": _s(t["days_supply"]),
    }, t.num_rows


def _observation(t: pa.Table) -> tuple[Cols, int]:
    num = _s(t["value_num"])
    text = _s(t["value_text"])
    numeric = pc.is_valid(num)
    return {
        "DATE": _s(t["date"]),
        "PATIENT": _s(t["person_id"]),
        "ENCOUNTER": _s(t["encounter_id"]),
        "CATEGORY": _s(t["category"]),
        "CODE": _s(t["code"]),
        "VALUE": pc.coalesce(num, text),
        "UNITS": _s(t["unit"]),
        "TYPE": pc.if_else(numeric, "numeric", pc.if_else(pc.is_valid(text), "text", _NULL)),
        "Id": _s(t["observation_id"]),
        "SYSTEM": _s(t["code_system"]),
        "VALUE_TEXT": pc.if_else(numeric, text, _NULL),
        "VALUE_CODE": _s(t["value_code"]),
    }, t.num_rows


def _claim(t: pa.Table) -> tuple[Cols, int]:
    day = _s(t["service_date"])
    return {
        "Id": _s(t["claim_id"]),
        "PATIENTID": _s(t["person_id"]),
        "PRIMARYPATIENTINSURANCEID": _payer_id(t["payer"]),
        "DIAGNOSIS1": _s(t["diagnosis_code"]),
        "APPOINTMENTID": _s(t["encounter_id"]),
        "CURRENTILLNESSDATE": day,
        "SERVICEDATE": day,
    }, t.num_rows


def _transactions(t: pa.Table) -> tuple[Cols, int]:
    n = t.num_rows
    line = t["line_number"].combine_chunks().cast(pa.int64())
    claim = _s(t["claim_id"])
    day = _s(t["service_date"])
    allowed, paid = _s(t["allowed_amount"]), _s(t["paid_amount"])
    common = {
        "CLAIMID": claim,
        "PATIENTID": _s(t["person_id"]),
        "FROMDATE": day,
        "TODATE": day,
        "PROCEDURECODE": _s(t["code"]),
        "DIAGNOSISREF1": pa.array(["1"] * n, STR),
        "UNITS": pa.array(["1"] * n, STR),
        "APPOINTMENTID": _s(t["encounter_id"]),
    }

    def tx(kind: str, seq: pa.Array, extra: Cols) -> pa.Table:
        ident = pc.binary_join_element_wise(claim, pc.cast(seq, STR), "-")
        cols = {
            **common,
            "ID": ident,
            "CHARGEID": pc.cast(seq, STR),
            "TYPE": pa.array([kind] * n, STR),
            **extra,
        }
        header = [*CLAIMS_TRANSACTIONS, *LINE_EXTRA]
        return pa.table({h: cols[h] if h in cols else pa.nulls(n, STR) for h in header})

    charge = tx(
        "CHARGE",
        pc.subtract(pc.multiply(line, 2), 1),
        {
            "AMOUNT": allowed,
            "UNITAMOUNT": allowed,
            "LINE_NUMBER": pc.cast(line, STR),
            "CODE_SYSTEM": _s(t["code_system"]),
            "DIAGNOSIS_CODE": _s(t["diagnosis_code"]),
            "POS": _s(t["place_of_service"]),
            "PAYER": _s(t["payer"]),
            "PAID": paid,
        },
    )
    payment = tx(
        "PAYMENT",
        pc.multiply(line, 2),
        {"PAYMENTS": paid, "METHOD": pa.array(["ECHECK"] * n, STR)},
    )
    both = pa.concat_tables([charge, payment])
    order = pa.array([i + k * n for i in range(n) for k in (0, 1)], pa.int64())
    both = both.take(order)
    return {c: both[c].combine_chunks() for c in both.column_names}, 2 * n


__all__ = ["SyntheaExporter"]
