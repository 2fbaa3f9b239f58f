#!/usr/bin/env bash
# The cross-silo reference grid in one command: the sweep of cross_silo.yaml (150 runs, days of
# CPU; resumable: rerun the same command to continue), then docs/results.md from its database.
#   scenarios/cross_silo/run_all.sh [--jobs N] [--smoke]
# --smoke runs the same 150-run grid cut down to 2 rounds of 2 local steps, 500 test samples,
# into results/cross_silo_smoke.db and writes results/cross_silo_smoke.md (a check that every
# cell runs, not results). FEDSIM names the binary (default build/fedsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
FEDSIM=${FEDSIM:-build/fedsim}
JOBS=1
SMOKE=0
while [ $# -gt 0 ]; do
    case $1 in
    --jobs) JOBS=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    *) echo "usage: $0 [--jobs N] [--smoke]" >&2; exit 2 ;;
    esac
done
[ -x "$FEDSIM" ] || { echo "run_all.sh: no $FEDSIM (make all first)" >&2; exit 2; }
[ -f datasets/fashion-mnist.h5 ] || "$FEDSIM" data import fashion-mnist --out datasets/fashion-mnist.h5
SCEN=scenarios/cross_silo/cross_silo.yaml
if [ $SMOKE = 1 ]; then
    DB=results/cross_silo_smoke.db
    "$FEDSIM" sweep "$SCEN" --jobs "$JOBS" --db "$DB" --set rounds.count=2 --set train.steps=2 \
        --set eval.every=1 --set eval.test_samples=500
    scenarios/cross_silo/results.sh "$DB" results/cross_silo_smoke.md
else
    DB=results/cross_silo.db
    "$FEDSIM" sweep "$SCEN" --jobs "$JOBS" --db "$DB"
    scenarios/cross_silo/results.sh "$DB" docs/results.md
fi
