#!/usr/bin/env bash
# Issue 17's table in one command (`make bench-fl`): for each model and batch, `fedsim bench fl`
# and the same FedAvg loop in PyTorch (analysis/bench_torch.py) back to back, one thread each
# (THREADS=2 for two), then the row: training samples/s of both, their ratio, fedsim's `bench
# kernels` loop of the same model and batch, the end-to-end rate as a share of it, and the share
# of time outside the layers. Both count samples per second of the process's CPU time with one
# thread (per wall second with more). PyTorch (Debian's python3-torch) is optional: without it
# the PyTorch columns say "-". A benchmark: run it on a quiet machine; it asserts nothing.
#
#   analysis/bench_fl.sh [FEDSIM]     env: SECONDS_PER_RUN (3), THREADS (1), ROWS ("logreg:10 ..."),
#                                     TORCH=0 (leave PyTorch out)
set -u
FEDSIM=${1:-build/fedsim}
S=${SECONDS_PER_RUN:-3}
T=${THREADS:-1}
ROWS=${ROWS:-"logreg:10 logreg:32 mlp:10 mlp:32 lenet:10 lenet:32 cnn:10 cnn:32"}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
have_torch=0
[ "${TORCH:-1}" != 0 ] && "$PY" -c 'import torch' 2> /dev/null && have_torch=1

echo "# fedsim bench fl vs PyTorch, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs;" \
    "flags: $(grep -m1 -o -w -E 'avx512f|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load: $(uptime | sed 's/.*load average/load average/'); $T thread(s), $S s per measurement"
[ "$have_torch" = 1 ] && echo "PyTorch: $("$PY" -c 'import torch; print(torch.__version__)')" \
    || echo "PyTorch: not installed (apt-get install python3-torch)"
echo
echo "| model | batch | fedsim samples/s | PyTorch samples/s | ratio | bench kernels | end to end / kernels | outside the layers |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for row in $ROWS; do
    model=${row%%:*}
    batch=${row##*:}
    out=$("$FEDSIM" bench fl --model "$model" --batch "$batch" --threads "$T" --seconds "$S" 2>&1) || {
        echo "| $model | $batch | failed: $(tail -1 <<< "$out") |"
        continue
    }
    # the results row: | rounds | samples | steps | samples/s (CPU) | samples/s (wall) | in | out |
    res=$(grep -A2 '^| rounds' <<< "$out" | tail -1)
    cpu=$(awk -F'|' '{gsub(/ /, "", $5); print $5}' <<< "$res")
    wall=$(awk -F'|' '{gsub(/ /, "", $6); print $6}' <<< "$res")
    outside=$(awk -F'|' '{gsub(/ /, "", $8); print $8}' <<< "$res")
    fed=$([ "$T" = 1 ] && echo "$cpu" || echo "$wall")
    kern=$(sed -n 's/.*(one thread, thread CPU time): \([0-9]*\) samples\/s.*/\1/p' <<< "$out")
    share=$(sed -n 's/.*: \([0-9.]*%\) of it$/\1/p' <<< "$out")
    torch="-"
    ratio="-"
    if [ "$have_torch" = 1 ]; then
        t=$("$PY" "$HERE/bench_torch.py" --model "$model" --batch "$batch" --threads "$T" \
            --seconds "$S" 2>&1 | sed -n 's/.*samples\/s=\([0-9]*\).*/\1/p')
        if [ -n "$t" ]; then
            torch=$t
            ratio=$(awk -v a="$fed" -v b="$t" 'BEGIN { printf "%.1fx", a / b }')
        fi
    fi
    echo "| $model | $batch | $fed | $torch | $ratio | $kern | $share | $outside |"
done
