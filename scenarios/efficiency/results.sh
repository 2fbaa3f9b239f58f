#!/usr/bin/env bash
# The communication-efficiency and client-selection study (docs/efficiency.md), in one command:
#   scenarios/efficiency/results.sh [DB] [DOC]   (default results/efficiency.db, docs/efficiency.md)
# Runs scenarios/efficiency/efficiency.yaml once per configuration below (skipping those already
# completed in DB, so an interrupted study resumes), then writes the table of the time and the
# uploaded bytes to 80 % test accuracy (eval.target_accuracy) into DOC, between its lines
# "<!-- results: begin -->" and "<!-- results: end -->", and the figure
# docs/figures/efficiency.png (analysis/efficiency_figure.py, matplotlib). Each run takes a few minutes on one
# core (nice 19, -j 1). RUNS="label ..." restricts the runs; TABLE_ONLY=1 only rebuilds the page.
set -euo pipefail
DB=${1:-results/efficiency.db}
DOC=${2:-docs/efficiency.md}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
FEDSIM=${FEDSIM:-build/fedsim}
BASE=scenarios/efficiency/efficiency.yaml
FIG=${FIG:-docs/figures/efficiency.png}

# label | selection | compression | --set arguments
CONFIGS=(
  "uniform|uniform|none|"
  "oort|oort|none|--set selection.mode=oort"
  "poc|power_of_choice|none|--set selection.mode=power_of_choice"
  "topk|uniform|topk 1 % + EF|--set compression.kind=topk --set compression.k=0.01 --set compression.error_feedback=true"
  "qsgd|uniform|qsgd 4 bits|--set compression.kind=qsgd --set compression.bits=4"
  "sign|uniform|sign (majority vote) + EF|--set compression.kind=sign --set compression.error_feedback=true"
  "oort-topk|oort|topk 1 % + EF|--set selection.mode=oort --set compression.kind=topk --set compression.k=0.01 --set compression.error_feedback=true"
)
mkdir -p "$(dirname "$DB")"
done_run() { [ -f "$DB" ] && [ "$(sqlite3 -batch -noheader "$DB" \
    "SELECT count(*) FROM runs WHERE name = 'eff-$1' AND status = 'completed'" 2>/dev/null)" != 0 ]; }
if [ -z "${TABLE_ONLY:-}" ]; then
    for cfg in "${CONFIGS[@]}"; do
        IFS='|' read -r label _ _ args <<< "$cfg"
        if [ -n "${RUNS:-}" ] && ! grep -qw -- "$label" <<< "$RUNS"; then continue; fi
        if done_run "$label"; then echo "results.sh: $label done"; continue; fi
        echo "results.sh: running $label"
        # shellcheck disable=SC2086
        nice -n 19 "$FEDSIM" run "$BASE" --quiet -j 1 --db "$DB" --set name="eff-$label" $args
    done
fi
[ -f "$DB" ] || { echo "results.sh: no database $DB" >&2; exit 2; }

# per run: the time, rounds and uploaded bytes to the target, the final and best accuracy
q() { sqlite3 -batch -noheader -separator '|' "$DB" "$1"; }
row() { # label -> n_rounds|tta_round|tta_vtime|tta_up|final|best|vtime|up_total|bytes/update
    q "WITH r AS (SELECT id, json_extract(params, '\$.\"eval.target_accuracy\"') AS t FROM runs
                  WHERE name = 'eff-$1' AND status = 'completed' ORDER BY id DESC LIMIT 1),
            x AS (SELECT min(round) AS tr FROM rounds, r WHERE run_id = r.id AND test_acc >= r.t)
       SELECT (SELECT count(*) FROM rounds, r WHERE run_id = r.id), x.tr,
              (SELECT vtime_s FROM rounds, r WHERE run_id = r.id AND round = x.tr),
              (SELECT sum(bytes_up) FROM rounds, r WHERE run_id = r.id AND round <= x.tr),
              (SELECT test_acc FROM rounds, r WHERE run_id = r.id AND test_acc IS NOT NULL
                ORDER BY round DESC LIMIT 1),
              (SELECT max(test_acc) FROM rounds, r WHERE run_id = r.id),
              (SELECT max(vtime_s) FROM rounds, r WHERE run_id = r.id),
              (SELECT sum(bytes_up) FROM rounds, r WHERE run_id = r.id),
              (SELECT sum(bytes_up) / sum(completed) FROM rounds, r WHERE run_id = r.id)
       FROM x"
}
base=$(row uniform || true)
IFS='|' read -r _ _ bt bb _ _ _ _ _ <<< "${base:-}"
{
    echo "| run | selection | compression | rounds to 80 % | virtual time to 80 % | speed-up | MB up to 80 % | fewer bytes | final acc | best acc | rounds run |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for cfg in "${CONFIGS[@]}"; do
        IFS='|' read -r label sel cmp _ <<< "$cfg"
        r=$(row "$label" 2>/dev/null || true)
        if [ -z "$r" ] || [ "${r%%|*}" = 0 ]; then
            echo "| $label | $sel | $cmp | not run | | | | | | | |"
            continue
        fi
        IFS='|' read -r n tr tv tu fin best _ _ _ <<< "$r"
        awk -v l="$label" -v s="$sel" -v c="$cmp" -v n="$n" -v tr="$tr" -v tv="$tv" -v tu="$tu" \
            -v fin="$fin" -v best="$best" -v bt="$bt" -v bb="$bb" 'BEGIN {
            line = sprintf("| %s | %s | %s |", l, s, c)
            if (tr == "") line = line " not reached | | | | |"
            else {
                line = line sprintf(" %d | %.1f min |", tr, tv / 60)
                line = line (bt != "" ? sprintf(" %.2fx |", bt / tv) : " |")
                line = line sprintf(" %.1f |", tu / 1e6)
                line = line (bb != "" ? sprintf(" %.1fx |", bb / tu) : " |")
            }
            printf "%s %.2f %% | %.2f %% | %d |\n", line, 100 * fin, 100 * best, n }'
    done
    echo
    echo "Speed-up and fewer bytes: relative to the uniform, uncompressed run (its time and bytes to"
    echo "80 % divided by this run's)."
} > "$OUT"
grep -q '^<!-- results: begin -->$' "$DOC" && grep -q '^<!-- results: end -->$' "$DOC" ||
    { echo "results.sh: $DOC has no results markers" >&2; exit 2; }
awk -v tab="$OUT" '/^<!-- results: begin -->$/ { print; while ((getline l < tab) > 0) print l; skip = 1; next }
     /^<!-- results: end -->$/ { skip = 0 } !skip' "$DOC" > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
echo "results.sh: wrote the table into $DOC"
if command -v python3 > /dev/null; then
    mkdir -p "$(dirname "$FIG")"
    /usr/bin/python3 analysis/efficiency_figure.py "$DB" -o "$FIG" && echo "results.sh: wrote $FIG"
fi
