"""Alembic environment of the care store: the engine comes from popweave.care.store."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import popweave.care.models  # noqa: F401 - registers the care tables on Base.metadata
from popweave.security.models import Base

target_metadata = Base.metadata


def _run() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run the care-store migrations through popweave.care.store.upgrade")
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


_run()
