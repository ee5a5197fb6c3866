"""Build a synthetic city: canonical tables plus the planted truths (``truth.json``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from popweave.synth import _vec as v
from popweave.synth.claims import claim_lines
from popweave.synth.clinical import (
    CATEGORY,
    OBS_KEYS,
    PROCEDURE_CPT,
    Rows,
    answer_index,
    medications,
    observation_labels,
    observations,
    procedures,
)
from popweave.synth.codes import CHILD_VISIT, DRUGS, LOINC
from popweave.synth.coverage import UNINSURED, Coverage, enrollment_table, make_coverage
from popweave.synth.expected import measure_truth
from popweave.synth.morbidity import NAMES, Morbidity, make_morbidity
from popweave.synth.params import CONDITIONS, Params
from popweave.synth.population import (
    DEPRIVATION_INDICATORS,
    LANGUAGES,
    Areas,
    People,
    Practices,
    area_table,
    make_areas,
    make_people,
    make_practices,
    practice_tables,
    race_ethnicity_columns,
)
from popweave.synth.utilisation import (
    CLASSES,
    DISPOSITIONS,
    HOME,
    HOME_HEALTH,
    INPATIENT,
    SNF,
    Encounters,
    make_encounters,
)

Progress = Callable[[str], None]
STEPS = ("areas and people", "conditions and coverage", "encounters", "clinical events")

PILOT_PROGRAMME = "pilot_transitions"
"""Programme code of the pilot's members in ``programme_enrollment``."""


