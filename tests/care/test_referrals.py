"""Closed-loop referrals, community organisations, programmes, enrolments, outreach, plans."""

from __future__ import annotations

import datetime as dt

import pytest

from popweave.care import engagement, plans, referrals
from popweave.care.referrals import InvalidTransition
from popweave.care.store import CareStore
from tests.care.world import OPERATOR, WHY, make_world

D = dt.date


def _org(store: CareStore, name: str = "food bank", capacity: int = 2) -> int:
    return referrals.add_community_org(
        store,
        actor=OPERATOR,
        name=name,
        services=["food", "transport"],
        areas=["A1", "A2"],
        capacity=capacity,
    )


def test_the_loop_sent_accepted_delivered_with_dates(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    org = _org(care_store)
    r = referrals.refer(
        care_store,
        actor=w.chw,
        person_id="P1",
        org_id=org,
        service="food",
        sent_on=D(2025, 2, 3),
        reason=WHY,
    )
    assert (r.status, r.sent_on, r.accepted_on, r.closed_on) == ("sent", D(2025, 2, 3), None, None)
    r = referrals.advance_referral(
        care_store, actor=w.chw, referral_id=r.id, status="accepted", on=D(2025, 2, 4), reason=WHY
    )
    r = referrals.advance_referral(
        care_store, actor=w.cm, referral_id=r.id, status="delivered", on=D(2025, 2, 10), reason=WHY
    )
    assert (r.status, r.accepted_on, r.closed_on) == ("delivered", D(2025, 2, 4), D(2025, 2, 10))


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], "delivered"),  # sent -> delivered skips acceptance
        (["declined"], "accepted"),  # closed
        (["accepted", "delivered"], "expired"),
        (["expired"], "sent"),
    ],
)
def test_invalid_transitions_are_refused(care_store: CareStore, path: list[str], bad: str) -> None:
    w = make_world(care_store, panel=("P1",))
    r = referrals.refer(
        care_store,
        actor=w.cm,
        person_id="P1",
        org_id=_org(care_store),
        service="food",
        sent_on=D(2025, 1, 1),
        reason=WHY,
    )
    for step in path:
        r = referrals.advance_referral(
            care_store, actor=w.cm, referral_id=r.id, status=step, on=D(2025, 1, 2), reason=WHY
        )
    with pytest.raises(InvalidTransition, match=f"is {r.status}.*not {bad}"):
        referrals.advance_referral(
            care_store, actor=w.cm, referral_id=r.id, status=bad, on=D(2025, 1, 3), reason=WHY
        )


def test_steps_cannot_go_back_in_time_and_services_must_be_offered(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    org = _org(care_store)
    r = referrals.refer(
        care_store,
        actor=w.cm,
        person_id="P1",
        org_id=org,
        service="food",
        sent_on=D(2025, 3, 1),
        reason=WHY,
    )
    with pytest.raises(InvalidTransition, match="before its previous step"):
        referrals.advance_referral(
            care_store,
            actor=w.cm,
            referral_id=r.id,
            status="accepted",
            on=D(2025, 2, 1),
            reason=WHY,
        )
    with pytest.raises(InvalidTransition, match="does not offer 'housing'"):
        referrals.refer(
            care_store, actor=w.cm, person_id="P1", org_id=org, service="housing", reason=WHY
        )


def test_open_referrals_expire_and_capacity_is_counted(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    small, big = _org(care_store, "small", 2), _org(care_store, "big", 5)
    old = referrals.refer(
        care_store,
        actor=w.cm,
        person_id="P1",
        org_id=small,
        service="food",
        sent_on=D(2025, 1, 1),
        reason=WHY,
    )
    referrals.refer(
        care_store,
        actor=w.cm,
        person_id="P1",
        org_id=small,
        service="food",
        sent_on=D(2025, 3, 1),
        reason=WHY,
    )
    orgs = referrals.find_organisations(care_store, service="food", area_id="A1")
    assert [(o.name, o.available) for o in orgs] == [("big", 5), ("small", 0)]
    assert referrals.find_organisations(care_store, area_id="Z9") == []
    n = referrals.expire_referrals(care_store, actor=w.pm, today=D(2025, 3, 15), reason=WHY)
    assert n == 1
    rec = plans.patient_record(care_store, actor=w.cm, person_id="P1", reason=WHY)
    assert {r.id: r.status for r in rec.referrals}[old.id] == "expired"
    del big


def test_plans_programmes_and_outreach_make_one_record(care_store: CareStore) -> None:
    w = make_world(care_store, panel=("P1",))
    plan = plans.create_care_plan(care_store, actor=w.cm, person_id="P1", title="CHF", reason=WHY)
    prob = plans.add_problem(
        care_store,
        actor=w.cm,
        care_plan_id=plan,
        description="heart failure",
        code_system="ICD10CM",
        code="I50.9",
        reason=WHY,
    )
    goal = plans.add_goal(
        care_store,
        actor=w.cm,
        care_plan_id=plan,
        problem_id=prob,
        description="weight daily",
        target="no gain over 2 kg in a week",
        due_date=D(2025, 9, 1),
        reason=WHY,
    )
    plans.add_intervention(
        care_store,
        actor=w.cm,
        care_plan_id=plan,
        goal_id=goal,
        description="scale at home",
        responsible_role="community_health_worker",
        responsible_user_id=w.chw.user_id,
        reason=WHY,
    )
    prog = engagement.add_programme(care_store, actor=w.pm, name="heart class", kind="education")
    engagement.enrol(
        care_store,
        actor=w.cm,
        programme_id=prog,
        person_id="P1",
        start_date=D(2025, 4, 1),
        reason=WHY,
    )
    engagement.record_outreach(
        care_store, actor=w.chw, person_id="P1", channel="phone", outcome="no_answer", reason=WHY
    )
    rec = plans.patient_record(care_store, actor=w.chw, person_id="P1", reason=WHY)
    cp = rec.care_plans[0]
    assert (cp.title, cp.problems[0].code, cp.goals[0].target) == (
        "CHF",
        "I50.9",
        "no gain over 2 kg in a week",
    )
    assert cp.interventions[0].responsible_role == "community_health_worker"
    assert [e.programme_id for e in rec.enrolments] == [prog]
    assert [(o.channel, o.outcome) for o in rec.outreach] == [("phone", "no_answer")]
    with pytest.raises(ValueError, match="unknown channel"):
        engagement.record_outreach(
            care_store,
            actor=w.chw,
            person_id="P1",
            channel="pigeon",
            outcome="reached",
            reason=WHY,
        )
    with pytest.raises(ValueError, match="needs a target"):
        plans.add_goal(
            care_store,
            actor=w.cm,
            care_plan_id=plan,
            description="x",
            target=" ",
            due_date=D(2025, 9, 1),
            reason=WHY,
        )
