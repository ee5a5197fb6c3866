"""Outreach, referrals, programmes and goals through the API: allowed, denied, bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.world import World


def test_outreach(client: TestClient, h: dict[str, dict[str, str]], world: World) -> None:
    pid = world.panel[0]
    body = {"person_id": pid, "channel": "phone", "outcome": "left_message", "note": "am"}
    r = client.post("/api/outreach", headers=h["cm"], json=body)
    assert r.status_code == 201 and r.json()["username"] == "cm"
    listed = client.get("/api/outreach", headers=h["cm"], params={"person_id": pid}).json()
    assert r.json()["id"] in [x["id"] for x in listed]
    r = client.post("/api/outreach", headers=h["cm"], json={**body, "channel": "pigeon"})
    assert r.status_code == 422 and "unknown channel 'pigeon'" in r.json()["detail"]
    assert client.post("/api/outreach", headers=h["pm"], json=body).status_code == 403
    r = client.post("/api/outreach", headers=h["cm"], json={**body, "task_id": 999999})
    assert r.status_code == 404


def test_referrals(client: TestClient, h: dict[str, dict[str, str]], world: World) -> None:
    orgs = client.get("/api/referrals/organisations", headers=h["cm"]).json()
    food = next(o for o in orgs if "food" in o["services"])
    body = {"person_id": world.panel[0], "org_id": food["id"], "service": "food"}
    r = client.post("/api/referrals", headers=h["cm"], json=body)
    assert r.status_code == 201 and r.json()["status"] == "sent"
    rid = r.json()["id"]
    r = client.patch(f"/api/referrals/{rid}", headers=h["cm"], json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["accepted_on"]
    r = client.patch(f"/api/referrals/{rid}", headers=h["cm"], json={"status": "sent"})
    assert r.status_code == 409 and "can move to" in r.json()["detail"]
    r = client.post("/api/referrals", headers=h["cm"], json={**body, "service": "housing"})
    assert r.status_code == 409 and "does not offer 'housing'" in r.json()["detail"]
    r = client.post("/api/referrals", headers=h["cm"], json={**body, "org_id": 9999})
    assert r.status_code == 404
    assert client.post("/api/referrals", headers=h["analyst"], json=body).status_code == 403
    r = client.get("/api/referrals", headers=h["cm"], params={"person_id": world.panel[0]})
    assert rid in [x["id"] for x in r.json()]


def test_programmes_and_enrolment(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    r = client.post("/api/programmes", headers=h["pm"], json={"name": "Walking group"})
    assert r.status_code == 201
    pid = r.json()["id"]
    assert client.post("/api/programmes", headers=h["cm"], json={"name": "X"}).status_code == 403
    r = client.post("/api/programmes", headers=h["pm"], json={"name": "Walking group"})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    names = [p["name"] for p in client.get("/api/programmes", headers=h["cm"]).json()]
    assert "Walking group" in names
    body = {"person_id": world.panel[0], "start_date": "2026-01-05"}
    r = client.post(f"/api/programmes/{pid}/enrolments", headers=h["cm"], json=body)
    assert r.status_code == 201 and r.json()["status"] == "active"
    r = client.post(
        f"/api/programmes/{pid}/enrolments",
        headers=h["cm"],
        json={**body, "end_date": "2025-01-01"},
    )
    assert r.status_code == 422 and "before it starts" in r.json()["detail"]
    r = client.post("/api/programmes/9999/enrolments", headers=h["cm"], json=body)
    assert r.status_code == 404
    r = client.post(f"/api/programmes/{pid}/enrolments", headers=h["chw"], json=body)
    assert r.status_code == 403


def test_goals(
    client: TestClient, h: dict[str, dict[str, str]], world: World, outsider: str
) -> None:
    rec = client.get(f"/api/patients/{world.panel[0]}", headers=h["cm"]).json()
    plan = rec["care_plans"][0]["id"]
    body = {
        "care_plan_id": plan,
        "description": "Walk daily",
        "target": "30 min",
        "due_date": "2026-03-01",
    }
    r = client.post("/api/goals", headers=h["cm"], json=body)
    assert r.status_code == 201
    gid = r.json()["id"]
    r = client.patch(f"/api/goals/{gid}", headers=h["cm"], json={"status": "achieved"})
    assert r.status_code == 200 and r.json()["status"] == "achieved"
    r = client.patch(f"/api/goals/{gid}", headers=h["cm"], json={"status": "maybe"})
    assert r.status_code == 422 and "unknown goal status" in r.json()["detail"]
    assert client.patch(f"/api/goals/{gid}", headers=h["chw"], json={}).status_code == 403
    assert client.patch("/api/goals/99999", headers=h["cm"], json={}).status_code == 404
    r = client.post("/api/goals", headers=h["cm"], json={**body, "target": ""})
    assert r.status_code == 422 and "target" in r.json()["detail"]
