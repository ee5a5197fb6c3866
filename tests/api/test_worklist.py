"""GET /api/worklist: the panel for coordinators, everyone for managers, nothing for
analysts; filters, sorting, paging, the reason per patient, and the audit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import audit
from tests.api.world import World


def test_care_manager_sees_their_panel_with_reasons(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    r = client.get("/api/worklist", headers=h["cm"], params={"limit": 500})
    assert r.status_code == 200
    body = r.json()
    ids = [x["person_id"] for x in body["rows"]]
    assert set(ids) == set(world.panel) and body["total"] == len(world.panel)
    assert all(x["reason"] and x["team_role"] == "care_manager" for x in body["rows"])
    prios = [x["priority"] for x in body["rows"]]
    assert prios == sorted(prios, reverse=True)
    assert body["as_of"] == "2025-12-31"
    assert sum(x["open_tasks"] for x in body["rows"]) >= 5


def test_worklist_reads_are_audited_per_patient(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    client.get("/api/worklist", headers={**h["chw"], "X-Reason": "weekly outreach planning"})
    events = [
        e
        for e in audit(client, h)
        if e["operation"] == "worklist" and e["reason"] == "weekly outreach planning"
    ]
    assert {e["person_id"] for e in events} == set(world.chw_panel)
    assert {e["username"] for e in events} == {"chw"}


def test_manager_sees_everyone_filtered_and_sorted(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    r = client.get("/api/worklist", headers=h["pm"], params={"limit": 5})
    assert r.json()["total"] > 100 and len(r.json()["rows"]) == 5
    r = client.get("/api/worklist", headers=h["pm"], params={"tier": "high", "limit": 50})
    assert r.json()["rows"] and {x["risk_tier"] for x in r.json()["rows"]} == {"high"}
    r = client.get("/api/worklist", headers=h["pm"], params={"need": "transport", "limit": 50})
    assert all("transport" in x["needs"] for x in r.json()["rows"])
    r = client.get("/api/worklist", headers=h["pm"], params={"sort": "person_id", "order": "asc"})
    ids = [x["person_id"] for x in r.json()["rows"]]
    assert ids == sorted(ids)
    page2 = client.get("/api/worklist", headers=h["pm"], params={"offset": 5, "limit": 5})
    first = client.get("/api/worklist", headers=h["pm"], params={"limit": 10})
    assert page2.json()["rows"] == first.json()["rows"][5:]


def test_analyst_gets_no_worklist(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    r = client.get("/api/worklist", headers=h["analyst"])
    assert r.status_code == 403
    assert "may not read patient" in r.json()["detail"]


def test_bad_worklist_parameters_are_422_with_a_message(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    r = client.get("/api/worklist", headers=h["cm"], params={"sort": "age"})
    assert r.status_code == 422 and "sort" in r.json()["detail"]
    r = client.get("/api/worklist", headers=h["cm"], params={"limit": 0})
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    r = client.get("/api/worklist", headers=h["cm"], params={"tier": "extreme"})
    assert r.status_code == 422 and "tier" in r.json()["detail"]


def test_panel_rows_kept_in_memory_sort_and_filter_as_the_database_does(
    client: TestClient, world: World
) -> None:
    from popweave.api.services.worklist import SORTS, _fetch_sql

    wh = client.app.state.popweave.warehouse  # type: ignore[attr-defined]
    panel = sorted(world.panel)
    none = {"practice_id": None, "area_id": None, "risk_tier": None}
    for sort in SORTS:
        for descending in (True, False):
            for equal, need in (
                (none, None),
                ({**none, "risk_tier": "high"}, None),
                (none, "food"),
            ):
                _, _, total, rows = _fetch_sql(wh, panel, equal, need, sort, descending, 7, 2)
                # Everyone, in the database's order, then the panel's people picked out.
                _, _, _, every = _fetch_sql(wh, None, equal, need, sort, descending, 10**6, 0)
                mine = [r["person_id"] for r in every if r["person_id"] in set(panel)]
                assert total == len(mine)
                assert [r["person_id"] for r in rows] == mine[2:9]
