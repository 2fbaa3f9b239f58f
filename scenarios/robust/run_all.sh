#!/usr/bin/env bash
# The robustness study in one command: the sweep of scenarios/robust/robust.yaml (220 runs of
# about 7 s each on one core; resumable: a rerun continues where it stopped) into
# results/robust.db and centered clipping's radius (cc_radius.yaml, 30 runs) into
# results/robust_cc.db, then docs/robustness.md and its figure from them.
#   scenarios/robust/run_all.sh [--jobs N]
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${2:-2}
[ "${1:-}" = "--jobs" ] || JOBS=2
make -s all
build/fedsim sweep scenarios/robust/robust.yaml --jobs "$JOBS"
build/fedsim sweep scenarios/robust/cc_radius.yaml --jobs "$JOBS"
scenarios/robust/results.sh results/robust.db docs/robustness.md
