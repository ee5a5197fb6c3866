"""Utilisation measures: every rule of docs/measures.md on hand-built people (boundary dates
in and out), then the rates of a 20,000-person synthetic city against its planted truth."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Iterator
from typing import Any

import ibis
import pandas as pd
import pytest

from popweave.cohorts.data import Data
from popweave.cohorts.period import Period
from popweave.measures import utilisation as u
from popweave.measures.base import RATE_COLUMNS, UNIT_COLUMNS
from popweave.warehouse import load, open_engine
from tests.synth.conftest import Built, built  # noqa: F401 - the session city fixture
from tests.warehouse.conftest import rows_to_table

P = Period.year(2024)  # S = 2024-01-01, E = 2024-12-31, E - 30 = 2024-12-01
#: Hand-given value sets, to check that ``valuesets=`` overrides the shipped ones.
VS: dict[str, dict[str, list[str]]] = {
    "planned_readmission_always": {"ICD10CM": ["Z51.11", "Z51.89"]},
    "planned_readmission_procedures": {"CPT": ["27447", "47562"]},
    "acute_readmission_diagnoses": {"ICD10CM": ["J18.9", "A41.9", "I50.9"]},
    "med_rec": {"CPT": ["1111F", "99495", "99496"]},
}


class Pop:
    """Hand-built rows per canonical table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.n = 0

    def add(self, table: str, **row: Any) -> str:
        self.rows.setdefault(table, []).append(row)
        return str(row.get("encounter_id", ""))

    def person(self, pid: str, birth: str = "1960-01-01", death: str | None = None) -> None:
        self.add("person", person_id=pid, birth_date=birth, death_date=death, sex="female")

    def _eid(self) -> str:
        self.n += 1
        return f"E{self.n:03d}"

    def stay(
        self, pid: str, admit: str, discharge: str, disp: str = "01", dx: str = "J18.9"
    ) -> str:
        return self.add(
            "encounter",
            encounter_id=self._eid(),
            person_id=pid,
            encounter_class="inpatient",
            start_time=f"{admit}T09:00:00",
            end_time=f"{discharge}T14:00:00",
            discharge_disposition=disp,
            code_system="ICD10CM",
            code=dx,
        )

    def visit(self, pid: str, day: str, cls: str = "ambulatory", hour: int = 10) -> str:
        return self.add(
            "encounter",
            encounter_id=self._eid(),
            person_id=pid,
            encounter_class=cls,
            start_time=f"{day}T{hour:02d}:00:00",
            end_time=f"{day}T{hour:02d}:30:00",
        )

    def procedure(self, pid: str, day: str, code: str) -> None:
        n = len(self.rows.get("procedure", []))
        self.add(
            "procedure",
            procedure_id=f"PX{n}",
            person_id=pid,
            date=day,
            code_system="CPT",
            code=code,
        )

    def claim(self, pid: str, day: str, allowed: str, paid: str, code: str | None = None) -> None:
        n = len(self.rows.get("claim_line", []))
        self.add(
            "claim_line",
            claim_id=f"C{n}",
            line_number=1,
            person_id=pid,
            service_date=day,
            payer="commercial",
            code_system="CPT" if code else None,
            code=code,
            allowed_amount=allowed,
            paid_amount=paid,
        )

    def enrol(self, pid: str, start: str, end: str | None, payer: str = "commercial") -> None:
        n = len(self.rows.get("enrollment", []))
        self.add(
            "enrollment",
            enrollment_id=f"EN{n}",
            person_id=pid,
            payer=payer,
            start_date=start,
            end_date=end,
        )


