#!/usr/bin/env bash
# Build the cross-silo results page from the sweep's database with sqlite3:
#   scenarios/cross_silo/results.sh [DB] [OUT]     (default results/cross_silo.db, docs/results.md)
# One table per statistic, algorithms x partitions, each cell mean +- sample standard deviation
# over the completed seeds (n in brackets when fewer than 3): final test accuracy (the last
# evaluated round), the mean of the last five evaluations, the best evaluation, final local
# training loss (the last round's sample-weighted loss of the clients' own training), and, for
# runs with eval.train_samples, final global training loss (the global model on the clients'
# pooled training samples: the federated objective).
# Only completed runs count, and of a run that was interrupted and rerun only the rerun.
set -euo pipefail
DB=${1:-results/cross_silo.db}
OUT=${2:-docs/results.md}
[ -f "$DB" ] || { echo "results.sh: no database $DB (run scenarios/cross_silo/run_all.sh)" >&2; exit 2; }

PARTS="iid dir(0.5) 1-label 2-label 3-label"
FEDSIM=${FEDSIM:-build/fedsim}        # for the label draws of the per-class table
CS_DATA=${CS_DATA:-datasets/fashion-mnist.h5}

# The row label of a run: the algorithm, with FedProx's mu and SCAFFOLD's weighting, which the
# studies vary (issue 13: mu tuned over NIID-Bench's grid; SCAFFOLD by data size).
ALG_SQL="CASE json_extract(r.params, '\$.\"algorithm.name\"')
  WHEN 'fedprox' THEN 'fedprox mu=' || json_extract(r.params, '\$.\"algorithm.mu\"')
  WHEN 'scaffold' THEN 'scaffold ' || coalesce(json_extract(r.params, '\$.\"algorithm.weighting\"'), 'uniform')
  ELSE json_extract(r.params, '\$.\"algorithm.name\"') END"
PART_SQL="CASE json_extract(r.params, '\$.\"partition.kind\"')
  WHEN 'iid' THEN 'iid'
  WHEN 'dirichlet' THEN 'dir(' || json_extract(r.params, '\$.\"partition.alpha\"') || ')'
  WHEN 'labels' THEN json_extract(r.params, '\$.\"partition.labels_per_client\"') || '-label'
  ELSE json_extract(r.params, '\$.\"partition.kind\"') END"
# the rows present, in the grid's order of algorithms
ORDER="fedavg fedsgd fedprox feddyn scaffold fednova fedavgm fedadam fedyogi fedadagrad"
ALGS=$(sqlite3 -batch -noheader "$DB" "SELECT DISTINCT $ALG_SQL FROM runs r WHERE status = 'completed'" |
       awk -v order="$ORDER" 'BEGIN { n = split(order, o, " "); for (i = 1; i <= n; i++) rank[o[i]] = i }
            { split($0, w, " "); print (w[1] in rank ? rank[w[1]] : 99) "\t" $0 }' |
       sort -t$'\t' -k1,1n -k2,2 | cut -f2 | tr ' ' '~')

# alg|part|n|mean|sd per statistic; the partition label from the resolved parameters
stats() { # column expression over the run's last evaluated round (acc) or last round (loss)
    sqlite3 -batch -noheader "$DB" "
WITH fin AS (
  SELECT replace($ALG_SQL, ' ', '~') AS alg, $PART_SQL AS part, $1 AS v
  FROM runs r
  WHERE r.status = 'completed' AND r.superseded_by IS NULL)
SELECT alg, part, count(v), avg(v),
       CASE WHEN count(v) > 1
            THEN sqrt(max(0, (sum(v * v) - sum(v) * sum(v) / count(v)) / (count(v) - 1)))
            END
FROM fin WHERE v IS NOT NULL GROUP BY alg, part;"
}

last_of() { # a rounds column's value in the run's last round that has one
    printf '(SELECT x.%s FROM rounds x WHERE x.run_id = r.id AND x.%s IS NOT NULL
          ORDER BY x.round DESC LIMIT 1)' "$1" "$1"
}

table() { # title, column expression, printf format of mean and sd
    local rows
    rows=$(stats "$2")
    echo "### $1"
    echo
    printf '| algorithm |'; for p in $PARTS; do printf ' %s |' "$p"; done; echo
    printf '|---|'; for _ in $PARTS; do printf '%s' '---|'; done; echo
    for a in $ALGS; do
        printf '| %s |' "${a//\~/ }"
        for p in $PARTS; do
            local line
            line=$(awk -F'|' -v a="$a" -v p="$p" '$1 == a && $2 == p' <<< "$rows")
            if [ -z "$line" ]; then printf ' — |'; continue; fi
            awk -F'|' -v f="$3" '{
                s = sprintf(f, $4); if ($5 != "") s = s sprintf(" ± " f, $5);
                if ($3 < 3) s = s " (n=" $3 ")"; printf " %s |", s }' <<< "$line"
        done
        echo
    done
    echo
}

