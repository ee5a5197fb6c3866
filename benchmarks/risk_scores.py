"""Throughput of popweave's CMS-HCC and Charlson / Elixhauser scoring against the peers
hccpy and comorbidipy, on the same synthetic patients in one run.

    .venv/bin/python benchmarks/risk_scores.py [--people 100000] [--peer-people 20000]

popweave scores every patient in DuckDB (diagnoses and people loaded into an in-memory
database first, not timed; the result fetched as Arrow, timed). CMS-HCC is timed through
``hcc_score_table``, whose statement is compiled on the first call and kept (that first
call is printed too), twice: with ``codes="canonical"``, as ``popweave run hcc`` scores the
warehouse, where every load spells ICD-10-CM codes canonically (the synthetic codes are
spelled so), matched as they are; and with any spelling, normalised first (the default,
for data from elsewhere). The two give the same scores here, which is checked. And through
the Ibis expression ``hcc_scores`` built and compiled on every call. hccpy is timed on its
profile calls alone (engine and per-person code lists made first). The peers run on
``--peer-people`` of the same patients (their rates do not depend on the count) and their
rates are compared per patient. Targets: HCC >= 100x hccpy, comorbidity >= 20x comorbidipy.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from popweave.risk.comorbidity import charlson, elixhauser
from popweave.risk.hcc import hcc_score_table, hcc_scores
from tests.risk import peers


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float]:
    """The best (wall, CPU) seconds of ``repeat`` runs; CPU time is the process's, every
    thread (DuckDB's included), so it is steadier than wall time on a shared machine."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--peer-people", type=int, default=20_000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    people, dx = peers.patients(args.people, seed=3)
    con = ibis.duckdb.connect()
    d = con.create_table("dx", dx)
    p = con.create_table("people", people)
    n = args.people
    few = people.head(args.peer_people)
    few_dx = dx[dx.person_id.isin(set(few.person_id))]
    m = len(few)
    print(f"{n:,} patients, {len(dx):,} diagnoses (peers: {m:,} patients, {len(few_dx):,})")

    rows = []
    extra: list[tuple[str, tuple[float, float], tuple[float, float], tuple[float, float]]] = []
    for version in ("24", "28"):
        v = f"v{version}"
        first = timed(lambda v=v: hcc_score_table(d, p, version=v), repeat=1)  # type: ignore[misc]
        ours = timed(lambda v=v: hcc_score_table(d, p, version=v), repeat=9)  # type: ignore[misc]
        stored = timed(
            lambda v=v: hcc_score_table(d, p, version=v, codes="canonical"),  # type: ignore[misc]
            repeat=9,
        )
        same = hcc_score_table(d, p, version=v, codes="canonical").sort_by("person_id")
        assert same.equals(hcc_score_table(d, p, version=v).sort_by("person_id"))
        expr = timed(lambda v=v: hcc_scores(d, p, version=v).to_pyarrow())  # type: ignore[misc]
        peer = timed(peers.hccpy_runner(few, few_dx, version), repeat=3)
        rows.append((f"CMS-HCC V{version} stored codes", stored, n, peer, m, "hccpy", 100))
        rows.append((f"CMS-HCC V{version} any spelling", ours, n, peer, m, "hccpy", 100))
        extra.append((f"CMS-HCC V{version}", first, expr, ours))
    for name, ours_fn, score, weighting in (
        ("Charlson (Quan 2011)", lambda: charlson(d).to_pyarrow(), "charlson", "quan"),
        ("Elixhauser (van Walraven)", lambda: elixhauser(d).to_pyarrow(), "elixhauser", "vw"),
    ):
        ours = timed(ours_fn)
        peer = timed(lambda s=score, w=weighting: peers.comorbidipy_scores(few_dx, s, w), 1)  # type: ignore[misc]
        rows.append((name, ours, n, peer, m, "comorbidipy", 20))
    print(
        f"{'score':32} {'popweave/s':>12} {'peer/s':>10} {'peer':12} {'ratio':>8}  target"
        f"  {'(per CPU-s: popweave':>21} {'peer':>8} {'ratio)':>7}"
    )
    missed = []
    for name, ours, n_ours, peer, n_peer, peer_name, target in rows:
        ours_rate, peer_rate = n_ours / ours[0], n_peer / peer[0]
        ratio = ours_rate / peer_rate
        cpu = (n_ours / ours[1], n_peer / peer[1])
        if ratio < target:
            missed.append(name)
        print(
            f"{name:32} {ours_rate:12,.0f} {peer_rate:10,.0f} {peer_name:12} {ratio:7.1f}x"
            f"  >= {target}x {'met' if ratio >= target else 'NOT met':7}"
            f"  {cpu[0]:13,.0f} {cpu[1]:8,.0f} {cpu[0] / cpu[1]:6.1f}x"
        )
    for name, first, expr, ours in extra:
        print(
            f"{name}: {n / ours[0]:,.0f} patients/s prepared ({ours[0]:.3f} s); first call with"
            f" compile {first[0]:.3f} s; Ibis expression built and compiled per call"
            f" {expr[0]:.3f} s ({n / expr[0]:,.0f}/s)"
        )
    print("all targets met" if not missed else f"targets not met: {', '.join(missed)}")


if __name__ == "__main__":
    main()
