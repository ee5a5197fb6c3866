"""A workspace: one folder holding the configuration, the warehouse, the quarantine, reports."""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
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
        if not cfg.is_file():
            raise WorkspaceError(
                f"no workspace at {root} (no {CONFIG}); create one with `popweave init {root}`"
            )
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
            engine = str(data["engine"]["url"])
            care = str(data.get("care", {}).get("url", DEFAULT_CARE))
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise WorkspaceError(f"{cfg}: cannot read the workspace settings ({exc})") from None
        _check_engine_url(engine, cfg)
        return cls(root, engine, care)

    @classmethod
    def init(cls, root: Path | str, engine_url: str = DEFAULT_ENGINE) -> Workspace:
        """Create a workspace at ``root`` atomically: all of it appears, or nothing does."""
        root = Path(root).expanduser().resolve()
        _check_engine_url(engine_url, None)
        if (root / CONFIG).exists():
            raise WorkspaceError(f"a workspace is already present at {root}; use it or pick another folder")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise WorkspaceError(f"{root} exists and is not an empty folder; pick another folder")
        parent = root.parent
        if not parent.is_dir():
            raise WorkspaceError(f"cannot create {root}: the folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise WorkspaceError(f"cannot create {root}: the folder {parent} is not writable")
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=parent))
        try:
            (tmp / "quarantine").mkdir()
            (tmp / "reports").mkdir()
            (tmp / CONFIG).write_text(_config_text(engine_url, DEFAULT_CARE), encoding="utf-8")
            if root.exists():
                root.rmdir()
            os.rename(tmp, root)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise WorkspaceError(f"cannot create {root}: {exc.strerror or exc}") from None
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
        f'url = "{engine_url}"\n\n'
        "[care]\n"
        "# operational care store: sqlite:///care.sqlite or postgresql://user@host/db\n"
        f'url = "{care_url}"\n'
    )


def _check_engine_url(url: str, where: Path | None) -> None:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SUPPORTED_SCHEMES:
        place = f"{where}: " if where else ""
        raise WorkspaceError(
            f"{place}unknown engine URL {url!r}; use duckdb:///warehouse.duckdb or spark://local[*]"
        )
