"""A 200 MB line in a CSV input: no crash, the line quarantined (clipped), the rest loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

from popweave.ingest import importers, run
from popweave.ingest._text import RECORD_LIMIT, block_size_for
from popweave.model import quarantine
from popweave.warehouse import open_workspace_engine
from popweave.workspace import Workspace
from tests.ingest.test_synthea import REAL, REAL_ACCEPTED, needs_real

EXAMPLES = Path(__file__).parents[2] / "popweave" / "ingest" / "examples"
HUGE = 200 * 1024 * 1024


def _insert_line(path: Path, after: int, line: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines.insert(after, line)
    path.write_bytes(b"\n".join(lines))


def test_block_size_holds_the_longest_line(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n" + b"x" * 3_000_000 + b"\n3,4")
    assert block_size_for(f, 1 << 20) >= 6_000_000
    small = tmp_path / "y.csv"
    small.write_bytes(b"a,b\n1,2\n")
    assert block_size_for(small, 1 << 20) == 1 << 20


@needs_real
def test_synthea_with_a_200_mb_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REAL, src)
    for f in src.iterdir():
        f.chmod(0o644)
    _insert_line(src / "observations.csv", 5, b"z" * HUGE)  # becomes file line 6
    ws = Workspace.init(tmp_path / "ws")
    with open_workspace_engine(ws) as eng:
        result = run(importers()["synthea"](src), eng, quarantine_dir=ws.quarantine_dir)
    assert result.report is not None
    assert result.report.accepted == REAL_ACCEPTED
    q = quarantine.read(ws.quarantine_dir).to_pylist()
    assert [(r["file"], r["line"], r["reason"]) for r in q] == [
        ("observations.csv", 6, "unparsable_record")
    ]
    assert len(q[0]["record"]) < RECORD_LIMIT + 100


def test_mapped_csv_with_a_200_mb_line(tmp_path: Path) -> None:
    csv = tmp_path / "roster.csv"
    shutil.copy(EXAMPLES / "patient_roster.csv", csv)
    good = len(csv.read_bytes().strip().split(b"\n")) - 1
    _insert_line(csv, 2, b"q" * HUGE)
    ws = Workspace.init(tmp_path / "ws")
    with open_workspace_engine(ws) as eng:
        importer = importers()["mapped_csv"](csv, mapping=EXAMPLES / "patient_roster.yaml")
        result = run(importer, eng, quarantine_dir=ws.quarantine_dir)
    assert result.report is not None
    q = quarantine.read(ws.quarantine_dir).to_pylist()
    long = [r for r in q if r["line"] == 3]
    assert [r["reason"] for r in long] == ["unparsable_record"]
    assert sum(result.report.accepted.values()) + result.report.total_rejected == good + 1
    assert result.report.accepted["person"] >= good - len({r["line"] for r in q if r["line"] != 3})
