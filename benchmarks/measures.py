"""Time every measure on a city of 1,000,000 people, and the HbA1c measure against one
hand-written DuckDB SQL query.

    python benchmarks/measures.py                         # builds a 1,000,000-person city
    python benchmarks/measures.py --people 100000         # smaller
    python benchmarks/measures.py --workspace DIR         # reuse a workspace that has a city

1. `measures.run(engine, 2025)`: all measures of the shipped library, rates by every stratum,
   unit rows, care gaps, all stored in the warehouse. Target: < 60 s for 1,000,000 people.
2. `hba1c_poor_control` alone, numerator and denominator counts: the library's Ibis
   expressions (compiled by Ibis, run by DuckDB; without the per-patient evidence text, which
   the rate does not need) against :data:`HBA1C_SQL`, the same
   definition written by hand as one SQL query. Both must give the same counts; the ratio of
   their times (median of 3 runs each) has the target <= 2x.
Results are appended to benchmarks/results/measures.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from run import machine

from popweave import measures
from popweave.cohorts import Data, Period
from popweave.measures import clinical
from popweave.measures.spec import load_specs
from popweave.terminology.valuesets import valueset
from popweave.warehouse import open_workspace_engine
from popweave.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "measures.json"
TARGET_SECONDS = 60.0
TARGET_RATIO = 2.0

#: hba1c_poor_control for a calendar year, by hand: {S}, {E} dates; {codes} lists filled in.
HBA1C_SQL = """
WITH spans AS (
  SELECT person_id, greatest(start_date, DATE '{S}') AS s,
         least(coalesce(end_date, DATE '{E}'), DATE '{E}') AS t
  FROM enrollment
  WHERE start_date <= DATE '{E}' AND coalesce(end_date, DATE '{E}') >= DATE '{S}'
),
marked AS (
  SELECT *, CASE WHEN max(t) OVER w IS NULL OR s > max(t) OVER w + 1 THEN 1 ELSE 0 END AS new
  FROM spans
  WINDOW w AS (PARTITION BY person_id ORDER BY s, t
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
islands AS (
  SELECT person_id, min(s) AS s, max(t) AS t FROM (
    SELECT *, sum(new) OVER (PARTITION BY person_id ORDER BY s, t) AS island FROM marked)
  GROUP BY person_id, island
),
gaps AS (
  SELECT person_id, s, t,
         coalesce(s - lag(t) OVER (PARTITION BY person_id ORDER BY s) - 1, s - DATE '{S}') AS gap
  FROM islands
),
enrolled AS (
  SELECT person_id FROM gaps GROUP BY person_id
  HAVING sum(CASE WHEN gap > 0 THEN 1 ELSE 0 END)
         + CASE WHEN DATE '{E}' - max(t) > 0 THEN 1 ELSE 0 END <= 1
     AND greatest(max(gap), DATE '{E}' - max(t)) <= 45
     AND max(t) = DATE '{E}'
),
age AS (
  SELECT person_id, death_date,
         year(DATE '{E}') - year(birth_date)
         - CASE WHEN month(birth_date) * 100 + day(birth_date) > {md} THEN 1 ELSE 0 END AS age
  FROM person WHERE birth_date <= DATE '{E}'
),
diabetic AS (
  SELECT DISTINCT person_id FROM condition
  WHERE ((code_system = 'ICD10CM' AND code IN ({diabetes_icd}))
         OR (source_code_system = 'SNOMED' AND source_code IN ({diabetes_snomed}))
         OR (code_system = 'SNOMED' AND code IN ({diabetes_snomed})))
    AND onset_date <= DATE '{E}' AND (abatement_date IS NULL OR abatement_date >= DATE '{S}')
),
denominator AS (
  SELECT a.person_id, a.age, a.death_date FROM age a
  JOIN diabetic d USING (person_id) JOIN enrolled e USING (person_id)
  WHERE a.age BETWEEN 18 AND 75
),
dx AS (
  SELECT person_id, onset_date AS d, code FROM condition WHERE code_system = 'ICD10CM'
  UNION ALL
  SELECT person_id, CAST(start_time AS DATE), code FROM encounter WHERE code_system = 'ICD10CM'
  UNION ALL
  SELECT person_id, service_date, diagnosis_code FROM claim_line
),
hospice AS (
  SELECT person_id FROM dx
  WHERE code IN ({hospice_icd}) AND d BETWEEN DATE '{S}' AND DATE '{E}'
  UNION
  SELECT person_id FROM procedure
  WHERE code IN ({hospice_proc}) AND date BETWEEN DATE '{S}' AND DATE '{E}'
  UNION
  SELECT person_id FROM claim_line
  WHERE code IN ({hospice_proc}) AND service_date BETWEEN DATE '{S}' AND DATE '{E}'
  UNION
  SELECT person_id FROM encounter
  WHERE encounter_class = 'hospice' AND CAST(start_time AS DATE) BETWEEN DATE '{S}' AND DATE '{E}'
),
frail AS (
  SELECT person_id FROM dx
  WHERE code IN ({frail_icd}) AND d BETWEEN DATE '{S}' AND DATE '{E}'
  INTERSECT
  SELECT person_id FROM dx
  WHERE code IN ({advanced_icd}) AND d BETWEEN DATE '{S2}' AND DATE '{E}'
),
a1c AS (
  SELECT person_id, date, value_num FROM observation
  WHERE code_system = 'LOINC' AND code IN ({a1c}) AND value_num IS NOT NULL
    AND date BETWEEN DATE '{S}' AND DATE '{E}'
),
last_a1c AS (
  SELECT person_id, min(value_num) AS v FROM (
    SELECT *, max(date) OVER (PARTITION BY person_id) AS last FROM a1c) WHERE date = last
  GROUP BY person_id
),
flags AS (
  SELECT d.person_id,
         (d.death_date BETWEEN DATE '{S}' AND DATE '{E}')
         OR d.person_id IN (SELECT person_id FROM hospice)
         OR (d.age >= 66 AND d.person_id IN (SELECT person_id FROM frail)) AS excluded,
         l.v IS NULL OR l.v > 9.0 AS numerator
  FROM denominator d LEFT JOIN last_a1c l USING (person_id)
)
SELECT count(*) FILTER (WHERE NOT coalesce(excluded, FALSE)) AS denominator,
       count(*) FILTER (WHERE NOT coalesce(excluded, FALSE) AND numerator) AS numerator
FROM flags
"""


def _in(codes: list[str]) -> str:
    return ", ".join("'" + c.replace("'", "''") + "'" for c in codes) or "NULL"


def hand_sql(period: Period) -> str:
    diabetes = valueset("diabetes")
    hospice = valueset("hospice_palliative")
    frail = valueset("frailty")
    advanced = valueset("advanced_illness")
    proc = [c for s in hospice.systems() if s != "ICD10CM" for c in hospice.codes_for(s)]
    s2 = period.start.replace(year=period.start.year - 1)
    return HBA1C_SQL.format(
        S=period.start.isoformat(),
        E=period.end.isoformat(),
        S2=s2.isoformat(),
        md=period.end.month * 100 + period.end.day,
        diabetes_icd=_in(diabetes.codes_for("ICD10CM")),
        diabetes_snomed=_in(diabetes.codes_for("SNOMED")),
        hospice_icd=_in(hospice.codes_for("ICD10CM")),
        hospice_proc=_in(proc),
        frail_icd=_in(frail.codes_for("ICD10CM")),
        advanced_icd=_in(advanced.codes_for("ICD10CM")),
        a1c=_in(valueset("hba1c_result").codes_for("LOINC")),
    )


def ibis_counts(engine: Any, period: Period) -> tuple[int, int]:
    spec = next(s for s in load_specs() if s.id == "hba1c_poor_control")
    rows = clinical.evaluate(spec, Data.of(engine), period, evidence=False)
    kept = rows.filter(~rows.excluded)
    out = kept.aggregate(d=kept.count(), n=kept.numerator.cast("int64").sum()).execute()
    return int(out["d"].iloc[0]), int(out["n"].fillna(0).iloc[0])


def sql_counts(engine: Any, sql: str) -> tuple[int, int]:
    d, n = engine.raw.sql(sql).fetchall()[0]
    return int(d), int(n or 0)


def median_time(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workspace", type=Path, default=None, help="reuse this workspace's city")
    ap.add_argument("--period", default="2025")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args(argv)
    console = Console()
    tmp: Path | None = None
    if args.workspace is None:
        tmp = Path(tempfile.mkdtemp(prefix="popweave-bench-measures-", dir=args.tmpdir))
        ws_path = tmp / "ws"
        cli = [sys.executable, "-m", "popweave.cli"]
        subprocess.run([*cli, "init", str(ws_path)], check=True, stdout=subprocess.DEVNULL)
        with console.status(f"building a city of {args.people:,} people"):
            subprocess.run(
                [*cli, "synth", "-w", str(ws_path), "--people", str(args.people),
                 "--seed", str(args.seed)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
    else:
        ws_path = args.workspace
    period = Period.parse(args.period)
    try:
        ws = Workspace.open(ws_path)
        with open_workspace_engine(ws) as eng:
            people = eng.count("person")
            per_measure: dict[str, float] = {}
            last = [time.perf_counter()]

            def tick(mid: str) -> None:
                now = time.perf_counter()
                per_measure[mid] = now
                last[0] = now

            t0 = time.perf_counter()
            with console.status("all measures"):
                res = measures.run(eng, period, progress=tick)
            total = time.perf_counter() - t0
            ids = list(per_measure)
            stamps = [per_measure[m] for m in ids] + [t0 + total]
            durations = {m: stamps[i + 1] - stamps[i] for i, m in enumerate(ids)}
            sql = hand_sql(period)
            with console.status("HbA1c: Ibis vs hand-written SQL"):
                ibis_counts(eng, period)  # warm the cache for both
                t_ibis, c_ibis = median_time(lambda: ibis_counts(eng, period))
                t_sql, c_sql = median_time(lambda: sql_counts(eng, sql))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    table = Table(title=f"Measures on {people:,} people, period {period}")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    table.add_column("rate", justify="right")
    rates = res.rates().set_index("measure")
    for m, secs in durations.items():
        r = rates.loc[m, "rate"]
        table.add_row(m, f"{secs:.2f}", f"{r:.4f}" if r < 10 else f"{r:,.2f}")
    table.add_row("[bold]all", f"[bold]{total:.1f}", "")
    console.print(table)
    ratio = t_ibis / t_sql if t_sql > 0 else float("nan")
    agree = c_ibis == c_sql
    console.print(
        f"HbA1c poor control: Ibis {t_ibis:.2f} s, hand-written SQL {t_sql:.2f} s, "
        f"ratio {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x); counts "
        f"{'agree' if agree else 'DIFFER'}: Ibis {c_ibis}, SQL {c_sql}"
    )
    met = total < TARGET_SECONDS and ratio <= TARGET_RATIO
    verdict = ("PASS" if met else "MISS") if people >= 1_000_000 else "n/a (fewer people)"
    console.print(
        f"All measures: {total:.1f} s for {people:,} people "
        f"(target < {TARGET_SECONDS:.0f} s at 1,000,000): {verdict}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    history = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    history.append(
        {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "machine": machine(),
            "people": people,
            "period": str(period),
            "all_measures_seconds": round(total, 2),
            "per_measure_seconds": {m: round(s, 2) for m, s in durations.items()},
            "hba1c_ibis_seconds": round(t_ibis, 3),
            "hba1c_sql_seconds": round(t_sql, 3),
            "hba1c_ratio": round(ratio, 2),
            "hba1c_counts": {"ibis": list(c_ibis), "sql": list(c_sql)},
        }
    )
    RESULTS.write_text(json.dumps(history, indent=2) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
