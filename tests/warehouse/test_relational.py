"""Key and reference checks: the DuckDB engine's SQL and the loader's Arrow path agree."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from popweave.model import quarantine
from popweave.warehouse import load, open_engine
from popweave.warehouse.duckdb import DuckDBEngine
from tests.warehouse.conftest import TODAY, rows_to_table, small_city


class ArrowChecked(DuckDBEngine):
    """DuckDB storage, but key and reference checks left to the loader (as on Spark)."""

    unsupported: ClassVar[frozenset[str]] = frozenset({"relational_checks"})


def _bad_batches() -> list[tuple[str, pa.Table]]:
    city = small_city(12)
    people = city["person"]
    # A second batch of people: one new, one repeating a committed key, one repeated twice
    # within the batch, one pointing at an unknown area.
    more = rows_to_table(
        "person",
        [
            {"person_id": "P100", "birth_date": "1970-01-01", "sex": "female", "area_id": "A1"},
            {"person_id": "P001", "birth_date": "1971-01-01", "sex": "male", "area_id": "A1"},
            {"person_id": "P101", "birth_date": "1972-01-01", "sex": "male", "area_id": "A2"},
            {"person_id": "P101", "birth_date": "1973-01-01", "sex": "male", "area_id": "A2"},
            {"person_id": "P102", "birth_date": "1974-01-01", "sex": "male", "area_id": "A9"},
        ],
    )
    enc = rows_to_table(
        "encounter",
        [
            {"encounter_id": "X1", "person_id": "P100", "encounter_class": "ambulatory",
             "start_time": "2023-01-01T10:00:00"},
            {"encounter_id": "X2", "person_id": "P102", "encounter_class": "ambulatory",
             "start_time": "2023-01-01T10:00:00"},  # person P102 was rejected
            {"encounter_id": "X3", "person_id": "P001", "encounter_class": "emergency",
             "start_time": "2023-01-02T10:00:00", "practice_id": "PR7"},
        ],
    )  # fmt: skip
    return [
        ("area", city["area"]),
        ("practice", city["practice"]),
        ("provider", city["provider"]),
        ("person", people),
        ("person", more),
        ("encounter", enc),
    ]


def _run(engine: DuckDBEngine, qdir: Path) -> tuple[dict[str, int], list[tuple[object, ...]]]:
    report = load(engine, _bad_batches(), source="bad", quarantine_dir=qdir, today=TODAY)
    q = quarantine.read(qdir)
    found = sorted(
        zip(
            *(q.column(c).to_pylist() for c in ("table_name", "row", "field", "reason", "value")),
            strict=True,
        )
    )
    return report.rejected, found


def test_sql_and_arrow_paths_reject_the_same_rows(tmp_path: Path) -> None:
    sql_engine = open_engine("duckdb:///a.duckdb", tmp_path)
    assert isinstance(sql_engine, DuckDBEngine)
    arrow_engine = ArrowChecked(tmp_path / "b.duckdb")
    arrow_engine.create_tables()
    sql = _run(sql_engine, tmp_path / "qa")
    arrow = _run(arrow_engine, tmp_path / "qb")
    assert sql == arrow
    reasons = {(t, f, r, v) for t, _, f, r, v in sql[1]}
    assert ("person", "person_id", "duplicate_id", "P001") in reasons
    assert ("person", "person_id", "duplicate_id", "P101") in reasons
    assert ("person", "area_id", "unknown_reference", "A9") in reasons
    assert ("encounter", "person_id", "unknown_reference", "P102") in reasons
    assert ("encounter", "practice_id", "unknown_reference", "PR7") in reasons
    for e in (sql_engine, arrow_engine):
        ids = sorted(e.read("person", ["person_id"]).column("person_id").to_pylist())
        assert ids.count("P101") == 1 and "P100" in ids and "P102" not in ids
        assert sorted(e.read("encounter", ["encounter_id"]).column(0).to_pylist()) == ["X1"]
        e.close()


def test_per_batch_commits_give_the_same_warehouse(tmp_path: Path) -> None:
    """atomic=False (used inside rebuilding()) changes when rows commit, not what is kept."""
    a = open_engine("duckdb:///a.duckdb", tmp_path)
    b = open_engine("duckdb:///b.duckdb", tmp_path)
    ra = load(a, _bad_batches(), source="x", today=TODAY)
    rb = load(b, _bad_batches(), source="x", today=TODAY, atomic=False)
    assert (ra.accepted, ra.rejected) == (rb.accepted, rb.rejected)
    for name in ("person", "encounter"):
        assert a.read(name).sort_by(name + "_id").equals(b.read(name).sort_by(name + "_id"))
    hashes = [
        {r["table_name"]: r["content_hash"] for r in e.read("load_log").to_pylist()} for e in (a, b)
    ]
    assert hashes[0] == hashes[1]