def population() -> tuple[Pop, dict[str, str]]:
    """Everyone the rule tests look at; returns the rows and the encounter ids by label."""
    p = Pop()
    e: dict[str, str] = {}
    # Discharge window [S, E - 30].
    for pid, dis in [
        ("W_last", "2024-12-01"),
        ("W_after", "2024-12-02"),
        ("W_first", "2024-01-01"),
    ]:
        p.person(pid)
        e[pid] = p.stay(pid, "2024-11-25" if pid != "W_first" else "2023-12-28", dis)
    p.person("W_before")
    e["W_before"] = p.stay("W_before", "2023-12-20", "2023-12-31")
    # Readmission day 30 in, day 31 out, day 0 not a readmission, day 1 in.
    for pid, readmit in [("R30", "2024-03-31"), ("R31", "2024-04-01"), ("R0", "2024-03-01"),
                         ("R1", "2024-03-02")]:  # fmt: skip
        p.person(pid)
        e[pid] = p.stay(pid, "2024-02-25", "2024-03-01")
        e[pid + "_re"] = p.stay(pid, readmit, "2024-04-05")
    # Transfer chain (02 then an admission the next day, then 02 and the same day): one
    # episode indexed at its last stay, readmitted 10 days later.
    p.person("T")
    e["T1"] = p.stay("T", "2024-05-01", "2024-05-03", disp="02")
    e["T2"] = p.stay("T", "2024-05-04", "2024-05-08", disp="02")
    e["T3"] = p.stay("T", "2024-05-08", "2024-05-10", disp="01")
    e["T_re"] = p.stay("T", "2024-05-20", "2024-05-22")
    # Transfer with no following admission (still transferred), and one followed 2 days later.
    p.person("TO")
    e["TO"] = p.stay("TO", "2024-06-01", "2024-06-03", disp="02")
    p.person("TG")
    e["TG1"] = p.stay("TG", "2024-06-01", "2024-06-03", disp="02")
    e["TG2"] = p.stay("TG", "2024-06-05", "2024-06-09", disp="01")
    # Against medical advice, died in hospital, died within 30 days (with and without a
    # readmission), died on day 31.
    p.person("AMA")
    e["AMA"] = p.stay("AMA", "2024-04-01", "2024-04-03", disp="07")
    p.person("DH", death="2024-04-03")
    e["DH"] = p.stay("DH", "2024-04-01", "2024-04-03", disp="20")
    p.person("D30", death="2024-07-31")
    e["D30"] = p.stay("D30", "2024-06-28", "2024-07-01")
    p.person("D31", death="2024-08-01")
    e["D31"] = p.stay("D31", "2024-06-28", "2024-07-01")
    p.person("DR", death="2024-07-12")
    e["DR"] = p.stay("DR", "2024-06-28", "2024-07-01")
    e["DR_re"] = p.stay("DR", "2024-07-05", "2024-07-12", disp="20")
    # Planned readmissions (CMS PAA v4.0).
    p.person("PA")  # always-planned principal diagnosis (maintenance chemotherapy)
    e["PA"] = p.stay("PA", "2024-08-01", "2024-08-03")
    e["PA_re"] = p.stay("PA", "2024-08-10", "2024-08-11", dx="Z51.11")
    p.person("PP")  # potentially planned procedure (knee arthroplasty), non-acute diagnosis
    e["PP"] = p.stay("PP", "2024-08-01", "2024-08-03")
    e["PP_re"] = p.stay("PP", "2024-08-10", "2024-08-12", dx="M17.11")
    p.procedure("PP", "2024-08-11", "27447")
    p.person("PC")  # the same procedure on a claim line, non-acute diagnosis
    e["PC"] = p.stay("PC", "2024-08-01", "2024-08-03")
    e["PC_re"] = p.stay("PC", "2024-08-10", "2024-08-12", dx="K81.1")  # chronic cholecystitis
    p.claim("PC", "2024-08-10", "9000.00", "8000.00", code="47562")
    p.person("PU")  # potentially planned procedure with an acute diagnosis: unplanned
    e["PU"] = p.stay("PU", "2024-08-01", "2024-08-03")
    e["PU_re"] = p.stay("PU", "2024-08-10", "2024-08-12", dx="J18.9")
    p.procedure("PU", "2024-08-11", "27447")
    p.person("PF")  # first readmission planned, a later unplanned one is not counted
    e["PF"] = p.stay("PF", "2024-08-01", "2024-08-03")
    e["PF_re"] = p.stay("PF", "2024-08-05", "2024-08-06", dx="Z51.11")
    e["PF_re2"] = p.stay("PF", "2024-08-20", "2024-08-25", dx="J18.9")
    # Age at admission: 17 (not index, though 18 at discharge), 18 on the admission day.
    p.person("A17", birth="2006-06-15")
    e["A17"] = p.stay("A17", "2024-06-10", "2024-06-20")
    p.person("A18", birth="2006-06-10")
    e["A18"] = p.stay("A18", "2024-06-10", "2024-06-20")

    # Follow-up after discharge home (01) or home health (06).
    p.person("F7")
    e["F7"] = p.stay("F7", "2024-01-28", "2024-02-01", disp="01")
    p.visit("F7", "2024-02-01")  # day 0: not a follow-up
    e["F7_v"] = p.visit("F7", "2024-02-08")  # day 7
    p.person("F8")
    e["F8"] = p.stay("F8", "2024-01-28", "2024-02-01", disp="06")
    p.visit("F8", "2024-02-04", cls="emergency")  # not a follow-up class
    e["F8_v"] = p.visit("F8", "2024-02-09", cls="virtual")  # day 8
    p.person("F31")
    e["F31"] = p.stay("F31", "2024-01-28", "2024-02-01")
    p.visit("F31", "2024-03-03")  # day 31
    p.person("F30")
    e["F30"] = p.stay("F30", "2024-01-28", "2024-02-01")
    e["F30_v"] = p.visit("F30", "2024-03-02", cls="home")  # day 30
    p.person("FSNF")
    e["FSNF"] = p.stay("FSNF", "2024-01-28", "2024-02-01", disp="03")
    p.person("FD", death="2024-02-20")
    e["FD"] = p.stay("FD", "2024-01-28", "2024-02-01")
    p.person("FK", birth="2007-01-01")  # 17 on E: not in the discharge measures
    e["FK"] = p.stay("FK", "2024-01-28", "2024-02-01")
    # Medication reconciliation: discharge day (procedure), day 30 (claim), day 31 / day -1.
    p.person("M0")
    e["M0"] = p.stay("M0", "2024-01-28", "2024-02-01")
    p.procedure("M0", "2024-02-01", "1111F")
    p.person("M30")
    e["M30"] = p.stay("M30", "2024-01-28", "2024-02-01")
    p.claim("M30", "2024-03-02", "200.00", "150.00", code="99496")
    p.person("M31")
    e["M31"] = p.stay("M31", "2024-01-28", "2024-02-01")
    p.procedure("M31", "2024-03-03", "1111F")
    p.procedure("M31", "2024-01-31", "1111F")

    # Member-months, ED visits and cost on enrolled days.
    p.person("MM")  # overlapping spans Jan 1-Mar 31 and Feb 15-Apr 30: 4 member-months
    p.enrol("MM", "2024-01-01", "2024-03-31")
    p.enrol("MM", "2024-02-15", "2024-04-30", payer="medicaid")
    p.visit("MM", "2024-02-20", cls="emergency")  # enrolled (under both spans): once
    p.visit("MM", "2024-05-10", cls="emergency")  # not enrolled
    p.visit("MM", "2023-12-31", cls="emergency")  # before the period
    p.visit("MM", "2024-03-05")  # not an ED visit
    p.claim("MM", "2024-03-01", "100.00", "80.00")
    p.claim("MM", "2024-04-30", "50.50", "40.25")
    p.claim("MM", "2024-05-01", "1000.00", "900.00")  # not enrolled
    p.person("MID")  # Jan 15-Feb 10: covered on 1 February only
    p.enrol("MID", "2024-01-15", "2024-02-10")
    p.visit("MID", "2024-01-20", cls="emergency")
    p.person("SHORT")  # Mar 2-Mar 31: no first-of-month day
    p.enrol("SHORT", "2024-03-02", "2024-03-31")
    p.person("OPEN")  # open span from 2023: all 12 months
    p.enrol("OPEN", "2023-06-01", None)
    p.person("ADJ")  # back-to-back spans: 2 member-months
    p.enrol("ADJ", "2024-01-01", "2024-01-31")
    p.enrol("ADJ", "2024-02-01", "2024-02-29")
    p.person("NONE")  # never enrolled: no row
    p.visit("NONE", "2024-02-20", cls="emergency")
    return p, e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Data, dict[str, str]]]:
    pop, ids = population()
    engine = open_engine("duckdb:///w.duckdb", tmp_path_factory.mktemp("util"))
    batches = {name: rows_to_table(name, rows) for name, rows in pop.rows.items()}
    report = load(engine, batches, source="hand-built", today=dt.date(2025, 6, 1))
    assert report.total_rejected == 0, report.rejected
    yield Data.of(engine), ids
    engine.close()


