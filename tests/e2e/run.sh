#!/usr/bin/env bash
# End-to-end tests of the fedsim command: a tiny scenario writes the expected rows; same seed
# gives identical metrics whatever the thread count; SIGTERM marks the run interrupted and
# keeps its rounds; scenario mistakes give file:line:col messages and exit 2; corrupt data is
# detected. Ends with the line "N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# metrics without wall times, for exact comparison
metrics() {
    q "$1" "SELECT round, vtime_s, available, selected, completed, dropped, late, abandoned,
            bytes_down, bytes_up, flops_used, flops_wasted, quote(train_loss), quote(test_loss),
            quote(test_acc) FROM rounds ORDER BY round"
}

TINY=$HERE/tiny.yaml

# --- a tiny run writes the expected rows and a completed run row
"$FEDSIM" run "$TINY" --db "$TMP/a.db" --quiet -j 1
rc=$?
check "tiny run exits 0" test $rc -eq 0
check "tiny run writes 8 rounds" test "$(q "$TMP/a.db" 'SELECT count(*) FROM rounds')" = 8
check "run marked completed" test "$(q "$TMP/a.db" 'SELECT status FROM runs')" = completed
check "test metrics every 2 rounds" \
    test "$(q "$TMP/a.db" 'SELECT count(*) FROM rounds WHERE test_acc IS NOT NULL')" = 4
check "schema version set" test "$(q "$TMP/a.db" 'PRAGMA user_version')" = 2
check "scenario text stored" \
    test "$(q "$TMP/a.db" "SELECT instr(scenario, 'name: tiny') > 0 FROM runs")" = 1
check "resolved params stored as JSON" \
    test "$(q "$TMP/a.db" "SELECT json_extract(params, '\$.\"train.lr\"') FROM runs")" = 0.05
check "updates never exceed clients_per_round" \
    test "$(q "$TMP/a.db" 'SELECT max(completed) FROM rounds')" -le 5
check "virtual time increases" \
    test "$(q "$TMP/a.db" 'SELECT count(*) FROM rounds a JOIN rounds b ON b.round = a.round + 1
                          WHERE b.vtime_s < a.vtime_s')" = 0

# --- determinism: same seed twice, and 1 vs 2 threads, bit-identical metrics
"$FEDSIM" run "$TINY" --db "$TMP/b.db" --quiet -j 1
"$FEDSIM" run "$TINY" --db "$TMP/c.db" --quiet -j 2
check "same seed, same metrics" test "$(metrics "$TMP/a.db")" = "$(metrics "$TMP/b.db")"
check "1 vs 2 threads, same metrics" test "$(metrics "$TMP/a.db")" = "$(metrics "$TMP/c.db")"
"$FEDSIM" run "$TINY" --db "$TMP/d.db" --quiet -j 1 --set seed=4
check "another seed, other metrics" test "$(metrics "$TMP/a.db")" != "$(metrics "$TMP/d.db")"

# --- algorithms (docs/algorithms.md): each runs; client state is thread- and cap-independent
for alg in fedsgd fedprox feddyn scaffold fednova fedavgm fedadam fedyogi fedadagrad; do
    "$FEDSIM" run "$TINY" --db "$TMP/alg-$alg.db" --quiet -j 2 --set algorithm.name=$alg \
        --set algorithm.server_lr=0.1 > /dev/null 2>&1
    check "algorithm $alg completes" test "$(q "$TMP/alg-$alg.db" 'SELECT status FROM runs')" = completed
done
check "scaffold reports its state memory" \
    test "$(q "$TMP/alg-scaffold.db" 'SELECT min(state_bytes) > 0 FROM rounds')" = 1
check "fedavg keeps no state" test "$(q "$TMP/a.db" 'SELECT max(state_bytes) FROM rounds')" = 0.0
"$FEDSIM" run "$TINY" --db "$TMP/sc1.db" --quiet -j 1 --set algorithm.name=scaffold \
    --set algorithm.server_lr=0.1 --set algorithm.state_memory_mb=0.001 --set algorithm.state_dir="$TMP"
check "scaffold: 1 vs 2 threads and memory cap, same metrics" \
    test "$(metrics "$TMP/sc1.db")" = "$(metrics "$TMP/alg-scaffold.db")"
check "scaffold: states over the cap spilled to disk" \
    test "$(q "$TMP/sc1.db" 'SELECT max(state_disk_bytes) > 0 FROM rounds')" = 1
check "spill file removed" test -z "$(ls -A "$TMP" | grep fedsim-state)"

