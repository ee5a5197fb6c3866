"""All-or-nothing loads into DuckDB: validation, quarantine, the load log, rollback, crashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from popweave.errors import LoadError
from popweave.model import TABLES, Table
from popweave.model import quarantine as q
from popweave.warehouse import Engine, counts, load, open_engine, rebuilding
from popweave.warehouse.duckdb import DuckDBEngine
from tests.warehouse.conftest import TODAY, small_city

MakeRows = Callable[[str, list[dict[str, Any]]], pa.Table]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def engine(root: Path) -> Iterator[DuckDBEngine]:
    e = open_engine("duckdb:///w.duckdb", root)
    assert isinstance(e, DuckDBEngine)
    yield e
    e.close()


def person(pid: str, **kw: Any) -> dict[str, Any]:
    return {"person_id": pid, "birth_date": "1970-01-01", "sex": "female", **kw}


def concat(tables: list[pa.Table]) -> pa.Table:
    """Batches with different columns as one (missing columns become nulls)."""
    return pa.concat_tables(tables, promote_options="default")


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    """Every table's rows, in a stable order."""
    return {
        name: sorted((tuple(r.items()) for r in engine.read(name).to_pylist()), key=repr)
        for name in TABLES
    }


def folder(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (hidden ones too) with its bytes."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_good_rows_are_loaded_and_bad_ones_quarantined(
    engine: DuckDBEngine, root: Path, make_rows: MakeRows
) -> None:
    rows = [
        person("P1"),
        person("P2", sex="robot"),
        person("P3", birth_date="2023-02-30"),
        person("P4", death_date="1969-12-31"),
        person("P1", sex="male"),
        person("P5", race=""),
    ]
    report = load(
        engine,
        {"person": make_rows("person", rows)},
        source="test.csv",
        quarantine_dir=root / "quarantine",
        today=TODAY,
    )
    assert report.accepted == {"person": 2}
    assert report.rejected == {"person": 4}
    assert (report.total_accepted, report.total_rejected) == (2, 4)
    assert sorted(engine.read("person", ["person_id"]).column(0).to_pylist()) == ["P1", "P5"]
    assert engine.count("person") == 2

    assert len(report.quarantine) == 1
    assert report.quarantine[0].is_file()
    assert report.quarantine[0].parent == root / "quarantine"
    assert not list((root / "quarantine").glob(".*")), "no hidden or pending files are left"
    got = q.read(root / "quarantine")
    assert got.schema == q.QUARANTINE_SCHEMA
    assert got.column_names == [
        "load_id",
        "source",
        "table_name",
        "row",
        "field",
        "reason",
        "value",
        "record",
        "file",
        "line",
    ]
    records = got.to_pylist()
    assert [(r["table_name"], r["row"], r["field"], r["reason"], r["value"]) for r in records] == [
        ("person", 1, "sex", "not_allowed", "robot"),
        ("person", 2, "birth_date", "wrong_type", "2023-02-30"),
        ("person", 3, "death_date", "end_before_start", "1969-12-31"),
        ("person", 4, "person_id", "duplicate_id", "P1"),
    ]
    assert {r["load_id"] for r in records} == {report.load_id}
    assert {r["source"] for r in records} == {"test.csv"}
    # The record is the row as received, so it can be fixed and reloaded.
    for r in records:
        assert json.loads(r["record"]) == {
            k: (str(v) if v is not None else None) for k, v in rows[r["row"]].items()
        } | {k: None for k in ("death_date", "race") if k not in rows[r["row"]]}

    summary = q.summary(root / "quarantine").to_pylist()
    assert sorted((s["field"], s["reason"], s["count"]) for s in summary) == [
        ("birth_date", "wrong_type", 1),
        ("death_date", "end_before_start", 1),
        ("person_id", "duplicate_id", 1),
        ("sex", "not_allowed", 1),
    ]


def test_load_log_records_each_table(
    engine: DuckDBEngine, city_tables: dict[str, pa.Table], make_rows: MakeRows
) -> None:
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    people = concat([city_tables["person"], make_rows("person", [person("BAD", sex="?")])])
    report = load(
        engine,
        [("area", city_tables["area"]), ("person", people)],
        source="city",
        today=TODAY,
        check_references=False,
    )
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    log = sorted(engine.read("load_log").to_pylist(), key=lambda r: r["table_name"])
    assert [(r["table_name"], r["rows_accepted"], r["rows_rejected"]) for r in log] == [
        ("area", 3, 0),
        ("person", 40, 1),
    ]
    for r in log:
        assert r["load_id"] == report.load_id
        assert r["source"] == "city"
        assert before - dt.timedelta(seconds=1) <= r["started"] <= r["finished"] <= after
        assert len(r["content_hash"]) == 64
        int(r["content_hash"], 16)
    assert log[0]["content_hash"] != log[1]["content_hash"]