def run(world: tuple[Data, dict[str, str]], measure: str, **params: Any) -> pd.DataFrame:
    data, _ = world
    expr = u.LOGIC[measure](data, P, **params)
    cols = UNIT_COLUMNS if "numerator" in expr.columns else RATE_COLUMNS
    assert list(expr.columns) == list(cols)
    assert {c: str(t) for c, t in expr.schema().items()} == cols
    df: pd.DataFrame = expr.to_pandas()
    if "unit_date" in df:
        df["unit_date"] = pd.to_datetime(df.unit_date).dt.date
        df["exclusion"] = df.exclusion.astype(object).where(df.exclusion.notna(), None)
    return df


def one(df: pd.DataFrame, person: str) -> dict[str, Any]:
    rows = df[df.person_id == person]
    assert len(rows) == 1, (person, rows)
    row: dict[str, Any] = rows.iloc[0].to_dict()
    return row


@pytest.fixture(scope="module")
def readm(world: tuple[Data, dict[str, str]]) -> pd.DataFrame:
    return run(world, "readmission_30d")


# -- readmission_30d --------------------------------------------------------------------------


def test_index_window_is_s_to_e_minus_30(readm: pd.DataFrame) -> None:
    assert one(readm, "W_last")["unit_date"] == dt.date(2024, 12, 1)
    assert one(readm, "W_first")["unit_date"] == dt.date(2024, 1, 1)
    assert "W_after" not in set(readm.person_id)
    assert "W_before" not in set(readm.person_id)


