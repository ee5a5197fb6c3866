"""FHIR R4 import and export: real Bulk data, round trip of a synthetic city, other servers'
shapes (Bundles, contained resources, urn:uuid references), corrupted input, the validating
path (fhir.resources) against the fast path, idempotent re-runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from popweave.export.fhir import FhirExporter
from popweave.ingest import run
from popweave.ingest.fhir import FhirImporter
from popweave.model import CANONICAL
from popweave.synth import build_city
from popweave.warehouse import Engine, LoadReport, load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace
from tests.ingest._shared import SHARED

REAL = SHARED / "bulk-fhir-10"
REAL_ACCEPTED = {
    "practice": 43,
    "provider": 43,
    "person": 13,
    "encounter": 1215,
    "condition": 555,
    "procedure": 2056,
    "medication": 1906,  # 1,745 MedicationRequests + 161 Immunizations (CVX)
}
REAL_SKIPPED = {"DocumentReference": 1215, "Location": 44, "Device": 16, "AllergyIntolerance": 11}


def ingest(
    tmp: Path, name: str, source: Path, **options: Any
) -> tuple[Workspace, LoadReport, FhirImporter]:
    ws = Workspace.init(tmp / name)
    imp = FhirImporter(source, **options)
    with open_workspace_engine(ws) as eng:
        result = run(imp, eng, quarantine_dir=ws.quarantine_dir)
    assert result.report is not None
    return ws, result.report, imp


def tables(ws: Workspace) -> dict[str, pa.Table]:
    with open_workspace_engine(ws) as eng:
        return {t.name: _sorted(eng, t.name) for t in CANONICAL}


def _sorted(eng: Engine, name: str) -> pa.Table:
    tdef = next(t for t in CANONICAL if t.name == name)
    return eng.read(name).sort_by([(k, "ascending") for k in tdef.key])


def quarantine(ws: Workspace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for f in sorted(ws.quarantine_dir.glob("*.parquet")):
        rows += pq.read_table(f).to_pylist()
    return rows


def differences(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, ta in a.items():
        tb = b[name]
        if ta.num_rows != tb.num_rows:
            out[name] = ("rows", ta.num_rows, tb.num_rows)
            continue
        for col in ta.column_names:
            if not ta[col].equals(tb[col]):
                x, y = ta[col].to_pylist(), tb[col].to_pylist()
                out[f"{name}.{col}"] = [(p, q) for p, q in zip(x, y, strict=True) if p != q][:3]
    return out


# -- the real Bulk Data export ---------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, LoadReport, FhirImporter]:
    return ingest(tmp_path_factory.mktemp("real"), "ws", REAL)


def test_real_bulk_export_imports_without_rejects(
    real: tuple[Workspace, LoadReport, FhirImporter],
) -> None:
    ws, report, imp = real
    assert report.total_rejected == 0, quarantine(ws)
    assert report.accepted == REAL_ACCEPTED
    # Types with no canonical table are counted, not rejected; Locations are facility sites.
    assert dict(imp.skipped) == REAL_SKIPPED
    t = tables(ws)
    enc = t["encounter"]
    # Conditional references (Practitioner?identifier=NPI, Organization?identifier=...) resolve
    # to the referenced resources' ids.
    assert enc["provider_id"].null_count == 0 and enc["practice_id"].null_count == 0
    assert set(enc["provider_id"].to_pylist()) <= set(t["provider"]["provider_id"].to_pylist())
    assert set(enc["encounter_class"].to_pylist()) == {
        "ambulatory",
        "inpatient",
        "emergency",
        "home",
        "virtual",
    }
    assert set(enc["discharge_disposition"].drop_null().to_pylist()) == {"01"}
    person = t["person"]
    assert person["death_date"].null_count == 10  # 3 deceased
    assert set(person["language"].to_pylist()) <= {"en", "es"}
    assert person["race"].null_count == 0 and person["ethnicity"].null_count == 0
    cond = t["condition"]
    assert cond["source_code_system"].to_pylist() == ["SNOMED"] * cond.num_rows
    # PractitionerRole gives the providers' practices and specialties.
    assert t["provider"]["practice_id"].null_count == 0


def test_real_data_fast_and_validating_paths_agree(
    tmp_path: Path, real: tuple[Workspace, LoadReport, FhirImporter]
) -> None:
    ws, _, _ = real
    ws2, report, _ = ingest(tmp_path, "v", REAL, validate=True)
    assert report.total_rejected == 0, quarantine(ws2)
    assert differences(tables(ws), tables(ws2)) == {}


def test_rerunning_the_same_ingest_is_skipped(
    real: tuple[Workspace, LoadReport, FhirImporter],
) -> None:
    ws, _, _ = real
    with open_workspace_engine(ws) as eng:
        again = run(FhirImporter(REAL), eng, quarantine_dir=ws.quarantine_dir)
        assert again.report is None and again.skipped_as
        assert eng.count("encounter") == REAL_ACCEPTED["encounter"]


# -- round trip of a synthetic city ----------------------------------------------------------


@pytest.fixture(scope="module")
def city_export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    tmp = tmp_path_factory.mktemp("city")
    ws = Workspace.init(tmp / "orig")
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, build_city(5_000, 11).tables(), source="city")
    with open_workspace_engine(ws) as eng:
        files = FhirExporter().write(eng, tmp / "fhir")
    assert {f.name for f in files} >= {"Patient.000.ndjson", "ExplanationOfBenefit.000.ndjson"}
    assert not list((tmp / "fhir").glob(".*"))  # no temporary files left
    yield ws, tmp / "fhir"


def test_round_trip_of_a_city_is_lossless(
    tmp_path: Path, city_export: tuple[Workspace, Path]
) -> None:
    ws, out = city_export
    ws2, report, imp = ingest(tmp_path, "back", out)
    assert report.total_rejected == 0, quarantine(ws2)[:5]
    assert not imp.skipped
    original = tables(ws)
    assert all(original[t].num_rows for t in original)
    assert differences(original, tables(ws2)) == {}


def test_exported_city_fast_and_validating_paths_agree(
    tmp_path: Path, city_export: tuple[Workspace, Path]
) -> None:
    _, out = city_export
    small = tmp_path / "small"
    small.mkdir()
    # Every resource type, a slice of each file (fhir.resources is slow: ~1,500/s).
    for f in out.glob("*.ndjson"):
        lines = f.read_bytes().splitlines(keepends=True)
        (small / f.name).write_bytes(b"".join(lines[:300]))
    fast_ws, fast, _ = ingest(tmp_path, "fast", small)
    slow_ws, slow, _ = ingest(tmp_path, "slow", small, validate=True)
    # The slices cut references (events of people not in the slice): both paths must
    # accept and reject exactly the same rows.
    assert fast.accepted == slow.accepted and fast.rejected == slow.rejected
    assert not [q for q in quarantine(slow_ws) if q["reason"] == "invalid_resource"]
    assert differences(tables(fast_ws), tables(slow_ws)) == {}


# -- other servers' shapes -------------------------------------------------------------------

NPI = "http://hl7.org/fhir/sid/us-npi"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"


def _bundle(kind: str, entries: list[tuple[str | None, dict[str, Any]]]) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for url, res in entries:
        e: dict[str, Any] = {"resource": res}
        if url:
            e["fullUrl"] = url
        if kind in ("transaction", "batch"):
            e["request"] = {"method": "POST", "url": res["resourceType"]}
        out.append(e)
    return {"resourceType": "Bundle", "type": kind, "entry": out}


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    d = tmp_path / "bundles"
    d.mkdir()
    org = {
        "resourceType": "Organization",
        "id": "org1",
        "identifier": [{"system": "urn:x", "value": "ORG-1"}],
        "name": "Clinic",
    }
    doc = {
        "resourceType": "Practitioner",
        "id": "doc1",
        "identifier": [{"system": NPI, "value": "1234567890"}],
        "name": [{"family": "Smith", "given": ["Ann"], "prefix": ["Dr."]}],
    }
    (d / "a-directory.json").write_text(
        json.dumps(_bundle("collection", [(None, org), (None, doc)]))
    )
    pat = {
        "resourceType": "Patient",
        "gender": "female",
        "birthDate": "1970",  # partial date
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"code": "2106-3"}},
                    {"url": "ombCategory", "valueCoding": {"code": "2054-5"}},
                ],
            },
            {"url": "http://example.org/other-extension", "valueString": "ignored"},
        ],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es-MX"}]}}
        ],
        "address": [{"postalCode": "02139-4307"}],
        "generalPractitioner": [{"reference": f"Practitioner?identifier={NPI}|1234567890"}],
    }
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "EMER"},
        "subject": {"reference": "urn:uuid:7d3c0a9e-0000-4000-8000-000000000001"},
        "period": {"start": "2023-03-01T10:00:00-05:00"},
        "serviceProvider": {"identifier": {"system": "urn:x", "value": "ORG-1"}},
        "participant": [
            {"individual": {"reference": "https://ehr.example/fhir/Practitioner/doc1"}}
        ],
        "reasonCode": [{"coding": [{"system": ICD, "code": "J45.909"}]}],
    }
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": ICD, "code": "E11.9"}, {"system": SCT, "code": "44054006"}]},
        "subject": {"reference": "urn:uuid:7d3c0a9e-0000-4000-8000-000000000001"},
        "encounter": {"reference": "urn:uuid:7d3c0a9e-0000-4000-8000-000000000002"},
        "onsetDateTime": "2023-03-01",
    }
    med = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med",
                "code": {
                    "coding": [
                        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}
                    ]
                },
            }
        ],
        "medicationReference": {"reference": "#med"},
        "subject": {"reference": "Patient/7d3c0a9e-0000-4000-8000-000000000001"},
        "authoredOn": "2023-03-01T11:00:00Z",
    }
    bp = {
        "resourceType": "Observation",
        "id": "bp1",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": "urn:uuid:7d3c0a9e-0000-4000-8000-000000000001"},
        "effectiveDateTime": "2023-03-01T10:30:00-05:00",
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {
                    "value": 128,
                    "unit": "mmHg",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 82, "unit": "mmHg"},
            },
        ],
    }
    smoke = {
        "resourceType": "Observation",
        "id": "s1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
        "subject": {"reference": "urn:uuid:7d3c0a9e-0000-4000-8000-000000000001"},
        "effectiveDateTime": "2023-03-01",
        "valueCodeableConcept": {
            "coding": [{"system": SCT, "code": "266919005", "display": "Never smoker"}]
        },
    }
    (d / "b-patient.json").write_text(
        json.dumps(
            _bundle(
                "transaction",
                [
                    ("urn:uuid:7d3c0a9e-0000-4000-8000-000000000001", pat),
                    ("urn:uuid:7d3c0a9e-0000-4000-8000-000000000002", enc),
                    ("urn:uuid:c1", cond),
                    (None, med),
                ],
            )
        )
    )
    (d / "c-batch.json").write_text(json.dumps(_bundle("batch", [(None, bp)])))
    searchset = _bundle("searchset", [(None, smoke)])
    (d / "d-mixed.ndjson").write_text(
        json.dumps(searchset)
        + "\n"
        + json.dumps({"resourceType": "AllergyIntolerance", "id": "a1"})
        + "\n"
    )
    return d


def test_bundles_contained_resources_and_references(tmp_path: Path, shapes: Path) -> None:
    ws, report, imp = ingest(tmp_path, "ws", shapes)
    assert report.total_rejected == 0, quarantine(ws)
    assert imp.skipped == {"AllergyIntolerance": 1}
    t = {k: v.to_pylist() for k, v in tables(ws).items()}
    pid = "7d3c0a9e-0000-4000-8000-000000000001"
    assert t["person"] == [
        {
            "person_id": pid,
            "birth_date": __import__("datetime").date(1970, 1, 1),
            "death_date": None,
            "sex": "female",
            "race": "multiple",
            "ethnicity": None,
            "language": "es",
            "area_id": None,
            "zip": "02139",
            "pcp_provider_id": "doc1",
            "practice_id": None,
        }
    ]
    (enc,) = t["encounter"]
    assert enc["person_id"] == pid and enc["encounter_id"].endswith("0002")
    assert (enc["encounter_class"], enc["practice_id"], enc["provider_id"]) == (
        "emergency",
        "org1",
        "doc1",
    )
    assert str(enc["start_time"]) == "2023-03-01 15:00:00"  # UTC
    assert (enc["code_system"], enc["code"]) == ("ICD10CM", "J45.909")
    (cond,) = t["condition"]
    assert (cond["code_system"], cond["code"], cond["source_code"]) == (
        "ICD10CM",
        "E11.9",
        "44054006",
    )
    assert cond["encounter_id"] == enc["encounter_id"]
    (med,) = t["medication"]
    assert (med["code_system"], med["code"], med["person_id"]) == ("RXNORM", "860975", pid)
    obs = {o["observation_id"]: o for o in t["observation"]}
    assert obs["bp1-c1"]["value_num"] == 128 and obs["bp1-c1"]["unit"] == "mm[Hg]"
    assert obs["bp1-c2"]["code"] == "8462-4" and obs["bp1-c2"]["category"] == "vital-signs"
    assert (obs["s1"]["value_code"], obs["s1"]["value_text"]) == ("266919005", "Never smoker")
    assert t["provider"][0]["name"] == "Dr. Ann Smith"


# -- corrupted input -------------------------------------------------------------------------


def test_corrupted_records_are_quarantined_and_good_ones_loaded(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()

    def pat(i: int, **kw: Any) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "id": f"p{i}",
            "gender": "male",
            "birthDate": "1980-01-01",
            **kw,
        }

    def cond(i: int, **kw: Any) -> dict[str, Any]:
        base = {
            "resourceType": "Condition",
            "id": f"c{i}",
            "code": {"coding": [{"system": ICD, "code": "I10"}]},
            "subject": {"reference": "Patient/p1"},
            "onsetDateTime": "2020-01-01",
        }
        return {**base, **kw}

    good_long = pat(9, text={"status": "generated", "div": "<div>" + "x" * 200_000 + "</div>"})
    patients = [
        json.dumps(pat(1)).encode(),
        json.dumps(pat(2))[:40].encode(),  # truncated line
        json.dumps(pat(3, birthDate=12)).encode(),  # wrong type
        json.dumps(pat(4)).replace("male", "m\xe4le").encode("latin-1"),  # not UTF-8
        json.dumps({"id": "p5", "gender": "male"}).encode(),  # no resourceType
        b"",
        json.dumps(pat(6, text={"div": "y" * 600_000})).encode(),  # longer than the limit
        json.dumps(good_long).encode(),
        b"[1, 2]",
    ]
    (d / "Patient.000.ndjson").write_bytes(b"\n".join(patients))
    conditions = [
        cond(1),
        cond(2, subject=None),  # missing required subject
        cond(3, subject={"reference": "Patient/nobody"}),  # broken reference
        cond(4, onsetDateTime="2020-13-45"),
        cond(5, code="not a CodeableConcept"),
    ]
    (d / "Condition.000.ndjson").write_text("\n".join(json.dumps(c) for c in conditions) + "\n")
    ws, report, _ = ingest(tmp_path, "ws", d, max_line_bytes=500_000)
    q = quarantine(ws)
    got = {(Path(r["file"]).name if r["file"] else None, r["line"], r["reason"]) for r in q}
    assert got == {
        ("Patient.000.ndjson", 2, "unparsable_record"),
        ("Patient.000.ndjson", 3, "wrong_type"),
        ("Patient.000.ndjson", 4, "bad_encoding"),
        ("Patient.000.ndjson", 5, "invalid_resource"),
        ("Patient.000.ndjson", 7, "unparsable_record"),
        ("Patient.000.ndjson", 9, "invalid_resource"),
        ("Condition.000.ndjson", 2, "invalid_resource"),
        ("Condition.000.ndjson", 3, "unknown_reference"),
        ("Condition.000.ndjson", 4, "wrong_type"),
        ("Condition.000.ndjson", 5, "missing_required"),  # code: no CodeableConcept
    }
    t = tables(ws)
    assert t["person"]["person_id"].to_pylist() == ["p1", "p9"]
    assert t["condition"]["condition_id"].to_pylist() == ["c1"]
    assert report.accepted["person"] == 2 and report.accepted["condition"] == 1


def test_a_very_long_line_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A 64 MB line over a 1 MB limit is skipped block by block, never held whole."""
    import resource

    f = tmp_path / "Patient.000.ndjson"
    with f.open("wb") as fh:
        fh.write(
            json.dumps(
                {"resourceType": "Patient", "id": "a", "gender": "male", "birthDate": "1990-02-03"}
            ).encode()
            + b"\n"
        )
        fh.write(b'{"resourceType": "Patient", "id": "huge", "text": "')
        for _ in range(64):
            fh.write(b"z" * (1 << 20))
        fh.write(b'"}\n')
        fh.write(
            json.dumps(
                {
                    "resourceType": "Patient",
                    "id": "b",
                    "gender": "female",
                    "birthDate": "1991-02-03",
                }
            ).encode()
            + b"\n"
        )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ws, report, _ = ingest(tmp_path, "ws", f, max_line_bytes=1 << 20)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert report.accepted["person"] == 2
    (rej,) = quarantine(ws)
    assert (rej["reason"], rej["line"]) == ("unparsable_record", 2)
    assert grown_mb < 48