def _hashes(root: Path, batches: list[tuple[str, pa.Table]]) -> dict[str, str]:
    root.mkdir(exist_ok=True)
    with open_engine("duckdb:///w.duckdb", root) as e:
        load(e, batches, source="x", today=TODAY, check_references=False)
        return {r["table_name"]: r["content_hash"] for r in e.read("load_log").to_pylist()}


def test_content_hash_depends_on_content_only(
    tmp_path: Path, city_tables: dict[str, pa.Table], make_rows: MakeRows
) -> None:
    people = city_tables["person"]
    whole = _hashes(tmp_path / "a", [("person", people)])
    split = _hashes(
        tmp_path / "b",
        [
            ("person", people.slice(0, 7)),
            ("person", people.slice(7, 20)),
            ("person", people.slice(27)),
        ],
    )
    assert whole == split

    # Rejected rows are not content: adding a bad row leaves the hash alone.
    with_bad = concat([people, make_rows("person", [person("ZZ", sex="robot")])])
    assert _hashes(tmp_path / "c", [("person", with_bad)]) == whole

    # One changed value changes the hash.
    changed = concat([people.slice(0, 39), make_rows("person", [person("P039")])])
    assert _hashes(tmp_path / "d", [("person", changed)]) != whole

    empty = hashlib.sha256().hexdigest()
    assert whole["person"] != empty


def test_references_to_rows_committed_earlier(
    engine: DuckDBEngine, make_rows: MakeRows, city_tables: dict[str, pa.Table]
) -> None:
    load(engine, {"area": city_tables["area"]}, source="areas", today=TODAY)
    rows = [person("P1", area_id="A1"), person("P2", area_id="A7"), person("P3")]
    report = load(engine, {"person": make_rows("person", rows)}, source="people", today=TODAY)
    assert report.accepted == {"person": 2}
    assert sorted(engine.read("person", ["person_id"]).column(0).to_pylist()) == ["P1", "P3"]


def test_references_to_rows_earlier_in_the_same_load(
    engine: DuckDBEngine, city_tables: dict[str, pa.Table]
) -> None:
    report = load(engine, city_tables, source="city", today=TODAY)
    assert report.rejected == {name: 0 for name in city_tables}
    assert counts(engine) == {
        **{name: 0 for name in TABLES},
        **{name: t.num_rows for name, t in city_tables.items()},
        "load_log": len(city_tables),
    }


def test_references_to_committed_rows_and_rows_of_this_load_together(
    engine: DuckDBEngine, make_rows: MakeRows
) -> None:
    load(engine, {"person": make_rows("person", [person("OLD")])}, source="a", today=TODAY)
    encounters = make_rows(
        "encounter",
        [
            {
                "encounter_id": f"E{i}",
                "person_id": pid,
                "encounter_class": "ambulatory",
                "start_time": "2023-05-05T10:00:00",
            }
            for i, pid in enumerate(["OLD", "NEW", "GHOST"])
        ],
    )
    report = load(
        engine,
        [("person", make_rows("person", [person("NEW")])), ("encounter", encounters)],
        source="b",
        today=TODAY,
    )
    assert report.accepted == {"person": 1, "encounter": 2}
    assert report.rejected == {"person": 0, "encounter": 1}
    assert sorted(engine.read("encounter", ["person_id"]).column(0).to_pylist()) == ["NEW", "OLD"]


def test_reference_to_a_row_rejected_in_the_same_load_is_unknown(
    engine: DuckDBEngine, root: Path, make_rows: MakeRows
) -> None:
    areas = make_rows("area", [{"area_id": "A1", "name": "x", "pct_poverty": "250"}])
    people = make_rows("person", [person("P1", area_id="A1")])
    report = load(
        engine,
        [("area", areas), ("person", people)],
        source="s",
        quarantine_dir=root / "quarantine",
        today=TODAY,
    )
    assert report.accepted == {"area": 0, "person": 0}
    reasons = {(r["table_name"], r["reason"]) for r in q.read(root / "quarantine").to_pylist()}
    assert reasons == {("area", "out_of_range"), ("person", "unknown_reference")}


