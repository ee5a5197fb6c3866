# popweave: everyday commands. `make help` lists them.
#
# The scripts they run live in scripts/ and read these variables from the environment:
#   PYTHON     the Python used to create the venv (default python3, 3.11 or newer)
#   VENV       the virtual environment (default .venv)
#   WORKSPACE  the demo workspace (default popweave-data)
#   BENCH_ARGS arguments for benchmarks/run.py, e.g. make bench BENCH_ARGS=--quick

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
WORKSPACE ?= popweave-data
BENCH_ARGS ?=
export PYTHON VENV WORKSPACE

.PHONY: help demo test lint bench clean

help:
	@echo "make demo   install into $(VENV), build a city of 20,000 people in $(WORKSPACE)/, show its tables"
	@echo "make test   Java for PySpark, $(VENV) with the dev tools, lint, then the test suite (scripts/test.sh)"
	@echo "make lint   ruff format --check, ruff check and mypy only"
	@echo "make bench  time popweave synth at 100,000 and 1,000,000 people (BENCH_ARGS=--quick: 100,000 only)"
	@echo "make clean  remove $(WORKSPACE)/ and caches (keeps $(VENV))"

demo:
	@bash scripts/demo.sh

test:
	@bash scripts/test.sh

lint:
	@bash scripts/test.sh --lint-only

bench:
	@bash scripts/bench.sh $(BENCH_ARGS)

clean:
	rm -rf -- "$(WORKSPACE)" .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist \
		spark-warehouse metastore_db derby.log test-artifacts
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name "*.egg-info" \) -type d \
		-exec rm -rf -- {} +
