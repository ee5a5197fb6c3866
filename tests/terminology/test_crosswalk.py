"""The SNOMED CT -> ICD-10-CM crosswalk: valid billable codes, full coverage of the test data."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pyarrow as pa
import pytest

from popweave.terminology import crosswalk_table, snomed_to_icd10

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not DATA.exists():  # the repository may sit elsewhere; shared/ is beside the work tree
    DATA = Path("/work/shared/data")
SYNTHEA = DATA / "synthea-csv-27"
FHIR_CONDITIONS = DATA / "bulk-fhir-10" / "Condition.000.ndjson"


def _icd() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the package's own resource read
        import simple_icd_10_cm

    return simple_icd_10_cm


def test_every_code_is_a_valid_billable_icd10cm_code() -> None:
    cm = _icd()
    t = crosswalk_table()
    assert t.column_names == [
        "snomed_code",
        "snomed_display",
        "icd10cm_code",
        "icd10cm_display",
        "source",
    ]
    rows = t.to_pylist()
    assert len({r["snomed_code"] for r in rows}) == len(rows), "a SNOMED code twice"
    bad = []
    for r in rows:
        code = r["icd10cm_code"]
        assert r["source"], r
        if code is None:
            assert r["icd10cm_display"] is None
            continue
        if not (cm.is_valid_item(code) and cm.is_leaf(code)):  # type: ignore[attr-defined]
            bad.append(code)
        else:
            assert r["icd10cm_display"] == cm.get_description(code)  # type: ignore[attr-defined]
    assert bad == []


def _data_codes() -> set[str]:
    codes: set[str] = set()
    with (SYNTHEA / "conditions.csv").open(newline="") as f:
        codes |= {r["CODE"] for r in csv.DictReader(f)}
    with (SYNTHEA / "encounters.csv").open(newline="") as f:
        codes |= {r["REASONCODE"] for r in csv.DictReader(f) if r["REASONCODE"]}
    with FHIR_CONDITIONS.open() as f:
        for line in f:
            for c in json.loads(line).get("code", {}).get("coding", []):
                if c.get("system") == "http://snomed.info/sct":
                    codes.add(c["code"])
    return codes


@pytest.mark.skipif(not SYNTHEA.exists(), reason="shared test data not present")
def test_covers_every_snomed_condition_code_of_the_test_data() -> None:
    codes = _data_codes()
    listed = set(crosswalk_table()["snomed_code"].to_pylist())
    assert codes - listed == set()


def test_vectorised_lookup_keeps_nulls_where_unmapped() -> None:
    got = snomed_to_icd10(pa.array(["44054006", "59621000", "195662009", "160903007", None, "0"]))
    assert got.to_pylist() == ["E11.9", "I10", "J02.9", None, None, None]
    chunked = pa.chunked_array([["73595000"], ["160903007"]])
    assert snomed_to_icd10(chunked).to_pylist() == ["Z73.3", None]
