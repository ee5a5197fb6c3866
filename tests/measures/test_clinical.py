"""Clinical measures of the shipped library on hand-built people: every denominator,
exclusion and numerator rule of docs/measures.md, boundary dates on both sides.

Measurement period 2024: S = 2024-01-01, E = 2024-12-31.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from popweave import measures
from popweave.warehouse.base import Engine
from tests.cohorts.pop import Pop

PERIOD = 2024


def diabetic(p: Pop, pid: str, birth: str = "1970-05-05", **kw: Any) -> str:
    p.person(pid, birth=birth, **kw)
    p.condition(pid, "E11.9")
    return pid


def hypertensive(p: Pop, pid: str, onset: str = "2020-01-01", **kw: Any) -> str:
    p.person(pid, **kw)
    p.condition(pid, "I10", onset=onset)
    return pid


def population() -> Pop:
    p = Pop()
    # -- diabetes denominator: age 18-75 on E, diabetes active in the period, enrolled ------
    diabetic(p, "AGE18", birth="2006-12-31")  # 18 on E: in
    diabetic(p, "AGE17", birth="2007-01-01")  # 17 on E: out
    diabetic(p, "AGE75", birth="1949-12-31")  # 75 on E: in
    diabetic(p, "AGE76", birth="1948-12-31")  # 76 on E: out
    p.person("ONSET_LATE")
    p.condition("ONSET_LATE", "E11.9", onset="2025-01-01")  # after E: out
    p.person("ABATED")
    p.condition("ABATED", "E11.65", onset="2010-01-01", abated="2023-12-31")  # before S: out
    p.person("ABATED_IN")
    p.condition("ABATED_IN", "E11.65", onset="2010-01-01", abated="2024-01-01")  # in
    p.person("NOT_DIABETIC")
    # Enrolment: one gap of 45 days in; 46 days out; two gaps out; not covered on E out.
    for pid, spans in {
        "GAP45": [("2015-01-01", "2024-03-31"), ("2024-05-16", None)],
        "GAP46": [("2015-01-01", "2024-03-31"), ("2024-05-17", None)],
        "TWO_GAPS": [
            ("2015-01-01", "2024-02-29"),
            ("2024-03-11", "2024-05-31"),
            ("2024-06-11", None),
        ],
        "ENDS_BEFORE_E": [("2015-01-01", "2024-12-30")],
        "OVERLAP": [("2015-01-01", "2024-06-30"), ("2024-06-01", None)],
    }.items():
        diabetic(p, pid, enrol=False)
        for start, end in spans:
            p.enrol(pid, start, end)
    # -- HbA1c numerators -----------------------------------------------------------------
    diabetic(p, "A1C_NONE")  # no test: poor control
    diabetic(p, "A1C_9_0")
    p.hba1c("A1C_9_0", "2024-06-01", 9.0)  # not > 9.0: not poor, not < 8
    diabetic(p, "A1C_9_1")
    p.hba1c("A1C_9_1", "2024-06-01", 9.1)  # poor
    diabetic(p, "A1C_LAST_GOOD")
    p.hba1c("A1C_LAST_GOOD", "2024-02-01", 11.0)
    p.hba1c("A1C_LAST_GOOD", "2024-11-01", 7.9)  # last counts: controlled < 8
    diabetic(p, "A1C_SAME_DAY")
    p.hba1c("A1C_SAME_DAY", "2024-10-01", 9.5)
    p.hba1c("A1C_SAME_DAY", "2024-10-01", 8.0)  # lowest that day: 8.0, not < 8, not > 9
    diabetic(p, "A1C_LAST_YEAR")
    p.hba1c("A1C_LAST_YEAR", "2023-12-31", 6.0)  # outside the period: no test: poor
    diabetic(p, "A1C_JAN1")
    p.hba1c("A1C_JAN1", "2024-01-01", 6.5)  # first day of the period: controlled
    # -- exclusions win over the numerator --------------------------------------------------
    diabetic(p, "HOSPICE")  # no test (numerator) but palliative care in the period
    p.encounter("HOSPICE", "2024-03-03", dx="Z51.5")
    diabetic(p, "HOSPICE_2023")  # palliative care before the period: not excluded
    p.encounter("HOSPICE_2023", "2023-12-31", dx="Z51.5")
    diabetic(p, "DIED", death="2024-12-30")  # covered to E in the data, died in the period
    diabetic(p, "FRAIL66", birth="1958-12-31")  # 66 on E, frail, advanced illness last year
    p.encounter("FRAIL66", "2024-04-04", dx="R54")
    p.encounter("FRAIL66", "2023-02-02", dx="G30.9")
    diabetic(p, "FRAIL65", birth="1959-01-01")  # 65 on E: the exclusion needs 66+
    p.encounter("FRAIL65", "2024-04-04", dx="R54")
    p.encounter("FRAIL65", "2024-04-04", dx="G30.9")
    diabetic(p, "FRAIL_ONLY", birth="1950-01-01")  # frail without advanced illness: counted
    p.encounter("FRAIL_ONLY", "2024-04-04", dx="R54")
    diabetic(p, "FRAIL_LAST_YEAR", birth="1950-01-01")  # frailty must be in the period
    p.encounter("FRAIL_LAST_YEAR", "2023-12-31", dx="R54")
    p.encounter("FRAIL_LAST_YEAR", "2024-02-02", dx="G30.9")
    # -- eye exam ----------------------------------------------------------------------------
    diabetic(p, "EYE_IN")
    p.procedure("EYE_IN", "2024-12-31", "92250")
    diabetic(p, "EYE_OUT")
    p.procedure("EYE_OUT", "2023-12-31", "92250")
    # -- controlling blood pressure ---------------------------------------------------------
    hypertensive(p, "BP_OK")
    p.bp("BP_OK", "2024-08-01", 139, 89)
    hypertensive(p, "BP_140")
    p.bp("BP_140", "2024-08-01", 140, 80)
    hypertensive(p, "BP_LOWEST_OF_DAY")
    p.bp("BP_LOWEST_OF_DAY", "2024-09-01", 150, 85)
    p.bp("BP_LOWEST_OF_DAY", "2024-09-01", 135, 95)  # lowest 135 / lowest 85: controlled
    hypertensive(p, "BP_LATEST_HIGH")
    p.bp("BP_LATEST_HIGH", "2024-03-01", 120, 70)
    p.bp("BP_LATEST_HIGH", "2024-10-01", 160, 100)
    hypertensive(p, "BP_NONE")
    hypertensive(p, "HTN_JUN30", onset="2024-06-30")  # onset by 30 June: in
    p.bp("HTN_JUN30", "2024-08-01", 120, 70)
    hypertensive(p, "HTN_JUL1", onset="2024-07-01")  # after 30 June: out
    hypertensive(p, "HTN_ESRD")
    p.condition("HTN_ESRD", "N18.6", onset="2020-01-01")
    hypertensive(p, "HTN_PREGNANT")
    p.encounter("HTN_PREGNANT", "2024-05-05", dx="Z34.90")
    hypertensive(p, "HTN_86", birth="1938-12-31")  # 86 on E: out
    # -- breast cancer screening -----------------------------------------------------------
    p.person("BCS_IN", birth="1960-01-01")
    p.procedure("BCS_IN", "2022-10-01", "77067")  # first day of the 27-month window
    p.person("BCS_EARLY", birth="1960-01-01")
    p.procedure("BCS_EARLY", "2022-09-30", "77067")  # one day before it
    p.person("BCS_52", birth="1972-12-31")  # 52 on E: in (no mammogram)
    p.person("BCS_51", birth="1973-01-01")  # 51: out
    p.person("BCS_74", birth="1950-12-31")  # 74: in
    p.person("BCS_75", birth="1949-12-31")  # 75: out
    p.person("BCS_MALE", birth="1960-01-01", sex="male")  # out
    p.person("BCS_MASTECTOMY", birth="1960-01-01")
    p.condition("BCS_MASTECTOMY", "Z90.13", onset="2019-01-01")
    # -- colorectal screening: ages 46-75 ---------------------------------------------------
    for pid, code, day in [
        ("COL_COLO_IN", "45378", "2015-01-01"),  # colonoscopy: period + 9 years
        ("COL_COLO_OUT", "45378", "2014-12-31"),
        ("COL_FIT_IN", "82274", "2024-01-01"),  # FOBT: the period only
        ("COL_FIT_OUT", "82274", "2023-12-31"),
        ("COL_DNA_IN", "81528", "2022-01-01"),  # stool DNA: period + 2 years
        ("COL_DNA_OUT", "81528", "2021-12-31"),
        ("COL_SIG_IN", "45330", "2020-01-01"),  # flexible sigmoidoscopy: period + 4 years
        ("COL_SIG_OUT", "45330", "2019-12-31"),
        ("COL_CTC_IN", "74263", "2020-01-01"),  # CT colonography: period + 4 years
    ]:
        p.person(pid, birth="1965-03-03", sex="male")
        p.procedure(pid, day, code)
    p.person("COL_46", birth="1978-12-31", sex="male")  # 46 on E: in
    p.person("COL_45", birth="1979-01-01", sex="male")  # 45: out
    p.person("COL_CANCER", birth="1965-03-03", sex="male")
    p.condition("COL_CANCER", "C18.9", onset="2021-01-01")
    # -- statins for cardiovascular disease -------------------------------------------------
    p.person("SPC_MAN21", birth="2003-12-31", sex="male")
    p.condition("SPC_MAN21", "I25.10")
    p.drug("SPC_MAN21", "2024-05-05", "259255")
    p.person("SPC_MAN20", birth="2004-01-01", sex="male")
    p.condition("SPC_MAN20", "I25.10")
    p.person("SPC_WOMAN40", birth="1984-12-31")
    p.condition("SPC_WOMAN40", "I25.10")
    p.drug("SPC_WOMAN40", "2023-12-31", "259255")  # fill before the period: not in numerator
    p.person("SPC_WOMAN39", birth="1985-01-01")
    p.condition("SPC_WOMAN39", "I25.10")
    return p


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = population().load(tmp_path_factory.mktemp("clinical"))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def run(engine: Engine) -> measures.MeasureRun:
    return measures.run(engine, PERIOD)


def rows(run: measures.MeasureRun, measure: str) -> pd.DataFrame:
    return run.units(measure).set_index("person_id")


def flags(run: measures.MeasureRun, measure: str, pid: str) -> tuple[bool, str | None, bool]:
    r = rows(run, measure).loc[pid]
    excl = r["exclusion"] if isinstance(r["exclusion"], str) else None
    return bool(r["excluded"]), excl, bool(r["numerator"])


def test_diabetes_denominator_age_on_the_last_day(run: measures.MeasureRun) -> None:
    ids = set(rows(run, "hba1c_poor_control").index)
    assert {"AGE18", "AGE75", "ABATED_IN"} <= ids
    assert not {"AGE17", "AGE76", "ONSET_LATE", "ABATED", "NOT_DIABETIC"} & ids


def test_continuous_enrolment_one_gap_of_45_days(run: measures.MeasureRun) -> None:
    ids = set(rows(run, "hba1c_control").index)
    assert {"GAP45", "OVERLAP"} <= ids
    assert not {"GAP46", "TWO_GAPS", "ENDS_BEFORE_E"} & ids


def test_hba1c_poor_control_numerator(run: measures.MeasureRun) -> None:
    def poor(pid: str) -> bool:
        return flags(run, "hba1c_poor_control", pid)[2]

    assert poor("A1C_NONE") and poor("A1C_9_1") and poor("A1C_LAST_YEAR")
    assert not poor("A1C_9_0") and not poor("A1C_LAST_GOOD") and not poor("A1C_SAME_DAY")


def test_hba1c_control_numerator(run: measures.MeasureRun) -> None:
    def ok(pid: str) -> bool:
        return flags(run, "hba1c_control", pid)[2]

    assert ok("A1C_LAST_GOOD") and ok("A1C_JAN1")
    assert not ok("A1C_SAME_DAY") and not ok("A1C_9_0") and not ok("A1C_NONE")


def test_exclusions_win_over_the_numerator(run: measures.MeasureRun) -> None:
    assert flags(run, "hba1c_poor_control", "HOSPICE") == (True, "hospice_palliative", True)
    assert flags(run, "hba1c_poor_control", "HOSPICE_2023")[:2] == (False, None)
    assert flags(run, "hba1c_poor_control", "DIED")[:2] == (True, "died_in_period")
    assert flags(run, "hba1c_poor_control", "FRAIL66")[:2] == (True, "frailty_advanced_illness")
    assert flags(run, "hba1c_poor_control", "FRAIL65")[:2] == (False, None)
    assert flags(run, "hba1c_poor_control", "FRAIL_ONLY")[:2] == (False, None)
    assert flags(run, "hba1c_poor_control", "FRAIL_LAST_YEAR")[:2] == (False, None)
    gaps = run.gaps("hba1c_poor_control")
    assert "HOSPICE" not in set(gaps.person_id)
    assert "A1C_NONE" in set(gaps.person_id)


def test_rates_count_units_not_excluded(run: measures.MeasureRun) -> None:
    u = rows(run, "hba1c_poor_control")
    r = run.rates().set_index("measure").loc["hba1c_poor_control"]
    kept = u[~u.excluded]
    assert r["denominator"] == len(kept)
    assert r["numerator"] == int(kept.numerator.sum())
    assert r["excluded"] == int(u.excluded.sum())
    assert r["lower"] <= r["rate"] <= r["upper"]


def test_gap_detail_says_why_and_what_closes_it(run: measures.MeasureRun) -> None:
    g = run.gaps("hba1c_poor_control").set_index("person_id")
    assert g.loc["A1C_NONE", "detail"].startswith("no HbA1c in the period")
    assert "last HbA1c 9.1% on 2024-06-01" in g.loc["A1C_9_1", "detail"]
    assert "order an HbA1c test" in g.loc["A1C_9_1", "detail"]
    c = run.gaps("controlling_bp").set_index("person_id")
    assert "last BP 160/100 on 2024-10-01" in c.loc["BP_LATEST_HIGH", "detail"]


def test_eye_exam_in_the_period(run: measures.MeasureRun) -> None:
    assert flags(run, "diabetic_eye_exam", "EYE_IN")[2]
    assert not flags(run, "diabetic_eye_exam", "EYE_OUT")[2]


def test_controlling_blood_pressure(run: measures.MeasureRun) -> None:
    ids = set(rows(run, "controlling_bp").index)
    assert "HTN_JUN30" in ids and "HTN_JUL1" not in ids and "HTN_86" not in ids

    def ok(pid: str) -> bool:
        return flags(run, "controlling_bp", pid)[2]

    assert ok("BP_OK") and ok("BP_LOWEST_OF_DAY") and ok("HTN_JUN30")
    assert not ok("BP_140") and not ok("BP_LATEST_HIGH") and not ok("BP_NONE")
    assert flags(run, "controlling_bp", "HTN_ESRD")[:2] == (True, "esrd")
    assert flags(run, "controlling_bp", "HTN_PREGNANT")[:2] == (True, "pregnancy")


def test_breast_cancer_screening(run: measures.MeasureRun) -> None:
    ids = set(rows(run, "breast_cancer_screening").index)
    assert {"BCS_52", "BCS_74", "BCS_IN"} <= ids
    assert not {"BCS_51", "BCS_75", "BCS_MALE"} & ids
    assert flags(run, "breast_cancer_screening", "BCS_IN")[2]
    assert not flags(run, "breast_cancer_screening", "BCS_EARLY")[2]
    assert flags(run, "breast_cancer_screening", "BCS_MASTECTOMY")[:2] == (
        True,
        "bilateral_mastectomy",
    )


def test_colorectal_screening_lookbacks(run: measures.MeasureRun) -> None:
    ids = set(rows(run, "colorectal_screening").index)
    assert "COL_46" in ids and "COL_45" not in ids
    for pid in ("COL_COLO_IN", "COL_FIT_IN", "COL_DNA_IN", "COL_SIG_IN", "COL_CTC_IN"):
        assert flags(run, "colorectal_screening", pid)[2], pid
    for pid in ("COL_COLO_OUT", "COL_FIT_OUT", "COL_DNA_OUT", "COL_SIG_OUT", "COL_46"):
        assert not flags(run, "colorectal_screening", pid)[2], pid
    assert flags(run, "colorectal_screening", "COL_CANCER")[:2] == (
        True,
        "colorectal_cancer_or_colectomy",
    )


def test_statin_therapy_ages_by_sex(run: measures.MeasureRun) -> None:
    ids = set(rows(run, "statin_therapy_cvd").index)
    assert {"SPC_MAN21", "SPC_WOMAN40"} <= ids
    assert not {"SPC_MAN20", "SPC_WOMAN39"} & ids
    assert flags(run, "statin_therapy_cvd", "SPC_MAN21")[2]
    assert not flags(run, "statin_therapy_cvd", "SPC_WOMAN40")[2]


def test_results_are_stored_and_replaced(engine: Engine) -> None:
    measures.run(engine, PERIOD, only=["hba1c_control"])
    first = engine.table("measure_result").count().execute()
    measures.run(engine, PERIOD, only=["hba1c_control"])
    t = engine.table("measure_result")
    assert t.count().execute() == first
    overall = t.filter((t.measure == "hba1c_control") & (t.stratifier == "all")).execute()
    assert len(overall) == 1 and overall.period.iloc[0] == "2024"
    gaps = engine.table("care_gap")
    g = gaps.filter(gaps.measure == "hba1c_control").execute()
    assert "A1C_NONE" in set(g.person_id)
    assert set(g.action) == {"check the HbA1c and intensify treatment or support adherence"}


def test_strata_add_up(run: measures.MeasureRun) -> None:
    r = run.results
    m = r[r.measure == "hba1c_poor_control"]
    overall = m[m.stratifier == "all"].iloc[0]
    for by in ("sex", "age_band", "payer", "deprivation_quintile"):
        part = m[m.stratifier == by]
        assert part.denominator.sum() == overall.denominator, by
        assert part.numerator.sum() == overall.numerator, by


@pytest.mark.spark
def test_same_units_on_spark(
    run: measures.MeasureRun, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Clinical measures compile to the same answers on PySpark (local mode): two measures
    that between them use every kind of criterion the library's specs use (Spark runs each
    small query as several jobs, so the whole library would take minutes)."""
    pytest.importorskip("pyspark")
    from popweave.cohorts import Data
    from popweave.warehouse import load, open_engine
    from tests.warehouse.conftest import rows_to_table

    pop = population()
    engine = open_engine("spark://local[2]", tmp_path_factory.mktemp("spark"))
    try:
        batches = {name: rows_to_table(name, rows) for name, rows in pop.rows.items()}
        import datetime as dt

        load(engine, batches, source="hand-built", today=dt.date(2026, 1, 1))
        from popweave.cohorts import Period
        from popweave.measures import clinical

        spark = Data.of(engine)
        for spec in run.specs:
            if spec.id not in ("hba1c_poor_control", "controlling_bp"):
                continue
            cols = ["person_id", "excluded", "exclusion", "numerator", "detail"]
            got = clinical.evaluate(spec, spark, Period.year(PERIOD)).to_pandas()
            a = got[cols].astype(str).sort_values("person_id").values.tolist()
            b = run.units(spec.id)[cols].astype(str).sort_values("person_id").values.tolist()
            assert a == b, spec.id
    finally:
        engine.close()
