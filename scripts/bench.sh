#!/usr/bin/env bash
# `make bench`: install popweave (and psutil, for peak memory) into .venv, then run
# benchmarks/run.py with the given arguments (e.g. --quick, --sizes 100000,1000000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv
say "installing popweave and psutil into $VENV"
pip_install -e . 'psutil>=5.9'
exec "$VENV/bin/python" benchmarks/run.py "$@"
