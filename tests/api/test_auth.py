"""Signing in for scripts: bearer tokens, HTTP Basic, the page session on reads only."""

from __future__ import annotations

import base64
import re

from fastapi.testclient import TestClient

from popweave.api.app import create_app
from tests.api.world import World


def test_token_for_right_password_and_me(client: TestClient) -> None:
    r = client.post("/api/token", data={"username": "cm", "password": "cm-demo-pass"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 12 * 3600
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"user_id": me.json()["user_id"], "username": "cm", "role": "care_manager"}


def test_token_refused_for_wrong_password(client: TestClient) -> None:
    r = client.post("/api/token", data={"username": "cm", "password": "not-the-password"})
    assert r.status_code == 401
    assert r.json()["detail"] == "unknown user or wrong password"


def test_token_needs_both_fields(client: TestClient) -> None:
    r = client.post("/api/token", data={"username": "cm"})
    assert r.status_code == 422
    assert "password" in r.json()["detail"]


def test_basic_auth(client: TestClient) -> None:
    assert client.get("/api/me", auth=World.login("analyst")).json()["role"] == "analyst"
    r = client.get("/api/me", auth=("analyst", "wrong-password"))
    assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"]


def test_no_or_bad_credentials_are_401(client: TestClient) -> None:
    r = client.get("/api/worklist")
    assert r.status_code == 401 and "sign in" in r.json()["detail"]
    r = client.get("/api/me", headers={"Authorization": "Bearer forged.token"})
    assert r.status_code == 401 and "POST /api/token" in r.json()["detail"]
    r = client.get("/api/me", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401 and "malformed" in r.json()["detail"]
    r = client.get("/api/me", headers={"Authorization": "Digest x"})
    assert r.status_code == 401 and "unsupported" in r.json()["detail"]
    bad = base64.b64encode(b"nobody:whatever-pass").decode()
    assert client.get("/api/me", headers={"Authorization": f"Basic {bad}"}).status_code == 401


def form_token(c: TestClient) -> str:
    """The anti-forgery token of the login form (kept in the anonymous session)."""
    found = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
    assert found
    return found.group(1)


def test_page_session_reads_but_does_not_write(world: World) -> None:
    with TestClient(create_app(world.root)) as c:
        # The login form carries the anti-forgery token too (no login forged from elsewhere).
        forged = c.post("/login", data={"username": "cm", "password": "cm-demo-pass"})
        assert forged.status_code == 403 and "expired" in forged.text
        login = {"username": "cm", "password": "cm-demo-pass", "csrf": form_token(c)}
        r = c.post("/login", data=login)
        assert r.status_code == 200
        assert c.get("/api/me").json()["username"] == "cm"
        body = {"person_id": world.panel[0], "channel": "phone", "outcome": "reached"}
        assert c.post("/api/outreach", json=body).status_code == 401


def test_openapi_documents_every_resource(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    tags = {t for op in spec["paths"].values() for x in op.values() for t in x.get("tags", [])}
    assert {
        "worklist",
        "patients",
        "tasks",
        "outreach",
        "referrals",
        "programmes",
        "goals",
        "users",
        "measures",
        "fhir",
    } <= tags
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("description") or op.get("summary"), f"{method} {path}"
    assert not any(p.startswith("/patients") for p in spec["paths"])  # pages are not API


def test_sign_ins_are_throttled_per_name_and_client(world: World) -> None:
    """Five failures of one name from one client: the sixth try is refused (429 with
    Retry-After) even with the right password, on every way in; other names are not."""
    with TestClient(create_app(world.root)) as c:
        for _ in range(5):
            r = c.post("/api/token", data={"username": "pm", "password": "guess"})
            assert r.status_code == 401
        r = c.post("/api/token", data={"username": "pm", "password": "pm-demo-pass"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 800
        assert "too many failed sign-ins" in r.json()["detail"]
        assert c.get("/api/me", auth=("pm", "pm-demo-pass")).status_code == 429
        login = {"username": "pm", "password": "pm-demo-pass", "csrf": form_token(c)}
        page = c.post("/login", data=login)
        assert page.status_code == 429 and "too many failed sign-ins" in page.text
        # Another user from the same client signs in, and a success clears that user's count.
        assert c.get("/api/me", auth=("cm", "wrong")).status_code == 401
        assert c.get("/api/me", auth=("cm", "cm-demo-pass")).status_code == 200
