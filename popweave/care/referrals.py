"""Community organisations and closed-loop referrals to them.

A referral is ``sent``, then ``accepted`` or ``declined`` (or ``expired`` if nobody
answers), and an accepted one ends ``delivered``, ``declined`` or ``expired``. Every step
has its date; any other step is refused with :class:`InvalidTransition`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from popweave.care import _guard
from popweave.care._guard import ConflictError
from popweave.care.models import CommunityOrg, OrgArea, OrgService, Referral, ReferralStatus
from popweave.care.store import CareStore
from popweave.care.views import ReferralView
from popweave.errors import PopweaveError
from popweave.security.policy import Actor, Operation

S = ReferralStatus
#: status -> the statuses it may move to.
NEXT: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    S.SENT: (S.ACCEPTED, S.DECLINED, S.EXPIRED),
    S.ACCEPTED: (S.DELIVERED, S.DECLINED, S.EXPIRED),
    S.DELIVERED: (),
    S.DECLINED: (),
    S.EXPIRED: (),
}
OPEN = (S.SENT, S.ACCEPTED)


class InvalidTransition(PopweaveError):
    """A referral cannot move from its status to the one asked for."""


@dataclass(frozen=True)
class OrgView:
    id: int
    name: str
    capacity: int
    services: tuple[str, ...]
    areas: tuple[str, ...]
    open_referrals: int

    @property
    def available(self) -> int:
        return max(self.capacity - self.open_referrals, 0)


def add_community_org(
    store: CareStore,
    *,
    actor: Actor,
    name: str,
    services: list[str],
    areas: list[str],
    capacity: int,
    contact: str = "",
) -> int:
    """Register a community organisation with its services, areas served and capacity."""
    if capacity < 0:
        raise ValueError("capacity must not be negative")
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.MANAGE_PROGRAMMES, reason="directory")
        org = CommunityOrg(
            name=name,
            capacity=capacity,
            contact=contact,
            services=[OrgService(service=x) for x in sorted(set(services))],
            areas=[OrgArea(area_id=x) for x in sorted(set(areas))],
        )
        s.add(org)
        s.flush()
        return org.id


def find_organisations(
    store: CareStore, *, service: str | None = None, area_id: str | None = None
) -> list[OrgView]:
    """Organisations offering ``service`` in ``area_id``, most free capacity first (no
    patient data: open referrals are only counted)."""
    with store.begin() as s:
        q = select(CommunityOrg).order_by(CommunityOrg.name)
        if service is not None:
            q = q.where(CommunityOrg.services.any(OrgService.service == service))
        if area_id is not None:
            q = q.where(CommunityOrg.areas.any(OrgArea.area_id == area_id))
        orgs = list(s.scalars(q))
        counts: dict[int, int] = {
            org_id: n
            for org_id, n in s.execute(
                select(Referral.org_id, func.count())
                .where(Referral.status.in_([x.value for x in OPEN]))
                .group_by(Referral.org_id)
            )
        }
        out = [
            OrgView(
                o.id,
                o.name,
                o.capacity,
                tuple(x.service for x in o.services),
                tuple(x.area_id for x in o.areas),
                counts.get(o.id, 0),
            )
            for o in orgs
        ]
        return sorted(out, key=lambda o: (-o.available, o.name))


def refer(
    store: CareStore,
    *,
    actor: Actor,
    person_id: str,
    org_id: int,
    service: str,
    reason: str,
    sent_on: dt.date | None = None,
    sensitive: str | None = None,
) -> ReferralView:
    """Send a referral for ``person_id`` to an organisation that offers ``service``."""
    _guard.check_sensitive(sensitive)
    with store.begin() as s:
        _guard.authorise(s, actor, Operation.REFER, person_id, reason=reason)
        org = s.get(CommunityOrg, org_id)
        if org is None:
            raise _guard.NotFound(f"no community organisation with id {org_id}")
        offered = {x.service for x in org.services}
        if service not in offered:
            raise InvalidTransition(
                f"{org.name} does not offer {service!r}; it offers {', '.join(sorted(offered))}"
            )
        r = Referral(
            person_id=person_id,
            org_id=org_id,
            service=service,
            status=S.SENT.value,
            sent_on=sent_on or dt.date.today(),
            referred_by=actor.username,
            sensitive=sensitive,
        )
        _guard.add_audited(
            s,
            actor,
            r,
            op="refer",
            entity="referral",
            person_id=person_id,
            reason=reason,
            detail=f"org={org_id} service={service}",
        )
        return ReferralView.of(r)


def advance_referral(
    store: CareStore,
    *,
    actor: Actor,
    referral_id: int,
    status: ReferralStatus | str,
    reason: str,
    on: dt.date | None = None,
    note: str = "",
    version: int | None = None,
) -> ReferralView:
    """Move a referral to ``status`` on ``on`` (default today); invalid steps are refused."""
    new = S(status)
    day = on or dt.date.today()
    with store.begin() as s:
        r = s.get(Referral, referral_id)
        if r is None:
            raise _guard.NotFound(f"no referral with id {referral_id}")
        _guard.authorise(s, actor, Operation.REFER, r.person_id, reason=reason)
        if version is not None and version != r.version:
            raise ConflictError(
                f"referral {referral_id} was changed by someone else (version {r.version}, "
                f"you read {version}); reload it"
            )
        old = S(r.status)
        if new not in NEXT[old]:
            allowed = ", ".join(x.value for x in NEXT[old]) or "nothing (it is closed)"
            raise InvalidTransition(
                f"referral {referral_id} is {old.value}; it can move to {allowed}, not {new.value}"
            )
        if day < r.sent_on or (r.accepted_on is not None and day < r.accepted_on):
            raise InvalidTransition(
                f"referral {referral_id}: {new.value} on {day} is before its previous step"
            )
        r.status = new.value
        if new is S.ACCEPTED:
            r.accepted_on = day
        else:
            r.closed_on = day
        if note:
            r.outcome_note = note
        _guard.flush_or_conflict(s, f"referral {referral_id}")
        _guard.audited(
            s,
            actor,
            action="update",
            op="advance_referral",
            entity="referral",
            rows=[(r.person_id, r.id)],
            reason=reason,
            detail=f"{old.value}->{new.value}",
        )
        return ReferralView.of(r)


def expire_referrals(
    store: CareStore, *, actor: Actor, today: dt.date, after_days: int = 30, reason: str
) -> int:
    """Close as ``expired`` the open referrals sent more than ``after_days`` before
    ``today``; returns how many."""
    cutoff = today - dt.timedelta(days=after_days)
    with store.begin() as s:
        _guard.require_op(s, actor, Operation.MANAGE_PROGRAMMES, reason=reason)
        stale = list(
            s.scalars(
                select(Referral).where(
                    Referral.status.in_([x.value for x in OPEN]), Referral.sent_on < cutoff
                )
            )
        )
        for r in stale:
            old = r.status
            r.status, r.closed_on = S.EXPIRED.value, today
            _guard.audited(
                s,
                actor,
                action="update",
                op="expire_referrals",
                entity="referral",
                rows=[(r.person_id, r.id)],
                reason=reason,
                detail=f"{old}->expired",
            )
        return len(stale)
