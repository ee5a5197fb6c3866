#!/usr/bin/env bash
# The whole check: lint (ruff format, ruff check, mypy) and the test suite (pytest).
#
#   scripts/test.sh                  Java for PySpark, PostgreSQL, the venv, lint, then pytest
#   scripts/test.sh --lint-only      the venv and lint only (`make lint`)
#   scripts/test.sh --no-lint        Java, PostgreSQL, the venv and pytest only
#   scripts/test.sh [...] ARGS       any further arguments go to pytest (e.g. -k cli -x)
#
# Environment: JUNIT_XML=path writes a JUnit XML report of the pytest run;
# PYTHON (default python3) and VENV (default .venv) as in scripts/_venv.sh.
#
# Every lint step runs even when an earlier one fails, and pytest runs after a lint failure,
# so one run reports everything; the exit code is pytest's when pytest fails, 1 when pytest
# collected no tests (its code 5) or a lint step failed, else 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

lint=1
tests=1
case "${1:-}" in
--lint-only)
    tests=0
    shift
    ;;
--no-lint)
    lint=0
    shift
    ;;
esac

ensure_java() {
    if command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1; then
        return 0
    fi
    say "installing Java for PySpark (openjdk-17-jre-headless)"
    # ca-certificates-java fails to configure without this folder on slim images.
    as_root mkdir -p /usr/share/man/man1
    if ! apt_install openjdk-17-jre-headless; then
        apt_has default-jre-headless || die "cannot install Java: no openjdk-17-jre-headless"
        say "openjdk-17-jre-headless is not available; installing default-jre-headless"
        apt_install default-jre-headless
    fi
    command -v java >/dev/null 2>&1 || die "Java was installed but java is not on PATH"
}

# PostgreSQL for the care-store tests (they start a throwaway cluster of their own).
ensure_postgres() {
    if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1; then
        return 0
    fi
    say "installing PostgreSQL for the care-store tests (postgresql)"
    apt_install postgresql
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || die "PostgreSQL was installed but initdb is missing"
}

# Chromium for the browser tests of the web pages (Playwright drives Debian's chromium;
# Playwright's own browser download is not used).
ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    say "installing Chromium for the browser tests (chromium)"
    apt_install chromium
    [ -x /usr/bin/chromium ] || die "chromium was installed but /usr/bin/chromium is missing"
}

if [ "$tests" -eq 1 ]; then
    ensure_java
    ensure_postgres
    ensure_chromium
fi
ensure_venv
say "installing popweave with its dev dependencies into $VENV"
pip_install -e '.[dev]'
PY="$VENV/bin/python"

failed=()
step() {
    local name=$1
    shift
    say "$name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

if [ "$lint" -eq 1 ]; then
    step "ruff format --check" "$PY" -m ruff format --check popweave tests benchmarks
    step "ruff check" "$PY" -m ruff check --output-format concise popweave tests benchmarks
    step "mypy" "$PY" -m mypy popweave
    if [ "${#failed[@]}" -gt 0 ]; then
        printf 'lint FAILED: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
    else
        say "lint passed"
    fi
fi

if [ "$tests" -eq 0 ]; then
    [ "${#failed[@]}" -eq 0 ] || exit 1
    exit 0
fi

junit=()
if [ -n "${JUNIT_XML:-}" ]; then
    mkdir -p "$(dirname "$JUNIT_XML")"
    junit=(--junitxml "$JUNIT_XML")
fi

say "pytest"
rc=0
"$PY" -m pytest -q "${junit[@]}" "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests; that counts as a failure" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    [ "${#failed[@]}" -eq 0 ] || printf 'lint FAILED too: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
    exit "$rc"
fi
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'tests passed but lint FAILED: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
    exit 1
fi
