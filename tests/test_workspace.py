"""Workspaces: atomic creation, clear errors, nothing left behind on failure."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from popweave.errors import WorkspaceError
from popweave.workspace import CONFIG, DEFAULT_CARE, DEFAULT_ENGINE, Workspace


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_init_creates_config_quarantine_and_reports(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "city")
    root = tmp_path / "city"
    assert ws.root == root.resolve()
    assert _entries(root) == sorted([CONFIG, "quarantine", "reports"])
    assert (root / "quarantine").is_dir()
    assert (root / "reports").is_dir()
    assert ws.quarantine_dir == root / "quarantine"
    assert ws.reports_dir == root / "reports"
    assert ws.truth_path == root / "truth.json"
    settings = tomllib.loads((root / CONFIG).read_text(encoding="utf-8"))
    assert settings == {"engine": {"url": DEFAULT_ENGINE}, "care": {"url": DEFAULT_CARE}}
    # No staging folder is left beside the workspace.
    assert _entries(tmp_path) == ["city"]


def test_init_respects_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Workspace.init(tmp_path / "w")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == 0o755


def test_init_then_open_round_trips(tmp_path: Path) -> None:
    made = Workspace.init(tmp_path / "w", engine_url="spark://local[2]")
    opened = Workspace.open(tmp_path / "w")
    assert opened == made
    assert opened.engine_url == "spark://local[2]"
    assert opened.care_url == DEFAULT_CARE


def test_engine_url_with_quotes_is_written_as_valid_toml(tmp_path: Path) -> None:
    url = 'duckdb:///odd "name" \\ here.duckdb'
    Workspace.init(tmp_path / "w", engine_url=url)
    assert Workspace.open(tmp_path / "w").engine_url == url


def test_init_into_an_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    Workspace.init(tmp_path / "w")
    assert (tmp_path / "w" / CONFIG).is_file()
    assert _entries(tmp_path) == ["w"]


def test_init_on_a_present_workspace_fails_and_changes_nothing(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "w")
    cfg = tmp_path / "w" / CONFIG
    cfg.write_text(cfg.read_text() + "# mine\n")
    before = cfg.read_text()
    with pytest.raises(WorkspaceError, match=r"a workspace is already present at .*w"):
        Workspace.init(tmp_path / "w")
    assert cfg.read_text() == before
    assert _entries(tmp_path) == ["w"]


def test_init_on_a_non_empty_folder_fails(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "notes.txt").write_text("keep me")
    with pytest.raises(WorkspaceError, match="exists and is not an empty folder"):
        Workspace.init(tmp_path / "w")
    assert _entries(tmp_path / "w") == ["notes.txt"]
    assert _entries(tmp_path) == ["w"]


def test_init_on_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "w").write_text("a file")
    with pytest.raises(WorkspaceError, match="exists and is not an empty folder"):
        Workspace.init(tmp_path / "w")
    assert (tmp_path / "w").read_text() == "a file"


def test_init_under_a_missing_parent_fails(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"the folder .*missing does not exist"):
        Workspace.init(tmp_path / "missing" / "w")
    assert _entries(tmp_path) == []


def test_init_under_a_parent_that_is_a_file_fails(tmp_path: Path) -> None:
    # Stands in for an unwritable parent where permissions do not apply (root).
    (tmp_path / "plain").write_text("x")
    with pytest.raises(WorkspaceError, match=r"cannot create .*plain is not a folder"):
        Workspace.init(tmp_path / "plain" / "w")
    assert _entries(tmp_path) == ["plain"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_init_under_an_unwritable_parent_fails(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(WorkspaceError, match="not writable"):
            Workspace.init(parent / "w")
        assert _entries(parent) == []
    finally:
        parent.chmod(0o755)


def test_init_that_fails_while_writing_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", no_rename)
    with pytest.raises(WorkspaceError, match=r"cannot create .*No space left on device"):
        Workspace.init(tmp_path / "w")
    assert _entries(tmp_path) == []


def test_init_interrupted_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("popweave.workspace._config_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Workspace.init(tmp_path / "w")
    assert _entries(tmp_path) == []


def test_init_rejects_an_unknown_engine(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="unknown engine URL 'oracle://x'"):
        Workspace.init(tmp_path / "w", engine_url="oracle://x")
    assert _entries(tmp_path) == []


def test_open_a_missing_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"no workspace at .*nowhere.*popweave init"):
        Workspace.open(tmp_path / "nowhere")


def test_open_a_folder_without_settings_fails(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Workspace.open(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engine\nurl = 1", "cannot read the workspace settings"),
        ('[care]\nurl = "sqlite:///c.sqlite"\n', r"missing 'engine'"),
        ("[engine]\npath = 'x'\n", r"missing 'url'"),
        ('engine = "duckdb:///w.duckdb"\n', "must be tables"),
        ('[engine]\nurl = "duckdb:///w.duckdb"\n[care]\nurl = 3\n', "url must be a string"),
        ('care = "x"\n[engine]\nurl = "duckdb:///w.duckdb"\n', "must be tables"),
        ("[engine]\nurl = 5\n", "url must be a string"),
        ('[engine]\nurl = "oracle://db"\n', "unknown engine URL 'oracle://db'"),
    ],
)
def test_open_malformed_settings_fails(tmp_path: Path, text: str, message: str) -> None:
    Workspace.init(tmp_path / "w")
    (tmp_path / "w" / CONFIG).write_text(text, encoding="utf-8")
    with pytest.raises(WorkspaceError, match=message) as err:
        Workspace.open(tmp_path / "w")
    assert CONFIG in str(err.value)


def test_open_settings_that_are_not_text_fails(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "w")
    (tmp_path / "w" / CONFIG).write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(WorkspaceError, match="cannot read the workspace settings"):
        Workspace.open(tmp_path / "w")


def test_check_writable(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    ws.check_writable()
