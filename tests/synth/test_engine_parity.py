"""The same small city on DuckDB and on Spark (local mode) gives the same Ibis results."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import ibis
import pytest

from popweave.synth import build_city
from popweave.warehouse import Engine, counts, load, open_engine, rebuilding

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]
pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    city = build_city(1500, 11)
    out: dict[str, Engine] = {}
    for url in ("duckdb:///warehouse.duckdb", "spark://local[2]"):
        root = tmp_path_factory.mktemp(url.split(":")[0])
        with rebuilding(url, root) as eng:
            load(eng, city.tables(chunk_rows=20_000), source="city", atomic=False)
        out[url.split(":")[0]] = open_engine(url, root)
    yield out
    for e in out.values():
        e.close()


def _rows(expr: Any) -> list[tuple[Any, ...]]:
    t = expr.to_pyarrow()
    return sorted(zip(*(c.to_pylist() for c in t.columns), strict=True), key=repr)


def encounters_by_class(e: Engine) -> Any:
    t = e.table("encounter")
    return t.group_by("encounter_class").aggregate(n=t.count(), people=t.person_id.nunique())


def conditions_by_code_and_sex(e: Engine) -> Any:
    c, p = e.table("condition"), e.table("person")
    j = c.join(p, "person_id")
    return j.group_by(["code", "sex"]).aggregate(n=j.count())


def readmissions_within_30_days(e: Engine) -> Any:
    ip = e.table("encounter").filter(lambda t: t.encounter_class == "inpatient")
    a = ip.select(person_id=ip.person_id, d=ip.end_time.date(), id_a=ip.encounter_id)
    b = ip.select(pid=ip.person_id, s=ip.start_time.date())
    j = a.join(b, [a.person_id == b.pid, b.s > a.d, b.s <= a.d + ibis.interval(days=30)])
    return j.aggregate(index_with_readmission=j.id_a.nunique())


def paid_by_payer_and_year(e: Engine) -> Any:
    t = e.table("claim_line")
    return t.group_by([t.payer, t.service_date.year().name("year")]).aggregate(
        allowed=t.allowed_amount.sum(), paid=t.paid_amount.sum()
    )


def last_hba1c_over_9(e: Engine) -> Any:
    o = e.table("observation").filter(lambda t: t.code == "4548-4")
    last = o.group_by("person_id").aggregate(d=o.date.max())
    j = o.join(last, [o.person_id == last.person_id, o.date == last.d])
    return j.aggregate(people=j.person_id.nunique(), over9=(j.value_num > 9).sum())


EXPRESSIONS: list[Callable[[Engine], Any]] = [
    encounters_by_class,
    conditions_by_code_and_sex,
    readmissions_within_30_days,
    paid_by_payer_and_year,
    last_hba1c_over_9,
]


def test_same_row_counts(engines: dict[str, Engine]) -> None:
    assert counts(engines["duckdb"]) | {"load_log": 0} == counts(engines["spark"]) | {"load_log": 0}


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=lambda f: f.__name__)
def test_same_result(engines: dict[str, Engine], expr: Callable[[Engine], Any]) -> None:
    duck, spark = _rows(expr(engines["duckdb"])), _rows(expr(engines["spark"]))
    assert duck == spark
    assert duck  # not vacuous
