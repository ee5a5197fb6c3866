"""Encounters: ambulatory visits, ED visits, hospital stays with planted 30-day readmissions.

Readmissions are planted, not accidental: background admissions that would fall within 30 days
of an earlier discharge are removed, so every observed readmission comes from the planted
log-linear model whose rate ratios ``truth.json`` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from popweave.synth import _vec as v
from popweave.synth.codes import (
    AMBULATORY_REASONS,
    CHILD_VISIT,
    ED_REASONS,
    EXACERBATION,
    INPATIENT_REASONS,
)
from popweave.synth.coverage import MEDICAID, UNINSURED, Coverage
from popweave.synth.morbidity import Morbidity
from popweave.synth.params import CONDITIONS, Params
from popweave.synth.population import RACE_GROUPS, People

AMBULATORY, EMERGENCY, INPATIENT = 0, 1, 2
CLASSES = ("ambulatory", "emergency", "inpatient")
DISPOSITIONS = ("01", "06", "03", "02", "07", "20")
HOME, HOME_HEALTH, SNF, TRANSFER, AMA, EXPIRED = range(6)
# Kinds of encounter, for services and claims.
BASE, READMIT, TERMINAL, FOLLOWUP_7, FOLLOWUP_30 = range(5)
# Post-discharge follow-up (to home / home health): within 7 days with probability
# FOLLOWUP_7_SCALE * access, else on days 8-30 with probability FOLLOWUP_30_EXTRA.
FOLLOWUP_7_SCALE = 0.65
FOLLOWUP_30_EXTRA = 0.35
FOLLOWUP_7_DAYS = (1, 7)
FOLLOWUP_30_DAYS = (8, 30)
# Planted readmissions start 1 + floor(READMIT_GAP_SPAN * Beta(1, 2)) days after discharge.
READMIT_GAP_SPAN = 29
READMIT_GENERATIONS = 12


class DxCodes:
    """A growing list of ICD-10-CM codes; encounters store indices into it."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self._index: dict[str, int] = {}

    def idx(self, code: str) -> int:
        if code not in self._index:
            self._index[code] = len(self.codes)
            self.codes.append(code)
        return self._index[code]

    def many(self, codes: list[str] | tuple[str, ...]) -> np.ndarray:
        return np.array([self.idx(c) for c in codes], dtype=np.int32)


