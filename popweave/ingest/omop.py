"""OMOP CDM v5.4 tables (CSV or tab-delimited, one file per table) into the canonical tables.

Concept ids are translated through ``CONCEPT.csv`` when the folder has one (only the
vocabularies popweave knows are kept; a large file is filtered to the concept ids the clinical
tables use); ``*_source_value`` columns are the fallback. Demographic and visit concepts use
the standard OMOP concept ids, which do not need ``CONCEPT.csv``.

| OMOP table | canonical table |
|---|---|
| location | area |
| care_site | practice |
| provider | provider |
| person (+ death) | person |
| payer_plan_period | enrollment |
| visit_occurrence | encounter |
| condition_occurrence | condition |
| procedure_occurrence | procedure |
| drug_exposure | medication |
| measurement, observation | observation (ids ``measurement:N`` / ``observation:N``) |

Rows whose code (or visit type, or sex) cannot be mapped are rejected as ``unmapped_value``
with their file and line. A drug_exposure ``days_supply`` over 400 days that equals the
exposure's span is read as the span, not a fill's supply, and left empty (see
:func:`_fill_supply`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from popweave.errors import PopweaveError
from popweave.ingest.base import REJECTS, Batch, Importer, register, rejects
from popweave.ingest.mapped_csv import read_csv, record_json, sniff_delimiter

VOCABULARIES: dict[str, str] = {
    "ICD10CM": "ICD10CM",
    "ICD10PCS": "ICD10PCS",
    "SNOMED": "SNOMED",
    "LOINC": "LOINC",
    "RxNorm": "RXNORM",
    "CPT4": "CPT",
    "HCPCS": "HCPCS",
    "CVX": "CVX",
    "NDC": "NDC",
}
"""OMOP vocabulary_id -> popweave code system."""

CONCEPT_FILTER_BYTES = 64 << 20
"""A CONCEPT file bigger than this is filtered to the concept ids the clinical tables use."""

GENDER = {"8507": "male", "8532": "female", "8551": "unknown", "8521": "other", "8570": "other"}
GENDER_SOURCE = {
    "m": "male",
    "male": "male",
    "f": "female",
    "female": "female",
    "o": "other",
    "other": "other",
    "u": "unknown",
    "unknown": "unknown",
}
RACE = {
    "8527": "white",
    "8516": "black",
    "8515": "asian",
    "8657": "american_indian_alaska_native",
    "8557": "native_hawaiian_pacific_islander",
    "8522": "other",
    "8552": "unknown",
}
RACE_SOURCE = {
    "white": "white",
    "black": "black",
    "black or african american": "black",
    "african american": "black",
    "asian": "asian",
    "native": "american_indian_alaska_native",
    "american indian or alaska native": "american_indian_alaska_native",
    "hawaiian": "native_hawaiian_pacific_islander",
    "native hawaiian or other pacific islander": "native_hawaiian_pacific_islander",
    "pacific islander": "native_hawaiian_pacific_islander",
    "other": "other",
    "multiple": "multiple",
    "unknown": "unknown",
}
ETHNICITY = {"38003563": "hispanic", "38003564": "not_hispanic"}
ETHNICITY_SOURCE = {
    "hispanic": "hispanic",
    "hispanic or latino": "hispanic",
    "nonhispanic": "not_hispanic",
    "non-hispanic": "not_hispanic",
    "not hispanic": "not_hispanic",
    "not hispanic or latino": "not_hispanic",
    "unknown": "unknown",
}
VISIT = {
    "9201": "inpatient",  # Inpatient Visit
    "9202": "ambulatory",  # Outpatient Visit
    "9203": "emergency",  # Emergency Room Visit
    "262": "inpatient",  # Emergency Room and Inpatient Visit: an admission through the ED
    "581458": "outpatient",  # Pharmacy visit
    "32036": "outpatient",  # Laboratory Visit
    "581476": "home",  # Home Visit
    "581477": "ambulatory",  # Office Visit
    "5083": "virtual",  # Telehealth
    "722455": "virtual",  # Telehealth
    "38004207": "ambulatory",  # Ambulatory Clinic / Center
    "8756": "outpatient",  # Outpatient Hospital
    "8717": "inpatient",  # Inpatient Hospital
    "32037": "inpatient",  # Intensive Care
    "8870": "emergency",  # Emergency Room - Hospital
    "8782": "urgentcare",  # Urgent Care Facility
    "8863": "snf",  # Skilled Nursing Facility
    "42898160": "snf",  # Long Term Care Visit
    "8546": "hospice",  # Hospice
    "8971": "inpatient",  # Inpatient Psychiatric Facility
    "8920": "inpatient",  # Comprehensive Inpatient Rehabilitation Facility
}
VISIT_SOURCE = {
    "inpatient": "inpatient",
    "ip": "inpatient",
    "emergency": "emergency",
    "er": "emergency",
    "ed": "emergency",
    "ambulatory": "ambulatory",
    "outpatient": "outpatient",
    "op": "outpatient",
    "urgentcare": "urgentcare",
    "urgent care": "urgentcare",
    "wellness": "wellness",
    "home": "home",
    "virtual": "virtual",
    "telehealth": "virtual",
    "observation": "observation",
    "snf": "snf",
    "hospice": "hospice",
}
DISCHARGE = {
    "8536": "01",  # Home
    "581476": "01",  # Home Visit
    "8717": "02",  # Inpatient Hospital
    "8863": "03",  # Skilled Nursing Facility
    "8676": "04",  # Nursing Facility
    "8827": "04",  # Custodial Care Facility
    "581379": "02",  # Inpatient Critical Care Facility
    "8546": "50",  # Hospice
    "8920": "62",  # Comprehensive Inpatient Rehabilitation Facility
    "8970": "62",  # Inpatient Rehabilitation Facility
    "8971": "65",  # Inpatient Psychiatric Facility
    "4216643": "20",  # Patient died
    "44814693": "20",  # Patient died (discharge status)
}
VITAL_SIGNS = frozenset(
    [
        "8302-2",
        "29463-7",
        "39156-5",
        "8480-6",
        "8462-4",
        "8867-4",
        "9279-1",
        "8310-5",
        "8331-1",
        "2708-6",
        "59408-5",
        "8287-5",
        "85354-9",
        "72514-3",
        "77606-2",
        "59576-9",
        "9843-4",
        "8289-1",
    ]
)
"""LOINC codes of vital signs (the rest of the measurement table is laboratory)."""

COMMERCIAL = ("aetna", "anthem", "blue cross", "cigna", "humana", "united", "kaiser", "commercial")


@dataclass(frozen=True)
class Coded:
    """How an OMOP event table becomes a coded canonical table."""

    omop: str
    target: str
    id_col: str
    prefix: str
    concept: str
    source_concept: str
    source_value: str
    systems: tuple[str, ...]
    """Code systems the canonical column allows, in order of preference."""
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """canonical column -> OMOP columns, first non-blank wins."""


GUESS: dict[str, str] = {
    "ICD10CM": r"^[A-TV-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$",
    "SNOMED": r"^[1-9][0-9]{5,17}$",
    "LOINC": r"^[0-9]{1,7}-[0-9]$",
    "CPT": r"^[0-9]{4}[0-9FTU]$",
    "HCPCS": r"^[A-V][0-9]{4}$",
    "NDC": r"^([0-9]{11}|[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2})$",
    "RXNORM": r"^[1-9][0-9]{0,7}$",
}
"""What a bare source value of each code system looks like (used when its concept is
unknown): only systems whose patterns do not overlap within one table are tried."""

EVENTS = (
    Coded(
        "condition_occurrence",
        "condition",
        "condition_occurrence_id",
        "",
        "condition_concept_id",
        "condition_source_concept_id",
        "condition_source_value",
        ("ICD10CM", "SNOMED"),
        {
            "person_id": ("person_id",),
            "encounter_id": ("visit_occurrence_id",),
            "onset_date": ("condition_start_date", "condition_start_datetime"),
            "abatement_date": ("condition_end_date", "condition_end_datetime"),
        },
    ),
    Coded(
        "procedure_occurrence",
        "procedure",
        "procedure_occurrence_id",
        "",
        "procedure_concept_id",
        "procedure_source_concept_id",
        "procedure_source_value",
        ("CPT", "HCPCS", "ICD10PCS", "SNOMED", "LOINC"),
        {
            "person_id": ("person_id",),
            "encounter_id": ("visit_occurrence_id",),
            "date": ("procedure_date", "procedure_datetime"),
        },
    ),
    Coded(
        "drug_exposure",
        "medication",
        "drug_exposure_id",
        "",
        "drug_concept_id",
        "drug_source_concept_id",
        "drug_source_value",
        ("RXNORM", "CVX", "NDC"),
        {
            "person_id": ("person_id",),
            "encounter_id": ("visit_occurrence_id",),
            "start_date": ("drug_exposure_start_date", "drug_exposure_start_datetime"),
            "end_date": ("drug_exposure_end_date", "drug_exposure_end_datetime"),
            "days_supply": ("days_supply",),
        },
    ),
    Coded(
        "measurement",
        "observation",
        "measurement_id",
        "measurement:",
        "measurement_concept_id",
        "measurement_source_concept_id",
        "measurement_source_value",
        ("LOINC", "SNOMED"),
        {
            "person_id": ("person_id",),
            "encounter_id": ("visit_occurrence_id",),
            "date": ("measurement_date", "measurement_datetime"),
            "value_num": ("value_as_number",),
            "unit": ("unit_source_value",),
        },
    ),
    Coded(
        "observation",
        "observation",
        "observation_id",
        "observation:",
        "observation_concept_id",
        "observation_source_concept_id",
        "observation_source_value",
        ("LOINC", "SNOMED"),
        {
            "person_id": ("person_id",),
            "encounter_id": ("visit_occurrence_id",),
            "date": ("observation_date", "observation_datetime"),
            "value_num": ("value_as_number",),
            "value_text": ("value_as_string", "value_source_value"),
            "unit": ("unit_source_value",),
        },
    ),
)

TABLES = (
    "location",
    "care_site",
    "provider",
    "death",
    "person",
    "payer_plan_period",
    "visit_occurrence",
    *(e.omop for e in EVENTS),
)
"""OMOP tables read, in load order (referenced tables first)."""

CONCEPT_COLUMNS = ["concept_id", "vocabulary_id", "concept_code"]
SUFFIXES = (".csv", ".tsv", ".txt")


class Concepts:
    """concept_id -> (popweave code system, code), for the vocabularies popweave knows."""

    def __init__(self, ids: pa.Array, systems: pa.Array, codes: pa.Array) -> None:
        self.ids, self.systems, self.codes = ids, systems, codes

    @classmethod
    def empty(cls) -> Concepts:
        e = pa.array([], pa.string())
        return cls(e, e, e)

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, ids: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(code system, code) of each id; nulls where the concept is unknown."""
        idx = pc.index_in(ids, value_set=self.ids)
        return pc.take(self.systems, idx), pc.take(self.codes, idx)


