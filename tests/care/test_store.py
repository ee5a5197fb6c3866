"""The care store: migrations on SQLite and PostgreSQL, URLs, the workspace's care.sqlite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from popweave.care.models import Base
from popweave.care.store import CareStore, current, downgrade, head, resolve_url, upgrade
from popweave.errors import WorkspaceError
from popweave.workspace import Workspace


def test_migrations_create_every_table_at_head(care_store: CareStore) -> None:
    tables = set(inspect(care_store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert current(care_store.engine) == head()


def test_migrated_schema_matches_the_models(care_store: CareStore) -> None:
    """Autogenerate finds nothing to do: the shipped migration equals the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with care_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_again_is_a_no_op_and_downgrade_round_trips(care_store: CareStore) -> None:
    upgrade(care_store.engine)
    downgrade(care_store.engine, "base")
    left = set(inspect(care_store.engine).get_table_names()) - {"alembic_version"}
    assert left == set()
    upgrade(care_store.engine)
    assert current(care_store.engine) == head()


def test_relative_sqlite_url_is_taken_from_the_workspace(tmp_path: Path) -> None:
    assert resolve_url("sqlite:///care.sqlite", tmp_path) == f"sqlite:///{tmp_path}/care.sqlite"
    assert resolve_url("sqlite:////abs/c.sqlite", tmp_path) == "sqlite:////abs/c.sqlite"
    assert resolve_url("postgresql://u@h:5/db").startswith("postgresql+psycopg://u@h:5/db")


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(WorkspaceError, match="care-store URL"):
        resolve_url(url)


def test_full_init_creates_a_migrated_care_sqlite(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w", prepare=lambda staged: None)
    assert (ws.root / "care.sqlite").is_file()
    store = CareStore.open(ws.care_url, ws.root, migrate=False)
    try:
        assert current(store.engine) == head()
    finally:
        store.close()


def test_plain_init_leaves_the_care_store_for_later(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    assert not (ws.root / "care.sqlite").exists()
    Workspace.init(tmp_path / "v", care_store=True)
    assert (tmp_path / "v" / "care.sqlite").is_file()
