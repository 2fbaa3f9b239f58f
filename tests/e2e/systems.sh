#!/usr/bin/env bash
# End-to-end tests of the systems model, checked from the client_events log with SQL:
# an availability trace is obeyed exactly; over-commitment keeps exactly the first K; a
# deadline discards exactly the late updates; FedBuff with concurrency 1 and buffer 1 equals
# sequential FedAvg over one client per round; async runs are bit-identical for 1 and 2
# threads. Ends with "systems: N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TINY=$HERE/tiny.yaml
run() { "$FEDSIM" run "$TINY" --quiet "$@"; }

# --- an availability trace is obeyed exactly: every phase of every client lies inside one of
# its online intervals (population client c follows trace client c mod 7)
{
    echo "client,start_s,end_s"
    for c in 0 1 2 3 4 5 6; do
        t=0
        for k in 1 2 3 4 5 6 7 8 9 10 11 12; do
            on=$(( (c * 7 + k * 3) % 5 + 1 ))   # online 0.01 .. 0.05 s, offline 0.02 s
            echo "$c,$(printf '%d.%02d' $((t / 100)) $((t % 100))),$(printf '%d.%02d' $(((t + on) / 100)) $(((t + on) % 100)))"
            t=$((t + on + 2))
        done
    done
} > "$TMP/trace.csv"
run --db "$TMP/trace.db" --set availability.mode=trace --set availability.trace="$TMP/trace.csv" \
    --set availability.trace_period_s=10 --set output.client_events=true --set dropout.p=0 \
    --set rounds.wait_s=20 --set rounds.retry_s=0.01 \
    --set rounds.count=15
check "trace run completes" test "$(q "$TMP/trace.db" 'SELECT status FROM runs')" = completed
q "$TMP/trace.db" "CREATE TABLE trace (client INTEGER, start_s REAL, end_s REAL)"
tail -n +2 "$TMP/trace.csv" | while IFS=, read -r c a b; do
    echo "INSERT INTO trace VALUES ($c, $a, $b);"
done | sqlite3 "$TMP/trace.db"
events=$(q "$TMP/trace.db" 'SELECT count(*) FROM client_events')
outside=$(q "$TMP/trace.db" "SELECT count(*) FROM client_events e WHERE NOT EXISTS (
    SELECT 1 FROM trace t WHERE t.client = e.client % 7
      AND t.start_s + 10.0 * CAST(e.t_start / 10.0 AS INTEGER) <= e.t_start + 1e-9
      AND e.t_end <= t.end_s + 10.0 * CAST(e.t_start / 10.0 AS INTEGER) + 1e-9)")
check "trace: $events client phases logged" test "$events" -gt 30
check "trace: no client works while offline ($outside outside)" test "$outside" = 0
check "trace: some clients dropped when going offline" \
    test "$(q "$TMP/trace.db" 'SELECT sum(dropped_offline) FROM rounds')" -gt 0

# --- over-commitment keeps exactly the first K: 7 selected, 5 kept, the 2 others are late and
# cut off at the moment the 5th update arrived
run --db "$TMP/oc.db" --set rounds.overcommit=0.4 --set dropout.p=0 --set availability.mode=always \
    --set output.client_events=true
check "over-commit: 5 of 7 every round" \
    test "$(q "$TMP/oc.db" 'SELECT count(*) FROM rounds WHERE selected = 7 AND completed = 5 AND late = 2')" = 8
bad_oc=$(q "$TMP/oc.db" "WITH close AS (SELECT round, max(t_end) AS t FROM client_events
        WHERE phase = 'upload' AND outcome = 'completed' GROUP BY round)
    SELECT count(*) FROM client_events e JOIN close c USING (round)
    WHERE (e.outcome = 'late' AND abs(e.t_end - c.t) > 1e-12)
       OR (e.outcome = 'completed' AND e.t_end > c.t + 1e-12)")
check "over-commit: late clients cut at the K-th arrival, none arrived after it" test "$bad_oc" = 0

# --- a deadline discards exactly the late updates
run --db "$TMP/dl.db" --set rounds.deadline_s=0.05 --set rounds.overcommit=0 --set dropout.p=0 \
    --set availability.mode=always --set output.client_events=true --set rounds.clients_per_round=5
