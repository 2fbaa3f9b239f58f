#!/usr/bin/env bash
# End-to-end tests of fedsim under MPI (docs/cluster.md), with Open MPI's mpirun on this machine
# (shared memory only: --mca btl self,vader; oversubscribed, as root in CI):
#   - `mpirun -n 2` and `-n 3 fedsim run` give rounds tables identical to the single-process run:
#     the quickstart (2 rounds), a SCAFFOLD cross-silo run (2 rounds of LeNet), and on the tiny
#     scenario kept per-client momentum with a state memory cap, DP and secure aggregation;
#   - bad input: more ranks than clients per round, a rank that cannot open the dataset, a
#     database rank 0 cannot write: one message from rank 0, exit 2, every rank exits;
# Skipped (and passing) when fedsim is built without MPI or mpirun is missing.
# Usage: tests/e2e/mpi.sh [path/to/fedsim]. Ends with "mpi: N passed, M failed".
set -u
FEDSIM=$(realpath "${1:-build/fedsim}")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
if ! "$FEDSIM" version | grep -q MPI || ! command -v mpirun >/dev/null; then
    echo "mpi: skipped (fedsim built without MPI, or no mpirun)"
    exit 0
fi
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
# private databases of the MPI sweep (and those a killed rank leaves) go under $TMP
export TMPDIR=$TMP
# loopback shared memory only, never a network; idle ranks yield the CPU (oversubscribed)
export OMPI_MCA_btl=self,vader OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
# a hung rank must fail the test, not hang it
mrun() { timeout 300 "${MPIRUN[@]}" "$@"; }

metrics() {
    q "$1" "SELECT round, vtime_s, available, selected, completed, dropped, late, abandoned,
            bytes_down, bytes_up, flops_used, flops_wasted, quote(train_loss), quote(test_loss),
            quote(test_acc), quote(global_train_loss), quote(global_train_acc), wait_s,
            state_bytes, state_disk_bytes, quote(epsilon), quote(dp_clip), quote(dp_clipped),
            secagg_bytes, secagg_time_s, quote(secagg_abort) FROM rounds ORDER BY round"
}
# same rows for 1 process, 2 and 3 ranks: name, scenario, options...
same_ranks() {
    local name=$1 file=$2
    shift 2
    "$FEDSIM" run "$file" --db "$TMP/$name-1.db" --quiet -j 2 "$@"
    mrun -n 2 "$FEDSIM" run "$file" --db "$TMP/$name-2.db" --quiet -j 1 "$@"
    mrun -n 3 "$FEDSIM" run "$file" --db "$TMP/$name-3.db" --quiet -j 1 "$@"
    local a b c
    a=$(metrics "$TMP/$name-1.db")
    b=$(metrics "$TMP/$name-2.db")
    c=$(metrics "$TMP/$name-3.db")
    check "$name: rounds written" test "$(q "$TMP/$name-1.db" 'SELECT count(*) FROM rounds')" -ge 2
    check "$name: -n 2 gives the single-process rounds table" test "$a" = "$b"
    check "$name: -n 3 gives the single-process rounds table" test "$a" = "$c"
    check "$name: completed under mpirun" \
        test "$(q "$TMP/$name-3.db" 'SELECT group_concat(status) FROM runs')" = completed
}

FM=$ROOT/datasets/fashion-mnist.h5
if [ ! -f "$FM" ]; then
    FM=$TMP/fm.h5
    "$FEDSIM" data import fashion-mnist --out "$FM" >/dev/null 2>&1
fi

# --- mpirun fedsim run: the same bits for any number of ranks
same_ranks quickstart "$ROOT/scenarios/quickstart.yaml" --set data.path="$FM" \
    --set rounds.count=2 --set eval.every=1 --set eval.test_samples=1000
