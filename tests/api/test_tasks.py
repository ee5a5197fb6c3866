"""/api/tasks: list, read, create, and update with optimistic locking (409 on conflict)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.world import World


def _new(client: TestClient, h: dict[str, str], pid: str) -> dict[str, object]:
    body = {"person_id": pid, "task_type": "call", "due_date": "2030-01-02", "title": "Check in"}
    r = client.post("/api/tasks", headers=h, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def test_create_read_complete(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    t = _new(client, h["cm"], world.panel[1])
    assert t["status"] == "open" and t["version"] == 1
    assert client.get(f"/api/tasks/{t['id']}", headers=h["cm"]).json()["title"] == "Check in"
    r = client.patch(
        f"/api/tasks/{t['id']}", headers=h["cm"], json={"version": 1, "status": "done"}
    )
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["version"] == 2
    listed = client.get("/api/tasks", headers=h["cm"], params={"person_id": world.panel[1]})
    assert t["id"] not in [x["id"] for x in listed.json()]


def test_stale_version_is_409_with_a_clear_message(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    t = _new(client, h["cm"], world.panel[2])
    ok = client.patch(f"/api/tasks/{t['id']}", headers=h["cm"], json={"version": 1, "notes": "a"})
    assert ok.status_code == 200
    r = client.patch(f"/api/tasks/{t['id']}", headers=h["cm"], json={"version": 1, "notes": "b"})
    assert r.status_code == 409
    assert "changed by someone else" in r.json()["detail"]
    assert "reload it" in r.json()["detail"]


def test_denied_and_bad_input(
    client: TestClient, h: dict[str, dict[str, str]], world: World, outsider: str
) -> None:
    body = {"person_id": outsider, "task_type": "call", "due_date": "2030-01-02"}
    assert client.post("/api/tasks", headers=h["cm"], json=body).status_code == 403
    assert client.post("/api/tasks", headers=h["analyst"], json=body).status_code == 403
    assert client.get("/api/tasks", headers=h["analyst"]).status_code == 403
    bad = {"person_id": world.panel[0], "task_type": "dance", "due_date": "2030-01-02"}
    r = client.post("/api/tasks", headers=h["cm"], json=bad)
    assert r.status_code == 422 and "task_type" in r.json()["detail"]
    bad = {"person_id": world.panel[0], "task_type": "call", "due_date": "soon"}
    r = client.post("/api/tasks", headers=h["cm"], json=bad)
    assert r.status_code == 422 and "due_date" in r.json()["detail"]
    r = client.patch("/api/tasks/999999", headers=h["admin"], json={"version": 1})
    assert r.status_code == 404 and "no task with id 999999" in r.json()["detail"]
    r = client.patch("/api/tasks/1", headers=h["admin"], json={"status": "done"})
    assert r.status_code == 422 and "version" in r.json()["detail"]
    assert client.get("/api/tasks/1").status_code == 401


def test_mine_and_overdue(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    mine = client.get("/api/tasks", headers=h["cm"], params={"mine": "true"}).json()
    assert mine and all(t["assignee_id"] is not None for t in mine)
    overdue = client.get("/api/tasks", headers=h["admin"], params={"overdue": "true"})
    assert overdue.status_code == 200