def test_readmission_day_30_in_day_31_out_day_0_not(
    readm: pd.DataFrame, world: tuple[Data, dict[str, str]]
) -> None:
    ids = world[1]
    r = readm.set_index("unit_id")
    assert bool(r.loc[ids["R30"], "numerator"])
    assert r.loc[ids["R30"], "detail"] == (
        f"readmitted 2024-03-31 ({ids['R30_re']}) 30 days after discharge"
    )
    assert bool(r.loc[ids["R1"], "numerator"])
    assert not bool(r.loc[ids["R31"], "numerator"])
    assert not bool(r.loc[ids["R0"], "numerator"])
    assert r.loc[ids["R0"], "detail"] == "no readmission within 30 days of discharge on 2024-03-01"
    # The same-day admission is an index stay of its own (not a transfer: status 01).
    assert ids["R0_re"] in r.index
    assert not r.loc[[ids[k] for k in ("R30", "R1", "R31", "R0")], "excluded"].any()


def test_transfer_chain_is_one_episode_indexed_at_its_last_discharge(
    readm: pd.DataFrame, world: tuple[Data, dict[str, str]]
) -> None:
    ids = world[1]
    t = readm[readm.person_id == "T"].set_index("unit_id")
    assert set(t.index) == {ids["T3"], ids["T_re"]}
    row = t.loc[ids["T3"]]
    assert row["unit_date"] == dt.date(2024, 5, 10)
    assert bool(row["numerator"]) and not bool(row["excluded"])
    assert row["detail"] == (
        f"readmitted 2024-05-20 ({ids['T_re']}) 10 days after discharge; "
        "episode of 3 stays linked by transfer, admitted 2024-05-01"
    )


def test_transfer_out_and_transfer_without_next_day_admission(
    readm: pd.DataFrame, world: tuple[Data, dict[str, str]]
) -> None:
    ids = world[1]
    to = one(readm, "TO")
    assert (to["excluded"], to["exclusion"], to["numerator"]) == (True, "transfer_out", False)
    assert "transferred to another hospital (discharge status 02) on 2024-06-03" in to["detail"]
    tg = readm[readm.person_id == "TG"].set_index("unit_id")
    assert tg.loc[ids["TG1"], "exclusion"] == "transfer_out"  # admission 2 days later
    assert not bool(tg.loc[ids["TG2"], "excluded"])