same_ranks scaffold-silo "$ROOT/scenarios/cross_silo/cross_silo.yaml" --set data.path="$FM" \
    --set algorithm.name=scaffold --set rounds.count=2 --set train.steps=5 \
    --set partition.kind=labels --set partition.labels_per_client=2 \
    --set eval.test_samples=500 --set eval.train_samples=500 --set algorithm.state_dir="$TMP"
check "scaffold-silo: client states kept (rank 0 owns them)" \
    test "$(q "$TMP/scaffold-silo-3.db" 'SELECT min(state_bytes) > 0 FROM rounds')" = 1
same_ranks momentum-cap "$HERE/tiny.yaml" --set train.momentum=0.9 \
    --set train.optimizer_state=per_client --set algorithm.state_memory_mb=0.001 \
    --set algorithm.state_dir="$TMP"
check "momentum-cap: states spilled to disk under MPI too" \
    test "$(q "$TMP/momentum-cap-3.db" 'SELECT max(state_disk_bytes) > 0 FROM rounds')" = 1
same_ranks dp "$HERE/tiny.yaml" --set privacy.mode=central --set privacy.noise_multiplier=1.2
check "dp: epsilon recorded" test "$(q "$TMP/dp-2.db" 'SELECT max(epsilon) > 0 FROM rounds')" = 1
same_ranks secagg "$HERE/tiny.yaml" --set privacy.secagg=secagg --set privacy.secagg_threshold=0.5
check "secagg: protocol bytes recorded" \
    test "$(q "$TMP/secagg-2.db" 'SELECT max(secagg_bytes) > 0 FROM rounds')" = 1

# --- bad input: one message from rank 0, exit 2, no hang
bad_input() { # name, expected message part, mpirun arguments...
    local name=$1 want=$2
    shift 2
    mrun "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"
    local rc=$?
    check "$name: exit 2 (not a hang)" test $rc -eq 2
    check "$name: says why" grep -q -- "$want" "$TMP/err.txt"
    check "$name: one message (rank 0's)" test "$(grep -c -- "$want" "$TMP/err.txt")" -eq 1
}
bad_input "more ranks than clients per round" "more ranks than rounds.clients_per_round" \
    -n 6 "$FEDSIM" run "$HERE/tiny.yaml" --db "$TMP/n6.db" --quiet -j 1
check "more ranks than clients: nothing written" test ! -e "$TMP/n6.db"
bad_input "a rank without the dataset" "rank 1 of 2: .*nowhere/fm.h5" \
    -n 1 "$FEDSIM" run "$ROOT/scenarios/quickstart.yaml" --db "$TMP/nd.db" --quiet -j 1 \
    --set data.path="$FM" : \
    -n 1 "$FEDSIM" run "$ROOT/scenarios/quickstart.yaml" --db "$TMP/nd.db" --quiet -j 1 \
    --set data.path="$TMP/nowhere/fm.h5"
check "a rank without the dataset: nothing written" test ! -e "$TMP/nd.db"
bad_input "database not writable at rank 0" "cannot open database" \
    -n 2 "$FEDSIM" run "$HERE/tiny.yaml" --db "$TMP/nowhere/x.db" --quiet -j 1
bad_input "scenario mistake" "unknown key 'rounds.bogus'" \
    -n 2 "$FEDSIM" run "$HERE/tiny.yaml" --db "$TMP/bk.db" --set rounds.bogus=1

# --- mpirun fedsim sweep: the same runs as without MPI
cat "$HERE/tiny.yaml" > "$TMP/sw.yaml"
printf 'sweep:\n  name: lr\n  grid:\n    train.lr: [0.05, 0.1]\n  seeds: [1, 2]\n' >> "$TMP/sw.yaml"
runs() {
    q "$1" "SELECT r.run_key, r.status, r.sweep_id, r.swept, r.params, r.superseded_by,
                   o.round, o.vtime_s, o.completed, o.bytes_up, quote(o.train_loss),
                   quote(o.test_acc)
            FROM runs r JOIN rounds o ON o.run_id = r.id ORDER BY r.run_key, o.round"
}
"$FEDSIM" sweep "$TMP/sw.yaml" --jobs 2 --db "$TMP/sw1.db" --quiet
mrun -n 3 "$FEDSIM" sweep "$TMP/sw.yaml" --db "$TMP/sw3.db" --threads 1 --quiet
check "sweep -n 3 exits 0" test $? -eq 0
check "sweep -n 3: 4 runs completed" \
    test "$(q "$TMP/sw3.db" "SELECT count(*) FROM runs WHERE status='completed'")" = 4
