#!/usr/bin/env bash
# `make demo`: install popweave into .venv, build a synthetic city of 20,000 people into the
# workspace popweave-data/, show its tables, compute measures, risk and an outreach assignment,
# and write the HTML population report.
#
# Environment: WORKSPACE (default popweave-data), PEOPLE (default 20000), SEED (default 42),
# PYTHON (default python3), VENV (default .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

WORKSPACE="${WORKSPACE:-popweave-data}"
PEOPLE="${PEOPLE:-20000}"
SEED="${SEED:-42}"

ensure_venv
say "installing popweave into $VENV"
pip_install -e .
PW="$VENV/bin/popweave"

if [ -f "$WORKSPACE/popweave.toml" ]; then
    say "using the existing workspace $WORKSPACE/"
else
    say "popweave init $WORKSPACE"
    "$PW" init "$WORKSPACE"
fi
say "popweave synth --people $PEOPLE --seed $SEED --replace --workspace $WORKSPACE"
"$PW" synth --people "$PEOPLE" --seed "$SEED" --replace --workspace "$WORKSPACE"
say "popweave tables --workspace $WORKSPACE"
"$PW" tables --workspace "$WORKSPACE"
say "popweave run measures --period 2025 --workspace $WORKSPACE"
"$PW" run measures --period 2025 --workspace "$WORKSPACE"
say "popweave cohort build popweave/cohorts/library/deprived_chronic.yaml --workspace $WORKSPACE"
"$PW" cohort build popweave/cohorts/library/deprived_chronic.yaml --workspace "$WORKSPACE"
# Risk takes about 25 s and assignment 2 s on 20,000 people; the report reads both.
say "popweave run risk --workspace $WORKSPACE"
"$PW" run risk --workspace "$WORKSPACE"
say "popweave assign --workspace $WORKSPACE"
"$PW" assign --workspace "$WORKSPACE" >/dev/null
REPORT="$WORKSPACE/reports/population-report-2025.html"
say "popweave report --period 2025 --out $REPORT --workspace $WORKSPACE"
"$PW" report --period 2025 --out "$REPORT" --workspace "$WORKSPACE"
say "popweave demo-users --workspace $WORKSPACE"
"$PW" demo-users --workspace "$WORKSPACE" >/dev/null

row() { printf '  %-46s %s\n' "$1" "$2"; }
echo
echo "What to try next (run \`source $VENV/bin/activate\` first, or prefix $VENV/bin/):"
row "popweave tables --workspace $WORKSPACE" "row counts of every warehouse table"
row "popweave quarantine --workspace $WORKSPACE" "rejected rows by table, field and reason"
row "popweave cohort show deprived_chronic -w $WORKSPACE" "who is in a cohort (docs/cohorts.md)"
row "popweave run measures --period 2025 -w $WORKSPACE" "quality measures and care gaps (docs/measures.md)"
row "popweave export fhir out/ --workspace $WORKSPACE" "the city as FHIR R4 Bulk NDJSON (or: synthea)"
row "popweave ingest fhir out/ --workspace NEW" "load it (or your own data) into another workspace"
row "popweave --help" "every command and its options"
row "$REPORT" "the population report: open it in a browser"
row "" "(one file, works offline; docs/report.md)"
row "$WORKSPACE/truth.json" "the planted truths: effects built into the city"
row "" "(e.g. readmission rate ratios, a pilot's effect)"
echo "  An Ibis query from Python, encounters by class:"
echo "    python -c \"from popweave.workspace import Workspace;" \
    "from popweave.warehouse import open_workspace_engine;" \
    "eng = open_workspace_engine(Workspace.open('$WORKSPACE'));" \
    "print(eng.table('encounter').group_by('encounter_class').count().execute())\""
echo
echo "The population report is $REPORT"
echo "  open it in a browser (it needs no network): file://$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")"
echo
echo "The web app: start it with"
echo "    $PW serve --workspace $WORKSPACE --host 127.0.0.1 --port 8000"
echo "  then open http://127.0.0.1:8000/ and log in as one of (login / password):"
for who in admin pm cm chw analyst; do
    case "$who" in
        admin) role="administrator" ;;
        pm) role="programme manager" ;;
        cm) role="care manager (a panel of patients)" ;;
        chw) role="community health worker" ;;
        analyst) role="analyst (aggregates only)" ;;
    esac
    printf '    %-8s %-20s %s\n' "$who" "$who-demo-pass" "$role"
done
echo "  The REST API is documented at http://127.0.0.1:8000/api/docs"
