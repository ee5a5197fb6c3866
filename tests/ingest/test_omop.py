"""The OMOP CDM importer on real OMOP data (Eunomia Synthea27Nj) and on small hand-made folders.

Success: the 28-person OMOP export loads into a real DuckDB warehouse with every row accepted
and nothing quarantined; concept ids become (code system, code) pairs through CONCEPT.csv;
SNOMED-only conditions get ICD-10-CM codes from the crosswalk with SNOMED kept as source;
re-running the same folder is skipped. Failure: rows whose concept popweave cannot map are
quarantined as ``unmapped_value`` with file and line, and the other rows still load.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest

from popweave.ingest import importers, run
from popweave.ingest.omop import OmopImporter
from popweave.model import quarantine
from popweave.warehouse import open_engine
from popweave.warehouse.base import Engine
from tests.ingest._cli import cli
from tests.ingest._shared import SHARED

DATA = SHARED / "omop-synthea27nj"
HAS_CROSSWALK = importlib.util.find_spec("popweave.terminology.crosswalk") is not None
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared OMOP test data not present")

# Rows per canonical table from the real export (file rows: PERSON 28, VISIT_OCCURRENCE 1,791,
# CONDITION_OCCURRENCE 470, PROCEDURE_OCCURRENCE 1,649, DRUG_EXPOSURE 883, MEASUREMENT 10,040
# + OBSERVATION 8,099, PROVIDER 67; LOCATION, CARE_SITE and PAYER_PLAN_PERIOD are empty).
EXPECTED = {
    "provider": 67,
    "person": 28,
    "encounter": 1_791,
    "condition": 470,
    "procedure": 1_649,
    "medication": 883,
    "observation": 10_040 + 8_099,
}


def warehouse(tmp: Path) -> Engine:
    return open_engine("duckdb:///w.duckdb", tmp)


def sql(tmp: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(tmp / "w.duckdb"), read_only=True)
    try:
        return con.sql(query).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real OMOP export loaded once into a fresh warehouse."""
    if not DATA.is_dir():
        pytest.skip("shared OMOP test data not present")
    tmp = tmp_path_factory.mktemp("omop")
    with warehouse(tmp) as eng:
        result = run(OmopImporter(DATA), eng, quarantine_dir=tmp / "q")
    assert result.report is not None
    report = {"accepted": result.report.accepted, "rejected": result.report.rejected}
    (tmp / "report.json").write_text(json.dumps(report))
    return tmp


# --- the real export --------------------------------------------------------------------------


@needs_data
def test_real_export_loads_every_row(real: Path) -> None:
    report = json.loads((real / "report.json").read_text())
    accepted, rejected = report["accepted"], report["rejected"]
    print("accepted per table:", accepted)
    assert accepted == EXPECTED
    assert sum(rejected.values()) == 0
    assert quarantine.read(real / "q").num_rows == 0
    for table, n in EXPECTED.items():
        assert sql(real, f"select count(*) from {table}") == [(n,)]


@needs_data
def test_drug_exposure_span_in_days_supply_is_not_a_fill(real: Path) -> None:
    # DRUG_EXPOSURE lines 43 and 637 hold days_supply 9125 / 8030: the span of decades-long
    # exposures, not a fill's supply (the model allows <= 400). They load with days_supply
    # empty, their span kept in start/end, instead of losing two statin records.
    rows = sql(
        real,
        "select medication_id, days_supply, start_date, end_date from medication "
        "where medication_id in ('42', '636') order by 1",
    )
    assert [(r[0], r[1]) for r in rows] == [("42", None), ("636", None)]
    assert all((r[3] - r[2]).days >= 8000 for r in rows)  # type: ignore[operator]
    assert sql(real, "select count(*) from medication where days_supply is null") == [(2,)]


@needs_data
def test_people_demographics_and_deaths(real: Path) -> None:
    sexes = dict(sql(real, "select sex, count(*) from person group by 1"))
    assert sexes == {"male": 15, "female": 13}
    races = dict(sql(real, "select race, count(*) from person group by 1"))
    # Four people have race_concept_id 0: their race_source_value (hawaiian, other) is used.
    assert races == {
        "white": 20,
        "black": 3,
        "asian": 1,
        "native_hawaiian_pacific_islander": 2,
        "other": 2,
    }
    assert sql(real, "select count(*) from person where race is null or ethnicity is null") == [
        (0,)
    ]
    deaths = sql(
        real, "select person_id, death_date::varchar from person where death_date is not null"
    )
    assert sorted(deaths) == [("11", "2009-09-14"), ("23", "2001-07-13"), ("7", "2019-05-28")]