# --- train.optimizer_state: per_client momentum is thread- and cap-independent; inert without
# momentum
MOM="--set train.momentum=0.9 --set train.optimizer_state=per_client"
"$FEDSIM" run "$TINY" --db "$TMP/os1.db" --quiet -j 1 $MOM
"$FEDSIM" run "$TINY" --db "$TMP/os2.db" --quiet -j 2 $MOM
"$FEDSIM" run "$TINY" --db "$TMP/os3.db" --quiet -j 2 $MOM --set algorithm.state_memory_mb=0.001 \
    --set algorithm.state_dir="$TMP"
"$FEDSIM" run "$TINY" --db "$TMP/os4.db" --quiet -j 1 --set train.momentum=0.9
"$FEDSIM" run "$TINY" --db "$TMP/os5.db" --quiet -j 1 --set train.optimizer_state=per_client
check "optimizer_state per_client: 1 vs 2 threads, same metrics" \
    test "$(metrics "$TMP/os1.db")" = "$(metrics "$TMP/os2.db")"
check "optimizer_state per_client: memory cap, same metrics" \
    test "$(metrics "$TMP/os1.db")" = "$(metrics "$TMP/os3.db")"
check "optimizer_state per_client: momentum spilled to disk" \
    test "$(q "$TMP/os3.db" 'SELECT max(state_disk_bytes) > 0 FROM rounds')" = 1
check "optimizer_state per_client: state memory reported" \
    test "$(q "$TMP/os1.db" 'SELECT max(state_bytes) > 0 FROM rounds')" = 1
check "optimizer_state per_client differs from reset" \
    test "$(metrics "$TMP/os1.db")" != "$(metrics "$TMP/os4.db")"
check "optimizer_state per_client without momentum: same metrics as reset, no state" \
    test "$(metrics "$TMP/os5.db")" = "$(metrics "$TMP/a.db")" -a \
    "$(q "$TMP/os5.db" 'SELECT max(state_bytes) FROM rounds')" = 0.0

# --- SIGTERM mid-run: marked interrupted, completed rounds kept and readable
"$FEDSIM" run "$TINY" --db "$TMP/int.db" --quiet -j 1 --set rounds.count=100000 \
    --set eval.every=1000 &
