"""Programmes (education, engagement), enrolments, and outreach attempts."""

from __future__ import annotations

import datetime as dt

from popweave.care import _guard
from popweave.care.models import CHANNELS, OUTCOMES, Enrolment, OutreachAttempt, Programme, Task
from popweave.care.store import CareStore
from popweave.care.views import EnrolmentView, OutreachView
from popweave.security.policy import Actor, Operation


def add_programme(
    store: CareStore, *, actor: Actor, name: str, kind: str = "education", description: str = ""
) -> int:
    """Create a programme; returns its id."""
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.MANAGE_PROGRAMMES, reason="programmes")
        p = Programme(name=name, kind=kind, description=description)
        s.add(p)
        s.flush()
        return p.id


def enrol(
    store: CareStore,
    *,
    actor: Actor,
    programme_id: int,
    person_id: str,
    start_date: dt.date,
    reason: str,
    end_date: dt.date | None = None,
) -> EnrolmentView:
    """Enrol ``person_id`` in a programme from ``start_date``."""
    if end_date is not None and end_date < start_date:
        raise ValueError(f"enrolment ends ({end_date}) before it starts ({start_date})")
    with store.begin() as s:
        _guard.authorise(s, actor, Operation.ENROL, person_id, reason=reason)
        if s.get(Programme, programme_id) is None:
            raise _guard.NotFound(f"no programme with id {programme_id}")
        e = Enrolment(
            programme_id=programme_id,
            person_id=person_id,
            start_date=start_date,
            end_date=end_date,
            enrolled_by=actor.username,
        )
        _guard.add_audited(
            s,
            actor,
            e,
            op="enrol",
            entity="enrolment",
            person_id=person_id,
            reason=reason,
        )
        return EnrolmentView.of(e)


def record_outreach(
    store: CareStore,
    *,
    actor: Actor,
    person_id: str,
    channel: str,
    outcome: str,
    reason: str,
    task_id: int | None = None,
    note: str = "",
    at: dt.datetime | None = None,
) -> OutreachView:
    """Record one attempt to reach ``person_id`` (channel and outcome)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; known: {', '.join(OUTCOMES)}")
    with store.begin() as s:
        _guard.authorise(s, actor, Operation.RECORD_OUTREACH, person_id, reason=reason)
        if task_id is not None:
            t = s.get(Task, task_id)
            if t is None or t.person_id != person_id:
                raise _guard.NotFound(f"no task {task_id} for patient {person_id}")
        o = OutreachAttempt(
            person_id=person_id,
            task_id=task_id,
            channel=channel,
            outcome=outcome,
            user_id=actor.user_id,
            username=actor.username,
            note=note,
        )
        if at is not None:
            o.attempted_at = at
        _guard.add_audited(
            s,
            actor,
            o,
            op="record_outreach",
            entity="outreach_attempt",
            person_id=person_id,
            reason=reason,
            detail=f"{channel}:{outcome}",
        )
        return OutreachView.of(o)
