"""Chronic conditions (prevalence by age, sex, deprivation and comorbidity), adherence, deaths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from popweave.synth import _vec as v
from popweave.synth.params import CONDITIONS, Params
from popweave.synth.population import People

NAMES = tuple(c.name for c in CONDITIONS)


@dataclass
class Morbidity:
    has: np.ndarray  # (n, k) bool
    onset_day: np.ndarray  # (n, k) int32, -1 where absent
    adherence: np.ndarray  # (n,) 0..1: taking medicines as prescribed
    death_day: np.ndarray  # (n,) int32, -1 if alive at the period end
    in_hospital_death: np.ndarray  # (n,) bool
    model: dict[str, Any]

    def col(self, name: str) -> np.ndarray:
        out: np.ndarray = self.has[:, NAMES.index(name)]
        return out

    @property
    def count(self) -> np.ndarray:
        out: np.ndarray = self.has.sum(axis=1)
        return out


def make_morbidity(rng: np.random.Generator, people: People, p: Params) -> Morbidity:
    n = people.n
    k = len(CONDITIONS)
    has = np.zeros((n, k), dtype=bool)
    adult = people.age >= 18
    decades = (people.age - 50) / 10
    model: dict[str, Any] = {}
    for j, c in enumerate(CONDITIONS):
        lin = c.age_per_decade * decades + c.female * people.female + c.deprivation * people.dep
        for dep_name, beta in c.depends_on.items():
            lin = lin + beta * has[:, NAMES.index(dep_name)]
        # Childhood: only asthma (and some obesity) occur in children.
        if c.name not in ("asthma", "obesity"):
            lin = np.where(adult, lin, -30.0)
        a = v.calibrate(lin[adult], c.target_adult_prevalence)
        has[:, j] = rng.random(n) < v.expit(a + lin)
        model[c.name] = {
            "icd10": c.icd10,
            "intercept": round(a, 4),
            "age_per_decade_from_50": c.age_per_decade,
            "female": c.female,
            "deprivation_per_sd": c.deprivation,
            "depends_on": c.depends_on,
            "target_adult_prevalence": c.target_adult_prevalence,
            "cited_range": list(c.cited_range),
            "source": c.source,
        }
    start = v.day(p.start_date)
    end = v.day(p.end_date)
    # Most cases predate the period (mean 6 years); onset never before age 1.
    onset = (
        start
        - rng.exponential(6 * 365, (n, k)).astype(np.int32)
        + rng.integers(0, end - start, (n, k)) * (rng.random((n, k)) < 0.12)
    )
    onset = np.maximum(onset, people.birth_day[:, None] + 365)
    onset = np.minimum(onset, end)
    onset_day = np.where(has, onset, -1).astype(np.int32)

    # Adherence: lower with deprivation, without a vehicle, with food insecurity
    # (Osterberg & Blaschke, NEJM 2005: ~50% adherence to chronic medicines).
    mean = v.expit(0.9 - 0.35 * people.dep - 0.45 * people.no_vehicle - 0.35 * people.food_insecure)
    conc = 6.0
    adherence = rng.beta(mean * conc, (1 - mean) * conc)

    # Deaths over the period: age-specific annual risk scaled by conditions and deprivation.
    age0 = people.age - p.years / 2
    q = np.select(
        [age0 < 45, age0 < 65, age0 < 75, age0 < 85],
        [p.mortality_under_45, p.mortality_45_64, p.mortality_65_74, p.mortality_75_84],
        p.mortality_85_plus,
    )
    hr = np.exp(
        0.9 * has[:, NAMES.index("heart_failure")]
        + 0.6 * has[:, NAMES.index("copd")]
        + 0.4 * has[:, NAMES.index("ckd")]
        + 0.3 * has[:, NAMES.index("diabetes")]
        + 0.15 * people.dep
    )
    p_die = 1 - (1 - np.clip(q * hr, 0, 0.9)) ** p.years
    dies = rng.random(n) < p_die
    death = rng.integers(start, end + 1, n)
    death = np.maximum(death, people.birth_day + 1)
    death_day = np.where(dies & (death <= end), death, -1).astype(np.int32)
    # About a third of US deaths occur in hospital (CDC WONDER, place of death 2019: 35%).
    in_hosp = (death_day >= 0) & (rng.random(n) < 0.35)
    return Morbidity(has, onset_day, adherence, death_day, in_hosp, model)