pid=$!
for _ in $(seq 1 100); do
    n=$(q "$TMP/int.db" 'SELECT count(*) FROM rounds' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.1
done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM exits 130" test $rc -eq 130
check "interrupted run marked" test "$(q "$TMP/int.db" 'SELECT status FROM runs')" = interrupted
n=$(q "$TMP/int.db" 'SELECT count(*) FROM rounds')
check "interrupted run keeps its rounds ($n)" test "$n" -ge 3 -a "$n" -lt 100000
check "interrupted rounds are consecutive" \
    test "$(q "$TMP/int.db" 'SELECT max(round) = count(*) FROM rounds')" = 1

# --- scenario errors: file:line:col, a hint, exit 2, nothing written
expect_error() { # name, expected-message-regex, yaml-text, [extra args]
    local name=$1 want=$2 text=$3; shift 3
    printf '%s\n' "$text" > "$TMP/bad.yaml"
    rm -f "$TMP/bad.db"
    "$FEDSIM" run "$TMP/bad.yaml" --db "$TMP/bad.db" --quiet "$@" 2> "$TMP/err.txt"
    local rc=$?
    if [ $rc -ne 2 ]; then bad "$name: exit $rc, expected 2" "$(cat "$TMP/err.txt")"; return; fi
    if ! tr '\n' ' ' < "$TMP/err.txt" | grep -Eq -- "$want"; then
        bad "$name: message" "got: $(cat "$TMP/err.txt")"; return
    fi
    if [ -e "$TMP/bad.db" ]; then bad "$name: wrote a database"; return; fi
    ok "$name"
}
expect_error "unknown key with suggestion" \
    "bad.yaml:3:3: error: unknown key 'partition.alpah'.*did you mean 'partition.alpha'" \
    $'name: x\npartition:\n  alpah: 0.5'
expect_error "wrong type" "bad.yaml:2:7: error: train.lr must be a number" \
    $'train:\n  lr: fast'
expect_error "out of range" "bad.yaml:2:22: error: rounds.clients_per_round = 0 is out of range" \
    $'rounds:\n  clients_per_round: 0'
expect_error "bad enum lists choices" "bad.yaml:1:19: .*choices: fedavg, fedsgd" \
    $'algorithm: {name: fedsgdd}'
expect_error "bad --set key" "--set:1:1: error: unknown key 'train.lrr'" \
    $'name: x' --set train.lrr=0.1
expect_error "bad --set value" "--set:1:.*train.epochs" $'name: x' --set train.epochs=-3
expect_error "yaml syntax error" "bad.yaml:[0-9]+:[0-9]+: error" $'train:\n  lr: [0.1\nname: x'

# --- validate command
"$FEDSIM" validate "$TINY" > /dev/null
check "validate accepts the tiny scenario" test $? -eq 0
# --- per-client evaluation: the same 12 clients at every evaluation, on their local test split
# when there is one; identical for 1 and 2 threads
"$FEDSIM" run "$TINY" --db "$TMP/ce1.db" --quiet -j 1 --set eval.clients=12
"$FEDSIM" run "$TINY" --db "$TMP/ce2.db" --quiet -j 2 --set eval.clients=12
check "client_eval: 12 clients x 4 evaluations" \
    test "$(q "$TMP/ce1.db" 'SELECT count(*), count(DISTINCT client) FROM client_eval')" = "48|12"
check "client_eval: 1 vs 2 threads identical" \
    test "$(q "$TMP/ce1.db" 'SELECT * FROM client_eval ORDER BY round, client')" = \
         "$(q "$TMP/ce2.db" 'SELECT * FROM client_eval ORDER BY round, client')"
check "client_eval: accuracies in [0, 1]" \
    test "$(q "$TMP/ce1.db" 'SELECT count(*) FROM client_eval WHERE acc < 0 OR acc > 1 OR n < 1')" = 0
"$FEDSIM" run "$TINY" --db "$TMP/ce3.db" --quiet -j 1 --set eval.clients=100 \
    --set partition.local_test_fraction=0.5
check "client_eval: every client, on half of its samples (local test split)" \
    test "$(q "$TMP/ce3.db" 'SELECT count(DISTINCT client) FROM client_eval')" = 30
check "client_eval: the local split is smaller than the training samples" \
    test "$(q "$TMP/ce3.db" 'SELECT sum(n) FROM client_eval WHERE round = 2')" -lt \
         "$(q "$TMP/ce1.db" 'SELECT sum(n) * 30 / 12 FROM client_eval WHERE round = 2')"

# --- eval.train_samples: the global model on the clients' pooled training samples. With every
# sample taken it is the sample-weighted mean of client_eval over every client (the same
# batches, a different code path: the sample and its grouping by client)
"$FEDSIM" run "$TINY" --db "$TMP/ge1.db" --quiet -j 1 --set eval.clients=30 \
    --set eval.train_samples=1000000
check "global_train_loss = sum n loss / sum n over client_eval (every client, every sample)" \
    test "$(q "$TMP/ge1.db" 'SELECT count(*) FROM rounds r WHERE r.test_acc IS NOT NULL AND
             abs(r.global_train_loss - (SELECT sum(n * loss) / sum(n) FROM client_eval c
                                        WHERE c.round = r.round)) <= 1e-9 * r.global_train_loss
             AND abs(r.global_train_acc - (SELECT sum(n * acc) / sum(n) FROM client_eval c
                                           WHERE c.round = r.round)) <= 1e-12')" = 4
check "global_train_*: NULL where the test set is not evaluated, and without the key" \
    test "$(q "$TMP/ge1.db" 'SELECT count(*) FROM rounds WHERE (global_train_loss IS NULL) !=
                                                               (test_acc IS NULL)')|$(
           q "$TMP/ce1.db" 'SELECT count(global_train_loss) FROM rounds')" = "0|0"
"$FEDSIM" run "$TINY" --db "$TMP/ge2.db" --quiet -j 1 --set eval.train_samples=50
"$FEDSIM" run "$TINY" --db "$TMP/ge3.db" --quiet -j 2 --set eval.train_samples=50
check "eval.train_samples=50: 1 vs 2 threads identical, and a different value than all samples" \
    test "$(q "$TMP/ge2.db" 'SELECT group_concat(global_train_loss || ":" || global_train_acc)
                           FROM rounds')" = \
         "$(q "$TMP/ge3.db" 'SELECT group_concat(global_train_loss || ":" || global_train_acc)
                           FROM rounds')" -a \
         "$(q "$TMP/ge2.db" 'SELECT global_train_loss FROM rounds WHERE round = 8')" != \
         "$(q "$TMP/ge1.db" 'SELECT global_train_loss FROM rounds WHERE round = 8')"
