"""What the app holds while it runs: the workspace, the care store, the warehouse reader
and the secret that signs session cookies and API tokens."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from popweave.api.warehouse import Warehouse
from popweave.care.store import CareStore, open_store
from popweave.security.policy import AccessDenied, Actor
from popweave.security.throttle import LoginThrottle
from popweave.security.users import authenticate
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


@dataclass
class AppState:
    """The running app's resources (one per app)."""

    workspace: Workspace
    store: CareStore
    warehouse: Warehouse
    secret: str
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def open(cls, workspace_path: Path | str) -> AppState:
        ws = Workspace.open(workspace_path)
        return cls(ws, open_store(ws), Warehouse(ws), load_secret(ws))

    def sign_in(self, username: str, password: str, client: str) -> Actor:
        """The actor for a user name and password given from ``client`` (an address).
        :class:`~popweave.security.throttle.TooManyAttempts` after too many failures of
        that name from there, else :class:`~popweave.security.policy.AccessDenied` for a
        wrong name or password."""
        self.throttle.check(username, client)
        try:
            with self.store.begin() as s:
                actor = authenticate(s, username=username.strip(), password=password)
        except AccessDenied:
            self.throttle.failed(username, client)
            raise
        self.throttle.succeeded(username, client)
        return actor

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
