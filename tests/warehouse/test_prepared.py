"""Prepared expressions: compiled once per input schemas, run on DuckDB with the real inputs
in front, the same rows as the expression run through Ibis."""

from __future__ import annotations

import doctest
from typing import Any

import ibis
import pandas as pd
import pytest

from popweave.warehouse import prepared
from popweave.warehouse.prepared import PREFIX, Prepared


def test_doctests() -> None:
    assert doctest.testmod(prepared).failed == 0


def totals(orders: Any, prices: Any) -> Any:
    """Per customer: the order total at list price, with a memtable of its own (a discount)."""
    discount = ibis.memtable({"sku": ["b"], "off": [0.5]})
    j = orders.join(prices, "sku").left_join(discount, "sku")
    value = j.qty * j.price * (1 - j.off.fill_null(0.0))
    return j.group_by("customer").aggregate(total=value.sum(), lines=j.count())


ORDERS = pd.DataFrame(
    {"customer": ["x", "x", "y", "z"], "sku": ["a", "b", "a", "c"], "qty": [1, 2, 3, 4]}
)
PRICES = pd.DataFrame({"sku": ["a", "b", "c"], "price": [10.0, 4.0, 1.5]})


def result(table: Any) -> list[tuple[Any, ...]]:
    return sorted(zip(*(c.to_pylist() for c in table.columns), strict=True))


def test_runs_on_duckdb_tables_as_the_expression_does() -> None:
    con = ibis.duckdb.connect()
    orders, prices = con.create_table("orders", ORDERS), con.create_table("prices", PRICES)
    p = Prepared(totals)
    want = result(totals(orders, prices).to_pyarrow())
    assert want == [("x", 14.0, 2), ("y", 30.0, 1), ("z", 6.0, 1)]
    assert result(p.run(orders=orders, prices=prices)) == want
    # Compiled once: the second run reuses the statement (and sees new rows).
    con.insert("orders", pd.DataFrame({"customer": ["z"], "sku": ["a"], "qty": [1]}))
    assert result(p.run(orders=orders, prices=prices))[-1] == ("z", 16.0, 2)
    assert len(p._sql) == 1
    sql, _ = next(iter(p._sql.values()))
    assert f'"{PREFIX}orders"' in sql and '"orders"' not in sql.replace(f"{PREFIX}orders", "")


def test_inputs_may_be_expressions_and_in_memory_tables() -> None:
    con = ibis.duckdb.connect()
    orders = con.create_table("orders", ORDERS)
    big = orders.filter(orders.qty >= 2)  # an expression over a table
    prices = ibis.memtable(PRICES)  # not in the database
    p = Prepared(totals)
    assert result(p.run(orders=big, prices=prices)) == result(totals(big, prices).to_pyarrow())
    # Another schema of an input is another compiled statement.
    wider = orders.mutate(note=ibis.literal("n"))
    assert result(p.run(orders=wider, prices=prices)) == result(totals(wider, prices).to_pyarrow())
    assert len(p._sql) == 2


def test_only_in_memory_inputs_run_on_the_default_connection() -> None:
    p = Prepared(totals)
    got = p.run(orders=ibis.memtable(ORDERS), prices=ibis.memtable(PRICES))
    assert result(got) == [("x", 14.0, 2), ("y", 30.0, 1), ("z", 6.0, 1)]


def test_tables_of_two_connections_are_refused() -> None:
    a, b = ibis.duckdb.connect(), ibis.duckdb.connect()
    with pytest.raises(ValueError, match="different connections"):
        Prepared(totals).run(
            orders=a.create_table("orders", ORDERS), prices=b.create_table("prices", PRICES)
        )


def test_in_memory_tables_are_registered_once_and_again_when_dropped() -> None:
    con = ibis.duckdb.connect()
    orders, prices = con.create_table("orders", ORDERS), con.create_table("prices", PRICES)
    p = Prepared(totals)
    want = result(p.run(orders=orders, prices=prices))
    _, memtables = next(iter(p._sql.values()))
    (discount,) = memtables
    assert discount.name in prepared._registered[con.con]
    # Dropped behind the cache's back (as Ibis does when a memtable is collected): the run
    # registers it again rather than failing.
    con.con.unregister(discount.name)
    assert result(p.run(orders=orders, prices=prices)) == want