@dataclass
class City:
    """A generated city: numpy state, and a generator of canonical Arrow tables."""

    seed: int
    params: Params
    areas: Areas
    people: People
    practices: Practices
    practice: np.ndarray
    pcp: np.ndarray
    morb: Morbidity
    cov: Coverage
    enc: Encounters
    obs: Rows
    meds: Rows
    procs: Rows
    pilot_area: int
    truth: dict[str, Any] = field(default_factory=dict)
    latent: dict[str, np.ndarray] = field(default_factory=dict)
    """Latent per-person values the expected measures need (``hba1c_mu``)."""

    def tables(self, chunk_rows: int = 1_000_000) -> Iterator[tuple[str, pa.Table]]:
        """Canonical tables in load order, built one chunk of rows at a time (bounded memory)."""
        p = self.params
        rng = np.random.default_rng([self.seed, 9])
        pop = np.bincount(self.people.area, minlength=self.areas.n)
        yield "area", area_table(self.areas, pop, p)
        practice, provider = practice_tables(self.practices, self.areas, p)
        yield "practice", practice
        yield "provider", provider
        yield "person", self._person()
        yield "enrollment", enrollment_table(self.cov, self.people, self.morb.death_day, p)
        yield "programme_enrollment", self._programme()
        cond_person, cond_j = np.nonzero(self.morb.has)
        builders = (
            ("encounter", self.enc.n, self._encounter),
            ("condition", len(cond_person), lambda sl: self._condition(cond_person, cond_j, sl)),
            ("procedure", self.procs.n, self._procedure),
            ("medication", self.meds.n, self._medication),
            ("observation", self.obs.n, self._observation),
        )
        for name, n, build in builders:
            for lo in range(0, max(n, 1), chunk_rows):
                yield name, build(slice(lo, min(lo + chunk_rows, n)))
        chronic = np.array([self.enc.dx_codes.idx(c.icd10) for c in CONDITIONS])
        child = self.enc.dx_codes.idx(CHILD_VISIT[0])
        for chunk in claim_lines(
            rng, self.enc, self.obs, self.procs, self.meds, self.cov, chronic, child, chunk_rows
        ):
            yield "claim_line", chunk

    def row_count(self) -> int:
        """Rows that :meth:`tables` will yield, over all tables (for progress bars)."""
        lab_keys = [OBS_KEYS.index(k) for k in ("hba1c", "egfr", "ldl")]
        labs = int(np.isin(self.obs.cols["key"], lab_keys).sum())
        procs_at_visits = int((self.procs.cols["enc"] >= 0).sum())
        claims = self.enc.n + labs + procs_at_visits + self.meds.n
        return int(
            self.areas.n
            + self.practices.n
            + self.practices.n_providers
            + self.people.n
            + int((self.cov.state != UNINSURED).sum())  # upper bound of enrolment spans
            + len(self._pilot_members())
            + self.enc.n
            + int(self.morb.has.sum())
            + self.procs.n
            + self.meds.n
            + self.obs.n
            + claims
        )

    def _pilot_members(self) -> np.ndarray:
        """Residents of the pilot area alive on its start date: the pilot is area-wide."""
        start = v.day(self.params.pilot_start_date)
        dd = self.morb.death_day
        alive = (dd < 0) | (dd >= start)
        born = self.people.birth_day <= start
        out: np.ndarray = np.flatnonzero((self.people.area == self.pilot_area) & alive & born)
        return out

    def _programme(self) -> pa.Table:
        """Programme memberships: everyone in the pilot area from the pilot's start."""
        who = self._pilot_members()
        start = v.day(self.params.pilot_start_date)
        dd = self.morb.death_day[who]
        return pa.table(
            {
                "programme_enrollment_id": v.ids("G", len(who), 1),
                "person_id": v.take_ids("P", who + 1),
                "programme": pa.array([PILOT_PROGRAMME] * len(who), pa.string()),
                "start_date": v.dates(np.full(len(who), start)),
                "end_date": v.dates(np.where(dd >= 0, dd, start), mask=dd < 0),
            }
        )

    def _person(self) -> pa.Table:
        pe = self.people
        race, ethnicity = race_ethnicity_columns(pe)
        dd = self.morb.death_day
        return pa.table(
            {
                "person_id": v.ids("P", pe.n, 1),
                "birth_date": v.dates(pe.birth_day),
                "death_date": v.dates(np.maximum(dd, 0), mask=dd < 0),
                "sex": v.labels(("male", "female"), pe.female.astype(np.int8)),
                "race": race,
                "ethnicity": ethnicity,
                "language": v.labels(LANGUAGES, pe.language),
                "area_id": v.take_ids("A", pe.area.astype(np.int64) + 1),
                "zip": v.labels([f"{19100 + i:05d}" for i in range(self.areas.n)], pe.area),
                "pcp_provider_id": v.take_ids("D", np.where(self.pcp >= 0, self.pcp + 1, -1)),
                "practice_id": v.take_ids("C", np.where(self.practice >= 0, self.practice + 1, -1)),
            }
        )

    def _encounter(self, sl: slice) -> pa.Table:
        e = self.enc
        n = sl.stop - sl.start
        start = e.start_day[sl].astype(np.int64) * 86400 + e.start_sec[sl]
        end = e.end_day[sl].astype(np.int64) * 86400 + e.end_sec[sl]
        prac, prov = e.practice[sl], e.provider[sl]
        return pa.table(
            {
                "encounter_id": v.ids("E", n, sl.start + 1),
                "person_id": v.take_ids("P", e.person[sl] + 1),
                "encounter_class": v.labels(CLASSES, e.cls[sl]),
                "start_time": v.timestamps(start),
                "end_time": v.timestamps(end),
                "practice_id": v.take_ids("C", np.where(prac >= 0, prac + 1, -1)),
                "provider_id": v.take_ids("D", np.where(prov >= 0, prov + 1, -1)),
                "discharge_disposition": v.labels(DISPOSITIONS, e.disposition[sl]),
                "code_system": v.labels(("ICD10CM",), np.zeros(n, np.int8)),
                "code": v.labels(e.dx_codes.codes, e.dx[sl]),
            }
        )

    def _condition(self, all_person: np.ndarray, all_j: np.ndarray, sl: slice) -> pa.Table:
        person, j = all_person[sl], all_j[sl]
        onset = self.morb.onset_day[person, j]
        dd = self.morb.death_day[person]
        onset = np.where(dd >= 0, np.minimum(onset, dd), onset)
        n = len(person)
        return pa.table(
            {
                "condition_id": v.ids("X", n, sl.start + 1),
                "person_id": v.take_ids("P", person + 1),
                "encounter_id": pa.nulls(n, pa.string()),
                "onset_date": v.dates(onset),
                "abatement_date": pa.nulls(n, pa.date32()),
                "code_system": v.labels(("ICD10CM",), np.zeros(n, np.int8)),
                "code": v.labels([c.icd10 for c in CONDITIONS], j),
                "source_code_system": pa.nulls(n, pa.string()),
                "source_code": pa.nulls(n, pa.string()),
            }
        )

    def _procedure(self, sl: slice) -> pa.Table:
        c = {k: x[sl] for k, x in self.procs.cols.items()}
        n = sl.stop - sl.start
        return pa.table(
            {
                "procedure_id": v.ids("Q", n, sl.start + 1),
                "person_id": v.take_ids("P", c["person"] + 1),
                "encounter_id": v.take_ids("E", np.where(c["enc"] >= 0, c["enc"] + 1, -1)),
                "date": v.dates(c["day"]),
                "code_system": v.labels(("CPT",), np.zeros(n, np.int8)),
                "code": v.labels(PROCEDURE_CPT, c["proc"]),
            }
        )

    def _medication(self, sl: slice) -> pa.Table:
        c = {k: x[sl] for k, x in self.meds.cols.items()}
        n = sl.stop - sl.start
        return pa.table(
            {
                "medication_id": v.ids("R", n, sl.start + 1),
                "person_id": v.take_ids("P", c["person"] + 1),
                "encounter_id": pa.nulls(n, pa.string()),
                "start_date": v.dates(c["day"]),
                "end_date": v.dates(c["day"] + 89),
                "code_system": v.labels(("RXNORM",), np.zeros(n, np.int8)),
                "code": v.labels([d[0] for d in DRUGS.values()], c["drug"]),
                "days_supply": pa.array(np.full(n, 90, np.int64)),
            }
        )

    def _observation(self, sl: slice) -> pa.Table:
        c = {k: x[sl] for k, x in self.obs.cols.items()}
        n = sl.stop - sl.start
        key, enc = c["key"], c["enc"]
        lab = observation_labels()
        ans = answer_index(key, c["answer"])
        value = c["value"]
        return pa.table(
            {
                "observation_id": v.ids("O", n, sl.start + 1),
                "person_id": v.take_ids("P", self.enc.person[enc] + 1),
                "encounter_id": v.take_ids("E", enc + 1),
                "date": v.dates(self.enc.start_day[enc]),
                "category": v.labels([CATEGORY[k] for k in OBS_KEYS], key),
                "code_system": v.labels(("LOINC",), np.zeros(n, np.int8)),
                "code": v.labels([LOINC[k][0] for k in OBS_KEYS], key),
                "value_num": pa.array(value, mask=np.isnan(value)),
                "value_text": v.labels(lab["answer_text"], ans),
                "value_code": v.labels(lab["answers"], ans),
                "unit": v.labels(
                    [LOINC[k][2] or "" for k in OBS_KEYS], np.where(ans >= 0, -1, key)
                ),
            }
        )