def test_exclusions_are_kept_with_a_reason(readm: pd.DataFrame) -> None:
    got = {
        pid: (one(readm, pid)["excluded"], one(readm, pid)["exclusion"])
        for pid in ("AMA", "DH", "D30", "D31")
    }
    assert got == {
        "AMA": (True, "against_medical_advice"),
        "DH": (True, "died_in_hospital"),
        "D30": (True, "died_within_30_days"),
        "D31": (False, None),
    }
    assert one(readm, "D30")["detail"] == (
        "died 2024-07-31, 30 days after discharge on 2024-07-01, not readmitted"
    )
    assert not any(one(readm, pid)["numerator"] for pid in ("AMA", "DH", "D30"))


def test_death_after_a_readmission_keeps_the_index_stay(
    readm: pd.DataFrame, world: tuple[Data, dict[str, str]]
) -> None:
    ids = world[1]
    dr = readm[readm.person_id == "DR"].set_index("unit_id")
    assert not bool(dr.loc[ids["DR"], "excluded"])
    assert bool(dr.loc[ids["DR"], "numerator"])
    assert dr.loc[ids["DR_re"], "exclusion"] == "died_in_hospital"


def test_planned_readmissions_do_not_count(
    readm: pd.DataFrame, world: tuple[Data, dict[str, str]]
) -> None:
    ids = world[1]
    r = readm.set_index("unit_id")
    assert not bool(r.loc[ids["PA"], "numerator"])  # always-planned diagnosis
    assert r.loc[ids["PA"], "detail"] == (
        f"first readmission 2024-08-10 ({ids['PA_re']}) 7 days after discharge was planned "
        "(CMS PAA v4.0): not counted"
    )
    assert not bool(r.loc[ids["PP"], "numerator"])  # procedure, non-acute diagnosis
    assert not bool(r.loc[ids["PC"], "numerator"])  # procedure on a claim line
    assert bool(r.loc[ids["PU"], "numerator"])  # procedure, acute diagnosis: unplanned
    assert not bool(r.loc[ids["PF"], "numerator"])  # first readmission planned
    assert not r.loc[[ids[k] for k in ("PA", "PP", "PC", "PU", "PF")], "excluded"].any()


def test_value_sets_can_be_given(world: tuple[Data, dict[str, str]]) -> None:
    ids = world[1]
    # Knee arthroplasty is not potentially planned in these sets, and M17.11 not acute.
    given = {**VS, "planned_readmission_procedures": {"CPT": ["47562"]}}
    r = run(world, "readmission_30d", valuesets=given).set_index("unit_id")
    assert bool(r.loc[ids["PP"], "numerator"])
    assert not bool(r.loc[ids["PC"], "numerator"])
    mr = run(world, "med_rec_post_discharge", valuesets={"med_rec": {"CPT": ["1111F"]}})
    assert not one(mr, "M30")["numerator"]  # TCM 99496 no longer counts
    assert one(mr, "M0")["numerator"]


def test_age_18_at_admission(readm: pd.DataFrame) -> None:
    assert "A17" not in set(readm.person_id)
    assert one(readm, "A18")["unit_date"] == dt.date(2024, 6, 20)


def test_min_age_and_window_are_parameters(world: tuple[Data, dict[str, str]]) -> None:
    df = run(world, "readmission_30d", min_age=17, window_days=31)
    assert "A17" in set(df.person_id)
    assert "W_last" not in set(df.person_id)  # last discharge day is now E - 31
    assert bool(one(df[df.unit_date == dt.date(2024, 3, 1)], "R31")["numerator"])


# -- follow-up and medication reconciliation -------------------------------------------------


def test_followup_7d_day_7_in_day_8_out(world: tuple[Data, dict[str, str]]) -> None:
    ids = world[1]
    f7 = run(world, "followup_7d")
    assert one(f7, "F7")["numerator"]
    assert one(f7, "F7")["detail"] == (
        f"ambulatory visit 2024-02-08 ({ids['F7_v']}) 7 days after discharge"
    )
    assert one(f7, "F8")["unit_id"] == ids["F8"]  # home health (06) is in the denominator
    assert not one(f7, "F8")["numerator"]  # day 8; the ED visit on day 3 does not count
    assert one(f7, "F8")["detail"] == (
        "no visit within 7 days of discharge on 2024-02-01: schedule a follow-up visit"
    )