@dataclass
class Encounters:
    person: np.ndarray
    cls: np.ndarray
    kind: np.ndarray
    start_day: np.ndarray
    start_sec: np.ndarray  # seconds after midnight
    end_day: np.ndarray
    end_sec: np.ndarray
    dx: np.ndarray
    practice: np.ndarray
    provider: np.ndarray
    disposition: np.ndarray  # -1 unless inpatient
    readmit_p: np.ndarray  # planted 30-day readmission probability (inpatient index stays)
    dx_codes: DxCodes
    truth: dict[str, Any] = field(default_factory=dict)
    rate: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-person Poisson intensity (per day, on days in the person's window) of the
    background ``ambulatory`` and ``emergency`` visits."""

    @property
    def n(self) -> int:
        return len(self.person)


def _window(people: People, morb: Morbidity, p: Params) -> tuple[np.ndarray, np.ndarray]:
    start = np.maximum(v.day(p.start_date), people.birth_day)
    end = np.where(morb.death_day >= 0, morb.death_day, v.day(p.end_date))
    return start.astype(np.int64), end.astype(np.int64)


def _draw_days(
    rng: np.random.Generator, person: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    span = np.maximum(hi[person] - lo[person] + 1, 1)
    out: np.ndarray = lo[person] + (rng.random(len(person)) * span).astype(np.int64)
    return out


def _pick_condition(rng: np.random.Generator, has: np.ndarray, person: np.ndarray) -> np.ndarray:
    """A random one of each person's conditions (-1 if none), chunked to bound memory."""
    out = np.full(len(person), -1, dtype=np.int64)
    step = 2_000_000
    for s in range(0, len(person), step):
        h = has[person[s : s + step]]
        cs = np.cumsum(h, axis=1, dtype=np.int8)
        cnt = cs[:, -1]
        r = (rng.random(len(cnt)) * np.maximum(cnt, 1)).astype(np.int8)
        pick = np.argmax(cs > r[:, None], axis=1)
        out[s : s + step] = np.where(cnt > 0, pick, -1)
    return out


def followup_access(people: People, practice: np.ndarray) -> np.ndarray:
    """Per-person access to post-discharge follow-up (lower without a vehicle or practice)."""
    out: np.ndarray = v.expit(
        0.3 - 0.5 * people.no_vehicle - 0.25 * people.dep - 0.6 * (practice < 0)
    )
    return out


def _age_factor(age: np.ndarray, edges: list[float], values: list[float]) -> np.ndarray:
    out: np.ndarray = np.log(np.array(values))[np.searchsorted(np.array(edges), age, side="right")]
    return out


def _access(people: People, p: Params) -> np.ndarray:
    """Per-person multiplier of visit and stay intensities: 1 - ``access_gap`` for the
    ``access_gap_group``, 1 for everyone else (all ones with the default gap of 0)."""
    if not 0.0 <= p.access_gap < 1.0:
        raise ValueError(f"access_gap must be in [0, 1), got {p.access_gap}")
    if p.access_gap_group not in RACE_GROUPS:
        raise ValueError(
            f"access_gap_group {p.access_gap_group!r} is not one of {', '.join(RACE_GROUPS)}"
        )
    group = people.race_group == RACE_GROUPS.index(p.access_gap_group)
    out: np.ndarray = np.where(group, 1.0 - p.access_gap, 1.0)
    return out


def make_encounters(
    rng: np.random.Generator,
    people: People,
    morb: Morbidity,
    cov: Coverage,
    practice: np.ndarray,
    pcp: np.ndarray,
    practice_providers: tuple[np.ndarray, np.ndarray],
    pilot_area: int,
    p: Params,
) -> Encounters:
    dxc = DxCodes()
    lo, hi = _window(people, morb, p)
    exposure = np.maximum(hi - lo + 1, 0) / 365.25
    alive_any = exposure > 0
    n_chronic = morb.count
    payer0 = cov.state[:, 0]
    cond_icd = dxc.many([c.icd10 for c in CONDITIONS])
    exac_icd = dxc.many([EXACERBATION[c.name] for c in CONDITIONS])
    prov_start, prov_count = practice_providers
    n_practices = len(prov_start)
    access = _access(people, p)

    # Ambulatory visits (NAMCS 2019 age profile, more with chronic conditions).
    lin = (
        _age_factor(people.age, [5, 18, 45, 65], [3.0, 1.5, 1.8, 3.0, 5.0])
        + 0.28 * n_chronic
        - 0.6 * (payer0 == UNINSURED)
        - 0.15 * people.no_vehicle
        - 0.25 * (practice < 0)
    )
    a = v.calibrate_rate(lin, p.ambulatory_per_year, exposure)
    amb_rate = np.exp(a + lin) * access / 365.25 * alive_any
    n_amb = rng.poisson(np.exp(a + lin) * access * exposure) * alive_any
    amb_person = v.repeat_index(n_amb)
    amb_day = _draw_days(rng, amb_person, lo, hi)
    cond = _pick_condition(rng, morb.has, amb_person)
    chronic_focus = (cond >= 0) & (rng.random(len(amb_person)) < 0.6)
    general = dxc.many([c for c, _ in AMBULATORY_REASONS])
    amb_dx = general[rng.integers(0, len(general), len(amb_person))]
    child = people.age[amb_person] < 18
    amb_dx = np.where(child & (rng.random(len(amb_person)) < 0.5), dxc.idx(CHILD_VISIT[0]), amb_dx)
    amb_dx = np.where(chronic_focus, cond_icd[np.maximum(cond, 0)], amb_dx)

    # Emergency department visits (NHAMCS 2021: 42 per 100 persons per year).
    lin = (
        _age_factor(people.age, [18, 45, 65, 75], [1.0, 1.1, 0.9, 0.9, 1.3])
        + 0.30 * n_chronic
        + 0.25 * people.dep
        + 0.30 * people.no_vehicle
        + 0.50 * (payer0 == MEDICAID)
        + 0.20 * (payer0 == UNINSURED)
    )
    a = v.calibrate_rate(lin, p.ed_per_year, exposure)
    ed_rate = np.exp(a + lin) * access / 365.25 * alive_any
    n_ed = rng.poisson(np.exp(a + lin) * access * exposure) * alive_any
    ed_person = v.repeat_index(n_ed)
    ed_day = _draw_days(rng, ed_person, lo, hi)
    cond = _pick_condition(rng, morb.has, ed_person)
    ed_general = dxc.many([c for c, _ in ED_REASONS])
    ed_dx = ed_general[rng.integers(0, len(ed_general), len(ed_person))]
    ed_dx = np.where(
        (cond >= 0) & (rng.random(len(ed_person)) < 0.3), exac_icd[np.maximum(cond, 0)], ed_dx
    )

    # Background hospital stays (HCUP 2019: ~80 non-maternal stays per 1,000 per year).
    hf, copd = morb.col("heart_failure"), morb.col("copd")
    lin = (
        _age_factor(people.age, [18, 45, 65, 75], [0.25, 0.5, 1.0, 2.2, 3.5])
        + 0.40 * n_chronic
        + 0.6 * hf
        + 0.4 * copd
        + 0.15 * people.dep
    )
    a = v.calibrate_rate(lin, p.inpatient_per_1000 / 1000, exposure)
    n_ip = rng.poisson(np.exp(a + lin) * access * exposure) * alive_any
    ip_person = v.repeat_index(n_ip)
    ip_start = _draw_days(rng, ip_person, lo, hi)
    ip_kind = np.full(len(ip_person), BASE, dtype=np.int8)
    # In-hospital deaths: a terminal stay ending on the day of death.
    dying = np.flatnonzero(morb.in_hospital_death)
    term_los = 1 + rng.poisson(p.mean_length_of_stay - 1, len(dying))
    ip_person = np.r_[ip_person, dying]
    ip_start = np.r_[ip_start, np.maximum(morb.death_day[dying] - term_los + 1, lo[dying])]
    ip_kind = np.r_[ip_kind, np.full(len(dying), TERMINAL, dtype=np.int8)]
    los = 1 + rng.poisson(p.mean_length_of_stay - 1, len(ip_person))
    ip_end = ip_start + los - 1
    term = ip_kind == TERMINAL
    ip_end[term] = morb.death_day[ip_person[term]]
    ip_end = np.minimum(ip_end, hi[ip_person])
    disp = _dispositions(rng, people.age[ip_person])
    disp[term] = EXPIRED
    cond = _pick_condition(rng, morb.has, ip_person)
    ip_general = dxc.many([c for c, _ in INPATIENT_REASONS])
    ip_dx = ip_general[rng.integers(0, len(ip_general), len(ip_person))]
    ip_dx = np.where(
        (cond >= 0) & (rng.random(len(ip_person)) < 0.6), exac_icd[np.maximum(cond, 0)], ip_dx
    )
    root = np.arange(len(ip_person), dtype=np.int64)

    # Planted readmission model (log-linear in the rate; RR parameters are the truth).
    log_rr_nv = np.log(p.readmission_rr_no_vehicle)
    log_rr_dep = np.log(p.readmission_rr_deprived)
    log_rr_pilot = np.log(p.pilot_readmission_rr)
    pilot_start = v.day(p.pilot_start_date)

    def readmit_lin(person: np.ndarray, discharge: np.ndarray) -> np.ndarray:
        pilot = (people.area[person] == pilot_area) & (discharge >= pilot_start)
        out: np.ndarray = (
            0.12 * n_chronic[person]
            + 0.25 * hf[person]
            + 0.15 * copd[person]
            + 0.10 * (people.age[person] >= 75)
            + log_rr_nv * people.no_vehicle[person]
            + log_rr_dep * people.deprived[person]
            + log_rr_pilot * pilot
        )
        return out

    ip_person, ip_start, ip_end, disp, ip_dx, ip_kind, root = _thin(
        ip_person, ip_start, ip_end, disp, ip_dx, ip_kind, root
    )
    index = _is_index(disp)
    base_lin = readmit_lin(ip_person[index], ip_end[index])
    a_r = float(np.log(p.readmission_rate / np.exp(base_lin).mean())) if index.any() else 0.0

    def prob(person: np.ndarray, discharge: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.clip(np.exp(a_r + readmit_lin(person, discharge)), 0, 0.95)
        return out

    rp = np.where(index, prob(ip_person, ip_end), 0.0)
    gen_person, gen_end, gen_p, gen_root = ip_person, ip_end, rp, root
    parts = []
    for g in range(READMIT_GENERATIONS):
        hit = rng.random(len(gen_person)) < gen_p
        if not hit.any():
            break
        rperson = gen_person[hit]
        gap = 1 + np.floor(READMIT_GAP_SPAN * rng.beta(1.0, 2.0, hit.sum())).astype(np.int64)
        rstart = gen_end[hit] + gap
        ok = rstart <= hi[rperson]
        rperson, rstart, rroot = rperson[ok], rstart[ok], gen_root[hit][ok]
        rlos = 1 + rng.poisson(p.mean_length_of_stay - 1, len(rperson))
        rend = np.minimum(rstart + rlos - 1, hi[rperson])
        rdisp = _dispositions(rng, people.age[rperson])
        pos = np.argsort(root)
        rdx = ip_dx[pos[np.searchsorted(root[pos], rroot)]]
        # The last generation is not drawn again: its stays carry no readmission chance.
        last = g == READMIT_GENERATIONS - 1
        rp_new = np.where(_is_index(rdisp) & (not last), prob(rperson, rend), 0.0)
        parts.append((rperson, rstart, rend, rdisp, rdx, rp_new, rroot))
        gen_person, gen_end, gen_p, gen_root = rperson, rend, rp_new, rroot
    ip_kind_all = [ip_kind] + [np.full(len(x[0]), READMIT, dtype=np.int8) for x in parts]
    ip_person = np.concatenate([ip_person] + [x[0] for x in parts])
    ip_start = np.concatenate([ip_start] + [x[1] for x in parts])
    ip_end = np.concatenate([ip_end] + [x[2] for x in parts])
    disp = np.concatenate([disp] + [x[3] for x in parts])
    ip_dx = np.concatenate([ip_dx] + [x[4] for x in parts])
    rp = np.concatenate([rp] + [x[5] for x in parts])
    root = np.concatenate([root] + [x[6] for x in parts])
    ip_kind = np.concatenate(ip_kind_all)
    keep = _drop_conflicts(ip_person, ip_start, ip_end, ip_kind, root)
    ip_person, ip_start, ip_end, disp, ip_dx, rp, ip_kind = (
        x[keep] for x in (ip_person, ip_start, ip_end, disp, ip_dx, rp, ip_kind)
    )

    # Follow-up visits after discharge home (transitional care): within 7 / 8-30 days.
    home = (disp == HOME) | (disp == HOME_HEALTH)
    access = followup_access(people, practice)[ip_person]
    u = rng.random(len(ip_person))
    f7 = home & (u < FOLLOWUP_7_SCALE * access)
    f30 = home & ~f7 & (u < FOLLOWUP_7_SCALE * access + FOLLOWUP_30_EXTRA)
    (a7, b7), (a30, b30) = FOLLOWUP_7_DAYS, FOLLOWUP_30_DAYS
    f_gap = np.where(f7, rng.integers(a7, b7 + 1, len(u)), rng.integers(a30, b30 + 1, len(u)))
    f_sel = f7 | f30
    f_person = ip_person[f_sel]
    f_day = ip_end[f_sel] + f_gap[f_sel]
    f_kind = np.where(f7[f_sel], FOLLOWUP_7, FOLLOWUP_30).astype(np.int8)
    f_dx = ip_dx[f_sel]
    ok = f_day <= hi[f_person]
    f_person, f_day, f_kind, f_dx = f_person[ok], f_day[ok], f_kind[ok], f_dx[ok]

    # Assemble, sorted by person and time.
    person = np.concatenate([amb_person, f_person, ed_person, ip_person])
    cls = np.concatenate(
        [
            np.full(len(amb_person) + len(f_person), AMBULATORY, np.int8),
            np.full(len(ed_person), EMERGENCY, np.int8),
            np.full(len(ip_person), INPATIENT, np.int8),
        ]
    )
    kind = np.concatenate(
        [
            np.full(len(amb_person), BASE, np.int8),
            f_kind,
            np.full(len(ed_person), BASE, np.int8),
            ip_kind,
        ]
    )
    sday = np.concatenate([amb_day, f_day, ed_day, ip_start])
    nsec = len(person)
    ssec = np.where(
        cls == AMBULATORY, rng.integers(8 * 3600, 17 * 3600, nsec), rng.integers(0, 24 * 3600, nsec)
    )
    eday = np.concatenate([amb_day, f_day, ed_day, ip_end])
    dur = np.where(
        cls == AMBULATORY, rng.integers(15, 46, nsec) * 60, rng.integers(2 * 3600, 8 * 3600, nsec)
    )
    esec = ssec + dur
    eday = eday + (esec >= 86400) * (cls != INPATIENT)
    esec = np.where(cls == INPATIENT, rng.integers(10 * 3600, 16 * 3600, nsec), esec % 86400)
    same_day_ip = (cls == INPATIENT) & (eday == sday) & (esec <= ssec)
    esec = np.where(same_day_ip, np.minimum(ssec + 3600, 86399), esec)
    dx = np.concatenate([amb_dx, f_dx, ed_dx, ip_dx]).astype(np.int32)
    disposition = np.concatenate(
        [np.full(nsec - len(ip_person), -1, np.int8), disp.astype(np.int8)]
    )
    readmit_p = np.concatenate([np.zeros(nsec - len(ip_person)), rp])
    prac = np.where(cls == AMBULATORY, practice[person], -1)
    unatt = (cls == AMBULATORY) & (prac < 0)
    prac[unatt] = rng.integers(0, n_practices, unatt.sum())
    prov = np.where(cls == AMBULATORY, pcp[person], -1)
    nopcp = (cls == AMBULATORY) & (prov < 0)
    pp = prac[nopcp]
    prov[nopcp] = prov_start[pp] + (rng.random(len(pp)) * prov_count[pp]).astype(np.int64)
    order = np.lexsort((ssec, sday, person))
    enc = Encounters(
        person[order],
        cls[order],
        kind[order],
        sday[order],
        ssec[order],
        eday[order],
        esec[order],
        dx[order],
        prac[order],
        prov[order],
        disposition[order],
        readmit_p[order],
        dxc,
    )
    enc.truth = {"readmission_intercept": round(a_r, 5)}
    enc.rate = {"ambulatory": amb_rate, "emergency": ed_rate}
    return enc


def _dispositions(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    # HCUP 2019 discharge status mix; older patients go more often to SNF / home health.
    young = np.log(np.array([0.82, 0.08, 0.04, 0.03, 0.03]))
    old = np.log(np.array([0.55, 0.20, 0.19, 0.03, 0.03]))
    logits = np.where((age >= 65)[:, None], old[None, :], young[None, :])
    out: np.ndarray = v.categorical(rng, logits).astype(np.int8)
    return out


def _is_index(disp: np.ndarray) -> np.ndarray:
    """Stays that can be followed by a planted readmission: alive, not transferred, not AMA."""
    out: np.ndarray = (disp == HOME) | (disp == HOME_HEALTH) | (disp == SNF)
    return out


def _thin(
    person: np.ndarray, start: np.ndarray, end: np.ndarray, *rest: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Drop background stays that start within 30 days of the previous kept discharge."""
    order = np.lexsort((start, person))
    person, start, end = person[order], start[order], end[order]
    rest = tuple(r[order] for r in rest)
    keep = np.ones(len(person), dtype=bool)
    for _ in range(6):
        idx = np.flatnonzero(keep)
        pp, ss, ee = person[idx], start[idx], end[idx]
        clash = np.zeros(len(idx), dtype=bool)
        clash[1:] = (pp[1:] == pp[:-1]) & (ss[1:] <= ee[:-1] + 30)
        # Drop only the first clash of each run so a dropped stay does not hide later ones.
        first = clash & ~np.r_[False, clash[:-1]]
        if not first.any():
            break
        keep[idx[first]] = False
    return (person[keep], start[keep], end[keep], *(r[keep] for r in rest))


def _drop_conflicts(
    person: np.ndarray, start: np.ndarray, end: np.ndarray, kind: np.ndarray, root: np.ndarray
) -> np.ndarray:
    """Keep-mask that removes background stays (with their chains) falling within 30 days
    after an earlier discharge of a different chain."""
    keep = np.ones(len(person), dtype=bool)
    for _ in range(6):
        idx = np.flatnonzero(keep)
        order = idx[np.lexsort((start[idx], person[idx]))]
        pp, ss, rr = person[order], start[order], root[order]
        # The latest discharge so far within the same person.
        grp_start = np.r_[True, pp[1:] != pp[:-1]]
        run_max = _group_cummax(end[order], grp_start)
        prev = np.r_[np.int64(-(10**9)), run_max[:-1]]
        prev[grp_start] = -(10**9)
        prev_root = np.r_[-1, rr[:-1]]
        bad = (kind[order] != READMIT) & (ss <= prev + 30) & (rr != prev_root)
        bad |= (kind[order] == READMIT) & (ss <= prev) & (rr != prev_root)
        if not bad.any():
            break
        dropped_roots = np.unique(rr[bad])
        keep &= ~np.isin(root, dropped_roots)
    return keep


def _group_cummax(x: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Running maximum of ``x`` restarting where ``group_start`` is True."""
    gid = np.cumsum(group_start)
    offset = gid.astype(np.float64) * 1e7
    out: np.ndarray = (np.maximum.accumulate(x + offset) - offset).astype(np.int64)
    return out
