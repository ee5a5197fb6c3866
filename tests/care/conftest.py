"""Care-store fixtures: every care test runs on SQLite and on PostgreSQL."""

from tests.conftest_pg import care_store, care_url, pg_cluster

__all__ = ["care_store", "care_url", "pg_cluster"]