def build_city(
    people: int, seed: int, params: Params | None = None, progress: Progress | None = None
) -> City:
    """Generate a city of ``people`` persons, reproducibly from ``seed``."""
    if people < 1:
        raise ValueError("people must be at least 1")
    p = params or Params()

    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    def step(name: str) -> None:
        if progress:
            progress(name)

    areas = make_areas(rng(1), people, p)
    pe = make_people(rng(2), people, areas, p)
    practices, practice, pcp = make_practices(rng(3), areas, pe)
    step(STEPS[0])
    morb = make_morbidity(rng(4), pe, p)
    cov = make_coverage(rng(5), pe, p)
    step(STEPS[1])
    pop = np.bincount(pe.area, minlength=areas.n)
    q5 = np.flatnonzero(areas.quintile == 5)
    pilot_area = int(q5[np.argmax(pop[q5])])
    enc = make_encounters(
        rng(6),
        pe,
        morb,
        cov,
        practice,
        pcp,
        (practices.providers_start, practices.providers_count),
        pilot_area,
        p,
    )
    step(STEPS[2])
    obs, hba1c, hba1c_mu = observations(rng(7), pe, morb, enc, p)
    meds = medications(rng(8), pe, morb, p)
    procs = procedures(rng(10), pe, morb, enc, p)
    step(STEPS[3])
    city = City(
        seed, p, areas, pe, practices, practice, pcp, morb, cov, enc, obs, meds, procs, pilot_area
    )
    city.latent = {"hba1c_mu": hba1c_mu}
    city.truth = _truth(city, hba1c)
    city.truth["measures"] = measure_truth(city)
    return city


