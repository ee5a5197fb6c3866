"""A workspace: one folder holding the configuration, the warehouse, the quarantine, reports."""

from __future__ import annotations

import os
import shutil
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from popweave.errors import WorkspaceError

CONFIG = "popweave.toml"
DEFAULT_ENGINE = "duckdb:///warehouse.duckdb"
DEFAULT_CARE = "sqlite:///care.sqlite"
SUPPORTED_SCHEMES = ("duckdb", "spark")


@dataclass(frozen=True)
class Workspace:
    """An opened workspace folder and its settings."""

    root: Path
    engine_url: str
    care_url: str

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def truth_path(self) -> Path:
        return self.root / "truth.json"

    @classmethod
    def open(cls, root: Path | str) -> Workspace:
        """Open an existing workspace; a clear error if it is missing or malformed."""
        root = Path(root).expanduser().resolve()
        cfg = root / CONFIG
        try:
            present = cfg.is_file()
        except OSError as exc:
            raise WorkspaceError(f"cannot open the workspace {root}: {_why(exc)}") from None
        if not present:
            raise WorkspaceError(
                f"no workspace at {root} (no {CONFIG}); create one with `popweave init {root}`"
            )
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
            engine_table = data["engine"]
            care_table = data.get("care", {})
            if not isinstance(engine_table, dict) or not isinstance(care_table, dict):
                raise TypeError("[engine] and [care] must be tables")
            engine = engine_table["url"]
            care = care_table.get("url", DEFAULT_CARE)
            if not isinstance(engine, str) or not isinstance(care, str):
                raise TypeError("url must be a string")
        except KeyError as exc:
            raise WorkspaceError(
                f"{cfg}: cannot read the workspace settings (missing {exc}); "
                f'expected [engine] url = "{DEFAULT_ENGINE}"'
            ) from None
        except (tomllib.TOMLDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"{cfg}: cannot read the workspace settings ({exc})") from None
        except OSError as exc:
            raise WorkspaceError(
                f"{cfg}: cannot read the workspace settings: {_why(exc)}"
            ) from None
        _check_engine_url(engine, cfg)
        return cls(root, engine, care)

    @classmethod
    def init(
        cls,
        root: Path | str,
        engine_url: str = DEFAULT_ENGINE,
        prepare: Callable[[Workspace], None] | None = None,
        *,
        care_store: bool | None = None,
    ) -> Workspace:
        """Create a workspace at ``root`` atomically: all of it appears, or nothing does.

        The workspace is built in a hidden folder beside ``root`` and renamed into place, so
        a failure (or a crash) never leaves a half-made workspace; the hidden folder is
        removed on any error. ``prepare`` runs on the hidden folder's workspace before the
        rename (e.g. to create the warehouse); if it fails, nothing appears.
        ``care_store`` creates the care store (``care.sqlite``, migrated) in the same step;
        by default it is created when ``prepare`` is given (a full ``popweave init``), so
        ``Workspace.init(root)`` alone makes only the settings and folders.
        """
        root = Path(root).expanduser().resolve()
        _check_engine_url(engine_url, None)
        parent = root.parent
        try:
            if (root / CONFIG).exists():
                raise WorkspaceError(
                    f"a workspace is already present at {root}; use it or pick another folder"
                )
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise WorkspaceError(
                    f"{root} exists and is not an empty folder; pick another folder"
                )
            if not parent.exists():
                raise WorkspaceError(f"cannot create {root}: the folder {parent} does not exist")
            if not parent.is_dir():
                raise WorkspaceError(f"cannot create {root}: {parent} is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise WorkspaceError(f"cannot create {root}: the folder {parent} is not writable")
        except OSError as exc:
            raise WorkspaceError(f"cannot create {root}: {_why(exc)}") from None
        # os.mkdir (not tempfile.mkdtemp, which makes 0700 folders) so the umask applies.
        tmp = parent / f".{root.name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            os.mkdir(tmp)
        except OSError as exc:
            raise WorkspaceError(f"cannot create {root}: {_why(exc)}") from None
        try:
            (tmp / "quarantine").mkdir()
            (tmp / "reports").mkdir()
            (tmp / CONFIG).write_text(_config_text(engine_url, DEFAULT_CARE), encoding="utf-8")
            staged = cls(tmp, engine_url, DEFAULT_CARE)
            if prepare is not None:
                prepare(staged)
            if care_store or (care_store is None and prepare is not None):
                # Imported here: the care layer builds on this module, not the reverse.
                from popweave.care.store import open_store

                open_store(staged).close()
            # rename(2) replaces an empty folder and fails on a non-empty one, atomically.
            os.rename(tmp, root)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                raise WorkspaceError(f"cannot create {root}: {_why(exc)}") from None
            raise
        return cls(root, engine_url, DEFAULT_CARE)

    def check_writable(self) -> None:
        """Raise unless files can be written in the workspace."""
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise WorkspaceError(f"the workspace {self.root} is not writable")


def _config_text(engine_url: str, care_url: str) -> str:
    return (
        "# popweave workspace settings. Relative paths are relative to this folder.\n"
        "[engine]\n"
        "# duckdb:///warehouse.duckdb (default), duckdb:////abs/path.duckdb or spark://local[*]\n"
        f"url = {_toml_string(engine_url)}\n\n"
        "[care]\n"
        "# operational care store: sqlite:///care.sqlite or postgresql://user@host/db\n"
        f"url = {_toml_string(care_url)}\n"
    )


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _check_engine_url(url: str, where: Path | None) -> None:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SUPPORTED_SCHEMES:
        place = f"{where}: " if where else ""
        raise WorkspaceError(
            f"{place}unknown engine URL {url!r}; use duckdb:///warehouse.duckdb or spark://local[*]"
        )
