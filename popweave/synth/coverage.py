"""Enrolment: payer by age, deprivation and half-year churn, collapsed into coverage spans."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from popweave.synth import _vec as v
from popweave.synth.params import Params
from popweave.synth.population import People

PAYERS = ("medicare", "medicaid", "dual", "commercial", "uninsured")
MEDICARE, MEDICAID, DUAL, COMMERCIAL, UNINSURED = range(5)
PLANS = {
    MEDICARE: ("Original Medicare", "Medicare Advantage HMO"),
    MEDICAID: ("Riverton Medicaid MCO",),
    DUAL: ("Dual Special Needs Plan",),
    COMMERCIAL: ("Employer PPO", "Employer HMO", "Marketplace Silver"),
}


@dataclass
class Coverage:
    block_start: np.ndarray  # (B,) day each half-year block starts
    state: np.ndarray  # (n, B) payer index per block

    def payer_on(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Payer index of ``person`` on ``day`` (vectorised)."""
        b = np.clip(
            np.searchsorted(self.block_start, day, side="right") - 1, 0, len(self.block_start) - 1
        )
        out: np.ndarray = self.state[person, b]
        return out


def _blocks(p: Params) -> np.ndarray:
    out = []
    for y in range(p.start_date.year, p.end_date.year + 1):
        out += [v.day(dt.date(y, 1, 1)), v.day(dt.date(y, 7, 1))]
    return np.array(out, dtype=np.int32)


def make_coverage(rng: np.random.Generator, people: People, p: Params) -> Coverage:
    starts = _blocks(p)
    n, b = people.n, len(starts)
    state = np.empty((n, b), dtype=np.int8)
    for j, s in enumerate(starts):
        age = (s - people.birth_day) / 365.25
        senior = age >= 65
        if j == 0:
            child = age < 19
            u = rng.random(n)
            medicaid = u < v.expit(v.logit(p.medicaid_under_65) + 0.9 * people.dep + 0.7 * child)
            u2 = rng.random(n)
            unins = (~child) & (u2 < v.expit(v.logit(p.uninsured_19_64) + 0.5 * people.dep))
            cur = np.where(medicaid, MEDICAID, np.where(unins, UNINSURED, COMMERCIAL))
        else:
            prev = state[:, j - 1].astype(np.int64)
            u = rng.random(n)
            cur = prev.copy()
            # Half-year churn between Medicaid, uninsured and commercial cover.
            leave_mcd = (prev == MEDICAID) & (u < p.medicaid_exit_half_year)
            cur[leave_mcd] = np.where(rng.random(leave_mcd.sum()) < 0.6, UNINSURED, COMMERCIAL)
            gain = (prev == UNINSURED) & (u < 0.15)
            cur[gain] = np.where(rng.random(gain.sum()) < 0.6, MEDICAID, COMMERCIAL)
            lose = (prev == COMMERCIAL) & (u < 0.025)
            cur[lose] = np.where(rng.random(lose.sum()) < 0.5, UNINSURED, MEDICAID)
        dual = rng.random(n) < v.expit(v.logit(p.dual_65_plus) + 0.8 * people.dep)
        if j > 0:
            dual = np.where(
                senior & (state[:, j - 1] >= 0) & (state[:, j - 1] <= DUAL),
                state[:, j - 1] == DUAL,
                dual,
            )
        cur = np.where(senior, np.where(dual, DUAL, MEDICARE), cur)
        state[:, j] = cur
    return Coverage(starts, state)


def enrollment_table(cov: Coverage, people: People, death_day: np.ndarray, p: Params) -> pa.Table:
    """Collapse runs of the same covered payer into spans, clipped to birth and death."""
    n, b = cov.state.shape
    end = v.day(p.end_date)
    block_end = np.r_[cov.block_start[1:] - 1, end]
    person = np.repeat(np.arange(n), b)
    payer = cov.state.reshape(-1).astype(np.int64)
    bstart = np.tile(cov.block_start, n)
    bend = np.tile(block_end, n)
    new_run = np.ones(n * b, dtype=bool)
    new_run[1:] = (payer[1:] != payer[:-1]) | (person[1:] != person[:-1])
    first = np.flatnonzero(new_run)
    last = np.r_[first[1:] - 1, n * b - 1]
    r_person = person[first]
    r_payer = payer[first]
    r_start = np.maximum(bstart[first], people.birth_day[r_person])
    r_end = bend[last]
    dd = death_day[r_person]
    r_end = np.where(dd >= 0, np.minimum(r_end, dd), r_end)
    keep = (r_payer != UNINSURED) & (r_start <= r_end)
    r_person, r_payer, r_start, r_end = r_person[keep], r_payer[keep], r_start[keep], r_end[keep]
    plan_idx = np.zeros(len(r_payer), dtype=np.int64)
    all_plans: list[str] = []
    offsets = {}
    for code, plans in PLANS.items():
        offsets[code] = len(all_plans)
        all_plans += list(plans)
    for code, plans in PLANS.items():
        sel = r_payer == code
        # The plan is fixed per person, so a person's spans with one payer share a plan.
        plan_idx[sel] = offsets[code] + (r_person[sel] * 7919) % len(plans)
    ongoing = (r_end == end) & (death_day[r_person] != end)
    return pa.table(
        {
            "enrollment_id": v.ids("M", len(r_person), 1),
            "person_id": v.take_ids("P", r_person + 1),
            "payer": v.labels(PAYERS, r_payer),
            "plan": v.labels(all_plans, plan_idx),
            "start_date": v.dates(r_start),
            "end_date": v.dates(r_end, mask=ongoing),
        }
    )