@needs_data
def test_codes_come_from_concept_csv(real: Path) -> None:
    classes = dict(sql(real, "select encounter_class, count(*) from encounter group by 1"))
    assert classes == {"ambulatory": 1722, "emergency": 56, "inpatient": 13}
    assert sql(real, "select distinct code_system from medication") == [("RXNORM",)]
    assert sql(real, "select distinct code_system from procedure") == [("SNOMED",)]
    obs = dict(sql(real, "select code_system, count(*) from observation group by 1"))
    assert obs == {"LOINC": 9155 + 7649, "SNOMED": 885 + 450}
    # Body weight (LOINC 29463-7, MEASUREMENT line 2) with its value and unit.
    assert sql(
        real,
        "select code_system, code, value_num, unit, category from observation "
        "where observation_id = 'measurement:1'",
    ) == [("LOINC", "29463-7", 48.1, "kg", "vital-signs")]
    # Condition 1: concept 372328 = SNOMED 65363002 (otitis media).
    row = sql(
        real,
        "select source_code_system, source_code from condition where condition_id = '1'",
    )
    assert row == [("SNOMED", "65363002")]


@needs_data
@pytest.mark.skipif(not HAS_CROSSWALK, reason="popweave.terminology.crosswalk not present")
def test_snomed_conditions_get_icd10_from_the_crosswalk(real: Path) -> None:
    rows = dict(sql(real, "select code_system, count(*) from condition group by 1"))
    assert rows.get("ICD10CM", 0) > 0
    assert sql(real, "select count(*) from condition where source_code_system <> 'SNOMED'") == [
        (0,)
    ]
    # Condition 1: SNOMED 65363002 (otitis media) -> H66.90, SNOMED kept as the source.
    assert sql(
        real,
        "select code_system, code, source_code_system, source_code from condition "
        "where condition_id = '1'",
    ) == [("ICD10CM", "H66.90", "SNOMED", "65363002")]


@needs_data
def test_rerun_is_skipped(real: Path) -> None:
    with warehouse(real) as eng:
        again = run(OmopImporter(DATA), eng, quarantine_dir=real / "q")
    assert again.report is None and again.skipped_as
    assert sql(real, "select count(*) from person") == [(28,)]


# --- small hand-made folders ------------------------------------------------------------------


def write(folder: Path, name: str, rows: list[str], sep: str = ",") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(r.replace(",", sep) for r in rows) + "\n")