@register
class OmopImporter(Importer):
    """OMOP CDM v5.4 CSV tables (one file per table, any letter case) into canonical tables."""

    name = "omop"
    description = "OMOP CDM v5.4 tables as CSV files in a folder (PERSON.csv, ...)"

    def _files(self) -> dict[str, Path]:
        """OMOP table name (lower case) -> its file in the folder."""
        if not self.path.is_dir():
            return {}
        found: dict[str, Path] = {}
        for p in sorted(self.path.iterdir()):
            if p.is_file() and p.suffix.lower() in SUFFIXES:
                found.setdefault(p.stem.lower(), p)
        return found

    def inputs(self) -> list[Path]:
        files = self._files()
        if "person" not in files:
            return []
        return [files[t] for t in (*TABLES, "concept") if t in files]

    def check(self) -> None:
        if not self.path.exists():
            raise PopweaveError(f"{self.path}: no such folder")
        if not self.path.is_dir():
            raise PopweaveError(f"{self.path}: not a folder (OMOP tables are one file each)")
        if not self.inputs():
            raise PopweaveError(f"{self.path}: no OMOP PERSON.csv (or person.csv) found there")

    # --- reading -------------------------------------------------------------------------

    def _read(
        self, table: str, *, advance: bool = True, columns: list[str] | None = None
    ) -> Iterator[tuple[Path, Any]]:
        files = self._files()
        if table not in files:
            return
        path = files[table]
        for chunk in read_csv(
            path,
            delimiter=sniff_delimiter(path),
            lower=True,
            advance=self.advance if advance else None,
            columns=columns,
        ):
            yield path, chunk

    def _concepts(self) -> Concepts:
        files = self._files()
        path = files.get("concept")
        if path is None:
            return Concepts.empty()
        wanted: pa.Array | None = None
        if path.stat().st_size > CONCEPT_FILTER_BYTES:
            used: set[str] = set()
            for e in EVENTS:
                cols = [e.concept, e.source_concept, "value_as_concept_id"]
                for _, chunk in self._read(e.omop, advance=False, columns=cols):
                    for c in cols:
                        if c in chunk.rows.column_names:
                            used.update(pc.unique(chunk.rows.column(c)).to_pylist())
            wanted = pa.array(sorted(used), pa.string())
        vocab = pa.array(list(VOCABULARIES), pa.string())
        ours = pa.array(list(VOCABULARIES.values()), pa.string())
        parts: list[pa.Table] = []
        for _, chunk in self._read("concept", columns=CONCEPT_COLUMNS):
            rows = chunk.rows
            missing = set(CONCEPT_COLUMNS) - set(rows.column_names)
            if missing:
                raise PopweaveError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            idx = pc.index_in(rows.column("vocabulary_id"), value_set=vocab)
            keep = pc.is_valid(idx)
            if wanted is not None:
                keep = pc.and_(keep, pc.is_in(rows.column("concept_id"), value_set=wanted))
            rows = rows.filter(keep)
            parts.append(
                pa.table(
                    {
                        "id": pc.utf8_trim_whitespace(rows.column("concept_id")),
                        "system": pc.take(ours, pc.drop_null(idx.filter(keep))),
                        "code": rows.column("concept_code"),
                    }
                )
            )
        if not parts:
            return Concepts.empty()
        t = pa.concat_tables(parts).combine_chunks()
        return Concepts(
            t.column("id").chunk(0) if t.num_rows else pa.array([], pa.string()),
            t.column("system").chunk(0) if t.num_rows else pa.array([], pa.string()),
            t.column("code").chunk(0) if t.num_rows else pa.array([], pa.string()),
        )

    # --- the tables ------------------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        concepts = self._concepts()
        xwalk = _crosswalk()
        zips: dict[str, str] = {}
        yield from self._areas(zips)
        yield from self._simple(
            "care_site",
            "practice",
            {
                "practice_id": ("care_site_id",),
                "name": ("care_site_name", "care_site_source_value", "care_site_id"),
                "area_id": ("location_id",),
            },
        )
        yield from self._simple(
            "provider",
            "provider",
            {
                "provider_id": ("provider_id",),
                "name": ("provider_name",),
                "practice_id": ("care_site_id",),
                "specialty": ("specialty_source_value",),
            },
        )
        deaths = self._deaths()
        yield from self._people(deaths, zips)
        yield from self._enrollment()
        yield from self._encounters()
        for spec in EVENTS:
            yield from self._events(spec, concepts, xwalk)

    def _areas(self, zips: dict[str, str]) -> Iterator[Batch]:
        for path, chunk in self._read("location"):
            rows = chunk.rows
            ids = _col(rows, "location_id")
            zip5 = pc.utf8_slice_codeunits(_col(rows, "zip"), 0, 5)
            zips.update(
                {k: z for k, z in zip(ids.to_pylist(), zip5.to_pylist(), strict=True) if k and z}
            )
            name = _first(rows, "city", "location_source_value", "zip", "county")
            name = pc.coalesce(name, pc.binary_join_element_wise("location ", ids, ""))
            out = {
                "area_id": ids,
                "name": name,
                "county": _col(rows, "county"),
                "zip": zip5,
                "centroid_lat": _col(rows, "latitude"),
                "centroid_lon": _col(rows, "longitude"),
            }
            yield from _emit("area", out, path, chunk.lines, [], rows, chunk.bad)

    def _simple(
        self, omop: str, target: str, columns: dict[str, tuple[str, ...]]
    ) -> Iterator[Batch]:
        for path, chunk in self._read(omop):
            out = {k: _first(chunk.rows, *v) for k, v in columns.items()}
            yield from _emit(target, out, path, chunk.lines, [], chunk.rows, chunk.bad)

    def _deaths(self) -> dict[str, str]:
        deaths: dict[str, str] = {}
        for _, chunk in self._read("death"):
            ids = _col(chunk.rows, "person_id").to_pylist()
            dates = _first(chunk.rows, "death_date", "death_datetime")
            for pid, d in zip(ids, pc.utf8_slice_codeunits(dates, 0, 10).to_pylist(), strict=True):
                if pid and d:
                    deaths[pid] = min(d, deaths.get(pid, d))
        return deaths

    def _people(self, deaths: dict[str, str], zips: dict[str, str]) -> Iterator[Batch]:
        for path, chunk in self._read("person"):
            rows = chunk.rows
            n = rows.num_rows
            ids = _col(rows, "person_id")
            year = _col(rows, "year_of_birth")
            month = pc.utf8_lpad(pc.fill_null(_col(rows, "month_of_birth"), "1"), 2, "0")
            day = pc.utf8_lpad(pc.fill_null(_col(rows, "day_of_birth"), "1"), 2, "0")
            from_parts = pc.binary_join_element_wise(year, month, day, "-")
            birth = pc.coalesce(
                pc.utf8_slice_codeunits(_col(rows, "birth_datetime"), 0, 10), from_parts
            )
            sex = _concept_or_source(
                rows, "gender_concept_id", GENDER, "gender_source_value", GENDER_SOURCE
            )
            race = _concept_or_source(
                rows, "race_concept_id", RACE, "race_source_value", RACE_SOURCE, unknown="unknown"
            )
            eth = _concept_or_source(
                rows,
                "ethnicity_concept_id",
                ETHNICITY,
                "ethnicity_source_value",
                ETHNICITY_SOURCE,
                unknown="unknown",
            )
            loc = _col(rows, "location_id")
            problems = [
                (
                    i,
                    "sex",
                    "gender_concept_id",
                    rows.column("gender_concept_id")[i].as_py()
                    if "gender_concept_id" in rows.column_names
                    else None,
                )
                for i in range(n)
                if sex[i] is None
            ]
            out = {
                "person_id": ids,
                "birth_date": birth,
                "death_date": pa.array([deaths.get(p) for p in ids.to_pylist()], pa.string()),
                "sex": pa.array(sex, pa.string()),
                "race": pa.array(race, pa.string()),
                "ethnicity": pa.array(eth, pa.string()),
                "area_id": loc,
                "zip": pa.array([zips.get(x) if x else None for x in loc.to_pylist()], pa.string()),
                "pcp_provider_id": _col(rows, "provider_id"),
                "practice_id": _col(rows, "care_site_id"),
            }
            yield from _emit("person", out, path, chunk.lines, problems, rows, chunk.bad)

    def _enrollment(self) -> Iterator[Batch]:
        for path, chunk in self._read("payer_plan_period"):
            rows = chunk.rows
            names = _first(rows, "payer_source_value", "plan_source_value").to_pylist()
            out = {
                "enrollment_id": _col(rows, "payer_plan_period_id"),
                "person_id": _col(rows, "person_id"),
                "payer": pa.array([_payer(x) for x in names], pa.string()),
                "plan": _first(rows, "plan_source_value", "payer_source_value"),
                "start_date": _col(rows, "payer_plan_period_start_date"),
                "end_date": _col(rows, "payer_plan_period_end_date"),
            }
            yield from _emit("enrollment", out, path, chunk.lines, [], rows, chunk.bad)

    def _encounters(self) -> Iterator[Batch]:
        for path, chunk in self._read("visit_occurrence"):
            rows = chunk.rows
            cls = _concept_or_source(
                rows, "visit_concept_id", VISIT, "visit_source_value", VISIT_SOURCE
            )
            problems = [
                (
                    i,
                    "encounter_class",
                    "visit_concept_id",
                    _col(rows, "visit_concept_id")[i].as_py(),
                )
                for i, c in enumerate(cls)
                if c is None
            ]
            disch_ids = _first(rows, "discharged_to_concept_id", "discharge_to_concept_id")
            out = {
                "encounter_id": _col(rows, "visit_occurrence_id"),
                "person_id": _col(rows, "person_id"),
                "encounter_class": pa.array(cls, pa.string()),
                "start_time": _first(rows, "visit_start_datetime", "visit_start_date"),
                "end_time": _first(rows, "visit_end_datetime", "visit_end_date"),
                "practice_id": _col(rows, "care_site_id"),
                "provider_id": _col(rows, "provider_id"),
                "discharge_disposition": pa.array(
                    [DISCHARGE.get(x) if x else None for x in disch_ids.to_pylist()], pa.string()
                ),
            }
            yield from _emit("encounter", out, path, chunk.lines, problems, rows, chunk.bad)

    def _events(
        self, spec: Coded, concepts: Concepts, xwalk: Callable[[pa.Array], pa.Array] | None
    ) -> Iterator[Batch]:
        for path, chunk in self._read(spec.omop):
            rows = chunk.rows
            n = rows.num_rows
            std = concepts.lookup(_col(rows, spec.concept))
            src = concepts.lookup(_col(rows, spec.source_concept))
            value = _col(rows, spec.source_value)
            guess = _guess(value, spec.systems)
            system: pa.Array = pa.nulls(n, pa.string())
            code: pa.Array = pa.nulls(n, pa.string())
            for s in spec.systems:
                for cand_sys, cand_code in (src, std, (guess, value)):
                    take = pc.and_(pc.is_null(system), pc.fill_null(pc.equal(cand_sys, s), False))
                    system = pc.if_else(take, cand_sys, system)
                    code = pc.if_else(take, cand_code, code)
            out: dict[str, pa.Array] = {
                spec.target + "_id": _ids(rows, spec.id_col, spec.prefix),
                **{k: _first(rows, *v) for k, v in spec.columns.items()},
            }
            for k in ("onset_date", "abatement_date", "date", "start_date", "end_date"):
                if k in out:
                    out[k] = pc.utf8_slice_codeunits(out[k], 0, 10)
            if spec.target == "condition":
                # Source: the source concept if popweave knows its system, else the source
                # value if it looks like a code of an allowed system.
                s_sys = pc.if_else(
                    pc.is_in(src[0], value_set=pa.array(spec.systems)), src[0], guess
                )
                s_code = pc.if_else(pc.is_valid(src[0]), src[1], value)
                s_code = pc.if_else(pc.is_valid(s_sys), s_code, None)
                if xwalk is not None:
                    system, code, s_sys, s_code = _to_icd10(system, code, s_sys, s_code, xwalk)
                out["source_code_system"] = s_sys
                out["source_code"] = s_code
            if spec.target == "medication":
                out["days_supply"] = _fill_supply(
                    out["days_supply"], out["start_date"], out["end_date"]
                )
            if spec.omop == "measurement":
                # A result that is not a number (e.g. a coded answer's text) is kept as text.
                text = _col(rows, "value_source_value")
                out["value_text"] = pc.if_else(pc.is_null(out["value_num"]), text, None)
            if spec.target == "observation":
                out["category"] = _category(spec.omop, system, code)
                if "value_as_concept_id" in rows.column_names:
                    out["value_code"] = concepts.lookup(_col(rows, "value_as_concept_id"))[1]
            out["code_system"] = system
            out["code"] = code
            unmapped = np.flatnonzero(
                np.asarray(pc.is_null(system).to_numpy(zero_copy_only=False), dtype=bool)
            )
            concept_ids = _col(rows, spec.concept)
            problems = [
                (
                    int(i),
                    "code_system",
                    spec.concept,
                    _describe(concept_ids[i].as_py(), value[i].as_py()),
                )
                for i in unmapped
            ]
            yield from _emit(spec.target, out, path, chunk.lines, problems, rows, chunk.bad)


