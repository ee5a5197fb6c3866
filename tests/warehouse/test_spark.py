"""The PySpark engine (local mode): loads, Ibis results equal to DuckDB's, atomic failures."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest

from popweave.errors import LoadError
from popweave.model import Table
from popweave.warehouse import Engine, counts, load, open_engine
from tests.warehouse.conftest import TODAY, rows_to_table

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]
pytest.importorskip("pyspark")

CLAIMS = rows_to_table(
    "claim_line",
    [
        {
            "claim_id": f"C{i // 2}",
            "line_number": 1 + i % 2,
            "person_id": f"P{i:03d}",
            "service_date": f"2023-0{1 + i % 9}-15",
            "payer": ["medicare", "medicaid", "commercial"][i % 3],
            "allowed_amount": f"{100 + i * 10.255:.3f}",
            "paid_amount": f"{80 + i * 7.5:.2f}",
        }
        for i in range(10)
    ],
)


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, city_tables: dict[str, pa.Table]
) -> Iterator[dict[str, Engine]]:
    """The same rows loaded into Spark and DuckDB."""
    out: dict[str, Engine] = {}
    for url in ("spark://local[2]", "duckdb:///w.duckdb"):
        engine = open_engine(url, tmp_path_factory.mktemp(url.split(":")[0]))
        load(engine, city_tables, source="city", today=TODAY)
        load(engine, {"claim_line": CLAIMS}, source="claims", today=TODAY)
        out[engine.name] = engine
    yield out
    for engine in out.values():
        engine.close()


def rows(expr: Any) -> list[tuple[Any, ...]]:
    """An expression's result as sorted tuples (engines return rows in any order)."""
    table = expr.to_pyarrow()
    return sorted(zip(*(c.to_pylist() for c in table.columns), strict=True), key=repr)


def by_sex(e: Engine) -> Any:
    p = e.table("person")
    return p.group_by("sex").aggregate(n=p.count())


def encounters_by_sex_and_class(e: Engine) -> Any:
    p, enc = e.table("person"), e.table("encounter")
    j = p.join(enc, p.person_id == enc.person_id)
    return j.group_by([j.sex, j.encounter_class]).aggregate(
        n=j.count(), people=j.person_id.nunique()
    )


def born_before_1960(e: Engine) -> Any:
    p = e.table("person")
    return p.filter(p.birth_date < ibis.date(1960, 1, 1)).select("person_id", "birth_date")


def second_half_encounters(e: Engine) -> Any:
    enc = e.table("encounter")
    start = ibis.timestamp("2023-07-01 00:00:00")
    late = enc.filter(
        (enc.start_time >= start) & (enc.start_time.date() <= ibis.date(2023, 10, 31))
    )
    return late.group_by(late.start_time.month().name("month")).aggregate(n=late.count())


def paid_by_payer(e: Engine) -> Any:
    c = e.table("claim_line")
    return c.group_by("payer").aggregate(allowed=c.allowed_amount.sum(), paid=c.paid_amount.sum())


@pytest.mark.parametrize(
    "expression",
    [by_sex, encounters_by_sex_and_class, born_before_1960, second_half_encounters, paid_by_payer],
)
def test_ibis_expression_gives_the_same_result_on_both_engines(
    engines: dict[str, Engine], expression: Callable[[Engine], Any]
) -> None:
    on_spark = rows(expression(engines["spark"]))
    on_duckdb = rows(expression(engines["duckdb"]))
    assert on_spark, "the expression selects something"
    assert on_spark == on_duckdb


def test_counts_match(engines: dict[str, Engine], city_tables: dict[str, pa.Table]) -> None:
    spark, duck = counts(engines["spark"]), counts(engines["duckdb"])
    assert spark == duck
    for name, t in city_tables.items():
        assert spark[name] == t.num_rows
    assert spark["claim_line"] == 10
    assert spark["load_log"] == len(city_tables) + 1
    assert engines["spark"].table("person").count().execute() == city_tables["person"].num_rows


