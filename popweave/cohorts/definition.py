"""Cohort definitions: YAML files with a name, an optional index date and criteria.

```yaml
name: diabetes_poorly_controlled
description: Adults with diabetes whose last HbA1c is above 9%
index_date: 2025-12-31        # optional; default: the last day with data
criteria:                     # all must hold
  - age: {min: 18, max: 75}
  - diagnosis: {valueset: diabetes, lookback: 2y, count: {outpatient: 2, inpatient: 1}}
  - lab: {valueset: hba1c_result, lookback: 1y, last: "> 9"}
```
``cohort: NAME`` in a criterion reuses ``NAME.yaml`` from the same folder, the folders given
to :class:`Library`, or the cohorts shipped in ``popweave/cohorts/library``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popweave.cohorts.criteria import Context, compile_all
from popweave.cohorts.data import Data, as_date
from popweave.cohorts.period import Period
from popweave.cohorts.spec_yaml import Located, LocatedList, check_keys, load_file, load_text
from popweave.errors import SpecError

SHIPPED = Path(__file__).with_name("library")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FIELDS = {"name", "description", "index_date", "criteria"}


@dataclass(frozen=True)
class CohortDef:
    name: str
    description: str
    criteria: LocatedList
    file: str
    index_date: dt.date | None = None

    @classmethod
    def parse(cls, doc: Located) -> CohortDef:
        check_keys(doc, FIELDS, "a cohort definition", required=("name", "criteria"))
        name = str(doc["name"])
        if not _NAME.match(name):
            raise doc.fail(f"name {name!r}: use lower-case letters, digits and _", "name")
        crit = doc["criteria"]
        if not isinstance(crit, LocatedList) or not crit:
            raise doc.fail("criteria: expected a non-empty list", "criteria")
        index = doc.get("index_date")
        if index is not None and not isinstance(index, dt.date):
            try:
                index = dt.date.fromisoformat(str(index))
            except ValueError:
                raise doc.fail(
                    f"index_date: {index!r} is not a date (YYYY-MM-DD)", "index_date"
                ) from None
        if isinstance(index, dt.datetime):
            index = index.date()
        return cls(name, str(doc.get("description", "")), crit, doc.file, index)

    @classmethod
    def from_file(cls, path: Path) -> CohortDef:
        return cls.parse(load_file(path))

    @classmethod
    def from_text(cls, text: str, name: str = "<string>") -> CohortDef:
        return cls.parse(load_text(text, name))


class Library:
    """Finds cohort definitions by name for ``cohort:`` references."""

    def __init__(self, *folders: Path, extra: list[CohortDef] | None = None) -> None:
        self.folders = [*folders, SHIPPED]
        self.extra = {c.name: c for c in extra or []}

    def names(self) -> list[str]:
        out = set(self.extra)
        for f in self.folders:
            if f.is_dir():
                out.update(p.stem for p in f.glob("*.yaml"))
        return sorted(out)

    def get(self, name: str, near: str | None = None) -> CohortDef:
        if name in self.extra:
            return self.extra[name]
        folders = ([Path(near).parent] if near and Path(near).exists() else []) + self.folders
        for f in folders:
            path = f / f"{name}.yaml"
            if path.is_file():
                c = CohortDef.from_file(path)
                if c.name != name:
                    raise SpecError(f"{path}:1: the file is named {name} but defines {c.name!r}")
                return c
        raise KeyError(name)

    def resolver(self) -> Any:
        def resolve(name: str, node: Located, key: str) -> tuple[LocatedList, str]:
            try:
                c = self.get(name, node.file)
            except KeyError:
                close = difflib.get_close_matches(name, self.names(), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise node.fail(f"unknown cohort {name!r}{hint}", key) from None
            return c.criteria, c.file

        return resolve


def data_end(data: Data) -> dt.date:
    """The last day with an encounter: the default index date."""
    e = data.encounter
    last = e.aggregate(d=as_date(e.start_time).max()).execute()["d"].iloc[0]
    if last is None or str(last) in ("NaT", "None"):
        return dt.date.today()
    return dt.date.fromisoformat(str(last)[:10])


def members(
    data: Data,
    cohort: CohortDef,
    *,
    index_date: dt.date | None = None,
    period: Period | None = None,
    library: Library | None = None,
) -> Any:
    """Ibis table of the cohort's ``person_id`` on its index date.

    The index date is ``index_date``, else the definition's, else the period's end, else
    the last day with data. ``period`` (for ``window: period``) defaults to the calendar year
    ending on the index date's year.
    """
    index = index_date or cohort.index_date or (period.end if period else None) or data_end(data)
    per = period or Period.year(index.year)
    lib = library or Library()
    ctx = Context(data, index, per, lib.resolver(), (cohort.name,))
    return compile_all(cohort.criteria, ctx)
