"""Users: argon2id password hashes, authentication, who may add users; analyst aggregates."""

from __future__ import annotations

import datetime as dt

import pytest

from popweave.care import aggregates, plans, tasks
from popweave.care.store import CareStore
from popweave.security.passwords import hash_password, verify_password
from popweave.security.policy import AccessDenied
from popweave.security.users import UserError, add_user, authenticate, list_users
from tests.care.world import OPERATOR, WHY, make_world


def test_passwords_are_salted_argon2id_hashes() -> None:
    a, b = hash_password("a long passphrase"), hash_password("a long passphrase")
    assert a.startswith("$argon2id$") and a != b
    assert verify_password(a, "a long passphrase")
    assert not verify_password(a, "a long passphrasE")
    assert not verify_password("not a hash", "a long passphrase")
    with pytest.raises(ValueError, match="at least 10"):
        hash_password("short")


def test_add_list_and_authenticate(care_store: CareStore) -> None:
    with care_store.begin() as s:
        u = add_user(
            s,
            actor=OPERATOR,
            username="ana",
            role="care-manager",
            password="s3cret pass!",
            full_name="Ana Ruiz",
        )
    with care_store.begin() as s:
        assert [x.username for x in list_users(s, actor=OPERATOR)] == ["ana"]
        actor = authenticate(s, username="ana", password="s3cret pass!")
        assert (actor.user_id, actor.role) == (u.id, "care_manager")
        for name, pw in (("ana", "wrong password"), ("bob", "s3cret pass!")):
            with pytest.raises(AccessDenied, match="unknown user or wrong password"):
                authenticate(s, username=name, password=pw)
    with care_store.begin() as s:
        for kw, msg in (
            ({"username": "ana"}, "already exists"),
            ({"username": "Bad Name"}, "user name"),
            ({"username": "bob", "password": "short"}, "at least 10"),
            ({"username": "bob", "role": "superuser"}, "unknown role"),
        ):
            args = {"username": "x1", "role": "analyst", "password": "long enough pw", **kw}
            with pytest.raises(UserError, match=msg):
                add_user(s, actor=OPERATOR, **args)


def test_only_admins_manage_users(care_store: CareStore) -> None:
    w = make_world(care_store)
    with care_store.begin() as s:
        for actor in (w.pm, w.cm, w.chw, w.analyst):
            with pytest.raises(AccessDenied):
                add_user(s, actor=actor, username="z1", role="admin", password="long enough pw")
            with pytest.raises(AccessDenied):
                list_users(s, actor=actor)


def test_analysts_get_suppressed_aggregates_only(care_store: CareStore) -> None:
    w = make_world(care_store)
    for i in range(14):
        tasks.create_task(
            care_store,
            actor=OPERATOR,
            person_id=f"P{i}",
            task_type="call",
            due_date=dt.date(2025, 1, 1),
            reason=WHY,
        )
    for i in range(3):
        tasks.create_task(
            care_store,
            actor=OPERATOR,
            person_id=f"Q{i}",
            task_type="home_visit",
            due_date=dt.date(2025, 1, 1),
            reason=WHY,
        )
    cells = aggregates.task_counts(care_store, actor=w.analyst)
    assert [(c.group, c.count) for c in cells] == [
        (("call", "open"), 14),
        (("home_visit", "open"), None),
    ]
    assert not any("P" in "".join(c.group) for c in cells)
    with pytest.raises(AccessDenied):
        plans.patient_record(care_store, actor=w.analyst, person_id="P1", reason=WHY)


def test_complementary_suppression() -> None:
    rows = [(("a", "open"), 30), (("a", "done"), 5), (("a", "late"), 12), (("b", "open"), 40)]
    got = [(c.group, c.count) for c in aggregates._suppress(rows, 11)]
    assert got == [
        (("a", "open"), 30),
        (("a", "done"), None),
        (("a", "late"), None),
        (("b", "open"), 40),
    ]
