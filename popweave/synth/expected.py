"""Expected values of the measures of ``docs/measures.md`` on a generated city.

``truth["measures"]`` gives, for the city's last calendar year, each measure's expected value
and the denominator size the generator expects. An expectation is taken over the generator's
own random draws of the measure's outcome (tests, screenings, fills, readings, follow-ups,
readmissions, ED visits, prices) given everything else about the city (people, conditions,
coverage, deaths, the visit and stay schedule), from the probabilities the generator used;
it is never a count of the outcomes it drew. Denominators follow the document: age in
completed years on ``E``, continuous enrolment (covered on ``E``, at most one gap of at most
45 days in the period), deaths in the period excluded, conditions active by their onset date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from popweave.synth import _vec as v
from popweave.synth.claims import expected_cost
from popweave.synth.clinical import (
    COLONOSCOPY_YEAR,
    FILL_JITTER_SD,
    FIT_YEAR,
    HBA1C_NOISE_SD,
    HISTORY_DAYS_BEFORE,
    HISTORY_MIN_AGE_DAYS,
    MED_REC_AT_FOLLOWUP,
    STATIN_TREATED,
    age_at,
    bp_level,
    colonoscopy_history_p,
    first_in_year,
    first_of_run,
    mammography_year,
    screening_access,
    statin_schedule,
)
from popweave.synth.codes import CHILD_VISIT
from popweave.synth.coverage import UNINSURED
from popweave.synth.morbidity import NAMES
from popweave.synth.params import CONDITIONS
from popweave.synth.utilisation import (
    AMBULATORY,
    FOLLOWUP_7_DAYS,
    FOLLOWUP_7_SCALE,
    FOLLOWUP_30_DAYS,
    FOLLOWUP_30_EXTRA,
    HOME,
    HOME_HEALTH,
    INPATIENT,
    READMIT_GAP_SPAN,
    SNF,
    followup_access,
)

if TYPE_CHECKING:
    from popweave.synth.city import City

PROPORTIONS = (
    "hba1c_poor_control",
    "hba1c_control",
    "controlling_bp",
    "breast_cancer_screening",
    "colorectal_screening",
    "diabetic_eye_exam",
    "statin_therapy_cvd",
    "readmission_30d",
    "followup_7d",
    "followup_30d",
    "med_rec_post_discharge",
)
RATES = ("ed_visits_per_1000", "pmpm_cost")


@dataclass(frozen=True)
class Period:
    """The measurement period: the city's last calendar year, as days since 1970-01-01."""

    start: int
    end: int
    year: int

    def day(self, years_before: int, month: int, dom: int) -> int:
        return v.day(dt.date(self.year - years_before, month, dom))


def period_of(city: City) -> Period:
    e = city.params.end_date
    return Period(v.day(dt.date(e.year, 1, 1)), v.day(e), e.year)


