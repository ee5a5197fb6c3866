"""Parallel reading of large typed Bulk NDJSON files: byte ranges mapped in worker processes.

Workers are spawned (not forked: the parent runs a database thread) as soon as the import
starts, so they are ready by the time the sequential levels are read. The reference state
the Mapper built from the earlier levels is handed over in a file the tasks name (each worker
reads it once). Each task maps one newline-aligned byte range, numbering its lines from 1,
and returns Arrow tables, rejects, skip counts, the state it added and its line count. The
parent takes results in file order and shifts line numbers by the lines before the range,
so rows and line numbers are as the sequential reader would give them. At most a few
ranges are in flight at a time, so memory stays bounded whatever the file sizes.
"""

from __future__ import annotations

import gc
import io
import multiprocessing as mp
import os
import pickle
import tempfile
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

RANGE_BYTES = 8 << 20
STATE = ("identifiers", "full_urls", "medications", "coverage_payer", "roles", "claims_from_eob")

_worker: Any = None
"""In a worker: [importer, mapper or None, path of the state the mapper holds]."""


def ranges(path: Path, size: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of newline-aligned byte ranges of ``path`` of about ``size`` bytes
    (each ends after the first newline at or past ``size`` bytes from its start)."""
    size = size or RANGE_BYTES
    out = []
    start = 0
    total = path.stat().st_size
    with path.open("rb") as fh:
        while start < total:
            end = start + size
            if end >= total:
                end = total
            else:
                fh.seek(end)
                while True:  # extend to the end of the line
                    more = fh.read(1 << 16)
                    if not more:
                        end = total
                        break
                    cut = more.find(b"\n")
                    if cut >= 0:
                        end += cut + 1
                        break
                    end += len(more)
            out.append((start, end))
            start = end
    return out


def _init(options: dict[str, Any]) -> None:
    global _worker
    from popweave.ingest.fhir import FhirImporter

    _worker = [FhirImporter(Path("."), **options), None, None]


def _ready() -> None:
    """A no-op task: submitted once per worker to start the workers early."""


Result = tuple[list[tuple[str, bytes]], Counter[str], dict[str, Any], int, int]


def _mapper(state_path: str) -> Any:
    """The worker's Mapper, holding the state in ``state_path`` (read once per worker)."""
    if _worker[2] != state_path:
        from popweave.ingest._fhir_map import Mapper

        with open(state_path, "rb") as fh:
            state = pickle.load(fh)
        m = Mapper()
        for k in STATE:
            setattr(m, k, state[k])
        _worker[1], _worker[2] = m, state_path
        # The state and the modules stay for the worker's life: keep them out of the
        # collector's passes, and collect less often (mapping makes many small objects,
        # few of them in cycles).
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
    return _worker[1]


def _work(task: tuple[str, str, int, int]) -> Result:
    state_path, name, start, end = task
    imp = _worker[0]
    m = _mapper(state_path)
    payers_before = len(m.coverage_payer)
    claims_before = set(m.claims_from_eob)
    with open(name, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    m.skipped = Counter()
    out: list[tuple[str, bytes]] = []
    for table, batch in imp.read_range(m, name, io.BytesIO(data), 1):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as w:
            w.write_table(batch)
        out.append((table, sink.getvalue().to_pybytes()))
    added = {
        "claims_from_eob": m.claims_from_eob - claims_before,
        "coverage_payer": dict(list(m.coverage_payer.items())[payers_before:]),
    }
    return out, m.skipped, added, len(data), data.count(b"\n")


class Workers:
    """A pool of spawned worker processes, started early (see the module's docstring)."""

    def __init__(self, n: int, options: dict[str, Any]) -> None:
        self.n = n
        self.pool = ProcessPoolExecutor(
            n, mp_context=mp.get_context("spawn"), initializer=_init, initargs=(options,)
        )
        for _ in range(n):  # one process is started per task waiting for a free worker
            self.pool.submit(_ready)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _shift(batch: pa.Table, column: str, by: int) -> pa.Table:
    if not by or batch.num_rows == 0:
        return batch
    i = batch.schema.get_field_index(column)
    return batch.set_column(i, batch.schema.field(i), pc.add(batch.column(i), by))


def map_parallel(
    imp: Any, m: Any, files: list[Path], workers: Workers
) -> Iterator[tuple[str, pa.Table]]:
    """Map ``files`` (typed NDJSON of the parallel levels) in ``workers``, in file order."""
    fd, state_path = tempfile.mkstemp(prefix="popweave-fhir-state-", suffix=".pickle")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump({k: getattr(m, k) for k in STATE}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        yield from _mapped(imp, m, files, workers, state_path)
    finally:
        os.unlink(state_path)


def _mapped(
    imp: Any, m: Any, files: list[Path], workers: Workers, state_path: str
) -> Iterator[tuple[str, pa.Table]]:
    tasks = iter([(state_path, str(f), s, e) for f in files for s, e in ranges(f)])
    in_flight: deque[tuple[str, Future[Result]]] = deque()

    def submit() -> None:
        task = next(tasks, None)
        if task is not None:
            in_flight.append((task[1], workers.pool.submit(_work, task)))

    for _ in range(2 * workers.n + 1):  # a bounded window: results wait for the loader
        submit()
    # Ranges give small batches; the loader does better with few large ones (one key and
    # reference query per batch), so batches are gathered up to ``chunk_rows`` per table.
    # A table's rows leave once another table's start, keeping encounters before events,
    # and all held rows leave when a file is done, so little is left to load at the end.
    held: dict[str, list[pa.Table]] = {}
    rows: dict[str, int] = {}
    lines_before: dict[str, int] = {}
    current = ""

    def release(name: str) -> Iterator[tuple[str, pa.Table]]:
        parts = held.pop(name, [])
        rows.pop(name, None)
        if parts:
            yield name, pa.concat_tables(parts)

    try:
        while in_flight:
            name, future = in_flight.popleft()
            out, skipped, added, nbytes, nlines = future.result()
            submit()
            if name != current:
                for table in list(held):
                    yield from release(table)
                current = name
            before = lines_before.get(name, 0)
            lines_before[name] = before + nlines
            imp.advance(nbytes)
            m.skipped.update(skipped)
            m.claims_from_eob |= added["claims_from_eob"]
            m.coverage_payer.update(added["coverage_payer"])
            for table, payload in out:
                batch = pa.ipc.open_stream(payload).read_all()
                if table.startswith("_"):  # rejects go straight through
                    yield table, _shift(batch, "line", before)
                    continue
                batch = _shift(batch, "_line", before)
                if table != "encounter" and "encounter" in held:
                    yield from release("encounter")
                held.setdefault(table, []).append(batch)
                rows[table] = rows.get(table, 0) + batch.num_rows
                if rows[table] >= imp.chunk_rows:
                    yield from release(table)
    finally:
        for _, future in in_flight:
            future.cancel()
    for name in list(held):
        yield from release(name)
