"""Running the popweave command line in a subprocess, for end-to-end ingest tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m popweave.cli ARGS`` in ``cwd``, with no workspace set in the environment."""
    env = {k: v for k, v in os.environ.items() if k != "POPWEAVE_WORKSPACE"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "popweave.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
