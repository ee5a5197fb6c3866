"""Users and the audit log (admins), measures (aggregates), FHIR R4-shaped exports
(checked against the fhir.resources R4B models)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.measurereport import MeasureReport
from fhir.resources.R4B.task import Task

from tests.api.world import World


def test_users(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    names = [u["username"] for u in client.get("/api/users", headers=h["admin"]).json()]
    assert {"admin", "pm", "cm", "chw", "analyst"} <= set(names)
    assert client.get("/api/users", headers=h["cm"]).status_code == 403
    body = {"username": "dana", "role": "care_manager", "password": "a-long-password"}
    r = client.post("/api/users", headers=h["admin"], json=body)
    assert r.status_code == 201 and r.json()["role"] == "care_manager"
    r = client.post("/api/users", headers=h["admin"], json=body)
    assert r.status_code == 422 and "already exists" in r.json()["detail"]
    r = client.post("/api/users", headers=h["admin"], json={**body, "password": "short"})
    assert r.status_code == 422 and "password" in r.json()["detail"]
    r = client.post("/api/users", headers=h["admin"], json={**body, "role": "king"})
    assert r.status_code == 422 and "role" in r.json()["detail"]
    assert client.post("/api/users", headers=h["pm"], json=body).status_code == 403


def test_audit_log_is_for_admins(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    assert client.get("/api/audit", headers=h["admin"]).json()
    assert client.get("/api/audit", headers=h["cm"]).status_code == 403
    r = client.get("/api/audit", headers=h["admin"], params={"limit": 0})
    assert r.status_code == 422


def test_measures_with_intervals(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    rows = client.get("/api/measures", headers=h["analyst"]).json()
    hba1c = next(r for r in rows if r["measure"] == "hba1c_control")
    assert hba1c["lower"] < hba1c["rate"] < hba1c["upper"] and hba1c["period"] == "2025"
    by_sex = client.get("/api/measures", headers=h["pm"], params={"stratifier": "sex"}).json()
    assert {r["stratum"] for r in by_sex} >= {"female", "male"}
    by_area = client.get("/api/measures", headers=h["pm"], params={"stratifier": "area"}).json()
    for r in by_area:
        assert r["suppressed"] == (r["rate"] is None and r["denominator"] is None)
    assert client.get("/api/measures", headers=h["cm"]).status_code == 403
    assert client.get("/api/measures", headers=h["pm"], params={"period": "1900"}).json() == []


def test_fhir_measure_report(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    r = client.get(
        "/api/fhir/MeasureReport", headers=h["analyst"], params={"measure": "hba1c_control"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    b = Bundle.model_validate(r.json())
    mr = MeasureReport.model_validate(r.json()["entry"][0]["resource"])
    assert b.total == 1 and mr.type == "summary" and mr.group[0].stratifier
    assert client.get("/api/fhir/MeasureReport", headers=h["cm"]).status_code == 403


def test_fhir_group(client: TestClient, h: dict[str, dict[str, str]], world: World) -> None:
    r = client.get("/api/fhir/Group/diabetes_uncontrolled", headers=h["admin"])
    g = Group.model_validate(r.json())
    assert g.quantity == len(g.member) > 0
    mine = client.get("/api/fhir/Group/diabetes_uncontrolled", headers=h["cm"]).json()
    refs = {m["entity"]["reference"] for m in mine["member"]}
    assert refs <= {f"Patient/{p}" for p in world.panel}
    assert (
        client.get("/api/fhir/Group/diabetes_uncontrolled", headers=h["analyst"]).status_code == 403
    )
    r = client.get("/api/fhir/Group/no_such_cohort", headers=h["admin"])
    assert r.status_code == 404 and "has not been built" in r.json()["detail"]


def test_fhir_care_plan_and_task(
    client: TestClient, h: dict[str, dict[str, str]], world: World, outsider: str
) -> None:
    pid = world.panel[0]
    r = client.get("/api/fhir/CarePlan", headers=h["cm"], params={"patient": pid})
    plans = [CarePlan.model_validate(e["resource"]) for e in r.json()["entry"]]
    assert plans and plans[0].contained and plans[0].subject.reference == f"Patient/{pid}"
    r = client.get("/api/fhir/Task", headers=h["cm"], params={"patient": pid})
    tasks = [Task.model_validate(e["resource"]) for e in r.json()["entry"]]
    assert tasks and all(t.for_fhir.reference == f"Patient/{pid}" for t in tasks)
    assert (
        client.get("/api/fhir/CarePlan", headers=h["cm"], params={"patient": outsider}).status_code
        == 403
    )
    r = client.get("/api/fhir/CarePlan", headers=h["cm"])
    assert r.status_code == 422 and "patient" in r.json()["detail"]
