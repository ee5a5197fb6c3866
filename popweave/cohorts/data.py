"""The canonical tables of one warehouse as Ibis tables, and expressions shared by cohorts
and measures (age on a date, a person's coded events in a window)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pyarrow as pa

from popweave.model import TABLES

#: Where each kind of coded event lives: (table, date column, code-system column, code column).
EVENT_SOURCES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "diagnosis": (
        ("condition", "onset_date", "code_system", "code"),
        ("encounter", "start_time", "code_system", "code"),
    ),
    "procedure": (
        ("procedure", "date", "code_system", "code"),
        ("claim_line", "service_date", "code_system", "code"),
    ),
    "observation": (("observation", "date", "code_system", "code"),),
    "medication": (("medication", "start_date", "code_system", "code"),),
}


class Data:
    """Ibis tables of a warehouse, looked up by canonical name (``data.person``)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self._cache: dict[str, Any] = {}

    @classmethod
    def of(cls, engine: Any) -> Data:
        return cls(engine.ibis)

    def table(self, name: str) -> Any:
        if name not in self._cache:
            if name not in TABLES:
                raise KeyError(f"no canonical table {name!r}")
            self._cache[name] = self.con.table(name)
        return self._cache[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in TABLES:
            raise AttributeError(name)
        return self.table(name)


def age_on(birth_date: Any, day: dt.date) -> Any:
    """Completed years of age on ``day`` (birthdays on 29 February count on 1 March)."""
    md = day.month * 100 + day.day
    before = (birth_date.month() * 100 + birth_date.day()) > md
    return ibis.literal(day.year) - birth_date.year() - before.cast("int32")


#: Longer code lists are matched by a semi-join with an in-memory table instead of IN (...):
#: the SQL stays small and the engine hashes the codes once.
INLINE_CODES = 64


def match_codes(t: Any, codes: dict[str, list[str]], columns: tuple[tuple[str, str], ...]) -> Any:
    """Rows of ``t`` whose (system column, code column) pair, for any of ``columns``, is one
    of ``codes`` (code system -> codes)."""
    codes = {k: sorted(set(v)) for k, v in codes.items() if v}
    total = sum(len(v) for v in codes.values())
    if total == 0:
        return t.filter(ibis.literal(False))
    if total <= INLINE_CODES:
        cond = None
        for sys_col, code_col in columns:
            for system, values in codes.items():
                c = (t[sys_col] == system) & t[code_col].isin(values)
                cond = c if cond is None else cond | c
        return t.filter(cond)
    table = pa.table(
        {
            "_system": [s for s, v in codes.items() for _ in v],
            "_code": [c for v in codes.values() for c in v],
        }
    )
    ref = ibis.memtable(table)
    parts = [
        t.semi_join(ref, [t[sys_col] == ref._system, t[code_col] == ref._code])
        for sys_col, code_col in columns
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p, distinct=True)
    return out


def match_column(t: Any, column: str, values: list[str]) -> Any:
    """Rows of ``t`` whose ``column`` is one of ``values`` (a semi-join for long lists)."""
    values = sorted(set(values))
    if len(values) <= INLINE_CODES:
        return t.filter(t[column].isin(values))
    ref = ibis.memtable(pa.table({"_value": values}))
    return t.semi_join(ref, t[column] == ref._value)


def as_date(col: Any) -> Any:
    """A date from a date or timestamp column."""
    return col.date() if col.type().is_timestamp() else col


def coded_events(
    data: Data, kind: str, codes: dict[str, list[str]], start: dt.date | None, end: dt.date
) -> Any:
    """Rows ``(person_id, date, code_system, code, source)`` of ``kind`` events whose code is
    in ``codes`` (code system -> codes) and whose date is in [start, end]."""
    parts = []
    if not any(codes.values()):
        return _empty_events(data)
    for table, date_col, sys_col, code_col in EVENT_SOURCES[kind]:
        t = data.table(table)
        day = as_date(t[date_col])
        window = day <= end if start is None else day.between(start, end)
        t = match_codes(t.filter(window), codes, ((sys_col, code_col),))
        day = as_date(t[date_col])
        parts.append(
            t.select(
                person_id=t.person_id,
                date=day,
                code_system=t[sys_col],
                code=t[code_col],
                source=ibis.literal(table),
            )
        )
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p, distinct=False)
    return out


def _empty_events(data: Data) -> Any:
    p = data.person
    return p.filter(ibis.literal(False)).select(
        person_id=p.person_id,
        date=ibis.literal(None, "date"),
        code_system=ibis.literal(None, "string"),
        code=ibis.literal(None, "string"),
        source=ibis.literal(None, "string"),
    )