def test_keys_are_unique_across_batches_and_loads(
    engine: DuckDBEngine, make_rows: MakeRows
) -> None:
    first = make_rows("person", [person("P1"), person("P2")])
    load(
        engine,
        [("person", first), ("person", make_rows("person", [person("P2"), person("P3")]))],
        source="a",
        today=TODAY,
    )
    report = load(
        engine,
        {"person": make_rows("person", [person("P3"), person("P4")])},
        source="b",
        today=TODAY,
    )
    assert report.accepted == {"person": 1}
    assert sorted(engine.read("person", ["person_id"]).column(0).to_pylist()) == [
        "P1",
        "P2",
        "P3",
        "P4",
    ]


def test_rows_are_numbered_across_batches(
    engine: DuckDBEngine, root: Path, make_rows: MakeRows
) -> None:
    batches = [
        ("person", make_rows("person", [person("P1"), person("P2")])),
        ("person", make_rows("person", [person("P3"), person("P4", sex="x")])),
    ]
    load(engine, batches, source="s", quarantine_dir=root / "quarantine", today=TODAY)
    assert q.read(root / "quarantine").column("row").to_pylist() == [3]


def test_stored_values_are_canonical(
    engine: DuckDBEngine, city_tables: dict[str, pa.Table]
) -> None:
    load(engine, city_tables, source="city", today=TODAY)
    enc = {r["encounter_id"]: r for r in engine.read("encounter").to_pylist()}
    assert engine.read("encounter").schema.field("start_time").type == pa.timestamp("us")
    assert enc["E0000"]["start_time"] == dt.datetime(2023, 1, 1, 0, 15)  # ...Z
    assert enc["E0001"]["start_time"] == dt.datetime(2023, 2, 1, 23, 15)  # 02-02 01:15+02:00
    assert enc["E0003"]["start_time"] == dt.datetime(2023, 4, 4, 8, 15)  # 03:15-05:00
    person = engine.read("person").to_pylist()[0]
    assert isinstance(person["birth_date"], dt.date)


# --- failures roll everything back ------------------------------------------------------------


class FailingEngine(DuckDBEngine):
    """DuckDB with an injected fault: ``fail_at`` is 'append' (on the second table) or 'commit'."""

    def __init__(self, path: Path, fail_at: str, error: BaseException) -> None:
        super().__init__(path)
        self.fail_at = fail_at
        self.error = error
        self.tables: list[str] = []

    def append(self, table: Table, batch: pa.Table) -> None:
        if table.name not in self.tables:
            self.tables.append(table.name)
        if self.fail_at == "append" and len(self.tables) == 2:
            raise self.error
        super().append(table, batch)

    def commit(self) -> None:
        if self.fail_at == "commit":
            raise self.error
        super().commit()


def _baseline(root: Path, city: dict[str, pa.Table], make_rows: MakeRows) -> None:
    with open_engine("duckdb:///w.duckdb", root) as e:
        people = concat([city["person"], make_rows("person", [person("Q", sex="?")])])
        load(
            e,
            {**city, "person": people},
            source="base",
            quarantine_dir=root / "quarantine",
            today=TODAY,
        )


def _second_load(make_rows: MakeRows) -> list[tuple[str, pa.Table]]:
    return [
        ("person", make_rows("person", [person("N1"), person("N2", sex="?"), person("P000")])),
        (
            "encounter",
            make_rows(
                "encounter",
                [
                    {
                        "encounter_id": "EN1",
                        "person_id": "N1",
                        "encounter_class": "inpatient",
                        "start_time": "2023-01-01",
                    },
                ],
            ),
        ),
        ("area", make_rows("area", [{"area_id": "AN", "name": "new"}])),
    ]