# --- helpers -----------------------------------------------------------------------------------


def _col(rows: pa.Table, name: str) -> pa.Array:
    """A source column as text with blanks as nulls; all nulls if the file lacks it."""
    if name not in rows.column_names:
        return pa.nulls(rows.num_rows, pa.string())
    arr = pc.utf8_trim_whitespace(rows.column(name).combine_chunks())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _first(rows: pa.Table, *names: str) -> pa.Array:
    """The first non-blank of several source columns."""
    arrs = [_col(rows, n) for n in names]
    return arrs[0] if len(arrs) == 1 else pc.coalesce(*arrs)


def _ids(rows: pa.Table, name: str, prefix: str) -> pa.Array:
    ids = _col(rows, name)
    return pc.binary_join_element_wise(prefix, ids, "") if prefix else ids


def _concept_or_source(
    rows: pa.Table,
    concept_col: str,
    by_concept: dict[str, str],
    source_col: str,
    by_source: dict[str, str],
    *,
    unknown: str | None = None,
) -> list[str | None]:
    """Map a concept id, else its source value; ``unknown`` when neither maps but one is
    given (``None``: such rows are unmapped); ``None`` when neither is given."""
    out: list[str | None] = []
    ids = _col(rows, concept_col).to_pylist()
    vals = _col(rows, source_col).to_pylist()
    for cid, val in zip(ids, vals, strict=True):
        hit = by_concept.get(cid) if cid else None
        if hit is None and val:
            hit = by_source.get(val.lower())
        given = (cid not in (None, "0")) or bool(val)
        if hit is None and given and unknown is not None:
            hit = unknown
        out.append(hit)
    return out