CLASSES="T-shirt Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Boot"
# Per-class accuracy at the last evaluation of every completed label-skewed run (the confusion
# table, eval.confusion), each class with the number of silos that hold it in that run's draw
# (fedsim data stats on the run's partition and seed): which classes the federation misses and
# whether they are the ones few silos hold or that share a silo with a confusable class.
per_class() {
    local ids
    ids=$(sqlite3 -batch -noheader "$DB" "SELECT r.id FROM runs r WHERE r.status = 'completed'
            AND r.superseded_by IS NULL AND json_extract(r.params, '\$.\"partition.kind\"') = 'labels'
            AND EXISTS (SELECT 1 FROM confusion c WHERE c.run_id = r.id) ORDER BY r.id")
    [ -n "$ids" ] || return 0
    echo "### Per-class test accuracy of the label-skewed runs"
    echo
    echo "Final evaluation; in brackets, how many of the 10 silos hold the class in that run's"
    echo "label draw (\`fedsim data stats\` on the run's partition and seed); the last column"
    echo "lists the silos' label pairs."
    echo
    printf '| run | cell | algorithm | seed |'; for c in $CLASSES; do printf ' %s |' "$c"; done
    echo ' silos |'
    printf '|---:|---|---|---:|'; for _ in $CLASSES; do printf '%s' '---:|'; done; echo '---|'
    local tmp
    tmp=$(mktemp -d)
    for id in $ids; do
        IFS='|' read -r part alg seed k <<< "$(sqlite3 -batch -noheader "$DB" "SELECT $PART_SQL, $ALG_SQL,
            r.seed, json_extract(r.params, '\$.\"partition.labels_per_client\"') FROM runs r WHERE r.id = $id")"
        local held="" pairs=""
        if [ -x "$FEDSIM" ] && "$FEDSIM" data stats "$(dirname "$0")/cross_silo.yaml" \
                --set data.path="$CS_DATA" --set partition.kind=labels --set partition.labels_per_client="$k" \
                --set seed="$seed" --matrix "$tmp/m.csv" > /dev/null 2>&1; then
            held=$(awk -F, 'NR > 1 { for (c = 5; c <= 14; c++) if ($c > 0) h[c - 5]++ }
                            END { for (c = 0; c < 10; c++) printf "%d ", h[c] + 0 }' "$tmp/m.csv")
            pairs=$(awk -F, 'NR > 1 { s = ""; for (c = 5; c <= 14; c++) if ($c > 0) s = s (s ? "+" : "") (c - 5);
                                      printf "%s%s", (NR > 2 ? " " : ""), s }' "$tmp/m.csv")
        fi
        local accs
        accs=$(sqlite3 -batch -noheader "$DB" "SELECT class, printf('%.2f', acc) FROM class_acc
                 WHERE run_id = $id AND round = (SELECT max(round) FROM confusion WHERE run_id = $id)")
        printf '| %s | %s | %s | %s |' "$id" "$part" "$alg" "$seed"
        read -r -a h <<< "$held"
        for c in 0 1 2 3 4 5 6 7 8 9; do
            a=$(awk -F'|' -v c=$c '$1 == c { print $2 }' <<< "$accs")
            printf ' %s%s |' "${a:-—}" "${h[$c]:+ (${h[$c]})}"
        done
        echo " ${pairs:-—} |"
    done
    rm -rf "$tmp"
    echo
    echo "Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,"
    echo "7 Sneaker, 8 Bag, 9 Ankle boot."
    echo
}

{
    echo "# Cross-silo results"
    echo
    echo "Generated by \`scenarios/cross_silo/results.sh\` from \`$DB\` on $(date -u +%Y-%m-%d);"
    echo "the grid is \`scenarios/cross_silo/cross_silo.yaml\` (regenerate everything with"
    echo "\`scenarios/cross_silo/run_all.sh\`). Fashion-MNIST, 10 silos all taking part in every"
    echo "round, LeNet-5, 50 rounds of 10 local epochs (batch 64, SGD lr 0.01, momentum 0.9,"
    echo "weight decay 1e-5); update rules in docs/algorithms.md. Each cell: mean ± sample"
    echo "standard deviation over seeds 1-3 (n when fewer completed)."
    echo
    table "Final test accuracy" "$(last_of test_acc)" "%.4f"
    echo "Label-skewed runs oscillate from evaluation to evaluation (see the curves below), so"
    echo "the last evaluation alone is a noisy summary; the next two tables give the mean of the"
    echo "last five evaluations (rounds 30-50 at eval.every = 5) and the best evaluation."
    echo
    table "Mean test accuracy over the last 5 evaluations" \
        "(SELECT avg(t.test_acc) FROM (SELECT x.test_acc FROM rounds x WHERE x.run_id = r.id
          AND x.test_acc IS NOT NULL ORDER BY x.round DESC LIMIT 5) t)" "%.4f"
    table "Best test accuracy" \
        "(SELECT max(x.test_acc) FROM rounds x WHERE x.run_id = r.id)" "%.4f"
    echo "Local training loss is the clients' own mean minibatch loss during their last round of"
    echo "local training (sample-weighted): how well each silo fits its own data, which label skew"
    echo "makes easy; it is not the global model's loss."
    echo
    table "Final local training loss" "$(last_of train_loss)" "%.4f"
    if [ "$(sqlite3 -batch -noheader "$DB" "SELECT count(*) FROM pragma_table_info('rounds')
                                            WHERE name = 'global_train_loss'")" = 1 ] &&
       [ "$(sqlite3 -batch -noheader "$DB" "SELECT count(global_train_loss) FROM rounds")" != 0 ]; then
        echo "Global training loss: the global model on the clients' pooled training samples"
        echo "(\`eval.train_samples\`, docs/metrics.md), the objective federated training minimises."
        echo
        table "Final global training loss" "$(last_of global_train_loss)" "%.4f"
    fi
    runs=$(sqlite3 -batch -noheader "$DB" "SELECT count(*), coalesce(sum(wall_s), 0) FROM runs
                                           WHERE status = 'completed' AND superseded_by IS NULL")
    echo "${runs%%|*} completed runs, $(awk -v s="${runs##*|}" 'BEGIN { printf "%.1f", s / 3600 }') hours of wall time."
    echo
    per_class
    ANALYSIS=$(dirname "$0")/analysis.md
    if [ -f "$ANALYSIS" ] && [ "$DB" = results/cross_silo.db ]; then cat "$ANALYSIS"; echo; fi
    echo "## Runs in the database"
    echo
    echo "Every run row, including failed, interrupted and superseded ones (\`commit\` is the"
    echo "binary's \`runs.git_rev\`; wall time includes any pauses of the machine)."
    echo
    echo "| run | partition | algorithm | seed | status | rounds | wall (h) | commit | last test acc | last train loss |"
    echo "|---:|---|---|---:|---|---:|---:|---|---:|---:|"
    sqlite3 -batch -noheader -separator ' | ' "$DB" "
SELECT r.id, $PART_SQL,
       $ALG_SQL, r.seed,
       r.status || CASE WHEN r.superseded_by IS NOT NULL THEN ' (rerun as ' || r.superseded_by || ')' ELSE '' END,
       (SELECT count(*) FROM rounds x WHERE x.run_id = r.id),
       printf('%.2f', coalesce(r.wall_s, 0) / 3600.0), r.git_rev,
       coalesce((SELECT printf('%.4f', x.test_acc) FROM rounds x WHERE x.run_id = r.id
                 AND x.test_acc IS NOT NULL ORDER BY x.round DESC LIMIT 1), ''),
       coalesce((SELECT printf('%.4f', x.train_loss) FROM rounds x WHERE x.run_id = r.id
                 AND x.train_loss IS NOT NULL ORDER BY x.round DESC LIMIT 1), '')
FROM runs r ORDER BY r.id;" | sed 's/^/| /; s/$/ |/'
    echo
    echo "Test accuracy every 5 rounds (runs with at least one evaluation):"
    echo
    printf '| run |'; for k in 5 10 15 20 25 30 35 40 45 50; do printf ' %s |' $k; done; echo
    printf '|---:|'; for _ in 1 2 3 4 5 6 7 8 9 10; do printf '%s' '---:|'; done; echo
    for id in $(sqlite3 -batch -noheader "$DB" "SELECT DISTINCT run_id FROM rounds
                                                WHERE test_acc IS NOT NULL ORDER BY run_id"); do
        printf '| %s |' "$id"
        for k in 5 10 15 20 25 30 35 40 45 50; do
            v=$(sqlite3 -batch -noheader "$DB" "SELECT printf('%.4f', test_acc) FROM rounds
                                               WHERE run_id = $id AND round = $k AND test_acc IS NOT NULL")
            printf ' %s |' "${v:-—}"
        done
        echo
    done
    # the runs whose database was lost, then the hand-kept log (commands, machine, incidents)
    EARLIER=$(dirname "$0")/earlier.md
    if [ -f "$EARLIER" ]; then echo; cat "$EARLIER"; fi
    LOG=$(dirname "$0")/runlog.md
    if [ -f "$LOG" ]; then echo; cat "$LOG"; fi
} > "$OUT"
echo "wrote $OUT"
