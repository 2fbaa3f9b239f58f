#!/usr/bin/env bash
# End-to-end tests of personalization and fairness (docs/personalization.md) on the tiny
# scenario with a local test split: the eval.personalize_* keys fill client_eval.pers_loss and
# pers_acc for every evaluated client and rounds.pers_acc_*; every run with eval.clients gets the
# global model's fairness summaries (rounds.client_acc_*), consistent with its client_eval rows;
# Ditto's and APFL's global models are FedAvg's bit for bit, FedPer with no personal layers is
# FedAvg; q-FFL, Ditto, FedPer, FedRep, APFL and Per-FedAvg give the same bits with 1 and 2
# threads; the device is charged each algorithm's local work (FedRep's head epochs, q-FFL's loss
# pass; FedAvg's FLOPs unchanged); bad input is refused
# with file:line:col and exit 2 and nothing written. Ends with "personal: N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TINY=$HERE/tiny.yaml
P=(--set partition.local_test_fraction=0.25 --set eval.clients=8)
run() { "$FEDSIM" run "$TINY" --quiet "${P[@]}" "$@"; }
m() { q "$1" 'SELECT round, quote(train_loss), quote(test_loss), quote(test_acc) FROM rounds ORDER BY round'; }
ce() { q "$1" 'SELECT round, client, n, quote(acc), quote(pers_acc), quote(pers_loss) FROM client_eval ORDER BY 1, 2'; }
fair() { q "$1" 'SELECT round, quote(client_acc_mean), quote(client_acc_worst10), quote(client_acc_jain),
                 quote(pers_acc_mean), quote(pers_acc_best10), quote(pers_acc_std) FROM rounds ORDER BY round'; }

run --db "$TMP/fedavg.db"
run --db "$TMP/ft.db" --set eval.personalize_steps=4
run --db "$TMP/ft2.db" --set eval.personalize_steps=4 -j 2
check "fine-tuning leaves the global model alone" test "$(m "$TMP/fedavg.db")" = "$(m "$TMP/ft.db")"
check "fine-tuned: pers_acc and pers_loss on every client_eval row" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM client_eval WHERE pers_acc IS NULL OR pers_loss IS NULL')" = 0
check "fine-tuned: 8 clients at each of the 4 evaluations" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM client_eval')" = 32
check "fine-tuning changes the clients' accuracies" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM client_eval WHERE pers_acc != acc')" -gt 0
check "rounds: fairness summaries on the evaluated rounds only" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM rounds WHERE (test_acc IS NULL) != (pers_acc_mean IS NULL)
                         OR (test_acc IS NULL) != (client_acc_mean IS NULL)')" = 0
check "rounds.client_acc_mean is the mean of client_eval.acc" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM rounds r WHERE r.client_acc_mean IS NOT NULL AND
        abs(r.client_acc_mean - (SELECT avg(acc) FROM client_eval e WHERE e.round = r.round)) > 1e-12')" = 0
check "rounds.pers_acc_worst10 is the lowest pers_acc (ceil(8/10) = 1 client)" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM rounds r WHERE r.pers_acc_mean IS NOT NULL AND
        r.pers_acc_worst10 != (SELECT min(pers_acc) FROM client_eval e WHERE e.round = r.round)')" = 0
check "Jain's index in (0, 1]" test \
    "$(q "$TMP/ft.db" 'SELECT count(*) FROM rounds WHERE client_acc_jain <= 0 OR client_acc_jain > 1 OR pers_acc_jain <= 0 OR pers_acc_jain > 1')" = 0
check "no fine-tuning: global summaries only, pers columns NULL" test \
    "$(q "$TMP/fedavg.db" 'SELECT count(*) FROM rounds WHERE client_acc_mean IS NOT NULL AND pers_acc_mean IS NULL')" = 4
check "fine-tuning: 1 thread == 2 threads (client_eval)" test "$(ce "$TMP/ft.db")" = "$(ce "$TMP/ft2.db")"
check "fine-tuning: 1 thread == 2 threads (summaries)" test "$(fair "$TMP/ft.db")" = "$(fair "$TMP/ft2.db")"

run --db "$TMP/ditto.db" --set algorithm.name=ditto --set algorithm.lambda=0.5
check "Ditto's global model is FedAvg's bit for bit" test "$(m "$TMP/fedavg.db")" = "$(m "$TMP/ditto.db")"
check "Ditto: personal models judged (pers_acc on every row)" test \
    "$(q "$TMP/ditto.db" 'SELECT count(*) FROM client_eval WHERE pers_acc IS NULL')" = 0
run --db "$TMP/fedper0.db" --set algorithm.name=fedper
check "FedPer without personal layers == FedAvg bit for bit" test "$(m "$TMP/fedavg.db")" = "$(m "$TMP/fedper0.db")"
for spec in "ditto --set algorithm.lambda=0.5 --set eval.personalize_steps=2" \
            "fedrep --set algorithm.personal_layers=dense1 --set algorithm.head_epochs=1" \
            "fedper --set algorithm.personal_layers=dense1" "qffl --set algorithm.q=2" \
            "apfl --set algorithm.apfl_alpha=0.5" \
            "perfedavg --set algorithm.perfedavg_alpha=0.05 --set eval.personalize_steps=2"; do
    set -- $spec
    a=$1
    shift
    run --db "$TMP/$a-1.db" -j 1 --set algorithm.name=$a "$@" --set algorithm.state_memory_mb=0.0001
    run --db "$TMP/$a-2.db" -j 2 --set algorithm.name=$a "$@"
    check "$a: 1 thread (state cap of one vector) == 2 threads" test \
        "$(m "$TMP/$a-1.db") $(ce "$TMP/$a-1.db")" = "$(m "$TMP/$a-2.db") $(ce "$TMP/$a-2.db")"
done
check "APFL's global model is FedAvg's bit for bit" test "$(m "$TMP/fedavg.db")" = "$(m "$TMP/apfl-1.db")"
check "APFL: personal models differ from the global one" test \
    "$(q "$TMP/apfl-1.db" 'SELECT count(*) FROM client_eval WHERE pers_acc != acc')" -gt 0
check "Per-FedAvg: fine-tuned models judged" test \
    "$(q "$TMP/perfedavg-1.db" 'SELECT count(*) FROM client_eval WHERE pers_acc IS NULL')" = 0
check "q-FFL moves the model away from FedAvg's" test "$(m "$TMP/fedavg.db")" != "$(m "$TMP/qffl-1.db")"
check "FedRep with every layer personal: the global model never moves" test \
    "$(q "$TMP/fedrep-1.db" 'SELECT count(DISTINCT test_acc) FROM rounds WHERE test_acc IS NOT NULL')" = 1

# the device is charged the local work each algorithm computes (docs/personalization.md): FedAvg's
# FLOPs as before this accounting (the tiny scenario's value), FedRep's grow with its head epochs
# (logreg, 2 epochs: (2 + h) / 2 of FedAvg's when every client finishes), q-FFL adds a forward
# pass (logreg's training FLOPs are 2 x its forward: 1.25 x FedAvg's)
fl() { q "$1" 'SELECT quote(sum(flops_used)) FROM rounds'; }
check "FedAvg: flops_used and vtime as before (39206400, 1.0832507146576087)" test \
    "$(q "$TMP/fedavg.db" 'SELECT sum(flops_used), quote(max(vtime_s)) FROM rounds')" \
    = "39206400.0|1.08325071465760869315e+00"
ND=(--set dropout.p=0 --set rounds.overcommit=0 --set availability.mode=always)
run --db "$TMP/w-avg.db" "${ND[@]}"
run --db "$TMP/w-qffl.db" "${ND[@]}" --set algorithm.name=qffl --set algorithm.q=2
for h in 0 1 2; do
    run --db "$TMP/w-rep$h.db" "${ND[@]}" --set algorithm.name=fedrep \
        --set algorithm.personal_layers=dense1 --set algorithm.head_epochs=$h
done
check "FedRep without head epochs: FedAvg's FLOPs" test "$(fl "$TMP/w-rep0.db")" = "$(fl "$TMP/w-avg.db")"
for h in 1 2; do
    check "FedRep: flops_used x (2 + $h) / 2 with algorithm.head_epochs=$h" test "$(q "$TMP/w-avg.db" \
        "SELECT abs($(fl "$TMP/w-rep$h.db") / sum(flops_used) - (2 + $h) / 2.0) < 1e-12 FROM rounds")" = 1
done
check "FedRep: head epochs take virtual time" test "$(q "$TMP/w-rep2.db" \
    "SELECT max(vtime_s) > $(q "$TMP/w-rep0.db" 'SELECT quote(max(vtime_s)) FROM rounds') FROM rounds")" = 1
check "q-FFL: the loss pass at w_t charged (1.25 x FedAvg's FLOPs)" test "$(q "$TMP/w-avg.db" \
    "SELECT abs($(fl "$TMP/w-qffl.db") / sum(flops_used) - 1.25) < 1e-12 FROM rounds")" = 1

# the per-client accuracy CDF of the personalized models (analysis/plot.py --column pers_acc)
if /usr/bin/python3 -c "import matplotlib" 2> /dev/null; then
    /usr/bin/python3 "$HERE/../../analysis/plot.py" "$TMP/ft.db" --kind cdf --column pers_acc \
        -o "$TMP/cdf.png" > /dev/null 2>&1
    check "plot.py --kind cdf --column pers_acc: a non-empty figure" test -s "$TMP/cdf.png"
fi

# bad input: file:line:col, exit 2, nothing written
bad_case() { # name, scenario, pattern, args...
    local name=$1 file=$2 pat=$3
    shift 3
    local out rc
    out=$("$FEDSIM" run "$file" --quiet --db "$TMP/bad.db" "$@" 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -q "$pat" <<< "$out" && [ ! -e "$TMP/bad.db" ]; then ok "$name"
    else bad "$name" "rc=$rc: $out"; fi
}
cat > "$TMP/b.yaml" <<'Y'
name: pbad
data: {dataset: synthetic, synthetic_clients: 30}
partition: {kind: natural, clients: 30}
model: {name: logreg}
rounds: {count: 2, clients_per_round: 5}
algorithm:
  name: qffl
  q: 1
eval:
  clients: 5
  personalize_steps: 3
Y
sed 's/q: 1/q: -1/' "$TMP/b.yaml" > "$TMP/q.yaml"
bad_case "q < 0" "$TMP/q.yaml" "q.yaml:8:6: error: algorithm.q = -1 is out of range"
bad_case "fine-tuning without a local test split" "$TMP/b.yaml" \
    "b.yaml:11:3: error: eval.personalize_steps .* no local test split"
bad_case "fine-tuning without eval.clients" "$TMP/b.yaml" \
    "error: eval.personalize_steps is set but eval.clients = 0" --set eval.clients=0
bad_case "personal layers that do not exist" "$TINY" \
    "set:2:1: error: algorithm.personal_layers: model 'logreg' has no layer 'dense9'" \
    --set algorithm.name=fedrep --set algorithm.personal_layers=dense9
bad_case "personal layers with FedAvg" "$TINY" "error: algorithm.personal_layers is set but algorithm.name = fedavg" \
    --set algorithm.personal_layers=dense1
bad_case "Ditto with privacy" "$TINY" "algorithm.name = ditto does not run with privacy" \
    --set algorithm.name=ditto --set privacy.secagg=secagg
# a client of the sample without a local test sample (a file dataset: checked before the run)
{
    echo "x1,x2,label,client"
    for i in $(seq 120); do echo "$((i % 7)).5,$((i % 5)),$((i % 3)),$((i < 100 ? i % 4 : 4 + i % 4))"; done
} > "$TMP/d.csv"
"$FEDSIM" data import csv "$TMP/d.csv" --label label --client client --out "$TMP/d.h5" > /dev/null
cat > "$TMP/f.yaml" <<Y
name: pfile
data: {dataset: file, path: $TMP/d.h5}
partition: {kind: natural, clients: 8, local_test_fraction: 0.15}
model: {name: logreg}
rounds: {count: 2, clients_per_round: 2}
eval:
  clients: 8
  personalize_epochs: 1
Y
bad_case "a sampled client without a local test sample" "$TMP/f.yaml" \
    "f.yaml:8:3: error: client [0-9]* of the eval.clients sample has 0 local test"
out=$("$FEDSIM" validate "$TMP/f.yaml" 2>&1); rc=$?
check "validate reports it too (exit 2)" bash -c "[ $rc -eq 2 ] && grep -q 'has 0 local test' <<< \"\$0\"" "$out"
"$FEDSIM" run "$TMP/f.yaml" --quiet --db "$TMP/f.db" --set partition.local_test_fraction=0.5
check "with enough local test samples it runs" test \
    "$(q "$TMP/f.db" 'SELECT count(*) FROM client_eval WHERE pers_acc IS NOT NULL')" -gt 0
summary personal
