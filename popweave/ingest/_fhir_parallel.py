"""Parallel reading of large typed Bulk NDJSON files: byte ranges mapped in worker processes.

Workers are spawned (not forked: the parent runs a database thread) and get the reference
state the Mapper built from earlier levels; each maps one newline-aligned byte range and
returns Arrow tables, rejects, skip counts and the state it added. Results come back in
file order, so rows and line numbers are as the sequential reader would give them.
"""

from __future__ import annotations

import io
import multiprocessing as mp
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

RANGE_BYTES = 8 << 20
STATE = ("identifiers", "full_urls", "medications", "coverage_payer", "roles", "claims_from_eob")

_worker: Any = None


def ranges(path: Path, size: int | None = None) -> list[tuple[int, int, int]]:
    """(start, end, line number of the first line) of newline-aligned ranges of ``path``."""
    size = size or RANGE_BYTES
    out = []
    start, line = 0, 1
    total = path.stat().st_size
    with path.open("rb") as fh:
        while start < total:
            fh.seek(start)
            chunk = fh.read(size)
            end = start + len(chunk)
            if end < total:
                tail = b""
                while not tail.endswith(b"\n"):  # extend to the end of the line
                    more = fh.read(1 << 16)
                    if not more:
                        break
                    cut = more.find(b"\n")
                    tail += more if cut < 0 else more[: cut + 1]
                    if cut >= 0:
                        break
                chunk += tail
                end = start + len(chunk)
            out.append((start, end, line))
            line += chunk.count(b"\n")
            start = end
    return out


def _init(options: dict[str, Any], state: dict[str, Any]) -> None:
    global _worker
    from popweave.ingest._fhir_map import Mapper
    from popweave.ingest.fhir import FhirImporter

    imp = FhirImporter(Path("."), **options)
    m = Mapper()
    for k in STATE:
        setattr(m, k, state[k])
    _worker = (imp, m)


Result = tuple[list[tuple[str, bytes]], Counter[str], dict[str, Any], int]


def _work(task: tuple[str, int, int, int]) -> Result:
    name, start, end, first_line = task
    imp, m = _worker
    payers_before = len(m.coverage_payer)
    claims_before = set(m.claims_from_eob)
    with open(name, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    m.skipped = Counter()
    out: list[tuple[str, bytes]] = []
    for table, batch in imp.read_range(m, name, io.BytesIO(data), first_line):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as w:
            w.write_table(batch)
        out.append((table, sink.getvalue().to_pybytes()))
    added = {
        "claims_from_eob": m.claims_from_eob - claims_before,
        "coverage_payer": dict(list(m.coverage_payer.items())[payers_before:]),
    }
    return out, m.skipped, added, end - start


def map_parallel(
    imp: Any, m: Any, files: list[Path], workers: int
) -> Iterator[tuple[str, pa.Table]]:
    """Map ``files`` (typed NDJSON of one level) in ``workers`` processes, in file order."""
    tasks = [(str(f), s, e, line) for f in files for s, e, line in ranges(f)]
    state = {k: getattr(m, k) for k in STATE}
    options = {"chunk_rows": imp.chunk_rows, "max_line_bytes": imp.max_line_bytes}
    ctx = mp.get_context("spawn")
    # Ranges give small batches; the loader does better with few large ones (one key and
    # reference query per batch), so batches are gathered up to ``chunk_rows`` per table.
    # A table's rows leave once another table's start, keeping encounters before events.
    held: dict[str, list[pa.Table]] = {}
    rows: dict[str, int] = {}

    def release(name: str) -> Iterator[tuple[str, pa.Table]]:
        parts = held.pop(name, [])
        rows.pop(name, None)
        if parts:
            yield name, pa.concat_tables(parts)

    with ctx.Pool(workers, initializer=_init, initargs=(options, state)) as pool:
        for out, skipped, added, nbytes in pool.imap(_work, tasks):
            imp.advance(nbytes)
            m.skipped.update(skipped)
            m.claims_from_eob |= added["claims_from_eob"]
            m.coverage_payer.update(added["coverage_payer"])
            for table, payload in out:
                batch = pa.ipc.open_stream(payload).read_all()
                if table.startswith("_"):  # rejects go straight through
                    yield table, batch
                    continue
                if table != "encounter" and "encounter" in held:
                    yield from release("encounter")
                held.setdefault(table, []).append(batch)
                rows[table] = rows.get(table, 0) + batch.num_rows
                if rows[table] >= imp.chunk_rows:
                    yield from release(table)
    for name in list(held):
        yield from release(name)
