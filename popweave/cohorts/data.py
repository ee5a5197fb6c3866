"""The canonical tables of one warehouse as Ibis tables, and expressions shared by cohorts
and measures (age on a date, a person's coded events in a window)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

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


def as_date(col: Any) -> Any:
    """A date from a date or timestamp column."""
    return col.date() if col.type().is_timestamp() else col


def coded_events(
    data: Data, kind: str, codes: dict[str, list[str]], start: dt.date | None, end: dt.date
) -> Any:
    """Rows ``(person_id, date, code_system, code, source)`` of ``kind`` events whose code is
    in ``codes`` (code system -> codes) and whose date is in [start, end]."""
    parts = []
    for table, date_col, sys_col, code_col in EVENT_SOURCES[kind]:
        t = data.table(table)
        day = as_date(t[date_col])
        cond = None
        for system, values in codes.items():
            if not values:
                continue
            c = (t[sys_col] == system) & t[code_col].isin(values)
            cond = c if cond is None else (cond | c)
        if cond is None:
            continue
        window = day <= end if start is None else day.between(start, end)
        parts.append(
            t.filter(cond & window).select(
                person_id=t.person_id,
                date=day,
                code_system=t[sys_col],
                code=t[code_col],
                source=ibis.literal(table),
            )
        )
    if not parts:
        return _empty_events(data)
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