def small_folder(folder: Path, sep: str = ",") -> None:
    """Lower-case file names; a location, a care site, a payer; one unmappable row per kind."""
    ext = ".tsv" if sep == "\t" else ".csv"
    write(
        folder,
        f"location{ext}",
        [
            "location_id,address_1,city,state,zip,county,latitude,longitude",
            "L1,1 Main St,Newark,NJ,07102-1234,Essex,40.73,-74.17",
        ],
        sep,
    )
    write(
        folder,
        f"care_site{ext}",
        ["care_site_id,care_site_name,location_id", "CS1,Newark Family Clinic,L1"],
        sep,
    )
    write(
        folder,
        f"provider{ext}",
        ["provider_id,provider_name,care_site_id,specialty_source_value", "9,Dr Who,CS1,FP"],
        sep,
    )
    write(
        folder,
        f"person{ext}",
        [
            "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,"
            "race_concept_id,ethnicity_concept_id,location_id,provider_id,care_site_id,"
            "gender_source_value,race_source_value,ethnicity_source_value",
            "1,8532,1950,3,7,8516,38003563,L1,9,CS1,,,",
            "2,0,1980,,,0,0,L1,,,M,native,nonhispanic",
            "3,999,1990,1,1,0,0,,,,,,",  # line 4: sex not mappable
        ],
        sep,
    )
    write(
        folder,
        f"death{ext}",
        ["person_id,death_date", "1,2020-02-02"],
        sep,
    )
    write(
        folder,
        f"payer_plan_period{ext}",
        [
            "payer_plan_period_id,person_id,payer_plan_period_start_date,"
            "payer_plan_period_end_date,payer_source_value,plan_source_value",
            "P1,1,2015-01-01,2019-12-31,Medicare,Part A",
            "P2,2,2018-01-01,,Blue Cross Blue Shield,PPO",
        ],
        sep,
    )
    write(
        folder,
        f"visit_occurrence{ext}",
        [
            "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,"
            "visit_start_datetime,visit_end_date,visit_end_datetime,provider_id,care_site_id,"
            "visit_source_value,discharged_to_concept_id",
            "V1,1,262,2019-05-01,2019-05-01 08:00:00,2019-05-04,,9,CS1,,8863",
            "V2,2,0,2019-06-01,,,,,,urgent care,0",
            "V3,2,12345,2019-07-01,,,,,,,",  # line 4: visit type not mappable
        ],
        sep,
    )
    write(
        folder,
        f"condition_occurrence{ext}",
        [
            "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,"
            "condition_end_date,visit_occurrence_id,condition_source_value,"
            "condition_source_concept_id",
            "C1,1,201826,2019-05-01,,V1,E11.9,45576876",  # ICD10CM source concept
            "C2,2,0,2019-06-01,,V2,I10,0",  # no concepts: source value looks like ICD-10-CM
            "C3,2,777,2019-06-01,,V2,XYZ,0",  # line 4: nothing popweave knows
        ],
        sep,
    )
    write(
        folder,
        f"drug_exposure{ext}",
        [
            "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
            "drug_exposure_end_date,days_supply,visit_occurrence_id,drug_source_value,"
            "drug_source_concept_id",
            "D1,1,1503297,2019-05-01,2019-05-31,30,V1,00093-7214-01,1",
            "D2,1,2,2019-05-01,,,V1,,0",  # line 3: RxNorm Extension is not RXNORM
        ],
        sep,
    )
    write(
        folder,
        f"measurement{ext}",
        [
            "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
            "unit_source_value,measurement_source_value,value_as_concept_id",
            "1,1,3004410,2019-05-02,7.2,%,4548-4,0",
        ],
        sep,
    )
    write(
        folder,
        f"observation{ext}",
        [
            "observation_id,person_id,observation_concept_id,observation_date,value_as_string,"
            "observation_source_value,value_as_concept_id",
            "1,2,0,2019-06-01,Yes,93030-5,45877994",
        ],
        sep,
    )
    write(
        folder,
        "CONCEPT.csv",  # always a CSV here: the importer sniffs each file's delimiter
        [
            "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,"
            "concept_code,valid_start_date,valid_end_date,invalid_reason",
            "201826,Type 2 diabetes mellitus,Condition,SNOMED,Clinical Finding,S,44054006,"
            "1970-01-01,2099-12-31,",
            "45576876,Type 2 diabetes without complications,Condition,ICD10CM,5-char code,,"
            "E11.9,1970-01-01,2099-12-31,",
            "1503297,metformin,Drug,RxNorm,Ingredient,S,6809,1970-01-01,2099-12-31,",
            "1,ndc,Drug,NDC,11-digit NDC,,00093721401,1970-01-01,2099-12-31,",
            "2,x,Drug,RxNorm Extension,Clinical Drug,S,OMOP123,1970-01-01,2099-12-31,",
            "3004410,HbA1c,Measurement,LOINC,Lab Test,S,4548-4,1970-01-01,2099-12-31,",
            "45877994,Yes,Meas Value,LOINC,Answer,S,LA33-6,1970-01-01,2099-12-31,",
        ],
    )


@pytest.mark.parametrize("sep", [",", "\t"], ids=["csv", "tab"])
def test_small_folder(tmp_path: Path, sep: str) -> None:
    src = tmp_path / "omop"
    small_folder(src, sep)
    with warehouse(tmp_path) as eng:
        result = run(OmopImporter(src), eng, quarantine_dir=tmp_path / "q")
    r = result.report
    assert r is not None
    assert r.accepted == {
        "area": 1,
        "practice": 1,
        "provider": 1,
        "person": 2,
        "enrollment": 2,
        "encounter": 2,
        "condition": 2,
        "medication": 1,
        "observation": 2,
    }
    assert r.rejected == {
        "area": 0,
        "practice": 0,
        "provider": 0,
        "person": 1,
        "enrollment": 0,
        "encounter": 1,
        "condition": 1,
        "medication": 1,
        "observation": 0,
    }
    q = quarantine.read(tmp_path / "q").to_pylist()
    got = sorted((Path(x["file"]).stem, x["line"], x["field"], x["reason"]) for x in q)
    assert got == [
        ("condition_occurrence", 4, "code_system", "unmapped_value"),
        ("drug_exposure", 3, "code_system", "unmapped_value"),
        ("person", 4, "sex", "unmapped_value"),
        ("visit_occurrence", 4, "encounter_class", "unmapped_value"),
    ]
    assert all(x["record"] and x["value"] for x in q)

    assert sql(tmp_path, "select area_id, name, county, zip from area") == [
        ("L1", "Newark", "Essex", "07102")
    ]
    assert sql(tmp_path, "select practice_id, name, area_id from practice") == [
        ("CS1", "Newark Family Clinic", "L1")
    ]
    people = sql(
        tmp_path,
        "select person_id, sex, race, ethnicity, birth_date::varchar, death_date::varchar, zip, "
        "pcp_provider_id, practice_id from person order by 1",
    )
    assert people == [
        ("1", "female", "black", "hispanic", "1950-03-07", "2020-02-02", "07102", "9", "CS1"),
        ("2", "male", "american_indian_alaska_native", "not_hispanic", "1980-01-01", None,
         "07102", None, None),
    ]  # fmt: skip
    assert sql(tmp_path, "select enrollment_id, payer, plan from enrollment order by 1") == [
        ("P1", "medicare", "Part A"),
        ("P2", "commercial", "PPO"),
    ]
    assert sql(
        tmp_path,
        "select encounter_id, encounter_class, discharge_disposition from encounter order by 1",
    ) == [("V1", "inpatient", "03"), ("V2", "urgentcare", None)]
    assert sql(
        tmp_path,
        "select condition_id, code_system, code, source_code_system, source_code "
        "from condition order by 1",
    ) == [
        ("C1", "ICD10CM", "E11.9", "ICD10CM", "E11.9"),
        ("C2", "ICD10CM", "I10", "ICD10CM", "I10"),
    ]
    # The standard RxNorm concept wins over the NDC source concept.
    assert sql(tmp_path, "select code_system, code, days_supply from medication") == [
        ("RXNORM", "6809", 30)
    ]
    assert sql(
        tmp_path,
        "select observation_id, code_system, code, value_num, value_text, value_code, category "
        "from observation order by 1",
    ) == [
        ("measurement:1", "LOINC", "4548-4", 7.2, None, None, "laboratory"),
        ("observation:1", "LOINC", "93030-5", None, "Yes", "LA33-6", "survey"),
    ]


