#!/usr/bin/env bash
# The personalization study (docs/personalization.md): both sweeps, then the tables.
#   scenarios/personal/run.sh [--jobs N]
# Fashion-MNIST 2 labels per client (fmnist.yaml, 15 runs of under a minute) and KJV chapters
# (kjv.yaml, 4 runs of a few minutes), each into results/personal_<study>.db; resumable (a
# rerun continues where it stopped). Builds the datasets it needs first; ends with the tables
# (results.sh) and the per-client accuracy CDFs of the Fashion-MNIST study (docs/figures/).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=1
[ "${1:-}" = "--jobs" ] && JOBS=$2
FEDSIM=${FEDSIM:-build/fedsim}
[ -x "$FEDSIM" ] || make -j2 "$FEDSIM"
[ -f datasets/fashion-mnist.h5 ] || make datasets/fashion-mnist.h5
[ -f datasets/kjv.h5 ] || make datasets/kjv.h5
"$FEDSIM" sweep scenarios/personal/fmnist.yaml --jobs "$JOBS"
"$FEDSIM" sweep scenarios/personal/kjv.yaml --jobs "$JOBS"
scenarios/personal/results.sh
if /usr/bin/python3 -c "import matplotlib" 2> /dev/null; then # the per-client accuracy CDFs
    /usr/bin/python3 analysis/plot.py results/personal_fmnist.db --kind cdf --by algorithm.name \
        -o docs/figures/personal_fmnist_global_cdf.png
    /usr/bin/python3 analysis/plot.py results/personal_fmnist.db --kind cdf --by algorithm.name \
        --column pers_acc -o docs/figures/personal_fmnist_pers_cdf.png
fi
