"""Fixtures of the REST API tests: a workspace with one login per role and a TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from popweave.api.app import create_app
from tests.api.world import World, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory, "api")


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.root)) as c:
        yield c


@pytest.fixture(scope="module")
def outsider(world: World) -> str:
    """A patient on neither coordinator's panel."""
    import duckdb

    con = duckdb.connect(str(world.root / "warehouse.duckdb"), read_only=True)
    try:
        ids = [
            r[0] for r in con.execute("SELECT person_id FROM person ORDER BY person_id").fetchall()
        ]
    finally:
        con.close()
    return next(p for p in ids if p not in world.panel and p not in world.chw_panel)


@pytest.fixture(scope="module")
def h(client: TestClient) -> dict[str, dict[str, str]]:
    """Bearer-token headers per demo login (admin, pm, cm, chw, analyst)."""
    out = {}
    for name in ("admin", "pm", "cm", "chw", "analyst"):
        user, password = World.login(name)
        r = client.post("/api/token", data={"username": user, "password": password})
        assert r.status_code == 200, r.text
        out[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return out


def audit(client: TestClient, h: dict[str, dict[str, str]], **params: str) -> list[dict[str, str]]:
    """The latest audit events, read as the admin."""
    r = client.get("/api/audit", headers=h["admin"], params={"limit": "500", **params})
    assert r.status_code == 200, r.text
    rows: list[dict[str, str]] = r.json()
    return rows
