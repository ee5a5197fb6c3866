"""Large FHIR files mapped in worker processes give the rows the sequential reader gives."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from popweave.export import exporters
from popweave.ingest import _fhir_parallel, importers
from popweave.synth import build_city
from popweave.warehouse import load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fhir")
    ws = Workspace.init(root / "ws")
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, build_city(1200, 21).tables(), source="city", atomic=False)
    out = root / "out"
    with open_workspace_engine(ws) as eng:
        exporters()["fhir"]().write(eng, out)
    # A broken record in the middle of a large file: its line number must survive the split.
    obs = out / "Observation.000.ndjson"
    lines = obs.read_bytes().split(b"\n")
    lines.insert(len(lines) // 2, b'{"resourceType": "Observation", broken')
    obs.write_bytes(b"\n".join(lines))
    return out


def _read(path: Path, **options: object) -> tuple[dict[str, pa.Table], dict[str, int]]:
    imp = importers()["fhir"](path, **options)
    parts: dict[str, list[pa.Table]] = {}
    for name, batch in imp.batches():
        parts.setdefault(name, []).append(batch)
    tables = {}
    for k, v in parts.items():
        t = pa.concat_tables(v)
        f, line = ("file", "line") if k == "_rejects" else ("_file", "_line")
        tables[k] = t.sort_by([(f, "ascending"), (line, "ascending")])
    return tables, dict(imp.skipped)


def test_parallel_equals_sequential(export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fhir_parallel, "RANGE_BYTES", 256 << 10)  # many ranges per file
    assert len(_fhir_parallel.ranges(export / "Observation.000.ndjson")) > 3
    seq, seq_skipped = _read(export, workers=1)
    par, par_skipped = _read(export, workers=2, parallel_bytes=0)
    assert seq.keys() == par.keys()
    for name in seq:
        assert seq[name].equals(par[name]), name
    assert seq_skipped == par_skipped
    bad = par["_rejects"].to_pylist()
    assert [(Path(r["file"]).name, r["reason"]) for r in bad] == [
        ("Observation.000.ndjson", "unparsable_record")
    ]
    assert bad[0]["line"] == seq["_rejects"].column("line")[0].as_py()


def test_ranges_cover_the_file_on_line_boundaries(tmp_path: Path) -> None:
    f = tmp_path / "x.ndjson"
    rows = [b'{"n": %d, "pad": "%s"}' % (i, b"x" * (i % 50)) for i in range(5000)]
    f.write_bytes(b"\n".join(rows) + b"\n")
    parts = _fhir_parallel.ranges(f, size=10_000)
    data = f.read_bytes()
    assert parts[0][0] == 0 and parts[-1][1] == len(data)
    for (s, e), nxt in zip(parts, [*parts[1:], None], strict=True):
        assert data[e - 1 : e] == b"\n"
        assert e - s >= 10_000 or nxt is None
        if nxt:
            assert nxt[0] == e
