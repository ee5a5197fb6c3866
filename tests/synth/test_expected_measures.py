"""truth["measures"]: expected values of docs/measures.md, checked against the drawn outcomes.

Each realised rate is counted directly from the generator's arrays over its own denominator
and must fall in the 95% interval around the expected value (binomial for proportions,
Poisson for the ED rate), which checks the expectation maths.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from popweave.synth import City
from popweave.synth.clinical import OBS_KEYS, PROCEDURES
from popweave.synth.codes import DRUGS
from popweave.synth.expected import (
    PROPORTIONS,
    RATES,
    completed_years,
    covered,
    denominators,
    normal_cdf,
    period_of,
)
from popweave.synth.utilisation import AMBULATORY, EMERGENCY, FOLLOWUP_7, INPATIENT
from tests.synth.conftest import Built

# Twelve rates are checked on one city: each within its binomial (Poisson) interval at the
# Bonferroni level 0.05 / 12, so that all lie inside jointly with 95% probability.
CHECKS = 12
Z = 2.87  # two-sided normal quantile at 0.05 / 12


def _within(realised: float, expected: float, n: int) -> bool:
    half = Z * math.sqrt(expected * (1 - expected) / n)
    print(f"z = {(realised - expected) / math.sqrt(expected * (1 - expected) / n):+.2f}")
    return abs(realised - expected) <= half


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    return m


def _events(city: City, person: np.ndarray, day: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per person: has an event on a day in [lo, hi]."""
    sel = (day >= lo) & (day <= hi)
    out: np.ndarray = np.bincount(person[sel], minlength=city.people.n) > 0
    return out


def _procs(city: City, name: str) -> tuple[np.ndarray, np.ndarray]:
    c = city.procs.cols
    sel = c["proc"] == PROCEDURES.index(name)
    return c["person"][sel], c["day"][sel].astype(np.int64)


def _check(city: City, name: str, hits: np.ndarray) -> None:
    m = city.truth["measures"][name]
    realised = float(hits.mean())
    assert m["units"] == len(hits)
    assert _within(realised, m["expected"], len(hits)), (name, realised, m["expected"], len(hits))


def test_measures_present_and_sane(built: Built) -> None:
    m = built.truth["measures"]
    assert m["period"] == {"start": "2025-01-01", "end": "2025-12-31"}
    for name in PROPORTIONS:
        assert 0 < m[name]["expected"] < 1, name
        assert m[name]["units"] > 0, name
        assert m[name]["definition"], name
    for name in RATES:
        assert m[name]["expected"] > 0 and m[name]["units"] > 0, name
    # Plausible against the published figures the generator imitates.
    assert 0.15 <= m["hba1c_poor_control"]["expected"] <= 0.45
    assert 0.55 <= m["controlling_bp"]["expected"] <= 0.75
    assert 0.12 <= m["readmission_30d"]["expected"] <= 0.18
    assert 25 <= m["ed_visits_per_1000"]["expected"] <= 50  # 0.42 per person-year / 12
    assert 0 < m["pmpm_cost"]["expected_paid"] < m["pmpm_cost"]["expected"]


def test_helpers() -> None:
    for x in (-3.0, -1.2, 0.0, 0.4, 2.5):
        assert abs(float(normal_cdf(np.array([x]))[0]) - 0.5 * math.erfc(-x / math.sqrt(2))) < 2e-7
    epoch = dt.date(1970, 1, 1)

    def d(y: int, m: int, dd: int) -> int:
        return (dt.date(y, m, dd) - epoch).days

    birth = np.array([d(1960, 12, 31), d(1960, 1, 1), d(2000, 2, 29), d(2000, 2, 29)])
    on = np.array([d(2025, 12, 30), d(2025, 12, 31), d(2025, 2, 28), d(2025, 3, 1)])
    assert completed_years(birth, on).tolist() == [64, 65, 24, 25]


def test_hba1c_poor_control_and_control_match_draws(built: Built) -> None:
    city = built.city
    per = period_of(city)
    den = denominators(city)["hba1c_poor_control"]
    obs = city.obs.cols
    sel = obs["key"] == OBS_KEYS.index("hba1c")
    enc = obs["enc"][sel]
    person, day, value = city.enc.person[enc], city.enc.start_day[enc], obs["value"][sel]
    ok = (day >= per.start) & (day <= per.end)
    person, value = person[ok], value[ok]
    last = np.r_[person[1:] != person[:-1], True]  # rows are in encounter (person, time) order
    latest = np.full(city.people.n, np.nan)
    latest[person[last]] = value[last]
    v = latest[den]
    _check(city, "hba1c_poor_control", np.isnan(v) | (v > 9.0))
    _check(city, "hba1c_control", ~np.isnan(v) & (v < 8.0))
    eye_p, eye_d = _procs(city, "eye_exam")
    _check(city, "diabetic_eye_exam", _events(city, eye_p, eye_d, per.start, per.end)[den])


def test_screenings_match_draws(built: Built) -> None:
    city = built.city
    per = period_of(city)
    dens = denominators(city)
    mp, md = _procs(city, "mammography")
    hits = _events(city, mp, md, per.day(2, 10, 1), per.end)
    _check(city, "breast_cancer_screening", hits[dens["breast_cancer_screening"]])
    cp, cd = _procs(city, "colonoscopy")
    fp, fd = _procs(city, "fit")
    col = _events(city, cp, cd, per.day(9, 1, 1), per.end) | _events(
        city, fp, fd, per.start, per.end
    )
    _check(city, "colorectal_screening", col[dens["colorectal_screening"]])
    meds = city.meds.cols
    statin = meds["drug"] == list(DRUGS).index("statin")
    fills = _events(city, meds["person"][statin], meds["day"][statin], per.start, per.end)
    _check(city, "statin_therapy_cvd", fills[dens["statin_therapy_cvd"]])


