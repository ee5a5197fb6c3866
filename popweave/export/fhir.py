"""FHIR R4 Bulk Data NDJSON exporter: one file per resource type, read and written in chunks.

Tables map to resources as the FHIR importer reads them back (``popweave.ingest.fhir``):
area -> Location (tagged as a popweave area), practice -> Organization, provider ->
Practitioner, person -> Patient (US Core race and ethnicity), enrollment -> Coverage
(payer typology code), encounter -> Encounter, condition -> Condition, procedure ->
Procedure, medication -> MedicationRequest (CVX vaccines -> Immunization), observation ->
Observation, claim_line -> ExplanationOfBenefit (one per claim, one item per line).
What FHIR has no element for is written as an extension ``EXT + column name``, so importing
the export gives back the same canonical rows. Naive timestamps are UTC and written so.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import orjson

from popweave.export.base import Exporter, register
from popweave.ingest._fhir_map import (
    ACT_CODE,
    ADJUDICATION,
    AREA_EXT,
    AREA_TAG,
    BCP47,
    ENCOUNTER_CLASS,
    ETHNICITY,
    EXT,
    NUBC,
    NULL_FLAVOR,
    OBS_CATEGORY,
    OMB_SYSTEM,
    POS,
    PRACTICE_EXT,
    RACE,
    SOPT,
    UCUM,
    US_ETHNICITY,
    US_RACE,
)
from popweave.model import TABLES
from popweave.model.tables import CODE_SYSTEMS
from popweave.warehouse import Engine

Json = dict[str, Any]
CHUNK = 50_000
_OPT = orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE

CLASS_CODE = {
    "inpatient": "IMP",
    "emergency": "EMER",
    "ambulatory": "AMB",
    "outpatient": "AMB",
    "urgentcare": "AMB",
    "wellness": "AMB",
    "home": "HH",
    "virtual": "VR",
    "observation": "OBSENC",
    "snf": "NONAC",
    "hospice": "HH",
}
PAYER_CODE = {
    "medicare": ("1", "Medicare"),
    "medicaid": ("2", "Medicaid"),
    "dual": ("14", "Dual eligibility Medicare/Medicaid"),
    "commercial": ("5", "Private health insurance"),
    "uninsured": ("81", "Self-pay"),
    "other": ("9", "Miscellaneous/other"),
}
_RACE_CODE = {v: k for k, v in RACE.items() if k not in ("ASKU", "2131-1")}
_ETH_CODE = {v: k for k, v in ETHNICITY.items() if k != "ASKU"}


def _ext(name: str, value: Any) -> Json:
    if isinstance(value, bool):
        return {"url": EXT + name, "valueBoolean": value}
    if isinstance(value, int):
        return {"url": EXT + name, "valueInteger": value}
    if isinstance(value, float | Decimal):
        return {"url": EXT + name, "valueDecimal": float(value)}
    if isinstance(value, dt.datetime):
        return {"url": EXT + name, "valueDateTime": value}
    if isinstance(value, dt.date):
        return {"url": EXT + name, "valueDate": value}
    return {"url": EXT + name, "valueString": str(value)}


def _exts(row: Json, names: tuple[str, ...]) -> list[Json]:
    return [_ext(n, row[n]) for n in names if row.get(n) is not None]


def _ref(typ: str, rid: Any) -> Json | None:
    return None if rid is None else {"reference": f"{typ}/{rid}"}


def _cc(system: str | None, code: Any, display: Any = None) -> Json:
    coding: Json = {"code": str(code)}
    if system:
        coding = {"system": CODE_SYSTEMS.get(system, system), **coding}
    if display is not None:
        coding["display"] = display
    return {"coding": [coding]}


def _clean(d: Json) -> Json:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _omb(url: str, value: str | None, codes: dict[str, str], system_of: str) -> Json | None:
    if value is None:
        return None
    subs: list[Json] = []
    code = codes.get(value)
    if code is not None:
        system = NULL_FLAVOR if code == "UNK" else system_of
        subs.append({"url": "ombCategory", "valueCoding": {"system": system, "code": code}})
    subs.append({"url": "text", "valueString": value.replace("_", " ")})
    return {"url": url, "extension": subs}


def area(r: Json) -> Json:
    pos = None
    if r.get("centroid_lat") is not None and r.get("centroid_lon") is not None:
        pos = {"latitude": r["centroid_lat"], "longitude": r["centroid_lon"]}
    return _clean(
        {
            "resourceType": "Location",
            "id": r["area_id"],
            "meta": {"tag": [AREA_TAG]},
            "extension": _exts(r, ("geometry", *AREA_EXT)),
            "status": "active",
            "name": r["name"],
            "mode": "instance",
            "physicalType": _cc(
                "http://terminology.hl7.org/CodeSystem/location-physical-type", "area"
            ),
            "address": _clean({"postalCode": r.get("zip"), "district": r.get("county")}),
            "position": pos,
        }
    )


def practice(r: Json) -> Json:
    return _clean(
        {
            "resourceType": "Organization",
            "id": r["practice_id"],
            "extension": _exts(r, PRACTICE_EXT),
            "active": True,
            "type": [_cc("http://terminology.hl7.org/CodeSystem/organization-type", "prov")],
            "name": r["name"],
        }
    )


def provider(r: Json) -> Json:
    return _clean(
        {
            "resourceType": "Practitioner",
            "id": r["provider_id"],
            "extension": _exts(r, ("practice_id", "specialty")),
            "name": [{"text": r["name"]}] if r.get("name") is not None else None,
        }
    )


def person(r: Json) -> Json:
    ext = [
        _omb(US_RACE, r.get("race"), _RACE_CODE, OMB_SYSTEM),
        _omb(US_ETHNICITY, r.get("ethnicity"), _ETH_CODE, OMB_SYSTEM),
        *_exts(r, ("area_id",)),
    ]
    lang = r.get("language")
    return _clean(
        {
            "resourceType": "Patient",
            "id": r["person_id"],
            "extension": [e for e in ext if e],
            "gender": r["sex"],
            "birthDate": r["birth_date"],
            "deceasedDateTime": r.get("death_date"),
            "address": [{"postalCode": r["zip"]}] if r.get("zip") is not None else None,
            "communication": (
                [{"language": {"coding": [{"system": BCP47, "code": lang}]}, "preferred": True}]
                if lang is not None
                else None
            ),
            "generalPractitioner": (
                [_ref("Practitioner", r["pcp_provider_id"])] if r.get("pcp_provider_id") else None
            ),
            "managingOrganization": _ref("Organization", r.get("practice_id")),
        }
    )


def enrollment(r: Json) -> Json:
    code, display = PAYER_CODE.get(r["payer"], ("9", r["payer"]))
    plan = r.get("plan")
    return _clean(
        {
            "resourceType": "Coverage",
            "id": r["enrollment_id"],
            "status": "active",
            "type": {"coding": [{"system": SOPT, "code": code, "display": display}]},
            "beneficiary": _ref("Patient", r["person_id"]),
            "period": _clean({"start": r["start_date"], "end": r.get("end_date")}),
            "payor": [{"display": display}],
            "class": (
                [
                    {
                        "type": _cc("http://terminology.hl7.org/CodeSystem/coverage-class", "plan"),
                        "value": plan,
                    }
                ]
                if plan is not None
                else None
            ),
        }
    )


PROGRAMME_SYSTEM = "https://popweave.org/fhir/CodeSystem/programme"


def programme_enrollment(r: Json) -> Json:
    end = r.get("end_date")
    return _clean(
        {
            "resourceType": "EpisodeOfCare",
            "id": r["programme_enrollment_id"],
            "status": "finished" if end is not None else "active",
            "type": [
                {
                    "coding": [{"system": PROGRAMME_SYSTEM, "code": r["programme"]}],
                    "text": r["programme"],
                }
            ],
            "patient": _ref("Patient", r["person_id"]),
            "period": _clean({"start": r["start_date"], "end": end}),
        }
    )


def encounter(r: Json) -> Json:
    cls = r["encounter_class"]
    code = CLASS_CODE.get(cls, "AMB")
    ext = [] if ENCOUNTER_CLASS.get(code) == cls else [_ext("encounter_class", cls)]
    dd = r.get("discharge_disposition")
    return _clean(
        {
            "resourceType": "Encounter",
            "id": r["encounter_id"],
            "extension": ext,
            "status": "finished",
            "class": {"system": ACT_CODE, "code": code},
            "subject": _ref("Patient", r["person_id"]),
            "participant": (
                [{"individual": _ref("Practitioner", r["provider_id"])}]
                if r.get("provider_id")
                else None
            ),
            "period": _clean({"start": r["start_time"], "end": r.get("end_time")}),
            "reasonCode": [_cc(r["code_system"], r["code"])] if r.get("code") else None,
            "hospitalization": {"dischargeDisposition": _cc(NUBC, dd)} if dd else None,
            "serviceProvider": _ref("Organization", r.get("practice_id")),
        }
    )


def condition(r: Json) -> Json:
    codings = _cc(r["code_system"], r["code"])["coding"]
    src = (r.get("source_code_system"), r.get("source_code"))
    if src[1] is not None and src != (r["code_system"], r["code"]):
        codings.append(_cc(src[0], src[1])["coding"][0])
    abated = r.get("abatement_date")
    return _clean(
        {
            "resourceType": "Condition",
            "id": r["condition_id"],
            "clinicalStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "resolved" if abated else "active",
            ),
            "code": {"coding": codings},
            "subject": _ref("Patient", r["person_id"]),
            "encounter": _ref("Encounter", r.get("encounter_id")),
            "onsetDateTime": r["onset_date"],
            "abatementDateTime": abated,
        }
    )


def procedure(r: Json) -> Json:
    return _clean(
        {
            "resourceType": "Procedure",
            "id": r["procedure_id"],
            "status": "completed",
            "code": _cc(r["code_system"], r["code"]),
            "subject": _ref("Patient", r["person_id"]),
            "encounter": _ref("Encounter", r.get("encounter_id")),
            "performedDateTime": r["date"],
        }
    )


def medication(r: Json) -> Json:
    if r["code_system"] == "CVX":
        return _clean(
            {
                "resourceType": "Immunization",
                "id": r["medication_id"],
                "extension": _exts(r, ("end_date", "days_supply")),
                "status": "completed",
                "vaccineCode": _cc("CVX", r["code"]),
                "patient": _ref("Patient", r["person_id"]),
                "encounter": _ref("Encounter", r.get("encounter_id")),
                "occurrenceDateTime": r["start_date"],
            }
        )
    days = r.get("days_supply")
    return _clean(
        {
            "resourceType": "MedicationRequest",
            "id": r["medication_id"],
            "status": "completed",
            "intent": "order",
            "medicationCodeableConcept": _cc(r["code_system"], r["code"]),
            "subject": _ref("Patient", r["person_id"]),
            "encounter": _ref("Encounter", r.get("encounter_id")),
            "authoredOn": r["start_date"],
            "dispenseRequest": _clean(
                {
                    "validityPeriod": _clean({"start": r["start_date"], "end": r.get("end_date")}),
                    "expectedSupplyDuration": (
                        {"value": days, "unit": "days", "system": UCUM, "code": "d"}
                        if days is not None
                        else None
                    ),
                }
            ),
        }
    )


def observation(r: Json) -> Json:
    num, text, code, unit = (
        r.get("value_num"),
        r.get("value_text"),
        r.get("value_code"),
        r.get("unit"),
    )
    value: Json = {}
    ext: list[Json] = []
    if num is not None:
        value = {
            "valueQuantity": _clean(
                {"value": num, "unit": unit, "system": UCUM if unit else None, "code": unit}
            )
        }
        ext = _exts(r, ("value_text", "value_code"))
    elif code is not None:
        coding = _clean({"system": CODE_SYSTEMS["LOINC"], "code": code, "display": text})
        value = {"valueCodeableConcept": {"coding": [coding]}}
        ext = _exts(r, ("unit",))
    elif text is not None:
        value = {"valueString": text}
        ext = _exts(r, ("unit",))
    else:
        ext = _exts(r, ("unit",))
    cat = r.get("category")
    return _clean(
        {
            "resourceType": "Observation",
            "id": r["observation_id"],
            "extension": ext,
            "status": "final",
            "category": [_cc(OBS_CATEGORY, cat)] if cat else None,
            "code": _cc(r["code_system"], r["code"]),
            "subject": _ref("Patient", r["person_id"]),
            "encounter": _ref("Encounter", r.get("encounter_id")),
            "effectiveDateTime": r["date"],
            **value,
        }
    )


def _money(v: Any) -> Json:
    return {"value": float(v), "currency": "USD"}


def claim(lines: list[Json]) -> Json:
    """One ExplanationOfBenefit for the lines of a claim (in line order)."""
    first = lines[0]
    payer = first["payer"]
    code, display = PAYER_CODE.get(payer, ("9", payer))
    diagnoses: dict[str, int] = {}
    items = []
    for ln in lines:
        dx = ln.get("diagnosis_code")
        if dx is not None and dx not in diagnoses:
            diagnoses[dx] = len(diagnoses) + 1
        pos = ln.get("place_of_service")
        items.append(
            _clean(
                {
                    "extension": [
                        *([_ext("payer", ln["payer"])] if ln["payer"] != payer else []),
                        *(_exts(ln, ("code_system",)) if ln.get("code") is None else []),
                    ],
                    "sequence": ln["line_number"],
                    "diagnosisSequence": [diagnoses[dx]] if dx is not None else None,
                    "productOrService": (
                        _cc(ln["code_system"], ln["code"])
                        if ln.get("code") is not None
                        else {"text": "not coded"}
                    ),
                    "servicedDate": ln["service_date"],
                    "locationCodeableConcept": _cc(POS, pos) if pos is not None else None,
                    "encounter": (
                        [_ref("Encounter", ln["encounter_id"])] if ln.get("encounter_id") else None
                    ),
                    "adjudication": [
                        {
                            "category": _cc(ADJUDICATION, "eligible"),
                            "amount": _money(ln["allowed_amount"]),
                        },
                        {
                            "category": _cc(ADJUDICATION, "benefit"),
                            "amount": _money(ln["paid_amount"]),
                        },
                    ],
                }
            )
        )
    patient = _ref("Patient", first["person_id"])
    return _clean(
        {
            "resourceType": "ExplanationOfBenefit",
            "id": first["claim_id"],
            "contained": [
                {
                    "resourceType": "Coverage",
                    "id": "coverage",
                    "status": "active",
                    "type": {"coding": [{"system": SOPT, "code": code, "display": display}]},
                    "beneficiary": patient,
                    "payor": [{"display": display}],
                }
            ],
            "status": "active",
            "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
            "use": "claim",
            "patient": patient,
            "created": first["service_date"],
            "insurer": {"display": display},
            "provider": {"display": "unknown"},
            "outcome": "complete",
            "diagnosis": [
                {"sequence": k, "diagnosisCodeableConcept": _cc("ICD10CM", dx)}
                for dx, k in diagnoses.items()
            ],
            "insurance": [{"focal": True, "coverage": {"reference": "#coverage"}}],
            "item": items,
        }
    )


TABLE_RESOURCES: dict[str, tuple[str, Callable[[Json], Json]]] = {
    "area": ("Location", area),
    "practice": ("Organization", practice),
    "provider": ("Practitioner", provider),
    "person": ("Patient", person),
    "enrollment": ("Coverage", enrollment),
    "programme_enrollment": ("EpisodeOfCare", programme_enrollment),
    "encounter": ("Encounter", encounter),
    "condition": ("Condition", condition),
    "procedure": ("Procedure", procedure),
    "medication": ("MedicationRequest", medication),
    "observation": ("Observation", observation),
}


class _Files:
    """NDJSON files opened on first use under temporary names, renamed when all is done."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.handles: dict[str, tuple[Path, BinaryIO]] = {}
        self.counts: dict[str, int] = {}

    def write(self, typ: str, data: bytes) -> None:
        if typ not in self.handles:
            final = self.out / f"{typ}.000.ndjson"
            tmp = self.out / f".{final.name}.tmp"
            self.handles[typ] = (tmp, tmp.open("wb"))
            self.counts[typ] = 0
        self.handles[typ][1].write(data)
        self.counts[typ] += 1

    def commit(self) -> dict[Path, int]:
        done: dict[Path, int] = {}
        for typ, (tmp, fh) in self.handles.items():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            final = self.out / f"{typ}.000.ndjson"
            os.replace(tmp, final)
            done[final] = self.counts[typ]
        return done

    def abort(self) -> None:
        for tmp, fh in self.handles.values():
            fh.close()
            tmp.unlink(missing_ok=True)