def _truth(city: City, hba1c: dict[str, Any]) -> dict[str, Any]:
    p, a, pe, morb, enc = city.params, city.areas, city.people, city.morb, city.enc
    end = v.day(p.end_date)
    index = _index_stays(enc, morb, end)
    rp = enc.readmit_p[index]
    person = enc.person[index]

    def ratio(flag: np.ndarray) -> float | None:
        f = flag[person]
        if not f.any() or f.all():
            return None
        return round(float(rp[f].mean() / rp[~f].mean()), 4)

    pilot_after = (pe.area[person] == city.pilot_area) & (
        enc.end_day[index] >= v.day(p.pilot_start_date)
    )
    q5 = np.flatnonzero(a.quintile == 5)
    return {
        "generator": "popweave.synth",
        "seed": city.seed,
        "people": pe.n,
        "period": {"start": p.start_date.isoformat(), "end": p.end_date.isoformat()},
        "params": p.as_dict(),
        "prevalence_model": {
            "form": "logit P = intercept + age_per_decade*(age-50)/10 + female*is_female "
            "+ deprivation*area_deprivation_sd + sum(depends_on[c]*has_c); adults (18+), "
            "children only asthma and obesity; intercept calibrated to the target",
            "conditions": morb.model,
        },
        "deprivation": {
            "index": "mean z-score of "
            + ", ".join(DEPRIVATION_INDICATORS)
            + " (log income, sign reversed), over areas",
            "quintile": "areas ranked by the index into 5 equal groups; 5 = most deprived",
            "most_deprived_quintile_areas": [f"A{i + 1}" for i in q5],
        },
        "readmission": {
            "definition": "inpatient stay starting 1-30 days after the discharge of an index "
            "stay; index stays: inpatient, discharge status 01/06/03 (not transfer 02, against "
            "advice 07, expired 20), discharged at least 30 days before the period end and "
            "person alive 30 days after discharge",
            "model": "P(readmit) = exp(intercept + 0.12*n_chronic + 0.25*heart_failure + "
            "0.15*copd + 0.10*age75 + log(rr_no_vehicle)*no_vehicle + "
            "log(rr_deprived)*most_deprived_quintile + log(rr_pilot)*pilot_exposed)",
            "intercept": enc.truth["readmission_intercept"],
            "rate_ratio_no_vehicle": p.readmission_rr_no_vehicle,
            "rate_ratio_most_deprived_quintile": p.readmission_rr_deprived,
            "expected_index_stays": int(index.sum()),
            "expected_rate": round(float(rp.mean()), 5) if len(rp) else None,
            "expected_crude_ratio_no_vehicle": ratio(pe.no_vehicle),
            "expected_crude_ratio_most_deprived_quintile": ratio(pe.deprived),
            "no_vehicle_recorded_as": "observation LOINC 93030-5 (transportation need) answer "
            "LA33-6 'Yes' at social-needs screening; every no-vehicle household answers Yes",
        },
        "pilot": {
            "area_id": f"A{city.pilot_area + 1}",
            "start_date": p.pilot_start_date.isoformat(),
            "outcome": "30-day readmission",
            "readmission_rate_ratio": p.pilot_readmission_rr,
            "programme": PILOT_PROGRAMME,
            "members_recorded_as": "programme_enrollment rows (programme "
            f"{PILOT_PROGRAMME}) for every resident alive on the start date",
            "expected_index_stays_exposed": int(pilot_after.sum()),
        },
        "hba1c": hba1c,
        "social_needs": {
            "no_vehicle_share": round(float(pe.no_vehicle.mean()), 4),
            "food_insecure_share": round(float(pe.food_insecure.mean()), 4),
            "housing_unstable_share": round(float(pe.housing_unstable.mean()), 4),
            "answers": {k: LOINC[k][0] for k in ("transport", "food", "housing")},
        },
        "conditions": [n for n in NAMES],
    }


def _index_stays(enc: Encounters, morb: Morbidity, end: int) -> np.ndarray:
    """Boolean mask of index stays as ``truth.json`` defines them."""
    dd = morb.death_day[enc.person]
    alive30 = (dd < 0) | (dd > enc.end_day + 30)
    ok_disp = np.isin(enc.disposition, [HOME, HOME_HEALTH, SNF])
    out: np.ndarray = (enc.cls == INPATIENT) & ok_disp & (enc.end_day <= end - 30) & alive30
    return out
