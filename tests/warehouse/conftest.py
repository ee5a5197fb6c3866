"""Small canonical rows shared by the warehouse tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from popweave.model import table

TODAY = dt.date(2024, 6, 1)


def rows_to_table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as text columns (as an importer would hand them over), every column present."""
    names = [c for c in table(name).column_names if any(c in r for r in rows)]
    return pa.table({c: pa.array([_text(r.get(c)) for r in rows], pa.string()) for c in names})


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def small_city(n_people: int = 40) -> dict[str, pa.Table]:
    """A deterministic little city: areas, practices, providers, people and encounters."""
    areas = [
        {"area_id": f"A{i}", "name": f"Area {i}", "population": 1000 + i, "pct_poverty": 5 * i}
        for i in range(3)
    ]
    practices = [
        {"practice_id": f"PR{i}", "name": f"Clinic {i}", "area_id": f"A{i}", "coordinators": i}
        for i in range(2)
    ]
    providers = [
        {"provider_id": f"DR{i}", "name": f"Dr {i}", "practice_id": f"PR{i % 2}"} for i in range(3)
    ]
    sexes = ["female", "male", "other", "unknown"]
    people = [
        {
            "person_id": f"P{i:03d}",
            "birth_date": f"{1930 + i % 70}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "sex": sexes[i % 4 if i % 5 else 0],
            "area_id": f"A{i % 3}",
            "practice_id": f"PR{i % 2}",
            "pcp_provider_id": f"DR{i % 3}",
        }
        for i in range(n_people)
    ]
    classes = ["ambulatory", "emergency", "inpatient"]
    encounters = []
    for i in range(n_people * 2):
        month, day, hour = 1 + i % 12, 1 + i % 27, i % 24
        offset = ["Z", "+02:00", "", "-05:00"][i % 4]
        start = f"2023-{month:02d}-{day:02d}T{hour:02d}:15:00{offset}"
        encounters.append(
            {
                "encounter_id": f"E{i:04d}",
                "person_id": f"P{(i * 7) % n_people:03d}",
                "encounter_class": classes[i % 3],
                "start_time": start,
                "end_time": f"2023-{month:02d}-{day + 1:02d}T{hour:02d}:45:00{offset}"
                if i % 3 == 2
                else None,
                "practice_id": f"PR{i % 2}",
                "code_system": "ICD10CM",
                "code": ["E11.9", "I10", "J45.909"][i % 3],
            }
        )
    return {
        "area": rows_to_table("area", areas),
        "practice": rows_to_table("practice", practices),
        "provider": rows_to_table("provider", providers),
        "person": rows_to_table("person", people),
        "encounter": rows_to_table("encounter", encounters),
    }


@pytest.fixture
def city() -> dict[str, pa.Table]:
    return small_city()


@pytest.fixture
def make_rows() -> Callable[[str, list[dict[str, Any]]], pa.Table]:
    return rows_to_table


@pytest.fixture(scope="session")
def city_tables() -> dict[str, pa.Table]:
    return small_city()
