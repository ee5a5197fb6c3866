"""Browser tests: the app served by uvicorn on a free loopback port, driven by Playwright
with Debian's chromium (``/usr/bin/chromium``; ``scripts/test.sh`` installs it)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from popweave.api.app import create_app
from tests.api.world import World, make_world

CHROMIUM = Path(os.environ.get("POPWEAVE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "web"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory, "web")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    """The base URL of the app serving ``world``."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(world.root), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no chromium at {CHROMIUM}; scripts/test.sh installs Debian's chromium")
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Path]]:
    """Where a test's screenshots go: the test's tmp dir, copied to test-artifacts/web/."""
    taken: list[Path] = []
    yield taken
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for p in taken:
        if p.exists():
            (ARTIFACTS / f"{request.node.name}-{p.name}").write_bytes(p.read_bytes())
