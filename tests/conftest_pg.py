"""A throwaway PostgreSQL cluster for the tests of the care store, and the care-store
fixtures that run the same tests on SQLite and on PostgreSQL.

The cluster is started once per test session on a free loopback port (data directory and
socket under /tmp, owned by the ``postgres`` user when the tests run as root, since initdb
refuses root), and stopped and removed at the end. Without PostgreSQL the PostgreSQL cases
are skipped with the reason -- except in CI (``CI=true``), where they fail.

Import the fixtures into a test folder's conftest: ``from tests.conftest_pg import *``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from popweave.care.store import CareStore

__all__ = ["care_store", "care_url", "pg_cluster"]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A PostgreSQL cluster in a temporary folder, run as the postgres user under root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="popweave-pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = _free_port()
        self.user = "postgres"
        self.started = False

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")

    def start(self) -> None:
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
        else:
            self.user = os.environ.get("USER") or "postgres"
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        self.started = True

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.started:
            self.started = False
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


_cluster: Cluster | None = None
_template_ready = False


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is needed in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A running throwaway PostgreSQL cluster (one per test session)."""
    global _cluster
    if _cluster is None:
        bindir = _bindir()
        if bindir is None:
            _missing("no initdb (install Debian's postgresql package; scripts/test.sh does)")
        assert bindir is not None
        c = Cluster(bindir)
        try:
            c.start()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            c.stop()
            _missing(f"the cluster did not start: {exc}")
        _cluster = c
    yield _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


def _admin(cluster: Cluster, sql: str) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(
        cluster.url().replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with eng.connect() as c:
            c.execute(sa.text(sql))
    finally:
        eng.dispose()


def _new_pg_database(cluster: Cluster) -> str:
    """A fresh, migrated database cloned from a template migrated once per session."""
    global _template_ready
    if not _template_ready:
        _admin(cluster, "DROP DATABASE IF EXISTS care_template")
        _admin(cluster, "CREATE DATABASE care_template")
        CareStore.open(cluster.url("care_template")).close()
        _template_ready = True
    name = f"care_{uuid.uuid4().hex[:12]}"
    _admin(cluster, f"CREATE DATABASE {name} TEMPLATE care_template")
    return cluster.url(name)


_sqlite_file: Path | None = None


def _sqlite_template() -> Path:
    """A SQLite care store migrated once per session, copied for each test."""
    global _sqlite_file
    if _sqlite_file is None or not _sqlite_file.exists():
        folder = Path(tempfile.mkdtemp(prefix="popweave-care-"))
        path = folder / "care.sqlite"
        CareStore.open(f"sqlite:///{path}").close()
        _sqlite_file = path
    return _sqlite_file


@pytest.fixture(params=["sqlite", "postgresql"])
def care_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated care store: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        dest = tmp_path / "care.sqlite"
        shutil.copyfile(_sqlite_template(), dest)
        return f"sqlite:///{dest}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return _new_pg_database(cluster)


@pytest.fixture
def care_store(care_url: str) -> Iterator[CareStore]:
    """An open care store on ``care_url`` (SQLite or PostgreSQL)."""
    store = CareStore.open(care_url)
    yield store
    store.close()