@pytest.mark.parametrize(
    ("fail_at", "error", "raised"),
    [
        ("append", OSError("disk full"), LoadError),
        ("commit", RuntimeError("commit refused"), LoadError),
        ("append", LoadError("already a load error"), LoadError),
        ("append", KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_a_load_that_fails_half_way_leaves_everything_as_before(
    root: Path,
    make_rows: MakeRows,
    fail_at: str,
    error: BaseException,
    raised: type[BaseException],
) -> None:
    _baseline(root, small_city(), make_rows)
    with open_engine("duckdb:///w.duckdb", root) as e:
        tables_before = snapshot(e)
    quarantine_before = folder(root / "quarantine")
    assert quarantine_before, "the baseline quarantined a row"

    failing = FailingEngine(root / "w.duckdb", fail_at, error)
    with pytest.raises(raised) as err:
        load(
            failing,
            _second_load(make_rows),
            source="second",
            quarantine_dir=root / "quarantine",
            today=TODAY,
        )
    if raised is LoadError and not isinstance(error, LoadError):
        assert "rolled back" in str(err.value)
        assert str(error) in str(err.value)
    if fail_at == "append":
        assert failing.tables == ["person", "encounter"]

    # The same connection sees the old state, and so does a fresh one.
    assert snapshot(failing) == tables_before
    failing.close()
    with open_engine("duckdb:///w.duckdb", root) as e:
        assert snapshot(e) == tables_before
    assert folder(root / "quarantine") == quarantine_before

    # The warehouse still takes loads.
    with open_engine("duckdb:///w.duckdb", root) as e:
        report = load(
            e,
            _second_load(make_rows),
            source="again",
            quarantine_dir=root / "quarantine",
            today=TODAY,
        )
        assert report.accepted == {"person": 1, "encounter": 1, "area": 1}
        assert report.rejected == {"person": 2, "encounter": 0, "area": 0}


def test_an_error_in_the_batches_rolls_back(engine: DuckDBEngine, make_rows: MakeRows) -> None:
    def batches() -> Iterator[tuple[str, pa.Table]]:
        yield "person", make_rows("person", [person("P1")])
        raise ValueError("the source file is truncated")

    with pytest.raises(LoadError, match="src: load failed and was rolled back: the source file"):
        load(engine, batches(), source="src", today=TODAY)
    assert counts(engine)["person"] == 0
    assert counts(engine)["load_log"] == 0


def test_an_unknown_table_rolls_back(engine: DuckDBEngine, make_rows: MakeRows) -> None:
    with pytest.raises(LoadError, match="unknown table 'patients'"):
        load(
            engine,
            [("person", make_rows("person", [person("P1")])), ("patients", pa.table({"x": [1]}))],
            source="src",
            today=TODAY,
        )
    with pytest.raises(LoadError, match="unknown table 'load_log'"):
        load(engine, {"load_log": pa.table({"x": [1]})}, source="src", today=TODAY)
    assert counts(engine)["person"] == 0


def test_a_batch_with_an_unknown_column_rolls_back(
    engine: DuckDBEngine, make_rows: MakeRows
) -> None:
    with pytest.raises(LoadError, match="person: unknown column"):
        load(
            engine,
            [
                ("area", make_rows("area", [{"area_id": "A", "name": "n"}])),
                ("person", pa.table({"person_id": ["x"], "shoe": ["44"]})),
            ],
            source="src",
            today=TODAY,
        )
    assert counts(engine)["area"] == 0


def test_rejects_of_a_committed_load_left_pending_are_published(
    engine: DuckDBEngine, root: Path, make_rows: MakeRows
) -> None:
    """A crash between commit and publishing: the next load publishes the rejects."""
    report = load(engine, {"person": make_rows("person", [person("P1")])}, source="a", today=TODAY)
    from popweave.model import table, validate

    result = validate(table("person"), make_rows("person", [person("X", sex="?")]), today=TODAY)
    quarantine = root / "quarantine"
    committed = q.write(quarantine, report.load_id, "a", "person", result, part=0, pending=True)
    orphan = q.write(quarantine, "deadbeefdeadbeef", "b", "person", result, part=0, pending=True)
    assert committed is not None and orphan is not None
    assert q.read(quarantine).num_rows == 0, "pending files are not visible"

    load(
        engine,
        {"person": make_rows("person", [person("P2")])},
        source="c",
        quarantine_dir=quarantine,
        today=TODAY,
    )
    assert not committed.exists() and not orphan.exists()
    assert q.read(quarantine).column("load_id").to_pylist() == [report.load_id]


# --- a load killed from outside ----------------------------------------------------------------

KILLED_LOAD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

    from popweave.warehouse import load, open_engine
    import datetime as dt

    root = Path(sys.argv[1])
    engine = open_engine("duckdb:///w.duckdb", root)
    BATCH, N = 50_000, 80  # four million people

    def batches():
        for b in range(N):
            ids = np.arange(b * BATCH, (b + 1) * BATCH)
            sex = np.where(ids % 1000 == 0, "robot", np.where(ids % 2 == 0, "female", "male"))
            yield "person", pa.table({
                "person_id": pa.array(np.char.add("K", ids.astype(str))),
                "birth_date": pa.array(np.full(BATCH, "1970-01-01")),
                "sex": pa.array(sex),
            })

    def progress(name, n):
        print("APPENDED", n, flush=True)

    load(engine, batches(), source="big", quarantine_dir=root / "quarantine",
         today=dt.date(2024, 6, 1), progress=progress)
    print("COMMITTED", flush=True)
    """
)


def test_a_load_killed_mid_way_leaves_the_warehouse_as_before(
    root: Path, make_rows: MakeRows, tmp_path: Path
) -> None:
    _baseline(root, small_city(), make_rows)
    with open_engine("duckdb:///w.duckdb", root) as e:
        tables_before = snapshot(e)
    rejects_before = q.read(root / "quarantine")

    script = tmp_path / "killed_load.py"
    script.write_text(KILLED_LOAD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in range(3):  # three batches (150,000 rows) are in the open transaction
            line = proc.stdout.readline()
            assert line.split() == ["APPENDED", "50000"], proc.stderr.read() if proc.stderr else ""
        assert proc.poll() is None, "the load finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL

    # The killed load had written (hidden) rejects of its first batch.
    assert q.pending(root / "quarantine"), "the killed load left its rejects pending"

    with open_engine("duckdb:///w.duckdb", root) as e:
        assert snapshot(e) == tables_before
        assert q.read(root / "quarantine").equals(rejects_before)
        # The next load clears what the killed one left and works as usual.
        report = load(
            e,
            {"person": make_rows("person", [person("AFTER"), person("B", sex="?")])},
            source="after",
            quarantine_dir=root / "quarantine",
            today=TODAY,
        )
        assert report.accepted == {"person": 1}
        assert e.count("person") == len(tables_before["person"]) + 1
    assert not q.pending(root / "quarantine")
    assert not [p for p in (root / "quarantine").iterdir() if p.name.startswith(".")]
    assert q.read(root / "quarantine").num_rows == rejects_before.num_rows + 1


def test_an_empty_quarantine_reads_as_empty_typed_tables(tmp_path: Path) -> None:
    assert q.read(tmp_path / "none").schema == q.QUARANTINE_SCHEMA
    summary = q.summary(tmp_path / "none")
    assert summary.num_rows == 0
    assert summary.schema.field("count").type == pa.int64()


def test_rebuilding_replaces_the_warehouse_only_when_the_block_succeeds(
    root: Path, make_rows: MakeRows
) -> None:
    url = "duckdb:///w.duckdb"

    def people() -> list[str]:
        with open_engine(url, root) as e:
            return sorted(e.read("person", ["person_id"]).column(0).to_pylist())

    with open_engine(url, root) as e:
        load(e, {"person": make_rows("person", [person("OLD")])}, source="a", today=TODAY)
    with pytest.raises(RuntimeError, match="generator broke"), rebuilding(url, root) as e:
        load(e, {"person": make_rows("person", [person("HALF")])}, source="b", today=TODAY)
        raise RuntimeError("generator broke")
    assert people() == ["OLD"]
    assert sorted(p.name for p in root.iterdir()) == ["w.duckdb"]

    with rebuilding(url, root) as e:
        load(e, {"person": make_rows("person", [person("NEW")])}, source="c", today=TODAY)
    assert people() == ["NEW"]
    assert sorted(p.name for p in root.iterdir()) == ["w.duckdb"]


def test_a_mapping_is_loaded_referenced_tables_first(
    engine: DuckDBEngine, city_tables: dict[str, pa.Table]
) -> None:
    backwards = dict(reversed(list(city_tables.items())))
    assert next(iter(backwards)) == "encounter"
    report = load(engine, backwards, source="city", today=TODAY)
    assert report.total_rejected == 0
    assert list(report.accepted) == ["area", "practice", "provider", "person", "encounter"]


def test_a_sequence_is_loaded_in_its_own_order(engine: DuckDBEngine, make_rows: MakeRows) -> None:
    areas = make_rows("area", [{"area_id": "A1", "name": "x"}])
    people = make_rows("person", [person("P1", area_id="A1")])
    report = load(engine, [("person", people), ("area", areas)], source="s", today=TODAY)
    assert report.accepted == {"person": 0, "area": 1}
