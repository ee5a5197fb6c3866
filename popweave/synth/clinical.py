"""Observations (vitals, labs, social-needs answers), medication fills, procedures/screenings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from popweave.synth import _vec as v
from popweave.synth.codes import ANSWERS, CPT, DRUGS, LOINC
from popweave.synth.morbidity import NAMES, Morbidity
from popweave.synth.params import Params
from popweave.synth.population import People
from popweave.synth.utilisation import AMBULATORY, FOLLOWUP_7, FOLLOWUP_30, Encounters

OBS_KEYS = tuple(LOINC)
CATEGORY = {
    "systolic": "vital-signs",
    "diastolic": "vital-signs",
    "bmi": "vital-signs",
    "hba1c": "laboratory",
    "egfr": "laboratory",
    "ldl": "laboratory",
    "transport": "social-history",
    "food": "social-history",
    "housing": "social-history",
}


@dataclass
class Rows:
    """Columnar rows of one event table, as numpy arrays keyed by column."""

    cols: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(next(iter(self.cols.values())))


# Test-value noise of HbA1c (SD, %-points) around each diabetic's latent mean.
HBA1C_NOISE_SD = 0.35
# Share of ASCVD / diabetic patients started on a statin; med-rec at post-discharge visits.
STATIN_TREATED = 0.65
MED_REC_AT_FOLLOWUP = 0.7
FILL_JITTER_SD = 5.0


def age_at(people: People, person: np.ndarray, day: np.ndarray, p: Params) -> np.ndarray:
    """Age in (fractional) years of ``person`` on ``day``, as the generator uses it."""
    out: np.ndarray = people.age[person] - (v.day(p.end_date) - day) / 365.25
    return out


def first_in_year(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """For rows sorted by person and day: True at each person's first row of a calendar year."""
    year = day.astype("datetime64[D]").astype("datetime64[Y]").astype(int)
    out: np.ndarray = np.r_[True, (person[1:] != person[:-1]) | (year[1:] != year[:-1])]
    return out


def first_of_run(mask: np.ndarray, first: np.ndarray) -> np.ndarray:
    """First True row of ``mask`` in each group starting where ``first`` is True, when
    ``mask`` is contiguous within a group (as onset- and age-limited eligibility is)."""
    out: np.ndarray = mask & (first | ~np.r_[False, mask[:-1]])
    return out


def screening_access(people: People) -> np.ndarray:
    """Per-person shift of the log-odds of a screening (less with deprivation, no vehicle)."""
    out: np.ndarray = -0.25 * people.dep - 0.3 * people.no_vehicle
    return out


