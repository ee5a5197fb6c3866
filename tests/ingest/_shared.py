"""Where the real outside data sets are: beside the repository (``../shared/data``) when the
checkout sits next to them, else at the workplace's fixed path."""

from __future__ import annotations

from pathlib import Path

CANDIDATES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data",
    Path("/work/shared/data"),
)
SHARED = next((p for p in CANDIDATES if p.is_dir()), CANDIDATES[0])