def _chunks(engine: Engine, table: str) -> Iterator[list[Json]]:
    """Rows of ``table`` in key order, ``CHUNK`` at a time (streamed from DuckDB)."""
    key = list(TABLES[table].key)
    con = getattr(engine.ibis, "con", None)
    if con is not None and hasattr(con, "sql"):  # DuckDB: stream record batches
        order = ", ".join(f'"{k}"' for k in key)
        reader = con.sql(f'SELECT * FROM "{table}" ORDER BY {order}').to_arrow_reader(CHUNK)
        for batch in reader:
            yield batch.to_pylist()
        return
    rows = engine.read(table).sort_by([(k, "ascending") for k in key])
    for lo in range(0, rows.num_rows, CHUNK):
        yield rows.slice(lo, CHUNK).to_pylist()


@register
class FhirExporter(Exporter):
    name: ClassVar[str] = "fhir"
    description: ClassVar[str] = "FHIR R4 Bulk Data NDJSON, one file per resource type"

    def write(
        self, engine: Engine, out: Path, progress: Callable[[str, int], None] | None = None
    ) -> dict[Path, int]:
        out.mkdir(parents=True, exist_ok=True)
        files = _Files(out)
        dumps = orjson.dumps
        try:
            for table, (typ, build) in TABLE_RESOURCES.items():
                for rows in _chunks(engine, table):
                    for r in rows:
                        res = build(r)
                        files.write(res["resourceType"], dumps(res, option=_OPT))
                    if progress:
                        progress(typ, len(rows))
            lines: list[Json] = []
            for rows in _chunks(engine, "claim_line"):
                for r in rows:
                    if lines and r["claim_id"] != lines[0]["claim_id"]:
                        files.write("ExplanationOfBenefit", dumps(claim(lines), option=_OPT))
                        lines = []
                    lines.append(r)
                if progress:
                    progress("ExplanationOfBenefit", len(rows))
            if lines:
                files.write("ExplanationOfBenefit", dumps(claim(lines), option=_OPT))
        except BaseException:
            files.abort()
            raise
        return files.commit()