check "sweep -n 3: the same runs as without MPI" \
    test "$(runs "$TMP/sw1.db")" = "$(runs "$TMP/sw3.db")"
check "sweep -n 3: every run's final checkpoint" \
    test "$(ls "$TMP"/sw3-ckpt/*-final.h5 | wc -l)" = 4
mrun -n 3 "$FEDSIM" sweep "$TMP/sw.yaml" --db "$TMP/sw3.db" --threads 1 2> "$TMP/err.txt"
check "sweep -n 3 again: nothing to do" grep -q "nothing to do" "$TMP/err.txt"
mrun -n 1 "$FEDSIM" sweep "$TMP/sw.yaml" --db "$TMP/sw-n1.db" --jobs 2 --quiet
check "sweep -n 1 is the ordinary sweep" \
    test "$(runs "$TMP/sw1.db")" = "$(runs "$TMP/sw-n1.db")"
bad_input "sweep: database not writable at rank 0" "cannot create" \
    -n 2 "$FEDSIM" sweep "$TMP/sw.yaml" --db /proc/fedsim-nowhere/sw.db --quiet

# --- a worker rank killed mid-sweep: the database resumes
DB=$TMP/kill.db
KILL=(--db "$DB" --threads 1 --set rounds.count=1000)
"${MPIRUN[@]}" -n 3 "$FEDSIM" sweep "$TMP/sw.yaml" "${KILL[@]}" > /dev/null 2> "$TMP/kill.txt" &
MPID=$!
done1=0
for _ in $(seq 1 600); do # one run finished (at most 2 minutes)
    done1=$(q "$DB" "SELECT count(*) FROM runs WHERE status='completed'" 2> /dev/null)
    [ "${done1:-0}" -ge 1 ] && break
    sleep 0.2
done
victim=""
for p in $(pgrep -P $MPID); do
    tr '\0' '\n' < /proc/$p/environ 2> /dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p
done
check "kill: found rank 1 after a finished run" test -n "$victim" -a "${done1:-0}" -ge 1
[ -n "$victim" ] && kill -9 "$victim"
wait $MPID
check "kill: mpirun fails" test $? -ne 0
check "kill: the dead rank is reported" grep -q "rank 1 .*signal 9" "$TMP/kill.txt"
check "kill: database intact" test "$(q "$DB" 'PRAGMA integrity_check')" = ok
n_before=$(q "$DB" "SELECT count(*) FROM runs WHERE status='completed'")
left=$(q "$DB" "SELECT count(*) FROM runs WHERE status<>'completed'")
check "kill: only finished runs, none left running (not completed: $left)" test "$left" = 0
# the kill must land before the sweep ends (load can stretch the window between the first
# finished run and the kill: the runs are long enough that it never closes)
check "kill: it cut the sweep short ($n_before of 4 completed)" test "$n_before" -lt 4
mrun -n 3 "$FEDSIM" sweep "$TMP/sw.yaml" "${KILL[@]}" 2> "$TMP/resume.txt"
check "kill: the same command resumes" test $? -eq 0
check "kill: finished runs skipped" grep -q "$n_before completed earlier (skipped)" "$TMP/resume.txt"
check "kill: every run completed once" \
    test "$(q "$DB" "SELECT count(*) || '/' || count(DISTINCT run_key) FROM runs
                     WHERE status='completed'")" = 4/4

summary mpi