def bp_level(
    hypertensive: np.ndarray, adherence: np.ndarray, dep: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Mean systolic pressure: hypertensive patients by adherence; others rise with age."""
    out: np.ndarray = np.where(
        hypertensive, 124 + 26 * (1 - adherence) + 3 * dep, 108 + 0.35 * (age - 18) + 2 * dep
    )
    return out


def statin_schedule(adherence: np.ndarray) -> np.ndarray:
    """Days between 90-day fills: stretched as adherence falls (at most ~600 days)."""
    out: np.ndarray = np.maximum(90 / np.maximum(adherence, 0.15), 90)
    return out


def _cat(parts: list[dict[str, np.ndarray]]) -> Rows:
    keys = parts[0].keys()
    return Rows({k: np.concatenate([p[k] for p in parts]) for k in keys})


def observations(
    rng: np.random.Generator, people: People, morb: Morbidity, enc: Encounters, p: Params
) -> tuple[Rows, dict[str, Any], np.ndarray]:
    """Observation rows, the HbA1c model for ``truth.json`` and each person's latent mean
    HbA1c."""
    amb = np.flatnonzero(enc.cls == AMBULATORY)
    person = enc.person[amb]
    age = age_at(people, person, enc.start_day[amb], p)
    adult = age >= 18
    parts: list[dict[str, np.ndarray]] = []

    def add(key: str, e: np.ndarray, value: np.ndarray, answer: np.ndarray | None = None) -> None:
        parts.append(
            {
                "enc": amb[e],
                "key": np.full(len(e), OBS_KEYS.index(key), np.int8),
                "value": value.astype(np.float64),
                "answer": np.full(len(e), -1, np.int8)
                if answer is None
                else answer.astype(np.int8),
            }
        )

    # Blood pressure at every adult visit. Hypertensive patients' level depends on adherence;
    # controlled (<140/90) for ~60% of them (HEDIS 2022 CBP ~ 60%).
    htn = morb.col("hypertension")[person]
    adh = morb.adherence[person]
    e = np.flatnonzero(adult)
    pe = person[e]
    level = bp_level(htn[e], adh[e], people.dep[pe], age[e])
    sbp = np.round(level + rng.normal(0, 9, len(e)))
    dbp = np.round(0.45 * sbp + 22 + rng.normal(0, 6, len(e)))
    add("systolic", e, np.clip(sbp, 80, 230))
    add("diastolic", e, np.clip(dbp, 40, 140))

    # BMI once a year (first adult visit each calendar year); obese >= 30.
    fiy = first_in_year(person, enc.start_day[amb])
    e = np.flatnonzero(fiy & adult)
    obese = morb.col("obesity")[person[e]]
    bmi = np.where(obese, 30 + rng.gamma(2.0, 2.6, len(e)), rng.uniform(18.5, 29.9, len(e)))
    add("bmi", e, np.round(bmi, 1))

    # HbA1c for diabetes, at visits from the diagnosis on: mean by adherence, food
    # insecurity and deprivation.
    diab = morb.col("diabetes")
    dx_onset = morb.onset_day[:, NAMES.index("diabetes")]
    diagnosed = diab[person] & (enc.start_day[amb] >= dx_onset[person])
    mu = (
        6.9
        + 3.0 * (1 - morb.adherence)
        + 0.6 * people.food_insecure
        + 0.25 * people.dep
        + rng.normal(0, 0.9, people.n)
    )
    e = np.flatnonzero(diagnosed & (rng.random(len(amb)) < p.hba1c_tests_per_visit))
    a1c = np.clip(np.round(mu[person[e]] + rng.normal(0, HBA1C_NOISE_SD, len(e)), 1), 4.5, 15.0)
    add("hba1c", e, a1c)
    hba1c_model = {
        "mean": "6.9 + 3.0*(1-adherence) + 0.6*food_insecure + 0.25*deprivation_sd + N(0,0.9)",
        "test_noise_sd": HBA1C_NOISE_SD,
        "tested_from": "the diabetes onset date (tests at ambulatory visits on or after it)",
        "tests_per_ambulatory_visit": p.hba1c_tests_per_visit,
        "expected_share_over_9_among_diabetics": round(float((mu[diab] > 9).mean()), 4)
        if diab.any()
        else None,
    }

    # eGFR and LDL yearly for chronic patients.
    ckd = morb.col("ckd")[person]
    renal_risk = ckd | diab[person] | htn
    e = np.flatnonzero(fiy & adult & renal_risk)
    egfr = np.where(
        ckd[e],
        rng.uniform(30, 59, len(e)),
        np.clip(120 - 0.8 * (age[e] - 18) + rng.normal(0, 12, len(e)), 60, 140),
    )
    add("egfr", e, np.round(egfr))
    cad = morb.col("cad")[person]
    e = np.flatnonzero(fiy & adult & (cad | diab[person] | (age >= 40)))
    statin_user = (cad[e] | diab[person[e]]) & (adh[e] > 0.4)
    ldl = 118 + rng.normal(0, 28, len(e)) - 40 * statin_user
    add("ldl", e, np.clip(np.round(ldl), 30, 280))

    # Social-needs screening (PRAPARE / Hunger Vital Sign items) at a first visit of a year.
    e = np.flatnonzero(fiy & (rng.random(len(amb)) < p.screening_per_year / 0.8))
    pe = person[e]
    add("transport", e, np.full(len(e), np.nan), np.where(people.no_vehicle[pe], 0, 1))
    add("food", e, np.full(len(e), np.nan), np.where(people.food_insecure[pe], 0, 1))
    add("housing", e, np.full(len(e), np.nan), np.where(people.housing_unstable[pe], 0, 1))
    rows = _cat(parts)
    order = np.lexsort((rows.cols["key"], rows.cols["enc"]))
    return Rows({k: x[order] for k, x in rows.cols.items()}), hba1c_model, mu


def observation_labels() -> dict[str, list[str]]:
    """Display and code lists matching the key/answer indices used above."""
    answers = [a for k in OBS_KEYS if k in ANSWERS for a in ANSWERS[k]]
    return {"answers": [c for c, _ in answers], "answer_text": [t for _, t in answers]}


def answer_index(key: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Flat index into observation_labels()['answers'] for (key, answer) pairs; -1 if none."""
    offsets = np.full(len(OBS_KEYS), -1, dtype=np.int64)
    pos = 0
    for i, k in enumerate(OBS_KEYS):
        if k in ANSWERS:
            offsets[i] = pos
            pos += len(ANSWERS[k])
    out: np.ndarray = np.where(answer >= 0, offsets[key] + answer, -1)
    return out


def medications(rng: np.random.Generator, people: People, morb: Morbidity, p: Params) -> Rows:
    """90-day fills of maintenance drugs; gaps between fills stretch as adherence falls."""
    start = v.day(p.start_date)
    end = np.where(morb.death_day >= 0, morb.death_day, v.day(p.end_date))
    adult = people.age >= 18
    drug_names = list(DRUGS)
    parts = []
    for d, name in enumerate(drug_names):
        if name == "statin":
            # ACC/AHA 2018: statins for clinical ASCVD and for diabetes aged 40-75.
            diabetic = morb.col("diabetes") & (people.age >= 40) & (people.age <= 76)
            eligible = morb.col("cad") | diabetic
            onset = np.where(
                morb.col("cad"),
                morb.onset_day[:, NAMES.index("cad")],
                morb.onset_day[:, NAMES.index("diabetes")],
            )
            treated = STATIN_TREATED
        else:
            j = NAMES.index(name)
            eligible = morb.has[:, j] & (adult | (name == "asthma"))
            onset = morb.onset_day[:, j]
            treated = {"depression": 0.55, "asthma": 0.7}.get(name, 0.8)
        who = np.flatnonzero(eligible & (rng.random(people.n) < treated))
        first = np.maximum(onset[who], start) + rng.integers(0, 60, len(who))
        adh = morb.adherence[who]
        gap = statin_schedule(adh)
        span = np.maximum(end[who] - first, 0)
        n_fill = np.where(first <= end[who], 1 + np.floor(span / gap), 0).astype(np.int64)
        idx = v.repeat_index(n_fill)
        k = v.rank_within(idx)
        day = first[idx] + np.floor(k * gap[idx] + rng.normal(0, FILL_JITTER_SD, len(idx))).astype(
            np.int64
        )
        day = np.clip(day, first[idx], end[who][idx])
        parts.append(
            {
                "person": who[idx],
                "drug": np.full(len(idx), d, np.int8),
                "day": day,
            }
        )
    rows = _cat(parts)
    order = np.lexsort((rows.cols["drug"], rows.cols["day"], rows.cols["person"]))
    return Rows({k: x[order] for k, x in rows.cols.items()})


PROCEDURES = ("mammography", "colonoscopy", "fit", "eye_exam", "med_rec")
COLONOSCOPY_YEAR = 0.07  # per year at a first visit of the year, ages 45-75
FIT_YEAR = 0.10
HISTORY_DAYS_BEFORE = (30, 9 * 365)  # colonoscopy history: days before the start, [lo, hi)
HISTORY_MIN_AGE_DAYS = 45 * 365


def mammography_year(p: Params) -> float:
    """Probability of a mammography at the first visit of a year (about half the 2-year)."""
    return p.mammography_2y / 2 + 0.05


def colonoscopy_history_p(people: People, p: Params) -> np.ndarray:
    """Per-person probability of a colonoscopy in the 9 years before the period start
    (drawn for people aged 50-74 at the start)."""
    out: np.ndarray = v.expit(v.logit(p.colorectal_up_to_date - 0.1) - 0.25 * people.dep)
    return out


def procedures(
    rng: np.random.Generator, people: People, morb: Morbidity, enc: Encounters, p: Params
) -> Rows:
    """Screenings at ambulatory visits (with history before the period) and medication
    reconciliation at post-discharge follow-up visits."""
    amb = np.flatnonzero(enc.cls == AMBULATORY)
    person = enc.person[amb]
    age = age_at(people, person, enc.start_day[amb], p)
    access = screening_access(people)[person]
    parts = []

    def at_visits(name: str, mask: np.ndarray) -> None:
        e = amb[np.flatnonzero(mask)]
        parts.append(
            {
                "enc": e,
                "person": enc.person[e],
                "day": enc.start_day[e],
                "proc": np.full(len(e), PROCEDURES.index(name), np.int8),
            }
        )

    fiy = first_in_year(person, enc.start_day[amb])
    # Mammography every other year for women 50-74 (USPSTF); probability per year ~ half.
    women = people.female[person] & (age >= 50) & (age < 75)
    pm = v.expit(v.logit(mammography_year(p)) + access)
    at_visits("mammography", fiy & women & (rng.random(len(amb)) < pm))
    # Colorectal: colonoscopy every 10 years or FIT yearly, ages 45-75 (USPSTF 2021).
    crc = (age >= 45) & (age < 76)
    pc_ = v.expit(v.logit(COLONOSCOPY_YEAR) + access)
    at_visits("colonoscopy", fiy & crc & (rng.random(len(amb)) < pc_))
    at_visits("fit", fiy & crc & (rng.random(len(amb)) < v.expit(v.logit(FIT_YEAR) + access)))
    # Eye exam at the first visit of a year from the diabetes diagnosis on (ages 18-75).
    dx_onset = morb.onset_day[:, NAMES.index("diabetes")][person]
    diab = morb.col("diabetes")[person] & (enc.start_day[amb] >= dx_onset)
    diab &= (age >= 18) & (age < 76)
    pe = v.expit(v.logit(p.eye_exam_year) + access)
    at_visits("eye_exam", first_of_run(diab, fiy) & (rng.random(len(amb)) < pe))
    # Medication reconciliation (CPT II 1111F) at most post-discharge visits (HEDIS MRP ~60%).
    follow = (enc.kind[amb] == FOLLOWUP_7) | (enc.kind[amb] == FOLLOWUP_30)
    at_visits("med_rec", follow & (rng.random(len(amb)) < MED_REC_AT_FOLLOWUP))

    # History before the period: colonoscopies in the previous 9 years, so that the
    # 10-year look-back of colorectal screening sees them.
    start = v.day(p.start_date)
    age0 = people.age - p.years
    cand = np.flatnonzero((age0 >= 50) & (age0 < 75))
    had = cand[rng.random(len(cand)) < colonoscopy_history_p(people, p)[cand]]
    hist_day = start - rng.integers(*HISTORY_DAYS_BEFORE, len(had))
    hist_day = np.maximum(hist_day, people.birth_day[had] + HISTORY_MIN_AGE_DAYS)
    parts.append(
        {
            "enc": np.full(len(had), -1, np.int64),
            "person": had,
            "day": hist_day,
            "proc": np.full(len(had), PROCEDURES.index("colonoscopy"), np.int8),
        }
    )
    rows = _cat(parts)
    order = np.lexsort((rows.cols["proc"], rows.cols["day"], rows.cols["person"]))
    return Rows({k: x[order] for k, x in rows.cols.items()})


PROCEDURE_CPT = tuple(CPT[name] for name in PROCEDURES)