check "eval.train_samples=50: accuracies are multiples of 1/50" \
    test "$(q "$TMP/ge2.db" 'SELECT count(*) FROM rounds WHERE global_train_acc IS NOT NULL AND
                                    abs(global_train_acc * 50 - round(global_train_acc * 50)) > 1e-9')" = 0

# --- FedSGD computes one full-batch gradient per round: train.epochs changes nothing, not even
# the FLOPs and virtual time charged (it used to scale them); setting it says so
"$FEDSIM" run "$TINY" --db "$TMP/sgd1.db" --quiet -j 1 --set algorithm.name=fedsgd --set train.epochs=1
"$FEDSIM" run "$TINY" --db "$TMP/sgd5.db" -j 1 --set algorithm.name=fedsgd --set train.epochs=5 \
    2> "$TMP/sgd5.err" > /dev/null
"$FEDSIM" run "$TINY" --db "$TMP/avg1.db" --quiet -j 1 --set train.epochs=1
sgd_cols='SELECT group_concat(flops_used || ":" || vtime_s || ":" || test_loss) FROM rounds'
check "fedsgd: epochs 1 and 5 give the same FLOPs, virtual time and losses" \
    test "$(q "$TMP/sgd1.db" "$sgd_cols")" = "$(q "$TMP/sgd5.db" "$sgd_cols")"
check "fedsgd: charged one pass over the data (FedAvg's one epoch)" \
    test "$(q "$TMP/sgd5.db" 'SELECT sum(flops_used) FROM rounds')" = \
         "$(q "$TMP/avg1.db" 'SELECT sum(flops_used) FROM rounds')"
check "fedsgd: train.epochs = 5 is reported as ignored" grep -q "train.epochs = 5 does not apply to fedsgd" "$TMP/sgd5.err"

# --- eval.confusion (on by default): the test set's confusion matrix at each evaluation; its
# trace over its total is the round's test accuracy, its rows sum to the samples evaluated
check "confusion: one matrix per evaluation, trace / total = test_acc" \
    test "$(q "$TMP/ge1.db" 'SELECT count(*) FROM rounds r WHERE r.test_acc IS NOT NULL AND
             abs(r.test_acc - (SELECT 1.0 * sum(hits) / sum(n) FROM class_acc c
                               WHERE c.round = r.round)) <= 1e-12')|$(
           q "$TMP/ge1.db" 'SELECT count(DISTINCT round) FROM confusion')" = "4|4"
check "confusion: every class of the test set, with the per-class accuracies in class_acc" \
    test "$(q "$TMP/ge1.db" 'SELECT count(*) FROM class_acc WHERE round = 8 AND acc = 1.0 * hits / n')" = 10
"$FEDSIM" run "$TINY" --db "$TMP/nc.db" --quiet -j 1 --set eval.confusion=false
check "eval.confusion=false: no matrix, the same rounds" \
    test "$(q "$TMP/nc.db" 'SELECT count(*) FROM confusion')|$(
           q "$TMP/nc.db" 'SELECT group_concat(test_acc) FROM rounds')" = "0|$(
           q "$TMP/ge2.db" 'SELECT group_concat(test_acc) FROM rounds')"

# every command answers --help and -h with its usage, exit 0 (`sweep --help` was an error)
for c in $("$FEDSIM" help | sed -n 's/^  \([a-z-]*\) .*/\1/p' | grep -vx 'help\|version' | sort -u); do
    out=$("$FEDSIM" "$c" --help 2>&1); rc=$?
    out2=$("$FEDSIM" "$c" -h 2>&1); rc2=$?
    check "fedsim $c --help / -h: usage, exit 0" \
        test $rc -eq 0 -a $rc2 -eq 0 -a "${out%%$'\n'*}" = "usage:" -a "$out" = "$out2"
done
"$FEDSIM" help nosuch > /dev/null 2>&1
check "fedsim help NOSUCH: exit 2" test $? -eq 2

# every project file a document, a scenario or the code cites exists (a devices page and a
# DESIGN.md were cited and never existed)
missing=""
for f in $(cd "$HERE/../.." && grep -rhoE "(^|[^A-Za-z0-9_/.:])(docs|scenarios|analysis|tests)/[A-Za-z0-9_./-]+\.(md|png|yaml|sh|py|c|h)" \
               sim docs README.md scenarios analysis tests Makefile | sed -E 's/^[^a-z]//' | sort -u); do
    [ -e "$HERE/../../$f" ] || missing="$missing $f"
done
check "every cited project file exists${missing:+ (missing:$missing)}" test -z "$missing"