def test_followup_30d_day_30_in_day_31_out(world: tuple[Data, dict[str, str]]) -> None:
    f30 = run(world, "followup_30d")
    assert one(f30, "F8")["numerator"]  # virtual visit on day 8
    assert one(f30, "F30")["numerator"]  # home visit on day 30
    assert not one(f30, "F31")["numerator"]
    assert not one(f30, "F7")["excluded"]


def test_discharge_denominator_rules(world: tuple[Data, dict[str, str]]) -> None:
    for measure in ("followup_7d", "followup_30d", "med_rec_post_discharge"):
        df = run(world, measure)
        people = set(df.person_id)
        assert "FSNF" not in people  # discharged to a SNF (03)
        assert not {"TO", "AMA", "DH", "FK", "W_after"} & people  # 02, 07, 20, age 17 on E
        fd = one(df, "FD")
        assert (fd["excluded"], fd["exclusion"], fd["numerator"]) == (
            True,
            "died_within_30_days",
            False,
        )


def test_med_rec_from_discharge_day_to_day_30(world: tuple[Data, dict[str, str]]) -> None:
    mr = run(world, "med_rec_post_discharge")
    assert one(mr, "M0")["numerator"]
    assert one(mr, "M0")["detail"] == (
        "medication reconciliation (1111F) on 2024-02-01, 0 days after discharge"
    )
    assert one(mr, "M30")["numerator"]  # TCM claim line on day 30
    assert not one(mr, "M31")["numerator"]  # day 31 and the day before discharge
    assert one(mr, "M31")["detail"].startswith(
        "no medication reconciliation within 30 days of discharge on 2024-02-01"
    )


# -- rates per member-month --------------------------------------------------------------------


def test_member_months_first_of_month_rule(world: tuple[Data, dict[str, str]]) -> None:
    ed = run(world, "ed_visits_per_1000").set_index("person_id")
    assert ed.exposure.to_dict() == {
        "MM": 4.0,
        "MID": 1.0,
        "SHORT": 0.0,
        "OPEN": 12.0,
        "ADJ": 2.0,
    }


def test_ed_visits_only_on_enrolled_days(world: tuple[Data, dict[str, str]]) -> None:
    ed = run(world, "ed_visits_per_1000").set_index("person_id")
    assert ed.events.to_dict() == {"MM": 1.0, "MID": 1.0, "SHORT": 0.0, "OPEN": 0.0, "ADJ": 0.0}


def test_pmpm_allowed_and_paid_on_enrolled_days(world: tuple[Data, dict[str, str]]) -> None:
    cost = run(world, "pmpm_cost").set_index("person_id")
    assert cost.loc["MM", "events"] == pytest.approx(150.50)
    assert cost.loc["MM", "events"] / cost.loc["MM", "exposure"] == pytest.approx(150.50 / 4)
    assert cost.events.drop("MM").sum() == 0  # claims of people never enrolled do not count
    paid = run(world, "pmpm_paid").set_index("person_id")
    assert paid.loc["MM", "events"] == pytest.approx(120.25)
    same = run(world, "pmpm_cost", amount="paid").set_index("person_id")
    assert same.loc["MM", "events"] == pytest.approx(120.25)
    with pytest.raises(ValueError, match="amount"):
        u.pmpm_cost(world[0], P, amount="billed")  # type: ignore[arg-type]


def test_payers_restrict_coverage(world: tuple[Data, dict[str, str]]) -> None:
    ed = run(world, "ed_visits_per_1000", payers=["medicaid"]).set_index("person_id")
    assert ed.exposure.to_dict() == {"MM": 2.0}  # Feb 15-Apr 30: March and April
    assert ed.events.to_dict() == {"MM": 1.0}


def test_registry() -> None:
    assert set(u.LOGIC) >= {
        "readmission_30d",
        "followup_7d",
        "followup_30d",
        "med_rec_post_discharge",
        "ed_visits_per_1000",
        "pmpm_cost",
    }


