#!/usr/bin/env bash
# End-to-end tests of adversaries and robust aggregation (docs/robustness.md) on the tiny
# scenario: the rules that remove nothing (trimmed_mean with f = 0, multi_krum with f = 0, mean
# with no attack) equal plain FedAvg bit for bit, also with a FedOpt server; an attacked, robust
# run is bit-identical for 1 and 2 threads; malicious clients are marked in client_events and
# the rounds count them; bad combinations are refused with file:line:col and exit 2.
# Ends with "robust: N passed, M failed".
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

run --db "$TMP/plain.db"
run --db "$TMP/tm.db" --set aggregation.rule=trimmed_mean --set aggregation.f=0
check "trimmed_mean with f = 0 == FedAvg bit for bit" test "$(m "$TMP/plain.db")" = "$(m "$TMP/tm.db")"
run --db "$TMP/mk.db" --set aggregation.rule=multi_krum --set aggregation.f=0
check "multi_krum with f = 0 (m = n) == FedAvg bit for bit" test "$(m "$TMP/plain.db")" = "$(m "$TMP/mk.db")"
run --db "$TMP/adam.db" --set algorithm.name=fedadam --set algorithm.server_lr=0.05
run --db "$TMP/adam_tm.db" --set algorithm.name=fedadam --set algorithm.server_lr=0.05 \
    --set aggregation.rule=trimmed_mean --set aggregation.f=0
check "trimmed_mean f = 0 under FedAdam == FedAdam bit for bit" \
    test "$(m "$TMP/adam.db")" = "$(m "$TMP/adam_tm.db")"
check "no adversary: backdoor_asr NULL, no malicious updates" test \
    "$(q "$TMP/tm.db" 'SELECT count(*) FROM rounds WHERE backdoor_asr IS NULL AND malicious_updates = 0')" = 8

# attacked runs: 1 thread == 2 threads, and they differ from the clean run
for spec in "alie krum" "min_max median" "sign_flip bulyan" "gaussian geomed"; do
    set -- $spec
    args=(--set adversary.attack=$1 --set adversary.fraction=0.2 --set aggregation.rule=$2
          --set aggregation.f=1 --set rounds.clients_per_round=7 --set rounds.overcommit=0.2)
    [ "$2" = bulyan ] && args+=(--set aggregation.f=1 --set rounds.clients_per_round=7)
    run --db "$TMP/$1-1.db" -j 1 "${args[@]}" --set output.client_events=true
    run --db "$TMP/$1-2.db" -j 2 "${args[@]}" --set output.client_events=true
    check "$1 + $2: 1 thread == 2 threads" test "$(m "$TMP/$1-1.db")" = "$(m "$TMP/$1-2.db")"
    check "$1 + $2: kept shares identical for 1 and 2 threads" test \
        "$(q "$TMP/$1-1.db" 'SELECT client, round, malicious, quote(kept) FROM client_events ORDER BY 1, 2, 3')" = \
        "$(q "$TMP/$1-2.db" 'SELECT client, round, malicious, quote(kept) FROM client_events ORDER BY 1, 2, 3')"
done
check "malicious clients are 20 % of the population (6 of 30)" test \
    "$(q "$TMP/alie-1.db" 'SELECT count(DISTINCT client) FROM client_events WHERE malicious = 1')" -le 6
check "rounds count the malicious updates the events mark" test \
    "$(q "$TMP/alie-1.db" 'SELECT sum(malicious_updates) FROM rounds')" = \
    "$(q "$TMP/alie-1.db" "SELECT count(*) FROM client_events WHERE phase = 'upload' AND outcome = 'completed' AND malicious = 1")"
check "kept is set on every aggregated upload, in [0, 1]" test \
    "$(q "$TMP/alie-1.db" "SELECT count(*) FROM client_events WHERE phase = 'upload' AND outcome = 'completed' AND (kept IS NULL OR kept < 0 OR kept > 1)")" = 0