def test_controlling_bp_matches_readings(built: Built) -> None:
    city = built.city
    per = period_of(city)
    den = denominators(city)["controlling_bp"]
    obs = city.obs.cols
    out = []
    for key in ("systolic", "diastolic"):
        sel = obs["key"] == OBS_KEYS.index(key)
        enc = obs["enc"][sel]
        out.append((city.enc.person[enc], city.enc.start_day[enc], obs["value"][sel]))
    (p, d, s), (p2, d2, dia) = out
    assert np.array_equal(p, p2) and np.array_equal(d, d2)  # one pair per visit
    ok = (d >= per.start) & (d <= per.end) & _mask(city.people.n, den)[p]
    p, d, s, dia = p[ok], d[ok], s[ok], dia[ok]
    # Last reading day per person, and that day's lowest readings.
    last_day = np.full(city.people.n, -1)
    np.maximum.at(last_day, p, d)
    on_last = d == last_day[p]
    low_s = np.full(city.people.n, np.inf)
    low_d = np.full(city.people.n, np.inf)
    np.minimum.at(low_s, p[on_last], s[on_last])
    np.minimum.at(low_d, p[on_last], dia[on_last])
    _check(city, "controlling_bp", (low_s < 140)[den] & (low_d < 90)[den])


def test_readmission_matches_stays(built: Built) -> None:
    city = built.city
    enc = city.enc
    cand = denominators(city)["readmission_30d"]
    ip = np.flatnonzero(enc.cls == INPATIENT)
    # Any admission of the same person 1-30 days after the discharge (none are planned).
    key = enc.person[ip].astype(np.int64) * 100_000 + enc.start_day[ip]
    key.sort()
    base = enc.person[cand].astype(np.int64) * 100_000 + enc.end_day[cand]
    readmitted = np.searchsorted(key, base + 30, "right") > np.searchsorted(key, base + 1, "left")
    death = city.morb.death_day[enc.person[cand]]
    dying = (death >= 0) & (death <= enc.end_day[cand] + 30)
    index = ~dying | readmitted
    m = city.truth["measures"]["readmission_30d"]
    assert abs(m["units"] - index.sum()) <= 3 * math.sqrt(max(dying.sum(), 1))
    assert _within(float(readmitted[index].mean()), m["expected"], int(index.sum()))


def test_followups_and_med_rec_match_visits(built: Built) -> None:
    city = built.city
    enc = city.enc
    stays = denominators(city)["followup_7d"]
    amb = enc.cls == AMBULATORY
    ak = np.sort(enc.person[amb].astype(np.int64) * 100_000 + enc.start_day[amb])
    base = enc.person[stays].astype(np.int64) * 100_000 + enc.end_day[stays]

    def any_in(keys: np.ndarray, lo: int, hi: int) -> np.ndarray:
        out: np.ndarray = np.searchsorted(keys, base + hi, "right") > np.searchsorted(
            keys, base + lo, "left"
        )
        return out

    _check(city, "followup_7d", any_in(ak, 1, 7))
    _check(city, "followup_30d", any_in(ak, 1, 30))
    rp, rd = _procs(city, "med_rec")
    tcm = enc.kind == FOLLOWUP_7  # billed as TCM 99496
    rec = np.sort(
        np.r_[
            rp.astype(np.int64) * 100_000 + rd,
            enc.person[tcm].astype(np.int64) * 100_000 + enc.start_day[tcm],
        ]
    )
    _check(city, "med_rec_post_discharge", any_in(rec, 0, 30))


def test_ed_rate_and_pmpm_match_the_tables(built: Built) -> None:
    city = built.city
    per = period_of(city)
    m = city.truth["measures"]
    enc = city.enc
    ed = np.flatnonzero(
        (enc.cls == EMERGENCY) & (enc.start_day >= per.start) & (enc.start_day <= per.end)
    )
    visits = int(covered(city, enc.person[ed], enc.start_day[ed]).sum())
    months = m["ed_visits_per_1000"]["units"]
    expected = m["ed_visits_per_1000"]["expected"] * months / 1000
    print(f"z = {(visits - expected) / math.sqrt(expected):+.2f}")
    assert abs(visits - expected) <= Z * math.sqrt(expected) + 1
    # Member-months and PMPM from the loaded warehouse, as the measure reads them.
    allowed = built.one(
        """SELECT sum(allowed_amount) FROM claim_line c WHERE service_date BETWEEN
           DATE '2025-01-01' AND DATE '2025-12-31' AND EXISTS (SELECT 1 FROM enrollment e
           WHERE e.person_id = c.person_id AND c.service_date BETWEEN e.start_date
           AND coalesce(e.end_date, DATE '2025-12-31'))"""
    )
    mm = built.one(
        """SELECT count(*) FROM enrollment e, range(1, 13) r(m)
           WHERE make_date(2025, m::INT, 1) BETWEEN e.start_date
             AND coalesce(e.end_date, DATE '2025-12-31')"""
    )
    assert mm == months
    assert float(allowed) / mm == pytest.approx(m["pmpm_cost"]["expected"], rel=0.02)
