"""GET /api/patients/{id}: the record, risk and its reasons, gaps and timeline for those
who may read it; 403 (audited) off the panel and for analysts; 404 for nobody."""

from __future__ import annotations

from fastapi.testclient import TestClient

from popweave.api.services.patients import code_category
from tests.api.conftest import audit
from tests.api.world import World


def test_care_manager_reads_a_panel_patient(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    pid = world.panel[0]
    r = client.get(f"/api/patients/{pid}", headers=h["cm"])
    assert r.status_code == 200
    body = r.json()
    assert body["person"]["person_id"] == pid
    assert body["risk"]["tier"] in ("high", "rising", "moderate", "low")
    assert body["risk_factors"] and all(f["detail"] for f in body["risk_factors"])
    assert body["tasks"] and body["care_plans"][0]["goals"]
    kinds = {i["kind"] for i in body["timeline"]}
    assert "encounter" in kinds
    ats = [i["at"] for i in body["timeline"]]
    assert ats == sorted(ats, reverse=True)
    ev = audit(client, h, person_id=pid)
    assert any(e["operation"] == "patient_record" and e["username"] == "cm" for e in ev)


def test_off_panel_patient_is_403_and_audited(
    client: TestClient, h: dict[str, dict[str, str]], outsider: str
) -> None:
    r = client.get(f"/api/patients/{outsider}", headers=h["cm"])
    assert r.status_code == 403
    assert "only for patients on their panel" in r.json()["detail"]
    ev = audit(client, h, person_id=outsider)
    assert any(e["action"] == "denied" and e["username"] == "cm" for e in ev)


def test_analyst_never_reads_a_patient(
    client: TestClient, h: dict[str, dict[str, str]], world: World
) -> None:
    r = client.get(f"/api/patients/{world.panel[0]}", headers=h["analyst"])
    assert r.status_code == 403


def test_unknown_patient_is_404(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    r = client.get("/api/patients/NOBODY", headers=h["admin"])
    assert r.status_code == 404 and "no patient NOBODY" in r.json()["detail"]


def test_sensitive_diagnoses_need_consent() -> None:
    assert code_category("ICD10CM", "F32.A") == "mental_health"
    assert code_category("ICD10CM", "F11.20") == "substance_use"
    assert code_category("ICD10CM", "B20") == "hiv"
    assert code_category("ICD10CM", "E11.9") is None
