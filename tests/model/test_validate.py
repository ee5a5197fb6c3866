"""Row validation: every named reason, the kept good rows, coercions and batch-level errors."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from popweave.errors import LoadError
from popweave.model import REASONS, table, validate
from popweave.model.tables import RACE, SEX
from popweave.model.validate import rows_as_json

TODAY = dt.date(2024, 6, 1)

GOOD: dict[str, dict[str, Any]] = {
    "person": {"person_id": "p-good", "birth_date": "1980-05-17", "sex": "female"},
    "area": {"area_id": "a-good", "name": "Riverside", "pct_poverty": "12.5", "population": "900"},
    "encounter": {
        "encounter_id": "e-good",
        "person_id": "p1",
        "encounter_class": "inpatient",
        "start_time": "2023-03-01T08:00:00",
        "end_time": "2023-03-04T10:00:00",
    },
    "condition": {
        "condition_id": "c-good",
        "person_id": "p1",
        "onset_date": "2020-01-01",
        "code_system": "ICD10CM",
        "code": "E11.9",
    },
    "claim_line": {
        "claim_id": "cl-good",
        "line_number": 1,
        "person_id": "p1",
        "service_date": "2023-01-01",
        "payer": "medicare",
        "allowed_amount": "120.50",
        "paid_amount": "100",
    },
}


def batch_of(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table with every key any row has (from_pylist reads only the first)."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({k: [r.get(k) for r in rows] for k in names})


def run(name: str, rows: list[dict[str, Any]], **kw: Any) -> Any:
    kw.setdefault("today", TODAY)
    return validate(table(name), batch_of(rows), **kw)


def bad(name: str, **changes: Any) -> dict[str, Any]:
    key = table(name).key[0]
    row = {**GOOD[name], key: f"{GOOD[name][key]}-bad"}
    row.update(changes)
    return row


# (table, bad row, field, reason, reported value). Each bad row has exactly one problem.
CASES: list[tuple[str, dict[str, Any], str, str, str | None]] = [
    ("person", bad("person", sex=None), "sex", "missing_required", None),
    ("person", bad("person", sex=""), "sex", "missing_required", None),
    ("person", bad("person", sex="   "), "sex", "missing_required", None),
    ("person", bad("person", birth_date=""), "birth_date", "missing_required", None),
    ("person", bad("person", person_id=None), "person_id", "missing_required", None),
    ("person", bad("person", birth_date="2023-02-30"), "birth_date", "wrong_type", "2023-02-30"),
    ("person", bad("person", birth_date="2023-13-01"), "birth_date", "wrong_type", "2023-13-01"),
    ("person", bad("person", birth_date="1900-02-29"), "birth_date", "wrong_type", "1900-02-29"),
    ("person", bad("person", birth_date="17/05/1980"), "birth_date", "wrong_type", "17/05/1980"),
    ("area", bad("area", population="many"), "population", "wrong_type", "many"),
    ("area", bad("area", population="12.5"), "population", "wrong_type", "12.5"),
    ("area", bad("area", pct_poverty="12,5"), "pct_poverty", "wrong_type", "12,5"),
    ("area", bad("area", pct_poverty="nan"), "pct_poverty", "wrong_type", "nan"),
    ("area", bad("area", pct_poverty="1e400"), "pct_poverty", "wrong_type", "1e400"),
    (
        "area",
        bad("area", population="99999999999999999999"),
        "population",
        "wrong_type",
        "99999999999999999999",
    ),
    (
        "encounter",
        bad("encounter", start_time="2023-03-01T25:00:00"),
        "start_time",
        "wrong_type",
        "2023-03-01T25:00:00",
    ),
    (
        "claim_line",
        bad("claim_line", allowed_amount="12 dollars"),
        "allowed_amount",
        "wrong_type",
        "12 dollars",
    ),
    (
        "claim_line",
        bad("claim_line", paid_amount="1e13"),
        "paid_amount",
        "wrong_type",
        "1e13",
    ),
    ("person", bad("person", sex="robot"), "sex", "not_allowed", "robot"),
    ("person", bad("person", race="martian"), "race", "not_allowed", "martian"),
    (
        "encounter",
        bad("encounter", encounter_class="teleport"),
        "encounter_class",
        "not_allowed",
        "teleport",
    ),
    (
        "condition",
        bad("condition", code_system="ICD9CM"),
        "code_system",
        "unknown_code_system",
        "ICD9CM",
    ),
    ("area", bad("area", pct_poverty="100.5"), "pct_poverty", "out_of_range", "100.5"),
    ("area", bad("area", population="-1"), "population", "out_of_range", "-1"),
    ("area", bad("area", centroid_lat=-90.5), "centroid_lat", "out_of_range", "-90.5"),
    ("claim_line", bad("claim_line", line_number=0), "line_number", "out_of_range", "0"),
    (
        "claim_line",
        bad("claim_line", allowed_amount="-0.01"),
        "allowed_amount",
        "negative_money",
        "-0.01",
    ),
    ("claim_line", bad("claim_line", paid_amount=" -5 "), "paid_amount", "negative_money", "-5.00"),
    ("person", bad("person", birth_date="2024-06-02"), "birth_date", "future_date", "2024-06-02"),
    (
        "encounter",
        bad("encounter", start_time="2024-06-02T00:00:00", end_time=None),
        "start_time",
        "future_date",
        "2024-06-02 00:00:00.000000",
    ),
    (
        "person",
        bad("person", birth_date="1899-12-31"),
        "birth_date",
        "implausible_date",
        "1899-12-31",
    ),
    (
        "person",
        bad("person", death_date="1979-01-01"),
        "death_date",
        "end_before_start",
        "1979-01-01",
    ),
    (
        "encounter",
        bad("encounter", end_time="2023-02-28T23:59:59"),
        "end_time",
        "end_before_start",
        "2023-02-28 23:59:59.000000",
    ),
    ("person", {**GOOD["person"], "sex": "male"}, "person_id", "duplicate_id", "p-good"),
]


@pytest.mark.parametrize(("name", "row", "field", "reason", "value"), CASES)
def test_bad_row_gets_named_reason_and_good_row_is_kept(
    name: str, row: dict[str, Any], field: str, reason: str, value: str | None
) -> None:
    result = run(name, [GOOD[name], row])
    assert result.rejects.to_pylist() == [
        {"table_name": name, "row": 1, "field": field, "reason": reason, "value": value}
    ]
    key = table(name).key[0]
    assert result.accepted.column(key).to_pylist() == [GOOD[name][key]]
    assert result.accepted.schema == table(name).arrow_schema
    assert result.n_rejected == 1
    assert result.rejected_rows.column("_row").to_pylist() == [1]


def test_every_named_reason_is_exercised() -> None:
    named = {c[3] for c in CASES} | {"duplicate_id", "unknown_reference"}
    assert named == set(REASONS)


def test_good_rows_of_every_table_in_cases_pass_alone() -> None:
    for name, row in GOOD.items():
        result = run(name, [row])
        assert result.rejects.num_rows == 0, (name, result.rejects.to_pylist())
        assert result.accepted.num_rows == 1


def test_duplicate_against_existing_keys() -> None:
    existing = pa.table({"person_id": ["p-good", "p-old"]})
    rows = [GOOD["person"], {**GOOD["person"], "person_id": "p-new"}]
    result = run("person", rows, existing_keys=existing)
    assert result.accepted.column("person_id").to_pylist() == ["p-new"]
    assert [(r["row"], r["reason"], r["value"]) for r in result.rejects.to_pylist()] == [
        (0, "duplicate_id", "p-good")
    ]


def test_duplicate_of_composite_key() -> None:
    rows = [GOOD["claim_line"], {**GOOD["claim_line"], "line_number": 2}, GOOD["claim_line"]]
    existing = pa.table({"claim_id": ["cl-good"], "line_number": pa.array([2], pa.int64())})
    result = run("claim_line", rows, existing_keys=existing)
    assert result.accepted.column("line_number").to_pylist() == [1]
    assert [
        (r["row"], r["field"], r["reason"], r["value"]) for r in result.rejects.to_pylist()
    ] == [
        (1, "claim_id+line_number", "duplicate_id", "cl-good|2"),
        (2, "claim_id+line_number", "duplicate_id", "cl-good|1"),
    ]


def test_first_valid_occurrence_of_a_key_wins() -> None:
    # The first row with the key is rejected for its sex, so the second one is not a duplicate.
    rows = [
        {**GOOD["person"], "sex": "robot"},
        GOOD["person"],
        GOOD["person"],
    ]
    result = run("person", rows)
    assert result.accepted.num_rows == 1
    assert [(r["row"], r["reason"]) for r in result.rejects.to_pylist()] == [
        (0, "not_allowed"),
        (2, "duplicate_id"),
    ]


def test_unknown_reference() -> None:
    refs = {"area.area_id": pa.array(["a1", "a2"])}
    rows = [
        {**GOOD["person"], "area_id": "a1"},
        {**GOOD["person"], "person_id": "p2", "area_id": "a9"},
        {**GOOD["person"], "person_id": "p3", "area_id": None},
        {**GOOD["person"], "person_id": "p4", "area_id": ""},
    ]
    result = run("person", rows, reference_keys=refs)
    assert result.accepted.column("person_id").to_pylist() == ["p-good", "p3", "p4"]
    assert result.accepted.column("area_id").to_pylist() == ["a1", None, None]
    assert result.rejects.to_pylist() == [
        {
            "table_name": "person",
            "row": 1,
            "field": "area_id",
            "reason": "unknown_reference",
            "value": "a9",
        }
    ]


def test_references_are_not_checked_without_keys() -> None:
    result = run("person", [{**GOOD["person"], "area_id": "nowhere"}])
    assert result.accepted.num_rows == 1


def test_one_record_per_problem_and_row_offset() -> None:
    row = {"person_id": "px", "birth_date": "2023-02-30", "sex": "robot", "race": "martian"}
    result = run("person", [GOOD["person"], row], row_offset=100)
    assert sorted((r["row"], r["field"], r["reason"]) for r in result.rejects.to_pylist()) == [
        (101, "birth_date", "wrong_type"),
        (101, "race", "not_allowed"),
        (101, "sex", "not_allowed"),
    ]
    assert result.n_rejected == 1
    rejected = result.rejected_rows.to_pylist()
    assert rejected == [{**row, "_row": 101}]


def test_unreadable_required_value_is_not_also_missing() -> None:
    result = run("person", [bad("person", birth_date="not a date")])
    assert [r["reason"] for r in result.rejects.to_pylist()] == ["wrong_type"]


def test_timestamps_with_offsets_become_utc_and_naive_ones_are_kept() -> None:
    starts = {
        "z": ("2023-03-01T10:00:00Z", dt.datetime(2023, 3, 1, 10, 0)),
        "plus2": ("2023-03-01T10:00:00+02:00", dt.datetime(2023, 3, 1, 8, 0)),
        "plus0530": ("2023-03-01T10:00+0530", dt.datetime(2023, 3, 1, 4, 30)),
        "minus5": ("2023-03-01 10:00:00.250-05:00", dt.datetime(2023, 3, 1, 15, 0, 0, 250000)),
        "naive": ("2023-03-01T10:00:00", dt.datetime(2023, 3, 1, 10, 0)),
        "naive_space": ("2023-03-01 10:00", dt.datetime(2023, 3, 1, 10, 0)),
        "date_only": ("2023-03-01", dt.datetime(2023, 3, 1, 0, 0)),
        "date_z": ("2023-03-01Z", dt.datetime(2023, 3, 1, 0, 0)),
        "over_midnight": ("2023-03-01T01:00:00+03:00", dt.datetime(2023, 2, 28, 22, 0)),
    }
    rows = [
        {**GOOD["encounter"], "encounter_id": k, "start_time": v[0], "end_time": None}
        for k, v in starts.items()
    ]
    result = run("encounter", rows)
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    assert result.accepted.schema.field("start_time").type == pa.timestamp("us")
    got = dict(
        zip(
            result.accepted.column("encounter_id").to_pylist(),
            result.accepted.column("start_time").to_pylist(),
            strict=True,
        )
    )
    assert got == {k: v[1] for k, v in starts.items()}


def test_end_before_start_compares_utc_instants() -> None:
    # 10:00+02:00 is 08:00 UTC, so an end at 09:00 (naive, i.e. UTC) is after the start.
    row = {
        **GOOD["encounter"],
        "start_time": "2023-03-01T10:00:00+02:00",
        "end_time": "2023-03-01T09:00:00",
    }
    assert run("encounter", [row]).rejects.num_rows == 0


def test_aware_arrow_timestamps_become_utc() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    batch = pa.table(
        {
            "encounter_id": ["e1"],
            "person_id": ["p1"],
            "encounter_class": ["ambulatory"],
            "start_time": pa.array(
                [dt.datetime(2023, 1, 5, 9, 30, tzinfo=berlin)], pa.timestamp("ns", "Europe/Berlin")
            ),
        }
    )
    result = validate(table("encounter"), batch, today=TODAY)
    assert result.accepted.column("start_time").to_pylist() == [dt.datetime(2023, 1, 5, 8, 30)]


def test_empty_strings_are_missing_values() -> None:
    row = {
        "person_id": "p1",
        "birth_date": "1980-01-01",
        "death_date": "",
        "sex": "male",
        "race": "",
        "language": "  ",
        "zip": "",
    }
    result = run("person", [row])
    assert result.rejects.num_rows == 0
    accepted = result.accepted.to_pylist()[0]
    assert accepted["death_date"] is None
    assert accepted["race"] is None
    assert accepted["language"] is None
    assert accepted["zip"] is None


def test_text_is_read_as_each_type() -> None:
    practice = {
        "practice_id": "pr1",
        "name": " Main St Clinic ",
        "lat": " 41.5 ",
        "hours_per_week": "40",
        "evening_hours": "Yes",
        "coordinators": " 3 ",
    }
    result = run("practice", [practice, {**practice, "practice_id": "pr2", "evening_hours": "f"}])
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    first, second = result.accepted.to_pylist()
    assert first["name"] == " Main St Clinic "  # text is kept as received
    assert first["lat"] == 41.5
    assert first["hours_per_week"] == 40.0
    assert first["evening_hours"] is True
    assert first["coordinators"] == 3
    assert second["evening_hours"] is False


def test_signed_and_padded_numbers_are_read() -> None:
    rows = [
        {"area_id": "a", "name": "n", "population": "+5", "median_income": "+1e3"},
        {"area_id": "b", "name": "n", "population": "007", "median_income": ".5"},
        {"area_id": "c", "name": "n", "population": "-0", "median_income": "5."},
    ]
    result = run("area", rows)
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    assert result.accepted.column("population").to_pylist() == [5, 7, 0]
    assert result.accepted.column("median_income").to_pylist() == [1000.0, 0.5, 5.0]


def test_a_column_given_twice_raises() -> None:
    batch = pa.table(
        [pa.array(["a"]), pa.array(["n"]), pa.array(["m"])], names=["area_id", "name", "name"]
    )
    with pytest.raises(LoadError, match=r"area: column\(s\) given more than once: name"):
        validate(table("area"), batch, today=TODAY)


def test_money_is_rounded_to_cents() -> None:
    text = run("claim_line", [{**GOOD["claim_line"], "allowed_amount": "120.456"}])
    assert text.accepted.column("allowed_amount").to_pylist() == [Decimal("120.46")]
    assert text.accepted.schema.field("allowed_amount").type == pa.decimal128(14, 2)
    rows = [{**GOOD["claim_line"], "line_number": i + 1} for i in range(4)]
    batch = batch_of(rows).drop_columns(["allowed_amount", "paid_amount"])
    batch = batch.append_column("allowed_amount", pa.array([99.999, 7.0, -0.5, 2e12]))
    batch = batch.append_column("paid_amount", pa.array([1, 2, 3, 4], pa.int64()))
    native = validate(table("claim_line"), batch, today=TODAY)
    assert native.accepted.column("allowed_amount").to_pylist() == [
        Decimal("100.00"),
        Decimal("7.00"),
    ]
    assert native.accepted.column("paid_amount").to_pylist() == [Decimal("1.00"), Decimal("2.00")]
    assert [(r["row"], r["reason"]) for r in native.rejects.to_pylist()] == [
        (2, "negative_money"),
        (3, "wrong_type"),
    ]


def test_native_numbers_are_checked() -> None:
    batch = pa.table(
        {
            "area_id": ["a1", "a2", "a3", "a4"],
            "name": ["x"] * 4,
            "population": pa.array([10.0, 10.5, float("nan"), None], pa.float64()),
            "median_income": pa.array([1.0, 2.0, 3.0, float("inf")], pa.float64()),
        }
    )
    result = validate(table("area"), batch, today=TODAY)
    assert result.accepted.column("area_id").to_pylist() == ["a1"]
    assert result.accepted.column("population").to_pylist() == [10]
    assert sorted((r["row"], r["field"], r["reason"]) for r in result.rejects.to_pylist()) == [
        (1, "population", "wrong_type"),
        (2, "population", "wrong_type"),
        (3, "median_income", "wrong_type"),
    ]


def test_impossible_date_among_many_good_ones() -> None:
    rows = [
        {"person_id": f"p{i}", "birth_date": f"19{50 + i % 40}-0{1 + i % 9}-28", "sex": "female"}
        for i in range(2000)
    ]
    rows[1234]["birth_date"] = "2001-04-31"
    rows[1500]["birth_date"] = "2000-02-29"  # a leap day: fine
    result = run("person", rows)
    assert result.accepted.num_rows == 1999
    assert result.rejects.to_pylist() == [
        {
            "table_name": "person",
            "row": 1234,
            "field": "birth_date",
            "reason": "wrong_type",
            "value": "2001-04-31",
        }
    ]


def test_unknown_column_raises_naming_table_and_column() -> None:
    with pytest.raises(LoadError, match=r"person: unknown column\(s\) shoe_size"):
        run("person", [{**GOOD["person"], "shoe_size": "44"}])


def test_missing_required_column_raises_naming_table_and_column() -> None:
    with pytest.raises(LoadError, match=r"person: required column\(s\) missing: sex"):
        run("person", [{"person_id": "p1", "birth_date": "1980-01-01"}])


def test_unreadable_column_type_raises() -> None:
    batch = pa.table(
        {"person_id": ["p1"], "birth_date": pa.array([3], pa.int64()), "sex": ["male"]}
    )
    with pytest.raises(LoadError, match=r"person\.birth_date"):
        validate(table("person"), batch, today=TODAY)


def test_empty_batch() -> None:
    result = validate(table("person"), table("person").arrow_schema.empty_table(), today=TODAY)
    assert result.accepted.num_rows == 0
    assert result.rejects.num_rows == 0


def test_rows_as_json_keeps_values() -> None:
    rows = batch_of([{"a": "x", "b": None, "d": dt.date(2020, 1, 2)}])
    assert [json.loads(r) for r in rows_as_json(rows)] == [{"a": "x", "b": None, "d": "2020-01-02"}]


# --- property: any mix of good and bad person rows is split, not lost -----------------------

IDS = ["p1", "p2", "p3", "p4", "", " ", None]
DATES = [
    "1980-01-01",
    "2000-02-29",
    "1900-01-01",
    "2024-06-01",
    "2024-06-02",
    "1899-12-31",
    "2023-02-30",
    "1900-02-29",
    "abc",
    "",
    None,
]
SEXES = [*SEX, "robot", "", None]
RACES = [*RACE, "martian", "", None]


def _mostly(good: list[str | None], everything: list[str | None]) -> st.SearchStrategy[str | None]:
    """Half the time a good value, else any value (good or bad)."""
    return st.sampled_from(good) | st.sampled_from(everything)


person_rows = st.lists(
    st.fixed_dictionaries(
        {
            "person_id": _mostly(IDS[:4], IDS),
            "birth_date": _mostly(DATES[:4], DATES),
            "death_date": _mostly([None, "", "2010-10-10"], DATES),
            "sex": _mostly(list(SEX), SEXES),
            "race": _mostly([*RACE, None], RACES),
        }
    ),
    max_size=40,
)


def _date(text: str | None) -> tuple[bool, dt.date | None]:
    """(readable, value) for an optional date, read independently of the validator."""
    if text is None or not text.strip():
        return True, None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        return False, None
    try:
        return True, dt.date.fromisoformat(text.strip())
    except ValueError:
        return False, None


def _person_ok(row: dict[str, Any]) -> bool:
    """An independent statement of the person rules (keys aside)."""
    pid = row["person_id"]
    if pid is None or not pid.strip():
        return False
    ok_b, birth = _date(row["birth_date"])
    ok_d, death = _date(row["death_date"])
    if not (ok_b and ok_d) or birth is None:
        return False
    for d in (birth, death):
        if d is not None and not (dt.date(1900, 1, 1) <= d <= TODAY):
            return False
    if death is not None and death < birth:
        return False
    if row["sex"] not in SEX:
        return False
    return row["race"] in (*RACE, None, "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=person_rows)
def test_property_every_row_is_accepted_or_rejected(rows: list[dict[str, Any]]) -> None:
    batch = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [(k, pa.string()) for k in ("person_id", "birth_date", "death_date", "sex", "race")]
        ),
    )
    result = validate(table("person"), batch, today=TODAY)

    assert result.accepted.num_rows + result.n_rejected == len(rows)
    rejected_idx = result.rejected_rows.column("_row").to_pylist()
    assert sorted(set(result.rejects.column("row").to_pylist())) == sorted(rejected_idx)
    assert set(result.rejects.column("reason").to_pylist()) <= set(REASONS)

    # The oracle: rows that follow the rules, keeping the first of each person_id.
    expected: list[str] = []
    for row in rows:
        if _person_ok(row) and row["person_id"] not in expected:
            expected.append(row["person_id"])
    assert result.accepted.column("person_id").to_pylist() == expected

    accepted = result.accepted.to_pylist()
    assert len({r["person_id"] for r in accepted}) == len(accepted)
    for r in accepted:
        assert r["sex"] in SEX
        assert r["race"] in (*RACE, None)
        assert dt.date(1900, 1, 1) <= r["birth_date"] <= TODAY
        assert r["death_date"] is None or r["birth_date"] <= r["death_date"] <= TODAY
    assert result.accepted.schema == table("person").arrow_schema


def test_icd10cm_codes_are_stored_in_canonical_spelling() -> None:
    spellings = ["e119", " E11.9 ", "E 11.9", "I10", "i10", "w19xxxa", "E11."]
    rows = [
        {**GOOD["condition"], "condition_id": f"c{i}", "code": code}
        for i, code in enumerate(spellings)
    ]
    # Other code systems keep their codes as given.
    rows.append(
        {**GOOD["condition"], "condition_id": "s", "code_system": "SNOMED", "code": "44054006 "}
    )
    got = run("condition", rows).accepted.column("code").to_pylist()
    assert got == ["E11.9", "E11.9", "E11.9", "I10", "I10", "W19.XXXA", "E11", "44054006 "]
    # A column that only holds ICD-10-CM codes: always; an absent code stays absent.
    lines = [
        {**GOOD["claim_line"], "line_number": 1, "diagnosis_code": "j449"},
        {**GOOD["claim_line"], "line_number": 2},
    ]
    got = run("claim_line", lines).accepted.column("diagnosis_code").to_pylist()
    assert got == ["J44.9", None]
    # Encounters carry the pair too.
    enc = {**GOOD["encounter"], "code_system": "ICD10CM", "code": "i500"}
    assert run("encounter", [enc]).accepted.column("code").to_pylist() == ["I50.0"]
