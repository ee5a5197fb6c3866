"""The pages in a real browser: a care manager works the worklist (log a call, complete a
task, see it close and the audit entry appear), a conflict is explained, an analyst gets
no patient-level page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from popweave.care import tasks, team
from popweave.care.store import open_store
from popweave.security.policy import Actor
from popweave.workspace import Workspace
from tests.api.world import World

AUDITOR = Actor.operator("cli:test-auditor")


def _login(browser: Any, server: str, name: str) -> Any:
    page = browser.new_page()
    page.goto(f"{server}/login")
    user, password = World.login(name)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _shot(page: Any, shots: list[Path], tmp_path: Path, name: str) -> None:
    p = tmp_path / f"{name}.png"
    page.screenshot(path=str(p), full_page=True)
    shots.append(p)


def _audit(world: World, person_id: str) -> list[team.AuditView]:
    with open_store(Workspace.open(world.root)) as store:
        return team.audit_log(store, actor=AUDITOR, reason="test check", person_id=person_id)


def test_care_manager_logs_a_call_and_completes_a_task(
    browser: Any, server: str, world: World, shots: list[Path], tmp_path: Path
) -> None:
    page = _login(browser, server, "cm")
    assert page.url.endswith("/worklist")
    rows = page.locator("#worklist tbody tr")
    assert rows.count() == len(world.panel)
    assert "risk" in page.locator("#worklist tbody tr").first.inner_text()
    _shot(page, shots, tmp_path, "worklist")

    # Sort by patient id (a column header).
    page.click("#worklist th >> text=Patient")
    page.wait_for_url("**sort=person_id**")
    ids = page.locator("#worklist a.patient").all_inner_texts()
    assert ids == sorted(ids, reverse=True) or ids == sorted(ids)

    pid = world.panel[0]
    page.goto(f"{server}/worklist")
    page.click(f"a.patient >> text={pid}")
    page.wait_for_url(f"**/patients/{pid}")
    assert page.locator("h1").inner_text() == f"Patient {pid}"
    assert page.locator("text=Open care gaps").count() == 1

    # Log a call.
    page.select_option("#log-call select[name=channel]", "phone")
    page.select_option("#log-call select[name=outcome]", "reached")
    page.fill("#log-call input[name=note]", "talked about the discharge")
    page.click("#log-call button[type=submit]")
    page.wait_for_selector("[data-testid=flash]")
    assert "Logged: phone, reached." in page.locator("[data-testid=flash]").inner_text()
    assert "phone: reached (by cm)" in page.locator("#timeline").inner_text()

    # Complete the first open task and see it close.
    row = page.locator("#tasks tbody tr.open").first
    task_id = row.get_attribute("data-task")
    row.locator("button").click()
    page.wait_for_selector(f"#tasks tr[data-task='{task_id}'].done")
    assert "is now done" in page.locator("[data-testid=flash]").inner_text()
    assert page.locator(f"#tasks tr[data-task='{task_id}'] td.status").inner_text() == "done"
    _shot(page, shots, tmp_path, "patient-after-actions")

    events = _audit(world, pid)
    mine = {(e.operation, e.entity_id) for e in events if e.username == "cm"}
    assert ("update_task", task_id) in mine
    assert any(op == "record_outreach" for op, _ in mine)
    assert any(op == "patient_record" for op, _ in mine)
    page.close()


def test_a_conflicting_change_is_explained(
    browser: Any, server: str, world: World, shots: list[Path], tmp_path: Path
) -> None:
    pid = world.panel[1]
    page = _login(browser, server, "cm")
    page.goto(f"{server}/patients/{pid}")
    row = page.locator("#tasks tbody tr.open").first
    task_id = int(row.get_attribute("data-task") or 0)
    # Someone else changes the task after the page was loaded.
    with open_store(Workspace.open(world.root)) as store:
        t = tasks.get_task(store, actor=AUDITOR, task_id=task_id, reason="test")
        tasks.update_task(
            store, actor=AUDITOR, task_id=task_id, version=t.version, reason="test", notes="x"
        )
    row.locator("button").click()
    page.wait_for_selector("[data-testid=error]")
    text = page.locator("[data-testid=error]").inner_text()
    assert "changed by someone else" in text and "reload it" in text
    assert page.locator(f"#tasks tr[data-task='{task_id}'] td.status").inner_text() == "open"
    _shot(page, shots, tmp_path, "conflict")
    page.close()


def test_goal_referral_and_enrolment_forms(browser: Any, server: str, world: World) -> None:
    pid = world.panel[0]
    page = _login(browser, server, "cm")
    page.goto(f"{server}/patients/{pid}")
    goal = page.locator("ul.goals li").first
    goal.locator("select[name=status]").select_option("achieved")
    goal.locator("button").click()
    page.wait_for_selector("[data-testid=flash]")
    assert "Goal updated" in page.locator("[data-testid=flash]").inner_text()
    assert "achieved" in page.locator("ul.goals li").first.inner_text()
    page.click("#refer button[type=submit]")
    page.wait_for_selector("text=Referral sent")
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("text=Enrolled from")
    page.close()


def test_analyst_gets_no_patient_page(
    browser: Any, server: str, world: World, shots: list[Path], tmp_path: Path
) -> None:
    page = _login(browser, server, "analyst")
    assert page.url.endswith("/dashboard")
    assert page.locator("#measures tbody tr").count() > 3
    assert page.locator("nav >> text=Worklist").count() == 0
    page.wait_for_selector(".figure .plotly-graph-div")  # the report's figures, drawn offline
    _shot(page, shots, tmp_path, "dashboard")
    resp = page.goto(f"{server}/patients/{world.panel[0]}")
    assert resp is not None and resp.status == 403
    assert "Not allowed" in page.locator("h1").inner_text()
    _shot(page, shots, tmp_path, "analyst-403")
    resp = page.goto(f"{server}/worklist")
    assert resp is not None and resp.status == 403
    page.close()
    assert any(
        e.action == "denied" and e.username == "analyst" for e in _audit(world, world.panel[0])
    )


def test_admin_pages(browser: Any, server: str) -> None:
    page = _login(browser, server, "admin")
    page.goto(f"{server}/admin/users")
    page.fill("input[name=username]", "newbie")
    page.fill("input[name=password]", "a-long-password")
    page.select_option("select[name=role]", "community_health_worker")
    page.click("#admin button[type=submit]")
    page.wait_for_selector("text=Added newbie")
    assert "newbie" in page.locator("#users").inner_text()
    page.goto(f"{server}/organisations")
    assert "Eastside Food Bank" in page.locator("#orgs").inner_text()
    page.close()
    cm = _login(browser, server, "cm")
    resp = cm.goto(f"{server}/admin/users")
    assert resp is not None and resp.status == 403
    cm.close()
