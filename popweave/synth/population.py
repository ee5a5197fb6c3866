"""Areas with social-determinant gradients, people in them, and practices serving them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from popweave.synth import _vec as v
from popweave.synth.params import (
    AGE_BAND_SHARES,
    FEMALE_SHARE,
    RACE_DEPRIVATION_TILT,
    RACE_ETHNICITY_SHARES,
    Params,
)

RACE_GROUPS = tuple(RACE_ETHNICITY_SHARES)
LANGUAGES = ("en", "es", "zh", "vi")
DEPRIVATION_INDICATORS = (
    "median_income",
    "pct_poverty",
    "pct_no_vehicle",
    "pct_no_high_school",
    "food_access_miles",
    "housing_cost_burden",
)


@dataclass
class Areas:
    """Area-level arrays; ``latent`` is the planted deprivation (mean 0, SD 1)."""

    n: int
    latent: np.ndarray
    weight: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    half: float
    indicators: dict[str, np.ndarray]
    index: np.ndarray
    """Observable deprivation index: mean z-score of the indicators (income reversed)."""
    quintile: np.ndarray
    """1 (least deprived) .. 5 (most deprived), areas ranked by ``index``."""


def deprivation_index(ind: dict[str, np.ndarray]) -> np.ndarray:
    """Mean of standardised indicators, each oriented so that higher means more deprived."""
    zs = []
    for name in DEPRIVATION_INDICATORS:
        x = np.log(ind[name]) if name == "median_income" else ind[name]
        z = (x - x.mean()) / (x.std() or 1.0)
        zs.append(-z if name == "median_income" else z)
    out: np.ndarray = np.mean(zs, axis=0)
    return out


def quintiles(index: np.ndarray) -> np.ndarray:
    """Quintile 1..5 of each area by rank of ``index`` (ties broken by order)."""
    ranks = np.argsort(np.argsort(index, kind="stable"), kind="stable")
    return (ranks * 5 // len(index) + 1).astype(np.int8)


def make_areas(rng: np.random.Generator, n_people: int, p: Params) -> Areas:
    n = max(p.min_areas, round(n_people / p.people_per_area))
    cols = int(np.ceil(np.sqrt(n)))
    r, c = np.divmod(np.arange(n), cols)
    half = 0.006
    lat = p.centre_lat + (r - r.mean()) * 2 * half
    lon = p.centre_lon + (c - c.mean()) * 2 * half * 1.3
    # Deprivation rises towards one side of the city, plus neighbourhood noise.
    gradient = (r / max(r.max(), 1) + c / max(c.max(), 1)) / 2
    latent = 1.2 * (gradient - gradient.mean()) / (gradient.std() or 1.0) + rng.normal(0, 0.7, n)
    latent = (latent - latent.mean()) / latent.std()

    def noise() -> np.ndarray:
        return rng.normal(0, 0.15, n)

    ind = {
        "median_income": p.median_income * np.exp(-0.38 * latent + noise()),
        "pct_poverty": 100 * v.expit(v.logit(p.pct_poverty / 100) + 0.60 * latent + noise()),
        "pct_no_vehicle": 100 * v.expit(v.logit(p.pct_no_vehicle / 100) + 0.80 * latent + noise()),
        "pct_no_high_school": 100
        * v.expit(v.logit(p.pct_no_high_school / 100) + 0.55 * latent + noise()),
        "food_access_miles": p.food_access_miles * np.exp(0.35 * latent + noise()),
        "housing_cost_burden": 100
        * v.expit(v.logit(p.housing_cost_burden / 100) + 0.45 * latent + noise()),
    }
    index = deprivation_index(ind)
    weight = rng.lognormal(0, 0.25, n)
    return Areas(n, latent, weight / weight.sum(), lat, lon, half, ind, index, quintiles(index))


def area_table(a: Areas, population: np.ndarray, p: Params) -> pa.Table:
    geoms = []
    for la, lo in zip(a.lat, a.lon, strict=True):
        dx, dy = a.half * 1.3, a.half
        ring = [[lo - dx, la - dy], [lo + dx, la - dy], [lo + dx, la + dy], [lo - dx, la + dy]]
        ring.append(ring[0])
        coords = [[round(x, 6), round(y, 6)] for x, y in ring]
        geoms.append(json.dumps({"type": "Polygon", "coordinates": [coords]}))
    cols: dict[str, object] = {
        "area_id": v.ids("A", a.n, 1),
        "name": pa.array([f"{p.city_name} {i + 1:03d}" for i in range(a.n)]),
        "county": pa.array([p.county] * a.n),
        "zip": pa.array([f"{19100 + i:05d}" for i in range(a.n)]),
        "geometry": pa.array(geoms),
        "centroid_lat": pa.array(a.lat),
        "centroid_lon": pa.array(a.lon),
        "population": pa.array(population.astype(np.int64)),
    }
    for name in DEPRIVATION_INDICATORS:
        cols[name] = pa.array(np.round(a.indicators[name], 2))
    return pa.table(cols)


@dataclass
class People:
    """Person-level arrays. Days are days since 1970-01-01; -1 means none."""

    n: int
    area: np.ndarray
    dep: np.ndarray
    deprived: np.ndarray
    birth_day: np.ndarray
    age: np.ndarray
    female: np.ndarray
    race_group: np.ndarray
    language: np.ndarray
    no_vehicle: np.ndarray
    food_insecure: np.ndarray
    housing_unstable: np.ndarray


def make_people(rng: np.random.Generator, n: int, areas: Areas, p: Params) -> People:
    area = rng.choice(areas.n, size=n, p=areas.weight).astype(np.int32)
    dep = areas.latent[area]
    band = rng.choice(
        len(AGE_BAND_SHARES), size=n, p=np.array(AGE_BAND_SHARES) / sum(AGE_BAND_SHARES)
    )
    width = np.where(band == len(AGE_BAND_SHARES) - 1, 15, 5)
    age = band * 5 + rng.random(n) * width  # age at the period end, years
    birth_day = (v.day(p.end_date) - np.floor(age * 365.25)).astype(np.int32)
    female = rng.random(n) < FEMALE_SHARE
    base = np.log(np.array([RACE_ETHNICITY_SHARES[g] for g in RACE_GROUPS]))
    tilt = np.array([RACE_DEPRIVATION_TILT[g] for g in RACE_GROUPS])
    race_group = v.categorical(rng, base[None, :] + dep[:, None] * tilt[None, :]).astype(np.int8)
    hisp = race_group == RACE_GROUPS.index("hispanic")
    asian = race_group == RACE_GROUPS.index("asian")
    # ACS 2022: ~8% of US residents have limited English; Spanish by far the most common.
    u = rng.random(n)
    language = np.zeros(n, dtype=np.int8)
    language[hisp & (u < 0.32)] = 1
    language[asian & (u < 0.18)] = 2
    language[asian & (u >= 0.18) & (u < 0.28)] = 3
    pv = areas.indicators["pct_no_vehicle"][area] / 100
    older = age >= 75
    no_vehicle = rng.random(n) < np.clip(pv * np.where(older, 1.5, 1.0), 0, 0.95)
    food = rng.random(n) < v.expit(v.logit(p.food_insecure) + 0.55 * dep + 0.4 * no_vehicle)
    housing = rng.random(n) < v.expit(v.logit(p.housing_unstable) + 0.5 * dep)
    deprived = areas.quintile[area] == 5
    return People(
        n,
        area,
        dep,
        deprived,
        birth_day,
        age,
        female,
        race_group,
        language,
        no_vehicle,
        food,
        housing,
    )


def race_ethnicity_columns(people: People) -> tuple[pa.Array, pa.Array]:
    """OMB race and ethnicity columns from the combined race/ethnicity group."""
    g = people.race_group
    hisp_idx = RACE_GROUPS.index("hispanic")
    race_values = (*RACE_GROUPS[:-1], "other")
    race = np.where(g == hisp_idx, len(race_values) - 1, g)
    ethnicity = np.where(g == hisp_idx, 0, 1)
    return v.labels(race_values, race), v.labels(("hispanic", "not_hispanic"), ethnicity)


@dataclass
class Practices:
    n: int
    area: np.ndarray
    providers_start: np.ndarray
    providers_count: np.ndarray
    n_providers: int
    hours: np.ndarray
    evening: np.ndarray
    coordinators: np.ndarray


def make_practices(
    rng: np.random.Generator, areas: Areas, people: People
) -> tuple[Practices, np.ndarray, np.ndarray]:
    """Place practices (fewer in deprived areas), attribute people; returns practice, pcp."""
    n_pr = max(6, areas.n // 2)
    # Fewer clinics where deprivation is high: a planted access gap.
    w = np.exp(-0.5 * areas.latent)
    site = rng.choice(areas.n, size=n_pr, p=w / w.sum(), replace=n_pr > areas.n)
    # Each person picks a practice with probability falling with distance (in area cells).
    d2 = (areas.lat[:, None] - areas.lat[site][None, :]) ** 2 + (
        (areas.lon[:, None] - areas.lon[site][None, :]) / 1.3
    ) ** 2
    cell = 2 * areas.half
    logits = -np.sqrt(d2) / (1.5 * cell)  # (areas, practices)
    practice = np.empty(people.n, dtype=np.int32)
    order = np.argsort(people.area, kind="stable")
    bounds = np.searchsorted(people.area[order], np.arange(areas.n + 1))
    for a in range(areas.n):  # one vectorised draw per area
        rows = order[bounds[a] : bounds[a + 1]]
        if len(rows):
            practice[rows] = v.categorical(rng, np.broadcast_to(logits[a], (len(rows), n_pr)))
    # About 12% have no attributed practice; more where deprivation is high (no usual source
    # of care: NHIS 2019 ~ 11% of adults).
    unattached = rng.random(people.n) < v.expit(v.logit(0.12) + 0.4 * people.dep)
    practice[unattached] = -1
    panel = np.bincount(practice[practice >= 0], minlength=n_pr)
    # One PCP per ~1,500 attributed patients (AAFP panel-size guidance: 1,200-1,900).
    count = np.maximum(1, np.ceil(panel / 1500)).astype(np.int64)
    start = np.r_[0, np.cumsum(count)[:-1]]
    pcp = np.full(people.n, -1, dtype=np.int64)
    att = practice >= 0
    pcp[att] = start[practice[att]] + (rng.random(att.sum()) * count[practice[att]]).astype(
        np.int64
    )
    hours = np.round(rng.uniform(40, 60, n_pr) - 4 * areas.latent[site])
    evening = rng.random(n_pr) < v.expit(0.0 - 0.8 * areas.latent[site])
    coordinators = np.maximum(0, np.round(panel / 3000 - 0.3 * areas.latent[site])).astype(int)
    pr = Practices(
        n_pr, site.astype(np.int32), start, count, int(count.sum()), hours, evening, coordinators
    )
    return pr, practice, pcp


def practice_tables(pr: Practices, areas: Areas, p: Params) -> tuple[pa.Table, pa.Table]:
    practice = pa.table(
        {
            "practice_id": v.ids("C", pr.n, 1),
            "name": pa.array([f"{p.city_name} Community Clinic {i + 1}" for i in range(pr.n)]),
            "area_id": v.take_ids("A", pr.area.astype(np.int64) + 1),
            "lat": pa.array(areas.lat[pr.area]),
            "lon": pa.array(areas.lon[pr.area]),
            "hours_per_week": pa.array(pr.hours.astype(float)),
            "evening_hours": pa.array(pr.evening),
            "coordinators": pa.array(pr.coordinators.astype(np.int64)),
            # A full-time care coordinator manages about 150 active patients (CMS CCM guidance
            # and programme reports put caseloads at 50-150 high-risk patients).
            "coordinator_capacity": pa.array((pr.coordinators * 150).astype(np.int64)),
        }
    )
    owner = v.repeat_index(pr.providers_count)
    specialties = ("family medicine", "internal medicine", "pediatrics")
    spec = np.arange(pr.n_providers) % 3
    provider = pa.table(
        {
            "provider_id": v.ids("D", pr.n_providers, 1),
            "name": pa.array([f"Clinician {i + 1}" for i in range(pr.n_providers)]),
            "practice_id": v.take_ids("C", owner + 1),
            "specialty": v.labels(specialties, spec),
        }
    )
    return practice, provider
