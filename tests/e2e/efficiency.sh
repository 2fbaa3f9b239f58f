#!/usr/bin/env bash
# End-to-end tests of update compression, guided selection and time-to-accuracy
# (docs/efficiency.md) on the tiny scenario (logistic regression, 610 parameters): the new keys at
# their defaults leave a run bit for bit unchanged; every completed upload is charged the exact
# size of its encoding and the rounds' bytes_up are the sum of them; compressed and guided runs are
# bit-identical for 1 and 2 threads; the time to a target accuracy in the summary and in
# `fedsim info` is the first evaluated round at or above it; bad input is a file:line:col error,
# exit 2, nothing written. Ends with "efficiency: N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TINY=$HERE/tiny.yaml
run() { "$FEDSIM" run "$TINY" --quiet "$@"; }
m() { q "$1" 'SELECT round, quote(vtime_s), selected, completed, quote(bytes_up),
              quote(train_loss), quote(test_loss), quote(test_acc) FROM rounds ORDER BY round'; }
up() { q "$1" "SELECT group_concat(DISTINCT CAST(round(bytes) AS INTEGER)) FROM client_events WHERE phase = 'upload' AND outcome = 'completed'"; }

run --db "$TMP/plain.db"
run --db "$TMP/dflt.db" --set compression.kind=none --set selection.mode=uniform \
    --set compression.error_feedback=false --set eval.target_accuracy=0
check "new keys at their defaults: the run is unchanged, bit for bit" \
    test "$(m "$TMP/plain.db")" = "$(m "$TMP/dflt.db")"
check "new keys at their defaults: the run key is unchanged" test \
    "$(q "$TMP/plain.db" 'SELECT run_key FROM runs')" = "$(q "$TMP/dflt.db" 'SELECT run_key FROM runs')"
check "new keys at their defaults: the stored parameters are the same" test \
    "$(q "$TMP/plain.db" 'SELECT params FROM runs')" = "$(q "$TMP/dflt.db" 'SELECT params FROM runs')"

# exact encoded sizes of a 610-vector (60 features x 10 classes + 10 biases)
ev=(--set output.client_events=true --set rounds.count=4)
for spec in "topk 37" "randk 36" "qsgd 309" "sign 81" "powersgd 1160"; do
    set -- $spec
    run --db "$TMP/$1.db" "${ev[@]}" --set compression.kind=$1 --set compression.error_feedback=true
    check "$1: every completed upload is $2 bytes" test "$(up "$TMP/$1.db")" = "$2"
    check "$1: its parameters are stored" test \
        "$(q "$TMP/$1.db" "SELECT json_extract(params, '\$.\"compression.kind\"') FROM runs")" = "$1"
done
run --db "$TMP/q2.db" "${ev[@]}" --set compression.kind=qsgd --set compression.bits=2
check "qsgd 2 bits: 4 + ceil(2 x 610 / 8) = 157 bytes" test "$(up "$TMP/q2.db")" = 157
run --db "$TMP/k10.db" "${ev[@]}" --set compression.kind=topk --set compression.k=0.1
check "topk 10 %: ceil(61 x 10 bits / 8) + 4 x 61 = 321 bytes" test "$(up "$TMP/k10.db")" = 321
check "uncompressed: 4 x 610 = 2440 bytes" test "$(run --db "$TMP/p4.db" "${ev[@]}"; up "$TMP/p4.db")" = 2440
check "rounds.bytes_up = sum of the upload events (topk)" test \
    "$(q "$TMP/topk.db" 'SELECT sum(bytes_up) FROM rounds')" = \
    "$(q "$TMP/topk.db" "SELECT sum(bytes) FROM client_events WHERE phase = 'upload'")"
check "compression changes the model (topk != plain)" test "$(m "$TMP/topk.db")" != "$(m "$TMP/p4.db")"
for spec in "qsgd true" "sign false" "powersgd true" "randk true"; do
    set -- $spec
    run --db "$TMP/$1-1.db" -j 1 --set compression.kind=$1 --set compression.error_feedback=$2
    run --db "$TMP/$1-2.db" -j 2 --set compression.kind=$1 --set compression.error_feedback=$2
    check "$1 (error feedback $2): 1 thread == 2 threads" test "$(m "$TMP/$1-1.db")" = "$(m "$TMP/$1-2.db")"
done
run --db "$TMP/dp.db" --set compression.kind=topk --set compression.k=0.5 \
    --set privacy.mode=central --set privacy.noise_multiplier=0.5 --set privacy.clip=1
check "topk under central DP runs and spends epsilon" test \
    "$(q "$TMP/dp.db" 'SELECT count(*) FROM rounds WHERE epsilon > 0')" = 8

for mode in oort power_of_choice; do
    run --db "$TMP/$mode-1.db" -j 1 --set selection.mode=$mode --set rounds.count=12
    run --db "$TMP/$mode-2.db" -j 2 --set selection.mode=$mode --set rounds.count=12
    check "$mode: 1 thread == 2 threads" test "$(m "$TMP/$mode-1.db")" = "$(m "$TMP/$mode-2.db")"
    run --db "$TMP/u12.db" --set rounds.count=12
    check "$mode selects other clients than uniform" test "$(m "$TMP/$mode-1.db")" != "$(m "$TMP/u12.db")"
done

# time to accuracy: the summary and fedsim info agree with the rounds table
out=$("$FEDSIM" run "$TINY" --db "$TMP/tta.db" --set eval.target_accuracy=0.5 --set rounds.count=12 2>/dev/null)
r=$(q "$TMP/tta.db" 'SELECT min(round) FROM rounds WHERE test_acc >= 0.5')
check "summary: time to 50 % at the first evaluation reaching it (round $r)" \
    grep -q "time to 50.00% *round $r, virtual" <<< "$out"
b=$(q "$TMP/tta.db" "SELECT sum(bytes_up) FROM rounds WHERE round <= $r")
info=$("$FEDSIM" info "$TMP/tta.db")
bf=$(printf '%.4g' "$b")
check "info: target, round and bytes up of the time to accuracy" \
    bash -c "awk -v r=$r -v b=$bf 'NF > 4 && \$(NF-3) == \"50.00\" && \$(NF-2) == r && \$NF == b { f = 1 } END { exit !f }' <<< \"\$0\"" "$info"
info=$("$FEDSIM" info "$TMP/plain.db" --target 0.99)
check "info --target 0.99: not reached" grep -q "99.00 *not reached" <<< "$info"
"$FEDSIM" info "$TMP/plain.db" --target 1.5 > /dev/null 2>&1
check "info --target outside (0, 1]: usage error" test $? -eq 2

# bad input: file:line:col, exit 2, nothing written
bad_case() { # name, pattern, args...
    local name=$1 pat=$2
    shift 2
    local out rc
    out=$("$FEDSIM" run "$TINY" --quiet --db "$TMP/bad.db" "$@" 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -q "$pat" <<< "$out" && [ ! -e "$TMP/bad.db" ]; then ok "$name"
    else bad "$name" "rc=$rc: $out"; fi
}
bad_case "compression.k = 0" "compression.k = 0 is out of range" --set compression.kind=topk --set compression.k=0
bad_case "compression.k = 1.5" "compression.k = 1.5 is out of range" --set compression.k=1.5
bad_case "compression.bits = 0" "compression.bits = 0 is out of range" --set compression.bits=0
bad_case "compression.bits = 17" "compression.bits = 17 is out of range" --set compression.bits=17
bad_case "oort with async" "selection.mode = oort needs protocol: sync" \
    --set selection.mode=oort --set protocol=async
bad_case "compression with async" "compression.kind needs protocol: sync" \
    --set compression.kind=qsgd --set protocol=async
bad_case "compression with secure aggregation" "cannot be combined with privacy.secagg" \
    --set compression.kind=topk --set privacy.secagg=secagg
bad_case "compression with local DP" "cannot be combined with privacy.mode = local" \
    --set compression.kind=qsgd --set privacy.mode=local --set privacy.noise_multiplier=0.1
bad_case "signSGD with central DP" "sign cannot be combined with privacy.mode" \
    --set compression.kind=sign --set privacy.mode=central --set privacy.noise_multiplier=0.1
bad_case "signSGD with a robust rule" "sign cannot be combined with adversary" \
    --set compression.kind=sign --set aggregation.rule=median
bad_case "error feedback without compression" "error_feedback = true without compression" \
    --set compression.error_feedback=true
bad_case "both upload sizes" "both set the upload size" \
    --set compression.kind=topk --set network.upload_compression=0.5
bad_case "guided selection with DP" "cannot be combined with privacy.mode" \
    --set selection.mode=power_of_choice --set privacy.mode=central --set privacy.noise_multiplier=0.1
cat > "$TMP/eff.yaml" <<'Y'
name: eff_bad
data: {dataset: synthetic, synthetic_clients: 30}
partition: {kind: natural, clients: 30}
model: {name: logreg}
rounds: {count: 2, clients_per_round: 5}
compression:
  kind: qsgd
  bits: 17
Y
out=$("$FEDSIM" run "$TMP/eff.yaml" --quiet --db "$TMP/bad.db" 2>&1); rc=$?
check "bits = 17 in a file: file:line:col, exit 2" \
    bash -c "[ $rc -eq 2 ] && grep -q 'eff.yaml:8:9: error: compression.bits = 17 is out of range' <<< \"\$0\"" "$out"
sed -i 's/  bits: 17/  bits: 4/; s/rounds: {count: 2, clients_per_round: 5}/rounds: {count: 2, clients_per_round: 5}\nprotocol: async\nselection: {mode: oort}/' "$TMP/eff.yaml"
out=$("$FEDSIM" run "$TMP/eff.yaml" --quiet --db "$TMP/bad.db" 2>&1); rc=$?
check "oort with async in a file: file:line:col, exit 2" \
    bash -c "[ $rc -eq 2 ] && grep -Eq 'eff.yaml:[0-9]+:[0-9]+: error: (compression.kind|selection.mode)' <<< \"\$0\"" "$out"

summary efficiency
