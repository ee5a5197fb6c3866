"""Cohort criteria on hand-built people, and definition errors that name file and line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from popweave.cohorts import CohortDef, Data, Library, members
from popweave.cohorts.store import profile, save, saved
from popweave.errors import PopweaveError, SpecError
from popweave.warehouse.base import Engine
from tests.cohorts.pop import Pop

INDEX = dt.date(2024, 12, 31)


def population() -> Pop:
    p = Pop()
    p.area("A2", county="North", median_income=30000, pct_poverty=30, pct_no_vehicle=25)
    p.area("A3", county="South", median_income=90000, pct_poverty=5, pct_no_vehicle=3)
    p.area("A4", county="West", median_income=95000, pct_poverty=4, pct_no_vehicle=2)
    p.area("A5", county="West", median_income=99000, pct_poverty=3, pct_no_vehicle=1)
    p.rows["area"][0].update(county="South", median_income=60000, pct_poverty=12, pct_no_vehicle=8)
    # Diagnosis counts by setting: "2 outpatient or 1 inpatient diabetes claims in 2 years".
    p.person("OUT2", area_id="A2", zip="19104")
    p.encounter("OUT2", "2023-02-01", dx="E11.9")
    p.encounter("OUT2", "2024-03-01", dx="E11.9")
    p.person("OUT1", area_id="A3")
    p.encounter("OUT1", "2024-03-01", dx="E11.9")
    p.person("OUT2_SAME_DAY")
    p.encounter("OUT2_SAME_DAY", "2024-03-01", dx="E11.9")
    p.encounter("OUT2_SAME_DAY", "2024-03-01", dx="E11.65")  # same date counts once
    p.person("INP1")
    p.encounter("INP1", "2024-05-05", cls="inpatient", dx="E11.65")
    p.person("OUT2_OLD")
    p.encounter("OUT2_OLD", "2022-12-31", dx="E11.9")  # outside the 2-year look-back
    p.encounter("OUT2_OLD", "2024-03-01", dx="E11.9")
    p.person("CLAIMS2")
    # Claims spell codes without the dot (and files in any case): loads store E11.9.
    p.claim("CLAIMS2", "2023-06-01", "E119", pos="11")
    p.claim("CLAIMS2", "2024-06-01", " e11.9", pos="11")
    p.person("CLAIM_INP")
    p.claim("CLAIM_INP", "2024-06-01", "E11.9", pos="21")
    # Labs: last HbA1c > 9.
    p.person("LAB_HIGH_LAST")
    p.hba1c("LAB_HIGH_LAST", "2024-01-05", 7.0)
    p.hba1c("LAB_HIGH_LAST", "2024-09-05", 9.4)
    p.person("LAB_HIGH_EARLY")
    p.hba1c("LAB_HIGH_EARLY", "2024-01-05", 10.0)
    p.hba1c("LAB_HIGH_EARLY", "2024-09-05", 7.2)
    # Social needs: a positive transport answer in the last 2 years; a negative one.
    p.person("NEEDS_TRANSPORT")
    p.lab("NEEDS_TRANSPORT", "2024-02-02", "93030-5", answer="LA33-6")
    p.person("NO_NEED")
    p.lab("NO_NEED", "2024-02-02", "93030-5", answer="LA32-8")
    p.person("OLD_NEED")
    p.lab("OLD_NEED", "2022-12-30", "93030-5", answer="LA33-6")
    # Frequent ED use; enrolment by payer.
    p.person("ED3", enrol=False)
    p.enrol("ED3", "2020-01-01", None, payer="medicaid")
    for day in ("2024-01-10", "2024-04-10", "2024-08-10"):
        p.encounter("ED3", day, cls="emergency")
    p.person("UNINSURED", enrol=False)
    p.person("MAN", sex="male", birth="2000-01-01")
    p.programme("MAN", "diabetes_education", "2024-03-01", "2024-05-31")
    p.programme("ED3", "pilot_transitions", "2024-07-01")
    return p


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = population().load(tmp_path_factory.mktemp("cohorts"))
    yield eng
    eng.close()


def who(engine: Engine, yaml: str, folder: Path | None = None) -> set[str]:
    c = CohortDef.from_text(f"name: t\ncriteria:\n{yaml}", "t.yaml")
    lib = Library(folder) if folder else None
    out = members(Data.of(engine), c, index_date=INDEX, library=lib).execute()
    return set(out.person_id)


def test_diagnosis_counts_by_setting(engine: Engine) -> None:
    got = who(
        engine,
        "  - diagnosis: {valueset: diabetes, lookback: 2y, count: {outpatient: 2, inpatient: 1}}\n",
    )
    assert got == {"OUT2", "INP1", "CLAIMS2", "CLAIM_INP"}


def test_diagnosis_any_setting(engine: Engine) -> None:
    got = who(engine, "  - diagnosis: {valueset: diabetes, lookback: 2y, count: 2}\n")
    assert got == {"OUT2", "CLAIMS2"}


def test_last_lab_value(engine: Engine) -> None:
    assert who(engine, '  - lab: {valueset: hba1c_result, lookback: 1y, last: "> 9"}\n') == {
        "LAB_HIGH_LAST"
    }
    assert who(engine, '  - lab: {valueset: hba1c_result, lookback: 1y, max: ">= 10"}\n') == {
        "LAB_HIGH_EARLY"
    }


def test_social_need_in_the_look_back(engine: Engine) -> None:
    assert who(engine, "  - social_need: transport\n") == {"NEEDS_TRANSPORT"}
    got = who(engine, "  - social_need: {need: transport, lookback: 3y}\n")
    assert got == {"NEEDS_TRANSPORT", "OLD_NEED"}


def test_place_and_deprivation(engine: Engine) -> None:
    assert who(engine, "  - zip: '19104'\n") == {"OUT2"}
    assert "OUT1" in who(engine, "  - county: South\n")
    assert "OUT2" not in who(engine, "  - county: South\n")
    # A2 is the most deprived of five areas: quintile 5.
    assert who(engine, "  - deprivation_quintile: [5]\n") == {"OUT2"}


def test_and_or_not(engine: Engine) -> None:
    got = who(
        engine,
        "  - any_of:\n"
        "      - encounter: {class: emergency, lookback: 1y, count: 3}\n"
        "      - sex: male\n"
        "  - not: {enrolled: {payer: medicaid}}\n",
    )
    assert got == {"MAN"}
    assert who(engine, "  - encounter: {class: emergency, count: 3}\n") == {"ED3"}
    assert who(engine, "  - encounter: {class: emergency, count: 4}\n") == set()


def test_programme_membership(engine: Engine) -> None:
    assert who(engine, "  - programme: pilot_transitions\n") == {"ED3"}
    assert who(engine, "  - programme: diabetes_education\n") == set()  # ended before
    got = who(engine, "  - programme: {name: diabetes_education, lookback: 1y}\n")
    assert got == {"MAN"}
    both = "  - programme: {name: [diabetes_education, pilot_transitions], ever: true}\n"
    assert who(engine, both) == {"MAN", "ED3"}


def test_enrolment(engine: Engine) -> None:
    enrolled = who(engine, "  - enrolled: true\n")
    assert "UNINSURED" not in enrolled and "ED3" in enrolled
    assert who(engine, "  - enrolled: {payer: medicaid, continuous: true}\n") == {"ED3"}


def test_cohort_references(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "diabetes.yaml").write_text(
        "name: diabetes\ncriteria:\n  - diagnosis: {valueset: diabetes, lookback: 2y}\n"
    )
    (tmp_path / "uncontrolled.yaml").write_text(
        "name: uncontrolled\ncriteria:\n  - cohort: diabetes\n"
        '  - lab: {valueset: hba1c_result, lookback: 1y, last: "> 9"}\n'
    )
    assert who(engine, "  - cohort: diabetes\n", tmp_path) >= {"OUT2", "INP1", "OUT1"}
    assert who(engine, "  - cohort: uncontrolled\n", tmp_path) == set()
    assert who(engine, "  - not: {cohort: diabetes}\n", tmp_path) >= {"MAN", "ED3"}


def test_build_save_and_profile(engine: Engine) -> None:
    data = Data.of(engine)
    c = CohortDef.from_text(
        "name: diab\ncriteria:\n  - diagnosis: {valueset: diabetes, lookback: 2y}\n", "d.yaml"
    )
    people = members(data, c, index_date=INDEX)
    assert save(engine, "diab", people, INDEX) == 7
    assert save(engine, "diab", people, INDEX) == 7  # rebuilt, not appended
    p = profile(data, "diab", saved(engine, "diab"), INDEX)
    assert p.size == 7 and p.population == 15
    assert p.sex.set_index("sex").loc["female", "n"] == 7
    assert p.top_conditions.empty  # diagnoses were on encounters, not the problem list
    with pytest.raises(PopweaveError, match="has not been built"):
        saved(engine, "nope")


# -- errors name the file and the line ---------------------------------------------------------


def error(engine: Engine, text: str, folder: Path | None = None) -> str:
    with pytest.raises(SpecError) as exc:
        c = CohortDef.from_text(text, "bad.yaml")
        members(Data.of(engine), c, index_date=INDEX, library=Library(folder) if folder else None)
    return str(exc.value)


def test_unknown_value_set(engine: Engine) -> None:
    msg = error(
        engine, "name: x\ncriteria:\n  - age: {min: 1}\n  - condition: {valueset: diabetis}\n"
    )
    assert msg.startswith("bad.yaml:4:") and "diabetis" in msg and "diabetes" in msg


def test_bad_date(engine: Engine) -> None:
    msg = error(engine, "name: x\nindex_date: 2024-13-01\ncriteria:\n  - age: {min: 1}\n")
    assert msg.startswith("bad.yaml:2:") and "not a date" in msg
    msg = error(
        engine,
        "name: x\ncriteria:\n  - procedure:\n      valueset: mammography\n"
        "      window: {from: 2024-02-30}\n",
    )
    assert msg.startswith("bad.yaml:5:") and "not a date" in msg


def test_unknown_field_and_criterion(engine: Engine) -> None:
    msg = error(engine, "name: x\ncriteria:\n  - age: {min: 1, maxx: 3}\n")
    assert msg.startswith("bad.yaml:3:") and "'maxx'" in msg and "did you mean 'max'" in msg
    msg = error(engine, "name: x\ncriteria:\n  - age: {min: 1}\n  - diagnosys: {}\n")
    assert msg.startswith("bad.yaml:4:") and "did you mean 'diagnosis'" in msg
    msg = error(engine, "name: x\ncritera:\n  - age: {min: 1}\n")
    assert msg.startswith("bad.yaml:2:") and "did you mean 'criteria'" in msg


def test_cyclic_reference(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\ncriteria:\n  - cohort: b\n")
    (tmp_path / "b.yaml").write_text("name: b\ncriteria:\n  - age: {min: 1}\n  - cohort: a\n")
    msg = error(engine, "name: top\ncriteria:\n  - cohort: a\n", tmp_path)
    assert f"{tmp_path / 'b.yaml'}:4:" in msg and "a -> b -> a" in msg


def test_unknown_cohort_and_bad_values(engine: Engine, tmp_path: Path) -> None:
    msg = error(engine, "name: x\ncriteria:\n  - cohort: nothing_here\n", tmp_path)
    assert msg.startswith("bad.yaml:3:") and "unknown cohort" in msg
    msg = error(engine, "name: x\ncriteria:\n  - sex: femal\n")
    assert "did you mean 'female'" in msg
    msg = error(engine, "name: x\ncriteria:\n  - lab: {valueset: hba1c_result, last: 'about 9'}\n")
    assert msg.startswith("bad.yaml:3:") and "not a comparison" in msg
    msg = error(
        engine, "name: x\ncriteria:\n  - lab: {valueset: hba1c_result, lookback: 2 years}\n"
    )
    assert "duration" in msg
    msg = error(engine, "name: x\ncriteria: [1, 2]\n")
    assert msg.startswith("bad.yaml:")
    msg = error(engine, "name: x\ncriteria:\n  - age: {min: 1}\n  - age: {min: 1}\n    sex: male\n")
    assert msg.startswith("bad.yaml:4:") and "exactly one kind" in msg