def completed_years(birth: np.ndarray, on: np.ndarray | int) -> np.ndarray:
    """Age in completed years on ``on`` (days since epoch), calendar-exact."""
    b = np.asarray(birth, dtype=np.int64).astype("datetime64[D]")
    o = np.broadcast_to(np.asarray(on, dtype=np.int64), b.shape).astype("datetime64[D]")
    by, oy = b.astype("datetime64[Y]"), o.astype("datetime64[Y]")
    bm, om = b.astype("datetime64[M]"), o.astype("datetime64[M]")
    bkey = (bm - by.astype("datetime64[M]")).astype(np.int64) * 32 + (b - bm).astype(np.int64)
    okey = (om - oy.astype("datetime64[M]")).astype(np.int64) * 32 + (o - om).astype(np.int64)
    out: np.ndarray = (oy - by).astype(np.int64) - (okey < bkey)
    return out


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Numerical Recipes erfc, fractional error < 1.2e-7)."""
    z = np.abs(np.asarray(x, dtype=np.float64)) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (
        1.00002368
        + t
        * (
            0.37409196
            + t
            * (
                0.09678418
                + t
                * (
                    -0.18628806
                    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
                        -0.82215223 + t * 0.17087277))))
                )
            )
        )
    )  # fmt: skip
    erfc = t * np.exp(-z * z + poly)
    out: np.ndarray = np.where(np.asarray(x) >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)
    return out


def covered(city: City, person: np.ndarray, day: np.ndarray | int) -> np.ndarray:
    """Whether ``person`` has an enrolment span covering ``day`` (as the enrollment table)."""
    d = np.broadcast_to(np.asarray(day, dtype=np.int64), person.shape)
    dd = city.morb.death_day[person]
    out: np.ndarray = (
        (city.cov.payer_on(person, d) != UNINSURED)
        & (city.people.birth_day[person] <= d)
        & ((dd < 0) | (d <= dd))
    )
    return out


def continuously_enrolled(city: City, per: Period) -> np.ndarray:
    """Per person: covered on ``E`` and at most one coverage gap, of at most 45 days, in the
    period. Coverage is by half-year block, so the uncovered part of a block is a prefix of it
    (the whole block if uninsured, else the days before birth); runs join across blocks."""
    n = city.people.n
    everyone = np.arange(n)
    cov, birth = city.cov, city.people.birth_day.astype(np.int64)
    starts = cov.block_start.astype(np.int64)
    ends = np.r_[starts[1:] - 1, per.end]
    runs = np.zeros(n, dtype=np.int64)
    longest = np.zeros(n, dtype=np.int64)
    current = np.zeros(n, dtype=np.int64)
    for j in np.flatnonzero((ends >= per.start) & (starts <= per.end)):
        bs, be = max(int(starts[j]), per.start), min(int(ends[j]), per.end)
        length = be - bs + 1
        uninsured = cov.state[:, j] == UNINSURED
        gap = np.where(uninsured, length, np.clip(birth - bs, 0, length))
        joins = (current > 0) & (gap > 0)
        runs += (gap > 0) & ~joins
        current = np.where(gap > 0, np.where(joins, current + gap, gap), 0)
        longest = np.maximum(longest, current)
        current = np.where(gap == length, current, 0)  # a run continues only to the block end
    cover_e = covered(city, everyone, per.end)
    out: np.ndarray = cover_e & (runs <= 1) & (longest <= 45)
    return out


def denominators(city: City) -> dict[str, np.ndarray]:
    """Generator-side denominators: person indices for the clinical measures, encounter
    indices (stays) for the per-discharge ones. ``readmission_30d`` holds the candidate
    index stays before the rule that drops deaths within 30 days without a readmission."""
    per = period_of(city)
    pe, morb, enc = city.people, city.morb, city.enc
    age = completed_years(pe.birth_day, per.end)
    dd = morb.death_day
    died = (dd >= per.start) & (dd <= per.end)
    base = continuously_enrolled(city, per) & ~died

    def onset(name: str) -> np.ndarray:
        out: np.ndarray = morb.onset_day[:, NAMES.index(name)]
        return out

    def has(name: str, by: int) -> np.ndarray:
        out: np.ndarray = morb.col(name) & (onset(name) <= by)
        return out

    diabetic = base & has("diabetes", per.end) & (age >= 18) & (age <= 75)
    june30 = v.day(dt.date(per.year, 6, 30))
    hypertensive = base & has("hypertension", june30) & (age >= 18) & (age <= 85)
    women = base & pe.female & (age >= 52) & (age <= 74)
    crc = base & (age >= 46) & (age <= 75)
    ascvd_age = np.where(pe.female, (age >= 40) & (age <= 75), (age >= 21) & (age <= 75))
    ascvd = base & has("cad", per.end) & ascvd_age

    ip = enc.cls == INPATIENT
    in_window = (enc.end_day >= per.start) & (enc.end_day <= per.end - 30)
    adult_at_admission = np.zeros(enc.n, dtype=bool)
    adult_at_admission[ip] = completed_years(pe.birth_day[enc.person[ip]], enc.start_day[ip]) >= 18
    index_disp = np.isin(enc.disposition, [HOME, HOME_HEALTH, SNF])
    readmit = np.flatnonzero(ip & in_window & adult_at_admission & index_disp)
    edd = dd[enc.person]
    alive30 = (edd < 0) | (edd > enc.end_day + 30)
    home = np.isin(enc.disposition, [HOME, HOME_HEALTH])
    discharges = np.flatnonzero(ip & in_window & home & (age[enc.person] >= 18) & alive30)
    return {
        "hba1c_poor_control": np.flatnonzero(diabetic),
        "hba1c_control": np.flatnonzero(diabetic),
        "diabetic_eye_exam": np.flatnonzero(diabetic),
        "controlling_bp": np.flatnonzero(hypertensive),
        "breast_cancer_screening": np.flatnonzero(women),
        "colorectal_screening": np.flatnonzero(crc),
        "statin_therapy_cvd": np.flatnonzero(ascvd),
        "readmission_30d": readmit,
        "followup_7d": discharges,
        "followup_30d": discharges,
        "med_rec_post_discharge": discharges,
    }


@dataclass
class _Visits:
    """Ambulatory encounters in encounter order: person, day, first-of-year flag, age."""

    person: np.ndarray
    day: np.ndarray
    fiy: np.ndarray
    age: np.ndarray


def _visits(city: City) -> _Visits:
    enc = city.enc
    amb = np.flatnonzero(enc.cls == AMBULATORY)
    person, day = enc.person[amb], enc.start_day[amb].astype(np.int64)
    age = age_at(city.people, person, day, city.params)
    return _Visits(person, day, first_in_year(person, day), age)


def _count(person: np.ndarray, n: int) -> np.ndarray:
    out: np.ndarray = np.bincount(person, minlength=n)
    return out


def _hba1c(city: City, per: Period, vis: _Visits, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(poor control) and P(control) per denominator person: k visits in the period from the
    onset each test with probability t; the last drawn test is mu + N(0, sd) rounded to 0.1."""
    p, morb = city.params, city.morb
    person, day = vis.person, vis.day
    onset = morb.onset_day[:, NAMES.index("diabetes")]
    visit = (day >= per.start) & (day <= per.end) & (day >= onset[person])
    k = _count(person[visit], city.people.n)[den]
    none = (1 - p.hba1c_tests_per_visit) ** k
    mu = city.latent["hba1c_mu"][den]
    over9 = 1 - normal_cdf((9.05 - mu) / HBA1C_NOISE_SD)  # rounds to >= 9.1
    under8 = normal_cdf((7.95 - mu) / HBA1C_NOISE_SD)  # rounds to <= 7.9
    return none + (1 - none) * over9, (1 - none) * under8