# every column of the record is documented in docs/metrics.md
for t in runs rounds client_events client_eval confusion class_acc; do
    undoc=""
    for col in $(q "$TMP/a.db" "SELECT name FROM pragma_table_info('$t')"); do
        grep -q "\`$col\`" "$HERE/../../docs/metrics.md" || undoc="$undoc $col"
    done
    check "docs/metrics.md documents every $t column${undoc:+ (missing:$undoc)}" test -z "$undoc"
done

# every scenario shipped validates, and every sweep section expands (no run starts); validate
# opens the dataset, so a scenario whose dataset is not built here (datasets/kjv-nt.h5 comes from
# scenarios/transfer/run.sh) must say exactly that, at its data.path
while IFS= read -r f; do
    rel=${f#"$HERE"/../../}
    "$FEDSIM" validate "$f" > /dev/null 2> "$TMP/val.txt"
    rc=$?
    if [ $rc -eq 2 ] && grep -q "error: datasets/[a-z_-]*\.h5: cannot open dataset file" "$TMP/val.txt"; then
        ok "validate $rel (dataset not built here: reported at data.path)"
    else
        check "validate $rel" test $rc -eq 0
    fi
    if grep -q '^sweep:' "$f"; then
        "$FEDSIM" sweep "$f" --dry-run --db "$TMP/dry.db" > /dev/null
        check "sweep --dry-run $rel" test $? -eq 0
    fi
done < <(find "$HERE/../../scenarios" -name '*.yaml' | sort)

# --- corrupt and truncated data files are detected with exit 2
printf 'not hdf5 at all' > "$TMP/junk.h5"
"$FEDSIM" data info "$TMP/junk.h5" 2> "$TMP/err.txt"
rc=$?
check "junk dataset: exit 2" test $rc -eq 2
check "junk dataset: names the file" grep -q "junk.h5: not an HDF5 file" "$TMP/err.txt"
if [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
    mkdir -p "$TMP/fm"
    cp /usr/share/datasets/fashion-mnist/*.gz "$TMP/fm/"
    gzip -dc /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | head -c 100000 |
        gzip > "$TMP/fm/t10k-images-idx3-ubyte.gz"
    "$FEDSIM" data import fashion-mnist --dir "$TMP/fm" --out "$TMP/fm.h5" 2> "$TMP/err.txt"
    rc=$?
    check "truncated IDX: exit 2" test $rc -eq 2
    check "truncated IDX: says truncated" grep -q "t10k-images-idx3-ubyte.gz: truncated" "$TMP/err.txt"
    check "truncated IDX: nothing written" test ! -e "$TMP/fm.h5"
fi

# --- data: CSV import with natural clients, partition stats as JSON and matrix, bad options
printf 'uid,x1,colour,label\n1,0.5,red,0\n1,1.5,blue,1\n2,2.5,red,1\n3,0.1,red,2\n3,9,blue,2\n' \
    > "$TMP/t.csv"
"$FEDSIM" data import csv "$TMP/t.csv" --label label --client uid --test-fraction 0 \
    --out "$TMP/t.h5" > /dev/null
check "csv import exits 0" test $? -eq 0
"$FEDSIM" data stats "$TMP/t.h5" --json --matrix "$TMP/m.csv" > "$TMP/stats.json"
check "stats on natural clients" \
    test "$(sqlite3 :memory: "SELECT json_extract(readfile('$TMP/stats.json'), '\$.stats.clients')")" = 3
check "stats matrix has a row per client" test "$(wc -l < "$TMP/m.csv")" = 4
"$FEDSIM" data stats "$TMP/t.h5" --partition shards --clients 10 2> "$TMP/err.txt"
check "impossible partition: exit 2" test $? -eq 2
"$FEDSIM" data stats "$TINY" --set partition.feature_skew=rotation 2> "$TMP/err.txt"
check "rotation of non-images: exit 2 and why" grep -q "rotation needs images" "$TMP/err.txt"
"$FEDSIM" data stats "$TINY" --json --set partition.local_test_fraction=0.5 > "$TMP/tiny.json"
check "stats from a scenario (local test split)" \
    test "$(sqlite3 :memory: "SELECT json_extract(readfile('$TMP/tiny.json'), '\$.stats.samples_local_test') > 0")" = 1
"$FEDSIM" data import csv "$TMP/t.csv" --label nope --out "$TMP/u.h5" 2> "$TMP/err.txt"
check "csv without the label column: exit 2" test $? -eq 2

summary e2e
