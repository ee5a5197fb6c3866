"""Users: add, list, authenticate. Functions take an open session; the caller commits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from popweave.errors import PopweaveError
from popweave.security import audit
from popweave.security.models import Role, User
from popweave.security.passwords import hash_password, needs_rehash, verify_password
from popweave.security.policy import AccessDenied, Actor, Operation, require

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


class UserError(PopweaveError):
    """A user cannot be added as asked (name taken, bad name, weak password, bad role)."""


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    full_name: str
    role: Role
    active: bool

    @classmethod
    def of(cls, u: User) -> UserView:
        return cls(u.id, u.username, u.full_name, Role(u.role), u.active)

    def actor(self) -> Actor:
        """The actor for service calls made by this user."""
        return Actor(self.id, self.username, self.role)


def parse_role(role: str) -> Role:
    try:
        return Role(role.replace("-", "_").lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise UserError(f"unknown role {role!r}; known: {known}") from None


def add_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    role: Role | str,
    password: str,
    full_name: str = "",
) -> UserView:
    """Add a user (admins only); the password is stored as an argon2id hash."""
    require(actor, Operation.MANAGE_USERS)
    r = role if isinstance(role, Role) else parse_role(role)
    if not USERNAME.match(username):
        raise UserError(
            f"user name {username!r}: use 2-80 lower-case letters, digits, '.', '_' or '-'"
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"a user named {username!r} already exists")
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    u = User(username=username, full_name=full_name, role=r.value, password_hash=hashed)
    session.add(u)
    session.flush()
    audit.record(
        session,
        actor,
        action="create",
        operation="add_user",
        entity="user",
        entity_id=u.id,
        reason="user administration",
        detail=f"role={r.value}",
    )
    return UserView.of(u)


def list_users(session: Session, *, actor: Actor) -> list[UserView]:
    """All users, by name (admins only)."""
    require(actor, Operation.MANAGE_USERS)
    return [UserView.of(u) for u in session.scalars(select(User).order_by(User.username))]


def get_user(session: Session, username: str) -> UserView | None:
    """The user called ``username``, if any."""
    u = session.scalar(select(User).where(User.username == username))
    return None if u is None else UserView.of(u)


def authenticate(session: Session, *, username: str, password: str) -> Actor:
    """The actor for ``username`` if ``password`` is right; :class:`AccessDenied` if not
    (the same message whether the name or the password was wrong)."""
    u = session.scalar(select(User).where(User.username == username))
    if u is None or not u.active or not verify_password(u.password_hash, password):
        raise AccessDenied("unknown user or wrong password")
    if needs_rehash(u.password_hash):
        u.password_hash = hash_password(password)
    return Actor(u.id, u.username, Role(u.role))