check "an attack changes the run" test "$(m "$TMP/plain.db")" != "$(m "$TMP/alie-1.db")"

# the peak-memory estimate covers a robust round: 150 of 200 clients keep 150 updates of a
# 72k-parameter MLP (43 MB) and Krum's 150 x 150 distances
if [ -x /usr/bin/time ]; then
    est_rss "$TINY" "${MEM_BIG[@]}"
    e0=$EST r0=$RSS
    est_rss "$TINY" "${MEM_BIG[@]}" --set aggregation.rule=krum
    mem_check "krum over 150 clients" "$e0" "$r0" "$EST" "$RSS"
else
    echo "skip the peak-memory checks: no /usr/bin/time"
fi

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
cat > "$TMP/krum.yaml" <<'Y'
name: krum_bad
data: {dataset: synthetic, synthetic_clients: 30}
partition: {kind: natural, clients: 30}
model: {name: logreg}
rounds: {count: 2, clients_per_round: 6}
adversary: {attack: alie, fraction: 0.3}
aggregation:
  rule: krum
Y
out=$("$FEDSIM" run "$TMP/krum.yaml" --quiet --db "$TMP/bad.db" 2>&1); rc=$?
check "Krum with f = 2 of n = 6 (needs n > 2f + 2): file:line:col, exit 2" \
    bash -c "[ $rc -eq 2 ] && grep -q 'krum.yaml:8:3: error: .*n > 2f + 2' <<< \"\$0\"" "$out"
bad_case "Bulyan with f = 1 of 5 (needs n >= 4f + 3)" "n >= 4f + 3" \
    --set aggregation.rule=bulyan --set aggregation.f=1
bad_case "robust aggregation with secure aggregation" "cannot be combined with privacy.secagg" \
    --set aggregation.rule=median --set privacy.secagg=secagg
bad_case "an attack with SCAFFOLD" "does not support algorithm.name = scaffold" \
    --set adversary.attack=sign_flip --set adversary.fraction=0.1 --set algorithm.name=scaffold
bad_case "a backdoor on synthetic data" "needs images" \
    --set adversary.attack=backdoor --set adversary.fraction=0.1
bad_case "an attack without malicious clients" "no client is malicious" \
    --set adversary.attack=ipm
out=$("$FEDSIM" run "$HERE/../../scenarios/quickstart.yaml" --quiet --db "$TMP/bad.db" \
      --set adversary.attack=backdoor --set adversary.fraction=0.1 --set adversary.target=10 2>&1); rc=$?
check "backdoor target outside the classes: exit 2" \
    bash -c "[ $rc -eq 2 ] && grep -q 'adversary.target = 10 is not a class' <<< \"\$0\"" "$out"
# the quickstart's dataset (a fresh clone's make test has not built it: make one here)
FM=$HERE/../../datasets/fashion-mnist.h5
if [ ! -f "$FM" ]; then
    FM=$TMP/fm.h5
    "$FEDSIM" data import fashion-mnist --out "$FM" > /dev/null 2>&1
fi
out=$("$FEDSIM" run "$HERE/../../scenarios/quickstart.yaml" --quiet --db "$TMP/bad.db" \
      --set data.path="$FM" --set aggregation.rule=median --set aggregation.memory_mb=1 2>&1); rc=$?
check "round's updates above aggregation.memory_mb: exit 2" \
    bash -c "[ $rc -eq 2 ] && grep -q 'above aggregation.memory_mb' <<< \"\$0\"" "$out"
check "... and nothing written" test ! -e "$TMP/bad.db"
out=$("$FEDSIM" validate "$HERE/../../scenarios/quickstart.yaml" --set data.path="$FM" \
      --set aggregation.rule=krum --set aggregation.memory_mb=1 2>&1); rc=$?
check "validate: round's updates above aggregation.memory_mb, at the key, exit 2" \
    bash -c "[ $rc -eq 2 ] && grep -q '^--set:[0-9]*:[0-9]*: error: keeping a round.s 50 updates' <<< \"\$0\"" "$out"

summary robust