bad_dl=$(q "$TMP/dl.db" "WITH st AS (SELECT round, min(t_start) AS t0 FROM client_events GROUP BY round)
    SELECT count(*) FROM client_events e JOIN st USING (round)
    WHERE (e.outcome = 'completed' AND e.t_end > st.t0 + 0.05 + 1e-12)
       OR (e.outcome = 'late' AND abs(e.t_end - (st.t0 + 0.05)) > 1e-12)")
check "deadline: arrivals before it kept, the rest cut exactly at it" test "$bad_dl" = 0
check "deadline: some updates were late" test "$(q "$TMP/dl.db" 'SELECT sum(late) FROM rounds')" -gt 0
check "deadline: late counted per round = late clients logged" \
    test "$(q "$TMP/dl.db" "SELECT sum(late) FROM rounds")" = \
         "$(q "$TMP/dl.db" "SELECT count(DISTINCT round || ':' || client) FROM client_events WHERE outcome = 'late'")"

# --- FedBuff with concurrency 1, buffer 1 == sequential FedAvg with one client per round
m() { q "$1" 'SELECT round, vtime_s, quote(train_loss), quote(test_acc) FROM rounds ORDER BY round'; }
run --db "$TMP/seq.db" --set rounds.clients_per_round=1 --set rounds.overcommit=0 --set dropout.p=0 \
    --set availability.mode=always
run --db "$TMP/buf.db" --set protocol=async --set async.concurrency=1 --set async.buffer=1 \
    --set async.staleness=constant --set dropout.p=0 --set availability.mode=always
check "FedBuff(1, 1) equals sequential FedAvg" test "$(m "$TMP/seq.db")" = "$(m "$TMP/buf.db")"

# --- async: staleness recorded, thread count irrelevant
run --db "$TMP/a1.db" -j 1 --set protocol=async --set async.concurrency=8 --set async.buffer=3 --set rounds.count=12
run --db "$TMP/a2.db" -j 2 --set protocol=async --set async.concurrency=8 --set async.buffer=3 --set rounds.count=12
check "async: 1 vs 2 threads identical" test "$(m "$TMP/a1.db")" = "$(m "$TMP/a2.db")"
check "async: staleness > 0 with concurrency 8" \
    test "$(q "$TMP/a1.db" 'SELECT max(staleness_max) > 0 FROM rounds')" = 1
check "async: 3 updates per server step" \
    test "$(q "$TMP/a1.db" 'SELECT count(*) FROM rounds WHERE completed = 3')" = 12

# --- device tiers, markov availability, failure hazard: run and count by cause
run --db "$TMP/mix.db" --set devices.model=tiers --set availability.mode=markov \
    --set availability.mean_on_s=0.2 --set availability.mean_off_s=0.2 --set dropout.hazard_per_s=2 \
    --set rounds.count=10
check "tiers + markov + hazard run completes" test "$(q "$TMP/mix.db" 'SELECT status FROM runs')" = completed
check "dropouts split by cause add up" \
    test "$(q "$TMP/mix.db" 'SELECT count(*) FROM rounds WHERE dropped != dropped_random + dropped_offline + dropped_failure')" = 0
check "hazard failures happen" test "$(q "$TMP/mix.db" 'SELECT sum(dropped_failure) FROM rounds')" -gt 0

# --- synthetic data generated on demand gives the same run as generated up front
run --db "$TMP/eager.db" -j 2 --set data.synthetic_lazy=false
run --db "$TMP/lazy.db" -j 2 --set data.synthetic_lazy=true
check "lazy synthetic data equals eager" test "$(m "$TMP/eager.db")" = "$(m "$TMP/lazy.db")"

# --- the shipped million-client benchmark learns (it ended at 7.8 %, below 10-class chance,
# when its synthetic(1, 1) data gave every client its own independent model): 20 of its rounds
"$FEDSIM" run "$HERE/../../scenarios/bench/million.yaml" --quiet --db "$TMP/million.db" \
    --set rounds.count=20 --set eval.every=20
check "scenarios/bench/million.yaml: test accuracy after 20 rounds well above chance (> 0.4)" \
    test "$(q "$TMP/million.db" 'SELECT test_acc > 0.4 FROM rounds WHERE round = 20')" = 1
run --db "$TMP/iid_eager.db" -j 2 --set data.synthetic_lazy=false --set data.synthetic_iid=true
run --db "$TMP/iid_lazy.db" -j 1 --set data.synthetic_lazy=true --set data.synthetic_iid=true
check "synthetic_iid: lazy equals eager, and differs from synthetic(alpha, beta)" \
    test "$(m "$TMP/iid_eager.db")" = "$(m "$TMP/iid_lazy.db")" -a "$(m "$TMP/iid_eager.db")" != "$(m "$TMP/eager.db")"

# --- bench kernels --profile at a batch other than 32 gives a layer table, not -nan %
out=$("$FEDSIM" bench kernels --models logreg --batches 10 --profile --seconds 0.05 2>&1)
check "bench kernels --profile at batch 10: a layer table, no nan" \
    bash -c '[[ "$1" == *"logreg, batch 10: share of the time per layer"* && "$1" != *nan* ]]' _ "$out"

# --- bench fl (issue 17): the end-to-end FedAvg loop runs, prints its tables, and its final
# global model does not depend on the thread count; bad options exit 2
fl() {
    "$FEDSIM" bench fl --model lenet --batch 10 --clients 50 --per-round 4 --rounds 1 \
        --no-kernels --seed 3 --threads "$1" 2>&1
}
out=$(fl 1)
check "bench fl: exit 0, the samples/s table and the pieces outside the layers" \
    bash -c '[[ "$1" == *"| rounds | samples |"* && "$1" == *"SGD step"* && "$1" != *nan* ]]' _ "$out"
check "bench fl: the global model is the same with 1 and 2 threads" \
    test "$(grep fnv1a64 <<< "$out")" = "$(fl 2 | grep fnv1a64)" -a -n "$(grep fnv1a64 <<< "$out")"
"$FEDSIM" bench fl --model resnet > /dev/null 2>&1
check "bench fl --model resnet: exit 2" test $? = 2

# --- bad systems input: a broken trace names file:line, exit 2, nothing written
printf 'client,start_s,end_s\n0,5,1\n' > "$TMP/bad.csv"
"$FEDSIM" run "$TINY" --quiet --db "$TMP/bad.db" --set availability.mode=trace \
    --set availability.trace="$TMP/bad.csv" 2> "$TMP/err.txt"
rc=$?
check "bad trace: exit 2" test $rc -eq 2
check "bad trace: file:line" grep -q "bad.csv:2:" "$TMP/err.txt"
check "bad trace: nothing written" test ! -e "$TMP/bad.db"

summary systems
