"""Coordinator rosters: who can take which patients (languages, areas) and how many.

A roster is a DataFrame with one row per coordinator: ``coordinator_id``, ``practice_id``
(may be empty), ``languages`` and ``areas`` (sets of ISO 639-1 codes and area ids),
``caseload`` (patients at most), and ``lat`` / ``lon`` of the base travel is measured from.
:func:`load_roster` reads one from CSV; :func:`synthetic_roster` makes one from the practice
table when none is given.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from popweave.cohorts.data import Data
from popweave.errors import PopweaveError

COLUMNS = ("coordinator_id", "practice_id", "languages", "areas", "caseload", "lat", "lon")
DEFAULT_LANGUAGE = "en"
EARTH_KM = 6371.0
#: Per coordinator, the chance of speaking a language is this many times its share among the
#: practice's patients (synthetic rosters), so that bilingual coordinators are scarce.
LANGUAGE_BOOST = 3.0


def _split(v: Any) -> frozenset[str]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return frozenset()
    return frozenset(s.strip() for s in str(v).replace(",", ";").split(";") if s.strip())


def km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in km (haversine); numpy arrays broadcast."""
    lat1, lon1, lat2, lon2 = (np.asarray(x, dtype=float) for x in (lat1, lon1, lat2, lon2))
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(lon2) - np.radians(lon1)
    h = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def areas(engine: Any) -> pd.DataFrame:
    """``area_id, lat, lon`` (centroids) of every area."""
    a = Data.of(engine).area
    out: pd.DataFrame = (
        a.select("area_id", lat=a.centroid_lat, lon=a.centroid_lon).order_by("area_id").execute()
    )
    return out


def load_roster(path: str | Path, engine: Any = None) -> pd.DataFrame:
    """A roster from CSV: ``coordinator_id, languages, areas, caseload`` and optionally
    ``practice_id, lat, lon``. Languages and areas are separated by ``;``. Without
    ``lat``/``lon`` a coordinator is based at their practice (needs ``engine``)."""
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype={"coordinator_id": str, "practice_id": str})
    except (OSError, ValueError) as exc:
        raise PopweaveError(f"{p}: cannot read the roster ({exc})") from None
    missing = [c for c in ("coordinator_id", "languages", "areas", "caseload") if c not in df]
    if missing:
        raise PopweaveError(
            f"{p}: roster columns missing: {', '.join(missing)}; expected coordinator_id, "
            "languages (e.g. en;es), areas (e.g. A1;A2), caseload and optionally practice_id, "
            "lat, lon"
        )
    for i, row in enumerate(df.itertuples(), start=2):
        if not _split(row.areas):
            raise PopweaveError(f"{p}, line {i}: coordinator {row.coordinator_id} covers no area")
        if not isinstance(row.caseload, int | np.integer) or int(row.caseload) < 0:
            raise PopweaveError(
                f"{p}, line {i}: caseload {row.caseload!r} is not a whole number of patients"
            )
    if df.coordinator_id.duplicated().any():
        dup = df.coordinator_id[df.coordinator_id.duplicated()].iloc[0]
        raise PopweaveError(f"{p}: coordinator {dup} appears twice")
    for c in ("practice_id", "lat", "lon"):
        if c not in df:
            df[c] = None
    if engine is not None and df.lat.isna().any():
        pr = Data.of(engine).practice.select("practice_id", "lat", "lon").execute()
        base = df.drop(columns=["lat", "lon"]).merge(pr, on="practice_id", how="left")
        df["lat"] = df.lat.fillna(base.lat)
        df["lon"] = df.lon.fillna(base.lon)
    langs = [_split(v) or frozenset({DEFAULT_LANGUAGE}) for v in df.languages]
    df["languages"] = pd.Series(langs, index=df.index, dtype=object)
    df["areas"] = pd.Series([_split(v) for v in df.areas], index=df.index, dtype=object)
    df["caseload"] = df.caseload.astype("int64")
    return df[list(COLUMNS)].reset_index(drop=True)


def synthetic_roster(
    engine: Any,
    *,
    per_practice: int | None = None,
    caseload: int | None = None,
    radius_km: float = 3.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Coordinators made from the practice table, for a city without a roster.

    Each practice gets its ``coordinators`` (or ``per_practice``) coordinators, each with
    ``coordinator_capacity / coordinators`` patients (or ``caseload``), based at the
    practice and covering every area whose centroid lies within ``radius_km`` of it (its
    own area always). Everyone speaks English; a coordinator speaks another language with
    probability :data:`LANGUAGE_BOOST` x that language's share among the practice's
    patients (seeded), so speakers of other languages are scarce, as in most clinics.
    """
    data = Data.of(engine)
    pr = data.practice.order_by("practice_id").execute()
    ar = areas(engine)
    p = data.person
    p = p.filter(p.practice_id.notnull())
    mix = p.group_by(["practice_id", "language"]).aggregate(n=p.count()).execute()
    mix["language"] = mix.language.fillna(DEFAULT_LANGUAGE)
    mix["share"] = mix.n / mix.groupby("practice_id").n.transform("sum")
    rng = np.random.default_rng(seed)
    rows = []
    for r in pr.itertuples():
        n = int(per_practice if per_practice is not None else (r.coordinators or 0))
        if n <= 0:
            continue
        cap = caseload
        if cap is None:
            total = r.coordinator_capacity
            cap = int(total) // max(int(r.coordinators or 1), 1) if pd.notna(total) else 150
        d = km(r.lat, r.lon, ar.lat.to_numpy(), ar.lon.to_numpy())
        covered = set(ar.area_id[d <= radius_km]) | ({r.area_id} if pd.notna(r.area_id) else set())
        shares = mix[(mix.practice_id == r.practice_id) & (mix.language != DEFAULT_LANGUAGE)]
        for j in range(n):
            langs = {DEFAULT_LANGUAGE}
            for s in shares.itertuples():
                if rng.random() < LANGUAGE_BOOST * s.share:
                    langs.add(str(s.language))
            rows.append(
                {
                    "coordinator_id": f"{r.practice_id}-K{j + 1}",
                    "practice_id": r.practice_id,
                    "languages": frozenset(langs),
                    "areas": frozenset(covered),
                    "caseload": int(cap),
                    "lat": r.lat,
                    "lon": r.lon,
                }
            )
    if not rows:
        raise PopweaveError(
            "the practice table lists no coordinators; pass a roster CSV or per_practice"
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