def _guess(values: pa.Array, systems: tuple[str, ...]) -> pa.Array:
    """The code system a bare source value looks like, among ``systems``; null if none or if
    it could be either of two (e.g. a number could be SNOMED or RxNorm)."""
    guess: pa.Array = pa.nulls(len(values), pa.string())
    hits: pa.Array = pa.array(np.zeros(len(values), dtype=np.int8))
    for s in systems:
        if s not in GUESS:
            continue
        m = pc.fill_null(pc.match_substring_regex(values, GUESS[s]), False)
        guess = pc.if_else(pc.and_(m, pc.is_null(guess)), s, guess)
        hits = pc.add(hits, pc.cast(m, pa.int8()))
    return pc.if_else(pc.greater(hits, 1), pa.scalar(None, pa.string()), guess)


def _to_icd10(
    system: pa.Array,
    code: pa.Array,
    s_sys: pa.Array,
    s_code: pa.Array,
    xwalk: Callable[[pa.Array], pa.Array],
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """SNOMED-only conditions get their ICD-10-CM code; SNOMED stays as the source code."""
    snomed = pc.fill_null(pc.equal(system, "SNOMED"), False)
    icd = xwalk(pc.if_else(snomed, code, pa.scalar(None, pa.string())))
    hit = pc.and_(snomed, pc.is_valid(icd))
    # The SNOMED code becomes the source unless a different source code was received.
    keep_src = pc.fill_null(pc.and_(pc.is_valid(s_sys), pc.not_equal(s_sys, "SNOMED")), False)
    to_src = pc.and_(hit, pc.invert(keep_src))
    return (
        pc.if_else(hit, "ICD10CM", system),
        pc.if_else(hit, icd, code),
        pc.if_else(to_src, "SNOMED", s_sys),
        pc.if_else(to_src, code, s_code),
    )


def _crosswalk() -> Callable[[pa.Array], pa.Array] | None:
    """``popweave.terminology.crosswalk.snomed_to_icd10`` (vectorised: SNOMED codes in,
    ICD-10-CM codes or nulls out), if that module is present."""
    try:
        mod = importlib.import_module("popweave.terminology.crosswalk")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("popweave.terminology"):
            return None
        raise
    fn = getattr(mod, "snomed_to_icd10", None)
    if fn is None:
        return None

    def convert(codes: pa.Array) -> pa.Array:
        out = fn(codes)
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out

    return convert


def _fill_supply(supply: pa.Array, start: pa.Array, end: pa.Array) -> pa.Array:
    """Days supply, except where an ETL wrote the whole exposure span there.

    ``days_supply`` is the supply of one fill (the canonical model allows up to 400 days);
    some ETLs (e.g. Synthea's) store the span of a years-long exposure instead. A value over
    400 that equals the span from start to end (within a day) is dropped: the span is kept in
    start_date / end_date and the medication row is not lost. Any other value is kept as is.
    """
    days = pc.cast(
        pc.if_else(pc.match_substring_regex(supply, r"^[0-9]{1,9}$"), supply, None), pa.int64()
    )

    def as_date(a: pa.Array) -> pa.Array:
        ok = pc.fill_null(pc.match_substring_regex(a, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), False)
        parsed = pc.strptime(
            pc.if_else(ok, a, None), format="%Y-%m-%d", unit="s", error_is_null=True
        )
        return pc.cast(parsed, pa.date32())

    span = pc.days_between(as_date(start), as_date(end))
    spanned = pc.and_(pc.greater(days, 400), pc.less_equal(pc.abs(pc.subtract(days, span)), 1))
    return pc.if_else(pc.fill_null(spanned, False), pa.scalar(None, pa.string()), supply)


def _category(omop: str, system: pa.Array, code: pa.Array) -> pa.Array:
    if omop == "measurement":
        vital = pc.and_(
            pc.fill_null(pc.equal(system, "LOINC"), False),
            pc.fill_null(pc.is_in(code, value_set=pa.array(sorted(VITAL_SIGNS))), False),
        )
        return pc.if_else(vital, "vital-signs", "laboratory")
    loinc = pc.fill_null(pc.equal(system, "LOINC"), False)
    return pc.if_else(loinc, "survey", "social-history")


def _payer(name: str | None) -> str:
    low = (name or "").lower()
    if not low:
        return "other"
    if "dual" in low or ("medicare" in low and "medicaid" in low):
        return "dual"
    if "medicare" in low:
        return "medicare"
    if "medicaid" in low:
        return "medicaid"
    if re.search(r"no[ _-]?insurance|uninsured|self[ -]?pay", low):
        return "uninsured"
    if any(c in low for c in COMMERCIAL):
        return "commercial"
    return "other"


def _describe(concept_id: str | None, source_value: str | None) -> str:
    return f"concept {concept_id or '0'}" + (
        f" (source value {source_value})" if source_value else ""
    )


def _emit(
    target: str,
    out: dict[str, pa.Array],
    path: Path,
    lines: np.ndarray,
    problems: list[tuple[int, str, str, Any]],
    rows: pa.Table,
    bad: list[tuple[int, str]],
) -> Iterator[Batch]:
    """Yield importer rejects (unmapped rows, unparsable lines), then the good rows."""
    file = str(path)
    records = [
        {
            "table_name": target,
            "field": None,
            "reason": "unparsable_record",
            "value": None,
            "record": text,
            "file": file,
            "line": line,
        }
        for line, text in bad
    ]
    drop = np.zeros(rows.num_rows, dtype=bool)
    for i, fld, src_col, value in problems:
        drop[i] = True
        records.append(
            {
                "table_name": target,
                "field": fld,
                "reason": "unmapped_value",
                "value": None if value is None else f"{src_col}: {value}",
                "record": record_json(rows, i),
                "file": file,
                "line": int(lines[i]),
            }
        )
    if records:
        yield REJECTS, rejects(records)
    if rows.num_rows == 0:
        return
    batch = pa.table(
        {
            **out,
            "_file": pa.array([file] * rows.num_rows, pa.string()),
            "_line": pa.array(lines, pa.int64()),
        }
    )
    if drop.any():
        batch = batch.filter(pa.array(~drop))
    if batch.num_rows:
        yield target, batch


__all__ = ["VOCABULARIES", "Concepts", "OmopImporter"]
