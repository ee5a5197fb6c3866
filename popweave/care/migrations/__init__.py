"""Alembic migrations of the care store (run by popweave.care.store.upgrade)."""