def test_without_concept_csv_source_values_are_used(tmp_path: Path) -> None:
    src = tmp_path / "omop"
    small_folder(src)
    (src / "CONCEPT.csv").unlink()
    with warehouse(tmp_path) as eng:
        r = run(OmopImporter(src), eng, quarantine_dir=tmp_path / "q").report
    assert r is not None
    # C1 (E11.9) and C2 (I10) by their source values; the measurement by its LOINC source
    # value; D1's source value has the shape of an NDC (RxNorm codes are shorter numbers).
    assert sql(tmp_path, "select condition_id, code from condition order by 1") == [
        ("C1", "E11.9"),
        ("C2", "I10"),
    ]
    assert sql(tmp_path, "select code_system, code from medication") == [("NDC", "00093-7214-01")]
    assert sql(tmp_path, "select count(*) from observation") == [(2,)]


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    from popweave.errors import PopweaveError

    with pytest.raises(PopweaveError, match="no such folder"):
        OmopImporter(tmp_path / "nope").check()
    with pytest.raises(PopweaveError, match=r"PERSON\.csv"):
        OmopImporter(tmp_path).check()
    assert importers()["omop"] is OmopImporter


# --- the command line -------------------------------------------------------------------------


@needs_data
def test_cli_ingest_omop_end_to_end(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert cli("init", ws, cwd=tmp_path).returncode == 0
    res = cli("ingest", "omop", DATA, "--workspace", ws, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "observation" in res.stdout and "18,139" in res.stdout
    assert "quarantined" not in res.stdout
    again = cli("ingest", "omop", DATA, "--workspace", ws, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "was loaded before" in again.stdout
    bad = cli("ingest", "omop", tmp_path / "nope", "--workspace", ws, cwd=tmp_path)
    assert bad.returncode != 0
    assert len(bad.stderr.strip().splitlines()) == 1 and "no such folder" in bad.stderr


def test_large_concept_file_is_filtered_to_used_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any CONCEPT file counts as large here: it is read keeping only concept ids the event
    # tables use, with the same result as the plain read.
    monkeypatch.setattr("popweave.ingest.omop.CONCEPT_FILTER_BYTES", 0)
    src = tmp_path / "omop"
    small_folder(src)
    importer = OmopImporter(src)
    concepts = importer._concepts()
    assert sorted(concepts.ids.to_pylist()) == sorted(
        ["201826", "45576876", "1503297", "1", "3004410", "45877994"]
    )
    with warehouse(tmp_path) as eng:
        r = run(importer, eng, quarantine_dir=tmp_path / "q").report
    assert r is not None and r.accepted["condition"] == 2 and r.accepted["medication"] == 1


def test_progress_counts_every_input_byte(tmp_path: Path) -> None:
    src = tmp_path / "omop"
    small_folder(src)
    importer = OmopImporter(src)
    seen: list[int] = []
    with warehouse(tmp_path) as eng:
        run(importer, eng, quarantine_dir=None, progress=seen.append)
    assert sum(seen) == sum(f.stat().st_size for f in importer.inputs())
    assert all(n >= 0 for n in seen)
