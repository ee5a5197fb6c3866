"""What the app holds while it runs: the workspace, the care store, the warehouse reader
and the secret that signs session cookies and API tokens."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from popweave.api.warehouse import Warehouse
from popweave.care.store import CareStore, open_store
from popweave.workspace import Workspace

SECRET_FILE = ".web-secret"
SECRET_ENV = "POPWEAVE_SECRET_KEY"
TOKEN_HOURS = 12


def load_secret(ws: Workspace) -> str:
    """``POPWEAVE_SECRET_KEY``, else the workspace's ``.web-secret`` (made on first use,
    readable by its owner only), so sessions survive a restart."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env
    path = ws.root / SECRET_FILE
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class SerialStore(CareStore):
    """The care store with one transaction at a time in this process on SQLite.

    SQLite lets one writer in at a time and makes the others poll (sleeping up to 100 ms
    between tries), so under many concurrent pages (each writes its audit events) a writer
    can wait seconds while others keep getting in. Queueing the server's threads on a lock
    instead keeps the waits first come, first served and short; PostgreSQL is left alone.
    """

    def __init__(self, store: CareStore) -> None:
        super().__init__(store.engine)
        self._serial = threading.RLock() if store.dialect == "sqlite" else None

    @contextmanager
    def begin(self) -> Iterator[Session]:
        if self._serial is None:
            with super().begin() as s:
                yield s
            return
        with self._serial, super().begin() as s:
            yield s


@dataclass
class AppState:
    """The running app's resources (one per app)."""

    workspace: Workspace
    store: CareStore
    warehouse: Warehouse
    secret: str

    @classmethod
    def open(cls, workspace_path: Path | str) -> AppState:
        ws = Workspace.open(workspace_path)
        return cls(ws, SerialStore(open_store(ws)), Warehouse(ws), load_secret(ws))

    def _tokens(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt="popweave-api-token")

    def issue_token(self, user_id: int) -> str:
        """A signed bearer token naming ``user_id``, valid for :data:`TOKEN_HOURS`."""
        return self._tokens().dumps({"uid": user_id})

    def token_user(self, token: str) -> int | None:
        """The user id in a valid token, else ``None``."""
        try:
            data = self._tokens().loads(token, max_age=TOKEN_HOURS * 3600)
        except (BadSignature, SignatureExpired):
            return None
        uid = data.get("uid") if isinstance(data, dict) else None
        return uid if isinstance(uid, int) else None

    def close(self) -> None:
        self.warehouse.close()
        self.store.close()
