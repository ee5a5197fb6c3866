"""Clinic recommendations on the hand-built workspace: scores in priority points, ranks and
reasons, and the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from popweave.outreach import recommend, worklist
from popweave.warehouse.base import Engine
from popweave.workspace import Workspace
from tests.ingest._cli import cli


def test_ranked_with_reasons(engine: Engine) -> None:
    w = worklist(engine).set_index("person_id").priority
    r = recommend(engine).execute()
    got = list(zip(r.practice_id, r.recommendation, strict=True))
    assert got == [
        ("C1", "add a coordinator"),
        ("C2", "add a coordinator"),
        ("C1", "add evening hours"),
    ]
    assert list(r["rank"]) == [1, 2, 3]
    # No places yet: one coordinator (150 places, the default) would reach the whole list.
    assert r.score[0] == pytest.approx(w["P1"] + w["P2"])
    assert r.score[1] == pytest.approx(w["P3"] + w["P4"] + w["P8"])
    # Evening hours: P1's transport need, a quarter of them expected to come.
    assert r.score[2] == pytest.approx(0.25 * w["P1"])
    assert r.reason[0].startswith("2 patients on the list (priority 104) for 1 coordinator(s)")
    assert r.reason[2].startswith("no evening hours; 1 patients on the list with a transport")


def test_clinics_command(hand_ws: Workspace) -> None:
    root = Path(hand_ws.root)
    res = cli("clinics", "-w", root, cwd=root.parent)
    assert res.returncode == 0, res.stderr
    assert "add evening hours" in res.stdout and "outreach_clinic" in res.stdout
