"""A small care world: one user per role, panels, and helpers shared by the care tests."""

from __future__ import annotations

from dataclasses import dataclass

from popweave.care import team
from popweave.care.store import CareStore
from popweave.security.models import Role, TeamRole, User
from popweave.security.passwords import hash_password
from popweave.security.policy import Actor

HASH = hash_password("correct horse battery")
OPERATOR = Actor.operator("test-operator")
WHY = "care coordination test"


@dataclass(frozen=True)
class World:
    admin: Actor
    pm: Actor
    cm: Actor
    chw: Actor
    analyst: Actor
    other_cm: Actor

    def by_role(self) -> dict[Role, Actor]:
        return {
            Role.ADMIN: self.admin,
            Role.PROGRAMME_MANAGER: self.pm,
            Role.CARE_MANAGER: self.cm,
            Role.COMMUNITY_HEALTH_WORKER: self.chw,
            Role.ANALYST: self.analyst,
        }


def make_world(store: CareStore, panel: tuple[str, ...] = ("P1",)) -> World:
    """Users ``admin, pm, cm, chw, analyst, cm2``; ``panel`` patients on the care team of
    ``cm`` (care manager) and ``chw`` (community health worker)."""
    names = [
        ("admin", Role.ADMIN),
        ("pm", Role.PROGRAMME_MANAGER),
        ("cm", Role.CARE_MANAGER),
        ("chw", Role.COMMUNITY_HEALTH_WORKER),
        ("analyst", Role.ANALYST),
        ("cm2", Role.CARE_MANAGER),
    ]
    actors = []
    with store.begin() as s:
        for name, role in names:
            u = User(username=name, role=role.value, password_hash=HASH)
            s.add(u)
            s.flush()
            actors.append(Actor(u.id, name, role))
    w = World(*actors)
    for pid in panel:
        for who, role in ((w.cm, TeamRole.CARE_MANAGER), (w.chw, TeamRole.COMMUNITY_HEALTH_WORKER)):
            assert who.user_id is not None
            team.assign_panel(
                store,
                actor=OPERATOR,
                user_id=who.user_id,
                person_id=pid,
                team_role=role,
                reason=WHY,
            )
    return w