@pytest.mark.spark
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java")
def test_same_results_on_spark(
    world: tuple[Data, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytest.importorskip("pyspark")
    pop, _ = population()
    engine = open_engine("spark://local[2]", tmp_path_factory.mktemp("spark"))
    try:
        batches = {name: rows_to_table(name, rows) for name, rows in pop.rows.items()}
        load(engine, batches, source="hand-built", today=dt.date(2025, 6, 1))
        spark = Data.of(engine)
        for measure, logic in u.LOGIC.items():
            on_spark = logic(spark, P).to_pandas().astype(str).values.tolist()
            on_duckdb = logic(world[0], P).to_pandas().astype(str).values.tolist()
            assert sorted(on_spark) == sorted(on_duckdb), measure
    finally:
        engine.close()


# -- the 20,000-person city against its truth ------------------------------------------------


def wilson(k: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (Wilson 1927)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def poisson_exact(k: int, z_level: float = 0.95) -> tuple[float, float]:
    """Garwood (1936) exact 95% interval for a Poisson count."""
    stats = pytest.importorskip("scipy.stats")
    a = 1 - z_level
    lo = float(stats.chi2.ppf(a / 2, 2 * k) / 2) if k > 0 else 0.0
    return lo, float(stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2)


def city_period(truth: dict[str, Any]) -> Period:
    """The period of ``truth["measures"]`` (the city's last year) if given, else the city's."""
    given = truth.get("measures", {}).get("period", truth["period"])
    if isinstance(given, dict):
        return Period.parse(f"{given['start']}..{given['end']}")
    return Period.parse(str(given))


def realised_interval(df: pd.DataFrame, measure: str) -> tuple[float, float, float]:
    """(rate, lower, upper) of a measure result as docs/measures.md reports it."""
    if "numerator" in df:
        den = df[~df.excluded]
        k, n = int(den.numerator.sum()), len(den)
        return (k / n, *wilson(k, n))
    exposure, events = float(df.exposure.sum()), float(df.events.sum())
    if measure == "ed_visits_per_1000":
        lo, hi = poisson_exact(int(events))
        return events / exposure * 1000, lo / exposure * 1000, hi / exposure * 1000
    # Cost per member-month: ratio of sums, person-clustered (linearised) variance.
    r = events / exposure
    n = len(df)
    resid = df.events - r * df.exposure
    se = math.sqrt(n / (n - 1) * float((resid**2).sum())) / exposure
    return r, r - 1.959964 * se, r + 1.959964 * se


@pytest.mark.slow
def test_city_readmission_rate_matches_truth(built: Built) -> None:  # noqa: F811
    data = Data(ibis.duckdb.from_connection(built.db))
    period = Period.parse(f"{built.truth['period']['start']}..{built.truth['period']['end']}")
    df = u.readmission_30d(data, period).to_pandas()
    rate, lo, hi = realised_interval(df, "readmission_30d")
    expected = built.truth["readmission"]["expected_rate"]
    assert lo <= expected <= hi, (rate, lo, hi, expected)
    assert (~df.excluded).sum() > 0.9 * built.truth["readmission"]["expected_index_stays"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("measure", "key"),
    [
        ("readmission_30d", "expected"),
        ("followup_7d", "expected"),
        ("followup_30d", "expected"),
        ("med_rec_post_discharge", "expected"),
        ("ed_visits_per_1000", "expected"),
        ("pmpm_cost", "expected"),
        ("pmpm_paid", "expected_paid"),
    ],
)
def test_city_measures_match_truth(built: Built, measure: str, key: str) -> None:  # noqa: F811
    """The realised rate's 95% interval (Wilson; exact Poisson for ED visits; clustered
    normal for cost) contains the expected value the generator records."""
    truth = built.truth.get("measures", {}).get(measure.replace("pmpm_paid", "pmpm_cost"))
    if truth is None or truth.get(key) is None:
        pytest.skip(f"truth.json has no measures.{measure}.{key}")
    data = Data(ibis.duckdb.from_connection(built.db))
    df = u.LOGIC[measure](data, city_period(built.truth)).to_pandas()
    rate, lo, hi = realised_interval(df, measure)
    assert lo <= truth[key] <= hi, (measure, rate, lo, hi, truth[key])
