"""Shared helpers of the comorbidity, CMS-HCC and LACE scores: the package tables, ICD-10-CM
code normalisation, prefix matching and the diagnoses of a window."""

from __future__ import annotations

import csv
import datetime as dt
from functools import cache
from importlib import resources
from typing import Any

import ibis
import pyarrow as pa

from popweave.cohorts.data import Data, as_date


@cache
def rows(name: str) -> tuple[dict[str, str], ...]:
    """Rows of ``data/<name>.csv`` (every value a string)."""
    text = resources.files("popweave.risk").joinpath("data", f"{name}.csv").read_text()
    return tuple(csv.DictReader(text.splitlines()))


def memtable(name: str, columns: dict[str, str]) -> Any:
    """``data/<name>.csv`` as an in-memory Ibis table with the given column types."""
    return ibis.memtable(_arrow(name, tuple(columns.items())))


@cache
def _arrow(name: str, columns: tuple[tuple[str, str], ...]) -> pa.Table:
    data: dict[str, list[Any]] = {c: [] for c, _ in columns}
    for r in rows(name):
        for c, kind in columns:
            v = r[c]
            if kind == "string":
                data[c].append(v)
            else:
                data[c].append((int(v) if kind == "int" else float(v)) if v else None)
    types = {"string": pa.string(), "int": pa.int64(), "float": pa.float64()}
    return pa.table({c: pa.array(data[c], types[k]) for c, k in columns})


def normalised(code: Any) -> Any:
    """An ICD-10-CM code column upper case, without dots or spaces (" e11.9" -> "E119").

    Other white space (tabs, line breaks) is not removed: translating every white-space
    character took twice as long as the rest of this step."""
    return code.replace(".", "").replace(" ", "").upper()


def code_table(diagnoses: Any) -> Any:
    """``person_id, code`` (normalised) of a diagnoses table with columns person_id, code."""
    return diagnoses.select(person_id=diagnoses.person_id, code=normalised(diagnoses.code))


def match_prefixes(diagnoses: Any, name: str, key: str) -> Any:
    """Distinct ``person_id, <key>`` of the diagnoses whose code starts with a ``prefix`` of
    the package table ``name`` (columns ``key``, ``prefix``). The distinct codes are matched
    first, one equi-join per prefix length, then joined back to the people."""
    table = memtable(name, {key: "string", "prefix": "string"})
    dx = code_table(diagnoses)
    codes = dx.select("code").distinct()
    lengths = sorted({len(r["prefix"]) for r in rows(name)})
    parts = []
    for n in lengths:
        ref = table.filter(table.prefix.length() == n)
        j = codes.join(ref, codes.code.substr(0, n) == ref.prefix)
        parts.append(j.select(code=j.code, category=j[key]))
    hits = parts[0]
    for p in parts[1:]:
        hits = hits.union(p, distinct=False)
    out = dx.join(hits, "code")
    return out.select(person_id=out.person_id, **{key: out.category}).distinct()


def diagnoses(data: Data, start: dt.date, end: dt.date) -> Any:
    """``person_id, code`` of ICD-10-CM diagnoses recorded in [start, end]: conditions active
    in the window (onset on or before ``end``, not abated before ``start``), encounter
    diagnoses and claim-line diagnoses dated in the window."""
    c = data.condition
    active = (
        (c.code_system == "ICD10CM")
        & (as_date(c.onset_date) <= end)
        & (c.abatement_date.isnull() | (as_date(c.abatement_date) >= start))
    )
    parts = [c.filter(active).select("person_id", "code")]
    e = data.encounter
    day = as_date(e.start_time)
    parts.append(
        e.filter((e.code_system == "ICD10CM") & day.between(start, end)).select("person_id", "code")
    )
    cl = data.claim_line
    day = as_date(cl.service_date)
    parts.append(
        cl.filter(cl.diagnosis_code.notnull() & day.between(start, end)).select(
            person_id=cl.person_id, code=cl.diagnosis_code
        )
    )
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p, distinct=False)
    return out.filter(out.code.notnull())