def test_timestamps_dates_and_money_round_trip(engines: dict[str, Engine]) -> None:
    cols = ["encounter_id", "start_time", "end_time"]
    spark_enc = engines["spark"].table("encounter").select(*cols).to_pyarrow()
    duck_enc = engines["duckdb"].table("encounter").select(*cols).to_pyarrow()
    assert spark_enc.schema.field("start_time").type == pa.timestamp("us")
    assert rows(engines["spark"].table("encounter").select(*cols)) == sorted(
        zip(*(c.to_pylist() for c in duck_enc.columns), strict=True), key=repr
    )
    by_id = dict(
        zip(spark_enc["encounter_id"].to_pylist(), spark_enc["start_time"].to_pylist(), strict=True)
    )
    assert by_id["E0000"] == dt.datetime(2023, 1, 1, 0, 15)  # 00:15Z
    assert by_id["E0001"] == dt.datetime(2023, 2, 1, 23, 15)  # 02-02 01:15+02:00
    assert by_id["E0002"] == dt.datetime(2023, 3, 3, 2, 15)  # naive: as recorded
    # The engine's own reader gives the same types as the Ibis view.
    assert engines["spark"].read("encounter").schema.field("start_time").type == pa.timestamp("us")

    births = engines["spark"].table("person").birth_date.to_pyarrow()
    assert births.type == pa.date32()
    paid = engines["spark"].table("claim_line").allowed_amount.to_pyarrow()
    assert pa.types.is_decimal(paid.type) and paid.type.scale == 2
    assert Decimal("110.26") in paid.to_pylist()  # 110.255 rounded to cents

    log = engines["spark"].table("load_log").to_pyarrow().to_pylist()
    assert all(r["started"] <= r["finished"] for r in log)
    assert {r["content_hash"] for r in log} == {
        r["content_hash"] for r in engines["duckdb"].read("load_log").to_pylist()
    }


class FailingSpark:
    """Wraps the Spark engine: ``append`` raises on the second table of a load."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tables: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def append(self, table: Table, batch: pa.Table) -> None:
        if table.name not in self.tables:
            self.tables.append(table.name)
        if len(self.tables) == 2:
            raise OSError("executor lost")
        self.engine.append(table, batch)


def test_a_failed_load_leaves_the_manifest_and_visible_rows_unchanged(
    engines: dict[str, Engine], make_rows: Callable[[str, list[dict[str, Any]]], pa.Table]
) -> None:
    spark = engines["spark"]
    root: Path = spark.root  # type: ignore[attr-defined]
    manifest = (root / "manifest.json").read_bytes()
    files = sorted(p.relative_to(root) for p in (root / "tables").rglob("*"))
    visible = rows(by_sex(spark))
    before = counts(spark)

    people = make_rows(
        "person",
        [{"person_id": f"NEW{i}", "birth_date": "1990-01-01", "sex": "male"} for i in range(5)],
    )
    areas = make_rows("area", [{"area_id": "NEWA", "name": "new"}])
    failing = FailingSpark(spark)
    with pytest.raises(LoadError, match="rolled back: executor lost"):
        load(failing, [("person", people), ("area", areas)], source="x", today=TODAY)  # type: ignore[arg-type]
    assert failing.tables == ["person", "area"]

    assert (root / "manifest.json").read_bytes() == manifest
    assert sorted(p.relative_to(root) for p in (root / "tables").rglob("*")) == files
    assert counts(spark) == before
    assert rows(by_sex(spark)) == visible


def test_files_a_killed_load_left_are_removed_by_the_next_load(engines: dict[str, Engine]) -> None:
    spark = engines["spark"]
    root: Path = spark.root  # type: ignore[attr-defined]
    stray = root / "tables" / "person" / "0123456789ab-0000.parquet"
    stray.write_bytes(b"half a file")
    before = counts(spark)
    load(spark, [], source="nothing", today=TODAY)
    assert not stray.exists()
    assert counts(spark) == before


def test_two_spark_warehouses_in_one_session_each_show_their_own_rows(
    engines: dict[str, Engine],
    tmp_path: Path,
    make_rows: Callable[[str, list[dict[str, Any]]], pa.Table],
    city_tables: dict[str, pa.Table],
) -> None:
    other = open_engine("spark://local[2]", tmp_path)
    people = [{"person_id": "ONLY", "birth_date": "1990-01-01", "sex": "male"}]
    load(other, {"person": make_rows("person", people)}, source="other", today=TODAY)
    first = engines["spark"]
    assert first.table("person").count().execute() == city_tables["person"].num_rows
    assert other.table("person").count().execute() == 1
    assert first.table("person").count().execute() == city_tables["person"].num_rows
    other.close()


def test_cms_hcc_scores_are_the_same_on_both_engines(engines: dict[str, Engine]) -> None:
    """The CMS-HCC model (bit words, bit_count, hierarchies) runs on Spark as on DuckDB;
    on Spark the prepared path runs the Ibis expression."""
    from popweave.risk.hcc import hcc_score_table
    from tests.risk import peers

    people, dx = peers.patients(300, seed=17)
    got = {}
    for name, engine in engines.items():
        con = engine.ibis
        d = con.create_view("hcc_test_dx", ibis.memtable(dx), overwrite=True)
        p = con.create_view("hcc_test_people", ibis.memtable(people), overwrite=True)
        got[name] = hcc_score_table(d, p, version="v28", hccs=True).sort_by("person_id")
    assert got["spark"].num_rows == 300
    assert got["spark"].to_pylist() == got["duckdb"].to_pylist()