def _eye_exam(city: City, per: Period, vis: _Visits, den: np.ndarray) -> np.ndarray:
    p, pe, morb = city.params, city.people, city.morb
    person, day, fiy, age = vis.person, vis.day, vis.fiy, vis.age
    onset = morb.onset_day[:, NAMES.index("diabetes")][person]
    eligible = morb.col("diabetes")[person] & (day >= onset) & (age >= 18) & (age < 76)
    draw = first_of_run(eligible, fiy) & (day >= per.start) & (day <= per.end)
    any_draw = _count(person[draw], pe.n)[den] > 0
    pe_ = v.expit(v.logit(p.eye_exam_year) + screening_access(pe)[den])
    out: np.ndarray = pe_ * any_draw
    return out


def _bp_pair(level: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one reading at mean systolic ``level``: P(s >= 140), P(d >= 90), P(both).
    s = round(level + N(0, 9)); d = round(0.45 s + 22 + N(0, 6)) (clipping keeps the cuts)."""
    offs = np.arange(-60, 61)  # +- 6.7 SD of the systolic noise
    base = np.floor(level).astype(np.int64)
    grid = np.arange(int(base.min()) - 61, int(base.max()) + 62) if len(level) else offs
    dhigh_of = 1 - normal_cdf((67.5 - 0.45 * grid) / 6)  # 0.45 s + 22 + e >= 89.5
    a = 1 - normal_cdf((139.5 - level) / 9)
    b = np.empty_like(level)
    c = np.empty_like(level)
    step = 20_000
    for lo in range(0, len(level), step):
        lv, bs = level[lo : lo + step, None], base[lo : lo + step, None]
        edge = normal_cdf((bs + np.arange(-60, 62)[None, :] - 0.5 - lv) / 9)
        ps = np.diff(edge, axis=1)  # P(s = base + off)
        s = bs + offs[None, :]
        dhigh = dhigh_of[s - grid[0]]
        b[lo : lo + step] = (ps * dhigh).sum(axis=1)
        c[lo : lo + step] = (ps * dhigh * (s >= 140)).sum(axis=1)
    return a, b, c


def _controlling_bp(city: City, per: Period, vis: _Visits, den: np.ndarray) -> np.ndarray:
    """Readings at every adult ambulatory visit; the last reading day may hold m visits (m
    iid pairs): P(min s < 140 and min d < 90) = 1 - a^m - b^m + c^m."""
    p, pe, morb = city.params, city.people, city.morb
    person, day = vis.person, vis.day
    adult = vis.age >= 18
    in_den = np.zeros(pe.n, dtype=bool)
    in_den[den] = True
    r = np.flatnonzero(adult & (day >= per.start) & (day <= per.end) & in_den[person])
    rp, rd = person[r], day[r]
    last = np.r_[rp[1:] != rp[:-1], True] if len(r) else np.zeros(0, dtype=bool)
    new_key = np.r_[True, (rp[1:] != rp[:-1]) | (rd[1:] != rd[:-1])] if len(r) else last
    run_start = np.maximum.accumulate(np.where(new_key, np.arange(len(r)), 0))
    m = np.zeros(pe.n, dtype=np.int64)
    last_day = np.zeros(pe.n, dtype=np.int64)
    ends = np.flatnonzero(last)
    m[rp[ends]] = ends - run_start[ends] + 1
    last_day[rp[ends]] = rd[ends]
    md = m[den]
    level = bp_level(
        morb.col("hypertension")[den],
        morb.adherence[den],
        pe.dep[den],
        age_at(pe, den, last_day[den], p),
    )
    a, b, c = _bp_pair(level)
    out: np.ndarray = np.where(md > 0, 1 - a**md - b**md + c**md, 0.0)
    return out


def _mammography(city: City, per: Period, vis: _Visits, den: np.ndarray) -> np.ndarray:
    """1 - (1 - p)^K over the first-of-year visits at ages 50-74 from 1 October two years
    before the period (no mammography is drawn before the generated years)."""
    p, pe = city.params, city.people
    person, day, fiy, age = vis.person, vis.day, vis.fiy, vis.age
    draw = fiy & pe.female[person] & (age >= 50) & (age < 75)
    draw &= (day >= per.day(2, 10, 1)) & (day <= per.end)
    k = _count(person[draw], pe.n)[den]
    pm = v.expit(v.logit(mammography_year(p)) + screening_access(pe)[den])
    out: np.ndarray = 1 - (1 - pm) ** k
    return out


def _colorectal(city: City, per: Period, vis: _Visits, den: np.ndarray) -> np.ndarray:
    """Colonoscopy draws (first-of-year visits at 45-75) and the history colonoscopy in the
    10-year look-back, FIT draws in the period: 1 - prod(1 - p)."""
    p, pe = city.params, city.people
    person, day, fiy, age = vis.person, vis.day, vis.fiy, vis.age
    draw = fiy & (age >= 45) & (age < 76) & (day <= per.end)
    look = per.day(9, 1, 1)
    kc = _count(person[draw & (day >= look)], pe.n)[den]
    kf = _count(person[draw & (day >= per.start)], pe.n)[den]
    access = screening_access(pe)[den]
    pc = v.expit(v.logit(COLONOSCOPY_YEAR) + access)
    pf = v.expit(v.logit(FIT_YEAR) + access)
    # History: day = start - r, r uniform on [lo, hi), moved up to age 45 if earlier.
    start = v.day(p.start_date)
    age0 = pe.age[den] - p.years
    cand = (age0 >= 50) & (age0 < 75)
    lo, hi = HISTORY_DAYS_BEFORE
    frac = np.clip(start - look - lo + 1, 0, hi - lo) / (hi - lo)
    b45 = pe.birth_day[den].astype(np.int64) + HISTORY_MIN_AGE_DAYS
    in_look = np.where(b45 >= look, 1.0, frac)
    h = colonoscopy_history_p(pe, p)[den] * cand * in_look
    out: np.ndarray = 1 - (1 - h) * (1 - pc) ** kc * (1 - pf) ** kf
    return out


def _statin(city: City, per: Period, den: np.ndarray) -> np.ndarray:
    """Treated with probability STATIN_TREATED; first fill uniform 0-59 days after
    max(onset, data start); fill k on first + floor(k * gap + N(0, 5)) clipped to [first, E]."""
    p, morb = city.params, city.morb
    start = v.day(p.start_date)
    first0 = np.maximum(morb.onset_day[den, NAMES.index("cad")].astype(np.int64), start)
    gap = statin_schedule(morb.adherence[den])
    out = np.empty(len(den))
    offsets = np.arange(60)
    step = 5_000
    for lo in range(0, len(den), step):
        f = first0[lo : lo + step, None] + offsets[None, :]  # (m, 60)
        g = gap[lo : lo + step, None]
        fills = np.where(f <= per.end, 1 + np.floor(np.maximum(per.end - f, 0) / g), 0)
        kmax = int(fills.max()) if fills.size else 0
        k = np.arange(max(kmax, 1))[None, None, :]
        miss = normal_cdf((per.start - f[..., None] - k * g[..., None]) / FILL_JITTER_SD)
        miss = np.where(k < fills[..., None], miss, 1.0)
        hit = np.where(f >= per.start, fills > 0, 1 - miss.prod(axis=2))
        out[lo : lo + step] = hit.mean(axis=1)
    result: np.ndarray = STATIN_TREATED * out
    return result


def _readmission(city: City, cand: np.ndarray) -> tuple[float, float]:
    """(expected readmissions, expected index stays). A candidate whose person dies within
    30 days stays an index stay only if readmitted first (gap 1 + floor(29 Beta(1, 2)) <=
    days to death); others are readmitted with the planted probability."""
    enc, dd = city.enc, city.morb.death_day
    rp = enc.readmit_p[cand]
    death = dd[enc.person[cand]].astype(np.int64)
    dying = (death >= 0) & (death <= enc.end_day[cand] + 30)
    g = np.clip(death - enc.end_day[cand], 0, READMIT_GAP_SPAN) / READMIT_GAP_SPAN
    q = rp * (1 - (1 - g) ** 2)
    num = float(np.where(dying, q, rp).sum())
    den = float(np.where(dying, q, 1.0).sum())
    return num, den


def _followups(city: City, stays: np.ndarray) -> dict[str, np.ndarray]:
    """Per discharge: P(ambulatory visit 1-7 / 1-30 days after; med-rec code day 0-30).
    Sources: background visits (Poisson at the person's daily rate), the stay's own planted
    follow-up, and follow-ups planted after the person's other discharges home."""
    enc, pe = city.enc, city.people
    access = followup_access(pe, city.practice)
    home = np.flatnonzero((enc.cls == INPATIENT) & np.isin(enc.disposition, [HOME, HOME_HEALTH]))
    order = np.lexsort((enc.end_day[home], enc.person[home]))
    home = home[order]
    hp, he = enc.person[home], enc.end_day[home].astype(np.int64)
    pos = np.flatnonzero(np.isin(home, stays))
    stay_of = home[pos]
    (a7, b7), (a30, b30) = FOLLOWUP_7_DAYS, FOLLOWUP_30_DAYS
    log_no = {
        "7": np.zeros(len(pos)),
        "30": np.zeros(len(pos)),
        "rec": np.zeros(len(pos)),
    }

    def overlap(lo1: np.ndarray, hi1: np.ndarray, lo2: np.ndarray, hi2: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.maximum(0, np.minimum(hi1, hi2) - np.maximum(lo1, lo2) + 1)
        return out

    for direction in (1, -1):
        shift = 1
        while True:
            j = pos + direction * shift
            ok = (j >= 0) & (j < len(home))
            jj = np.where(ok, j, 0)
            ok &= hp[jj] == hp[pos]
            ok &= np.abs(he[jj] - he[pos]) <= b30
            if not ok.any():
                break
            i_sel, j_sel = np.flatnonzero(ok), jj[ok]
            ei, ej = he[pos[i_sel]], he[j_sel]
            aj = FOLLOWUP_7_SCALE * access[hp[j_sel]]
            f7 = (ej + a7, ej + b7)
            f30 = (ej + a30, ej + b30)
            for key, (wlo, whi) in {
                "7": (ei + 1, ei + 7),
                "30": (ei + 1, ei + 30),
                "rec": (ei, ei + 30),
            }.items():
                w7 = overlap(*f7, wlo, whi) / (b7 - a7 + 1)
                w30 = overlap(*f30, wlo, whi) / (b30 - a30 + 1)
                rec = MED_REC_AT_FOLLOWUP if key == "rec" else 1.0
                lands = aj * w7 + FOLLOWUP_30_EXTRA * rec * w30
                np.add.at(log_no[key], i_sel, np.log1p(-np.minimum(lands, 1.0)))
            shift += 1
    a_own = FOLLOWUP_7_SCALE * access[enc.person[stay_of]]
    rate = enc.rate["ambulatory"][enc.person[stay_of]]
    p7 = 1 - np.exp(-rate * 7 + log_no["7"]) * (1 - a_own)
    p30 = 1 - np.exp(-rate * 30 + log_no["30"]) * (1 - a_own - FOLLOWUP_30_EXTRA)
    prec = 1 - np.exp(log_no["rec"]) * (1 - a_own - MED_REC_AT_FOLLOWUP * FOLLOWUP_30_EXTRA)
    back = np.argsort(stay_of)
    at = back[np.searchsorted(stay_of[back], stays)]
    return {"7": p7[at], "30": p30[at], "rec": prec[at]}


def _member_months(city: City, per: Period) -> tuple[np.ndarray, np.ndarray]:
    """(member months, enrolled days in the period) per person."""
    n = city.people.n
    everyone = np.arange(n)
    mm = np.zeros(n, dtype=np.int64)
    for month in range(1, 13):
        first = v.day(dt.date(per.year, month, 1))
        if first <= per.end:
            mm += covered(city, everyone, first)
    cov = city.cov
    starts = cov.block_start.astype(np.int64)
    ends = np.r_[starts[1:] - 1, v.day(city.params.end_date)]
    birth = city.people.birth_day.astype(np.int64)
    dd = city.morb.death_day.astype(np.int64)
    last = np.where(dd >= 0, dd, per.end)
    days = np.zeros(n, dtype=np.int64)
    for j in np.flatnonzero((ends >= per.start) & (starts <= per.end)):
        lo = np.maximum(max(int(starts[j]), per.start), birth)
        hi = np.minimum(min(int(ends[j]), per.end), last)
        days += np.where(cov.state[:, j] != UNINSURED, np.maximum(hi - lo + 1, 0), 0)
    return mm, days


DEFINITIONS = {
    "hba1c_poor_control": "mean over diabetics 18-75 (enrolled, alive) of P(no HbA1c in the "
    "period) + P(>=1) * P(round(mu + N(0, 0.35), 1) > 9.0): each ambulatory visit in the period "
    "from the onset has a test with probability hba1c_tests_per_visit; mu is the latent mean; "
    "test values are iid given mu, so the last drawn test has the same law as any",
    "hba1c_control": "same denominator; P(>=1 test) * P(round(mu + N(0, 0.35), 1) < 8.0)",
    "controlling_bp": "mean over hypertensives 18-85 (onset by 30 June) of P(lowest systolic < "
    "140 and lowest diastolic < 90 on the last reading day), exact over the m readings of that "
    "day (1 - a^m - b^m + c^m from the rounded systolic/diastolic model); 0 without a reading",
    "breast_cancer_screening": "mean over women 52-74 of 1 - prod(1 - p_visit) over the "
    "first-of-year visits at ages 50-74 from 1 October two years before the period",
    "colorectal_screening": "mean over people 46-75 of 1 - prod(1 - p): colonoscopy draws in "
    "the 10-year look-back incl. the pre-period history draw, FIT draws in the period",
    "diabetic_eye_exam": "mean over the hba1c denominator of p_eye if the person has a "
    "first-of-year visit (from the onset, ages 18-75) in the period, else 0",
    "statin_therapy_cvd": "mean over CAD patients (men 21-75, women 40-75) of 0.65 (treated) * "
    "P(a fill in the period), averaged over the first-fill offset (0-59 days) and the N(0, 5) "
    "fill jitter given the adherence-driven gap",
    "readmission_30d": "E[readmissions] / E[index stays]: planted readmission probability of "
    "index stays (18+ at admission, discharged S..E-30, status 01/06/03); a stay whose person "
    "dies within 30 days counts only if readmitted before death (probability q), adding q to "
    "both; no planned readmissions or transfer chains are generated",
    "followup_7d": "mean over discharges home/home health (18+ on E, S..E-30, alive 30 days) of "
    "1 - exp(-7 * daily ambulatory rate) * (1 - 0.65 * access) * prod(1 - other discharges' "
    "follow-ups landing on days 1-7)",
    "followup_30d": "as followup_7d over days 1-30: own follow-up probability 0.65 * access + 0.35",
    "med_rec_post_discharge": "same discharges: P(a 99496 TCM line (7-day follow-up) or a "
    "1111F code (0.7 at any follow-up) on day 0-30), from own and other follow-ups",
    "ed_visits_per_1000": "1000 * sum(daily ED intensity * enrolled days in the period) / "
    "member-months (enrolled on the 1st)",
    "pmpm_cost": "expected allowed amount of the claim lines in the period on enrolled days, "
    "given the generated services (ED level mix and log-normal price noise averaged), per "
    "member-month; expected_paid likewise",
}


def measure_truth(city: City) -> dict[str, Any]:
    """``truth["measures"]``: period, and per measure its expected value and denominator."""
    per = period_of(city)
    dens = denominators(city)
    vis = _visits(city)
    out: dict[str, Any] = {
        "period": {
            "start": dt.date(per.year, 1, 1).isoformat(),
            "end": city.params.end_date.isoformat(),
        },
        "method": "expectations over the generator's draws of each outcome given the rest of "
        "the city, from its latent probabilities (not counts of the drawn outcomes)",
    }

    def put(name: str, probs: np.ndarray) -> None:
        out[name] = {
            "expected": round(float(probs.mean()), 5) if len(probs) else None,
            "units": len(probs),
            "definition": DEFINITIONS[name],
        }

    poor, control = _hba1c(city, per, vis, dens["hba1c_poor_control"])
    put("hba1c_poor_control", poor)
    put("hba1c_control", control)
    put("controlling_bp", _controlling_bp(city, per, vis, dens["controlling_bp"]))
    put("breast_cancer_screening", _mammography(city, per, vis, dens["breast_cancer_screening"]))
    put("colorectal_screening", _colorectal(city, per, vis, dens["colorectal_screening"]))
    put("diabetic_eye_exam", _eye_exam(city, per, vis, dens["diabetic_eye_exam"]))
    put("statin_therapy_cvd", _statin(city, per, dens["statin_therapy_cvd"]))
    num, den = _readmission(city, dens["readmission_30d"])
    out["readmission_30d"] = {
        "expected": round(num / den, 5) if den else None,
        "units": round(den),
        "definition": DEFINITIONS["readmission_30d"],
    }
    f = _followups(city, dens["followup_7d"])
    put("followup_7d", f["7"])
    put("followup_30d", f["30"])
    put("med_rec_post_discharge", f["rec"])
    mm, days = _member_months(city, per)
    months = int(mm.sum())
    ed = float((city.enc.rate["emergency"] * days).sum())
    out["ed_visits_per_1000"] = {
        "expected": round(1000 * ed / months, 3) if months else None,
        "units": months,
        "definition": DEFINITIONS["ed_visits_per_1000"],
    }
    chronic = np.array([city.enc.dx_codes.idx(c.icd10) for c in CONDITIONS])
    child = city.enc.dx_codes.idx(CHILD_VISIT[0])
    allowed, paid = expected_cost(
        city.enc, city.obs, city.procs, city.meds, city.cov, chronic, child, per.start, per.end
    )
    out["pmpm_cost"] = {
        "expected": round(allowed / months, 2) if months else None,
        "expected_paid": round(paid / months, 2) if months else None,
        "units": months,
        "definition": DEFINITIONS["pmpm_cost"],
    }
    return out
