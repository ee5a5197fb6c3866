"""The care store: a SQLAlchemy engine and sessions on SQLite (default) or PostgreSQL,
migrated by the Alembic scripts shipped in :mod:`popweave.care.migrations`.

URLs: ``sqlite:///care.sqlite`` (relative to the workspace), ``sqlite:////abs/care.sqlite``,
``postgresql://user@host:port/db`` (driven by psycopg 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from popweave.errors import WorkspaceError
from popweave.security.audit import guard_append_only
from popweave.workspace import Workspace

MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_url(url: str, root: Path | None = None) -> str:
    """``url`` with a relative SQLite path taken from ``root`` and PostgreSQL on psycopg 3."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise WorkspaceError(
            f"unknown care-store URL {url!r}; use sqlite:///care.sqlite or "
            "postgresql://user@host/db"
        ) from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        db = u.database or ""
        if db and db != ":memory:" and not Path(db).is_absolute() and root is not None:
            u = u.set(database=str(root / db))
    elif backend == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
    else:
        raise WorkspaceError(
            f"unsupported care-store URL {url!r}: the care store runs on SQLite or PostgreSQL"
        )
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str, root: Path | None = None) -> Engine:
    """An engine on the care store at ``url``."""
    full = resolve_url(url, root)
    if full.startswith("sqlite"):
        eng = create_engine(full, connect_args={"timeout": 30})
        event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    return create_engine(full, pool_pre_ping=True)


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    """The newest migration revision shipped with popweave."""
    h = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://"))).get_current_head()
    assert h is not None
    return h


def current(engine: Engine) -> str | None:
    """The revision the care store is at (``None`` when it was never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the care store to ``revision`` (creating its tables the first time)."""
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the care store back to ``revision`` (``"base"``: no tables)."""
    command.downgrade(_alembic_config(engine), revision)


class CareStore:
    """An open care store: its engine and a session factory whose sessions keep the audit
    log append-only."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        guard_append_only(self.sessions)

    @classmethod
    def open(cls, url: str, root: Path | None = None, *, migrate: bool = True) -> CareStore:
        """Open the store at ``url``; with ``migrate`` bring it to the newest revision."""
        store = cls(make_engine(url, root))
        if migrate and current(store.engine) != head():
            upgrade(store.engine)
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CareStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(ws: Workspace, *, migrate: bool = True) -> CareStore:
    """The care store of a workspace (migrated to the newest revision unless told not to)."""
    return CareStore.open(ws.care_url, ws.root, migrate=migrate)
