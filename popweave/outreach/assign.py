"""Assignment of worklist patients to care coordinators, respecting caseloads, language and
area, by a min-cost flow (optimal) or a greedy baseline.

**Objective.** Maximise the total *value* of the assignments, where assigning patient ``i``
to coordinator ``c`` is worth

    value(i, c) = priority(i) - km_cost x distance_km(i, c)
                  - interpreter_cost x [no common language]
                  - outside_area_cost x [c does not cover i's area]

``distance_km`` runs from the centroid of the patient's home area to the coordinator's base
(their practice). **Constraints**: each patient at most once; each coordinator at most
``caseload`` patients; a coordinator takes a patient only if they speak the patient's
language when it is *required* (every language by default, or only those in
``required_languages``; a missing language is English) and cover the patient's area (unless
``outside_area_cost`` is set); only assignments of positive value are made (nobody is
assigned at a loss).

**Method.** The problem is a transportation problem: source -> patient (capacity 1) ->
coordinator (one arc per allowed pair, cost = -value in milli-points) -> sink (capacity =
caseload), plus a source -> sink arc of cost 0 for patients left unassigned. Its constraint
matrix is totally unimodular, so OR-Tools' min-cost flow (cost scaling push-relabel; Goldberg
1997, *J Algorithms* 22:1-29) gives an optimal integral assignment. Values are rounded to
1/1000 of a point for the solver; the objective is reported in exact values.

**Greedy baseline.** Patients in descending priority each take the allowed coordinator with
spare caseload of highest value, which is how a worklist is usually handed out by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from popweave.errors import PopweaveError
from popweave.outreach.roster import DEFAULT_LANGUAGE, km

SCALE = 1000
METHODS = ("optimal", "greedy")


@dataclass(frozen=True)
class Costs:
    """Costs in priority points (see the module docstring)."""

    km_cost: float = 2.0
    required_languages: frozenset[str] | None = None
    """Languages whose speakers must get a coordinator who speaks them (``None``: all)."""
    interpreter_cost: float = 10.0
    """Cost of an assignment without a common language, where that is allowed."""
    outside_area_cost: float | None = None
    """Cost of a coordinator taking a patient outside their areas; ``None`` forbids it."""


@dataclass
class Assignment:
    """The result: ``table`` (person_id, coordinator_id, priority, distance_km, value),
    ``objective`` (total value), the method and the seconds it took."""

    table: pd.DataFrame
    objective: float
    method: str
    seconds: float
    patients: int
    arcs: int = 0
    loads: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))

    @property
    def assigned(self) -> int:
        return len(self.table)

    @property
    def priority_served(self) -> float:
        return float(self.table.priority.sum())


@dataclass
class _Problem:
    patients: pd.DataFrame
    roster: pd.DataFrame
    value: np.ndarray  # n x m, NaN where not allowed
    dist: np.ndarray  # n x m


def _problem(
    patients: pd.DataFrame, roster: pd.DataFrame, area_xy: pd.DataFrame, costs: Costs
) -> _Problem:
    """The value of every allowed (patient, coordinator) pair, vectorised over areas."""
    if patients.person_id.duplicated().any():
        raise PopweaveError("a patient appears twice in the list to assign")
    if roster.empty:
        raise PopweaveError("the roster has no coordinators")
    pts = patients.reset_index(drop=True)
    ros = roster.reset_index(drop=True)
    lang = pts.language.fillna(DEFAULT_LANGUAGE).astype(str)
    langs = sorted(set(lang) | {x for s in ros.languages for x in s})
    li = {x: k for k, x in enumerate(langs)}
    speaks = np.array([[x in s for s in ros.languages] for x in langs], dtype=bool)  # L x m
    area_ids = sorted(set(pts.area_id.dropna().astype(str)) | {x for s in ros.areas for x in s})
    ai = {x: k for k, x in enumerate(area_ids)}
    covers = np.array([[x in s for s in ros.areas] for x in area_ids], dtype=bool)  # A x m
    xy = area_xy.set_index("area_id").reindex(area_ids)
    d_area = km(
        xy.lat.to_numpy()[:, None],
        xy.lon.to_numpy()[:, None],
        ros.lat.to_numpy(float),
        ros.lon.to_numpy(float),
    )
    d_area = np.nan_to_num(np.asarray(d_area, dtype=float), nan=0.0)  # A x m; unknown: no cost
    p_lang = np.array([li[x] for x in lang])
    has_area = pts.area_id.notna().to_numpy()
    p_area = np.array([ai[str(x)] if pd.notna(x) else 0 for x in pts.area_id])
    common = speaks[p_lang]  # n x m
    covered = covers[p_area] & has_area[:, None]
    dist = d_area[p_area] * has_area[:, None]
    value = pts.priority.to_numpy(float)[:, None] - costs.km_cost * dist
    required = (
        np.ones(len(pts), dtype=bool)
        if costs.required_languages is None
        else lang.isin(list(costs.required_languages)).to_numpy()
    )
    allowed = common | ~required[:, None]
    value = value - costs.interpreter_cost * ~common
    if costs.outside_area_cost is None:
        allowed &= covered
    else:
        value = value - costs.outside_area_cost * ~covered
    allowed &= value > 0
    return _Problem(pts, ros, np.where(allowed, value, np.nan), dist)


def _result(
    pr: _Problem, rows: np.ndarray, cols: np.ndarray, method: str, t0: float, arcs: int
) -> Assignment:
    ros, pts = pr.roster, pr.patients
    tab = pd.DataFrame(
        {
            "person_id": pts.person_id.to_numpy()[rows],
            "coordinator_id": ros.coordinator_id.to_numpy()[cols],
            "practice_id": ros.practice_id.to_numpy()[cols],
            "priority": pts.priority.to_numpy(float)[rows],
            "distance_km": pr.dist[rows, cols],
            "value": pr.value[rows, cols],
        }
    )
    tab = tab.sort_values(
        ["coordinator_id", "priority", "person_id"], ascending=[True, False, True]
    )
    loads = tab.groupby("coordinator_id").size().reindex(ros.coordinator_id, fill_value=0)
    return Assignment(
        tab.reset_index(drop=True),
        float(tab.value.sum()),
        method,
        time.perf_counter() - t0,
        len(pts),
        arcs,
        loads,
    )


def optimal(
    patients: pd.DataFrame, roster: pd.DataFrame, area_xy: pd.DataFrame, costs: Costs | None = None
) -> Assignment:
    """The optimal assignment by min-cost flow (see the module docstring).

    ``patients``: ``person_id, priority, language, area_id``; ``roster`` as
    :mod:`popweave.outreach.roster`; ``area_xy``: ``area_id, lat, lon``.
    """
    from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

    t0 = time.perf_counter()
    pr = _problem(patients, roster, area_xy, costs or Costs())
    n, m = pr.value.shape
    rows, cols = np.nonzero(~np.isnan(pr.value))
    src, sink = 0, n + m + 1
    f = min_cost_flow.SimpleMinCostFlow()
    cost = -np.rint(pr.value[rows, cols] * SCALE).astype(np.int64)
    tails = np.concatenate([np.full(n, src), rows + 1, n + 1 + np.arange(m), [src]])
    heads = np.concatenate([np.arange(n) + 1, n + 1 + cols, np.full(m, sink), [sink]])
    caps = np.concatenate(
        [np.ones(n), np.ones(len(rows)), pr.roster.caseload.to_numpy(), [n]]
    ).astype(np.int64)
    costs_all = np.concatenate([np.zeros(n), cost, np.zeros(m), [0]]).astype(np.int64)
    arcs = f.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs_all)
    f.set_nodes_supplies(np.array([src, sink]), np.array([n, -n]))
    status = f.solve()
    if status != f.OPTIMAL:
        raise PopweaveError(f"the min-cost flow solver stopped with status {status}")
    flows = f.flows(arcs[n : n + len(rows)])
    used = flows > 0
    return _result(pr, rows[used], cols[used], "optimal", t0, len(rows))


def greedy(
    patients: pd.DataFrame, roster: pd.DataFrame, area_xy: pd.DataFrame, costs: Costs | None = None
) -> Assignment:
    """The greedy baseline: by descending priority, the best allowed coordinator with room."""
    t0 = time.perf_counter()
    pr = _problem(patients, roster, area_xy, costs or Costs())
    left = pr.roster.caseload.to_numpy(np.int64).copy()
    order = np.lexsort((pr.patients.person_id.to_numpy(), -pr.patients.priority.to_numpy(float)))
    val = np.where(np.isnan(pr.value), -np.inf, pr.value)
    rows, cols = [], []
    for i in order:
        v = np.where(left > 0, val[i], -np.inf)
        c = int(np.argmax(v))
        if v[c] > -np.inf:
            rows.append(i)
            cols.append(c)
            left[c] -= 1
    arcs = int((~np.isnan(pr.value)).sum())
    return _result(
        pr, np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), "greedy", t0, arcs
    )


def violations(
    a: Assignment,
    patients: pd.DataFrame,
    roster: pd.DataFrame,
    costs: Costs | None = None,
) -> list[str]:
    """Every broken constraint of ``a`` in words (empty when it keeps them all)."""
    c = costs or Costs()
    out: list[str] = []
    t = a.table
    dup = t.person_id[t.person_id.duplicated()]
    out += [f"{p} is assigned twice" for p in dup]
    cap = dict(zip(roster.coordinator_id, roster.caseload, strict=True))
    speaks = dict(zip(roster.coordinator_id, roster.languages, strict=True))
    covers = dict(zip(roster.coordinator_id, roster.areas, strict=True))
    lang_of = dict(zip(patients.person_id, patients.language, strict=True))
    area_of = dict(zip(patients.person_id, patients.area_id, strict=True))
    for k, n in t.groupby("coordinator_id").size().items():
        if n > cap[k]:
            out.append(f"{k} has {n} patients, caseload {cap[k]}")
    for pid, k, value in zip(t.person_id, t.coordinator_id, t.value, strict=True):
        lang = lang_of[pid]
        lang = DEFAULT_LANGUAGE if lang is None or pd.isna(lang) else str(lang)
        need = c.required_languages is None or lang in c.required_languages
        if need and lang not in speaks[k]:
            out.append(f"{pid} ({lang}) is with {k}, who does not speak it")
        if c.outside_area_cost is None and area_of[pid] not in covers[k]:
            out.append(f"{pid} ({area_of[pid]}) is outside {k}'s areas")
        if value <= 0:
            out.append(f"{pid} is assigned at a loss ({value:.2f})")
    return out


def assign(
    patients: pd.DataFrame,
    roster: pd.DataFrame,
    area_xy: pd.DataFrame,
    costs: Costs | None = None,
    *,
    method: str = "optimal",
) -> Assignment:
    """:func:`optimal` or :func:`greedy` by name."""
    if method not in METHODS:
        raise PopweaveError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    fn = optimal if method == "optimal" else greedy
    return fn(patients, roster, area_xy, costs)


def assign_worklist(
    engine: Any,
    *,
    roster: pd.DataFrame | None = None,
    top: int | None = None,
    costs: Costs | None = None,
    method: str = "optimal",
    save: bool = True,
    **worklist_kw: Any,
) -> Assignment:
    """Assign the top of the worklist (:func:`popweave.outreach.worklist.worklist_expr`,
    keywords passed on) to the roster (default :func:`~popweave.outreach.roster.synthetic_roster`).

    ``top`` defaults to twice the roster's total caseload. ``save`` writes
    ``outreach_assignment`` (as_of, person_id, coordinator_id, practice_id, priority,
    distance_km, value, method), replacing the rows of the same as-of date.
    """
    import pyarrow as pa

    from popweave.outreach.roster import areas, synthetic_roster
    from popweave.outreach.worklist import ASSIGNMENT_TABLE, default_as_of, worklist_expr

    ros = synthetic_roster(engine) if roster is None else roster
    d = worklist_kw.pop("as_of", None) or default_as_of(engine)
    n = top if top is not None else 2 * int(ros.caseload.sum())
    w = worklist_expr(engine, as_of=d, **worklist_kw)
    pts = w.select("person_id", "priority", "language", "area_id").limit(n).execute()
    a = assign(pts, ros, areas(engine), costs, method=method)
    if save:
        tab = a.table.assign(method=a.method)
        tab.insert(0, "as_of", d)
        engine.save_result(
            ASSIGNMENT_TABLE, pa.Table.from_pandas(tab, preserve_index=False), replace={"as_of": d}
        )
    return a
