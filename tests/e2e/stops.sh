#!/usr/bin/env bash
# End-to-end tests of stopping, of records that outlive their process (docs/metrics.md), and of
# inputs that used to be misread silently:
#   - SIGTERM/SIGINT during set-up (a long synthetic generation) exit 130 at once, nothing written;
#   - a run killed with SIGKILL leaves a `running` row that info shows as abandoned;
#   - an interrupted run with no finished round still writes its final checkpoint;
#   - seeds >= 2^63 are stored exactly; info on a corrupt database fails, on a read-only
#     directory it reads; a full disk gives one error line, not HDF5's error stack;
#   - data.dataset is checked against the kind of data the file holds;
#   - privacy.secagg_randomness: system gives the keyed run's aggregate; t = 1 is warned about;
# Ends with the line "stops: N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT

# Wait until process $1 catches SIGTERM (its handler is installed), at most 10 s.
wait_handler() {
    for _ in $(seq 1 100); do
        local m
        m=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
        [ -n "$m" ] && [ $((0x$m & 0x4000)) -ne 0 ] && return 0
        sleep 0.1
    done
    return 1
}
# Wait for process $1 for at most $2 s (then SIGKILL it); sets rc to its exit status.
wait_at_most() {
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2> /dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2> /dev/null
    wait "$1"
    rc=$?
}

# A synthetic scenario whose generation takes minutes: 300 clients with a 500 x 20,000 model each.
cat > "$TMP/heavy.yaml" <<'YAML'
name: heavy
data:
  dataset: synthetic
  synthetic_clients: 300
  synthetic_dim: 20000
  synthetic_classes: 500
  synthetic_min_size: 1
  synthetic_size_mean: 0
  synthetic_size_sigma: 0
  synthetic_test_fraction: 0.5
model: {name: logreg}
rounds: {count: 2, clients_per_round: 2}
YAML

# --- a signal during set-up: exit 130 within seconds (the generation alone takes minutes),
# nothing written
for sig in TERM INT; do
    rm -f "$TMP/heavy.db"
    "$FEDSIM" run "$TMP/heavy.yaml" --db "$TMP/heavy.db" --quiet 2> "$TMP/err.txt" &
    pid=$!
    wait_handler $pid
    sleep 0.5
    kill -$sig $pid
    wait_at_most $pid 20
    check "SIG$sig during set-up: exit 130 (got $rc)" test $rc -eq 130
    check "SIG$sig during set-up: says so" grep -q "interrupted during set-up" "$TMP/err.txt"
    check "SIG$sig during set-up: no database" test ! -e "$TMP/heavy.db"
done

TINY=$HERE/tiny.yaml

# --- kill -9: the row stays `running`; info shows it abandoned (its process is gone), and a
# live run as running
"$FEDSIM" run "$TINY" --db "$TMP/k.db" --quiet -j 1 --set rounds.count=100000 \
    --set eval.every=1000 &
pid=$!
for _ in $(seq 1 100); do
    n=$(q "$TMP/k.db" 'SELECT count(*) FROM rounds' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.1
done
"$FEDSIM" info "$TMP/k.db" > "$TMP/live.txt"
check "a live run is shown running" grep -q "1 running" "$TMP/live.txt"
kill -KILL $pid
wait $pid 2> /dev/null
check "kill -9 leaves the row running" test "$(q "$TMP/k.db" 'SELECT status FROM runs')" = running
check "the row names its process" test "$(q "$TMP/k.db" 'SELECT pid FROM runs')" = $pid
"$FEDSIM" info "$TMP/k.db" > "$TMP/info.txt"
rc=$?
check "info after kill -9: exit 0" test $rc -eq 0
check "info after kill -9: counted abandoned, not running" \
    grep -q "0 running, 0 failed, 0 interrupted, 1 abandoned" "$TMP/info.txt"
check "info after kill -9: the run is listed abandoned, with its pid" \
    grep -q "run 1 abandoned: .*pid $pid" "$TMP/info.txt"

# --- an interrupted run with no finished round still writes its final checkpoint (round 0)
"$FEDSIM" run "$TINY" --db "$TMP/z.db" --quiet -j 1 --set train.epochs=10000 \
    --set model.name=mlp --set model.hidden=[256,256] &
pid=$!
for _ in $(seq 1 100); do
    [ "$(q "$TMP/z.db" 'SELECT count(*) FROM runs' 2> /dev/null)" = 1 ] && break
    sleep 0.1
done
kill -TERM $pid
wait_at_most $pid 20
check "SIGTERM in round 1: exit 130" test $rc -eq 130
check "SIGTERM in round 1: interrupted with 0 rounds" \
    test "$(q "$TMP/z.db" "SELECT status || ':' || (SELECT count(*) FROM rounds) FROM runs")" = \
    "interrupted:0"
check "SIGTERM in round 1: final checkpoint written" test -f "$TMP/z-ckpt/tiny-final.h5"

# --- seeds of 2^63 and above are stored exactly
"$FEDSIM" run "$TINY" --db "$TMP/s.db" --quiet --set rounds.count=1 --set seed=18446744073709551615
check "seed 2^64-1 stored exactly" \
    test "$(q "$TMP/s.db" 'SELECT CAST(seed AS TEXT) FROM runs')" = 18446744073709551615
check "info shows seed 2^64-1" grep -q " 18446744073709551615 " <("$FEDSIM" info "$TMP/s.db")

# --- a corrupt database: info fails with one line naming it (not exit 0 with wrong counts)
cp "$TMP/s.db" "$TMP/bad.db"
python3 -c "
f = open('$TMP/bad.db', 'r+b'); f.seek(4096 + 8); f.write(bytes(range(256)) * 8); f.close()"
"$FEDSIM" info "$TMP/bad.db" > /dev/null 2> "$TMP/err.txt"
rc=$?
check "info on a corrupt database: exit 2, bad data (got $rc)" test $rc -eq 2
check "info on a corrupt database: says corrupt" grep -q "bad.db: corrupt database" "$TMP/err.txt"

# --- a valid database on a read-only file system (a directory the reader cannot write, where
# SQLite cannot create the WAL index): read, not "not a fedsim metrics database"
mkdir "$TMP/ro"
cp "$TMP/s.db" "$TMP/ro/s.db"
chmod 555 "$TMP/ro"
chmod 755 "$TMP"
if [ "$(id -u)" = 0 ]; then
    as_reader() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
else
    as_reader() { "$@"; }
fi
if [ "$(id -u)" != 0 ] || command -v setpriv > /dev/null; then
    as_reader "$FEDSIM" info "$TMP/ro/s.db" > "$TMP/ro.txt" 2> "$TMP/err.txt"
    rc=$?
    check "info on a read-only directory: exit 0 (got $rc: $(cat "$TMP/err.txt"))" test $rc -eq 0
    check "info on a read-only directory: lists the run" grep -q "1 completed" "$TMP/ro.txt"
fi
chmod 755 "$TMP/ro"

# --- data.dataset is checked against the kind the file records: kjv pointing at a
# 'fashion-mnist' file is refused by validate and run, exit 2, nothing written
printf 'x1,label\n0.5,0\n1.5,1\n2.5,1\n0.1,0\n' > "$TMP/fashion-mnist.csv"
"$FEDSIM" data import csv "$TMP/fashion-mnist.csv" --label label --out "$TMP/fm.h5" > /dev/null
for cmd in validate run; do
    "$FEDSIM" $cmd "$TINY" --set data.dataset=kjv --set data.path="$TMP/fm.h5" \
        --set partition.kind=iid --db "$TMP/kind.db" > /dev/null 2> "$TMP/err.txt"
    rc=$?
    check "$cmd: kjv scenario on a fashion-mnist file: exit 2 (got $rc)" test $rc -eq 2
    check "$cmd: says which dataset the file holds" \
        grep -q "data.dataset is kjv but .*fm.h5 holds the dataset 'fashion-mnist'" "$TMP/err.txt"
done
check "no database written" test ! -e "$TMP/kind.db"

# --- values whose arithmetic used to overflow into NaN and an internal SQLite error
# (NOT NULL constraint failed: rounds.bytes_up): bounded in the key table, or a clear error
"$FEDSIM" run "$TINY" --db "$TMP/slow.db" --quiet --set devices.flops.median=1e-300 2> "$TMP/err.txt"
rc=$?
check "devices.flops.median=1e-300: exit 2, out of range (got $rc)" \
    test $rc -eq 2 -a ! -e "$TMP/slow.db"
check "devices.flops.median=1e-300: says out of range" grep -q "is out of range" "$TMP/err.txt"
printf 'client,flops,down_bps,up_bps,latency_s\n0,1e-305,1e6,1e6,0.01\n' > "$TMP/trace.csv"
"$FEDSIM" run "$TINY" --db "$TMP/slow.db" --quiet --set devices.model=trace \
    --set devices.trace="$TMP/trace.csv" 2> "$TMP/err.txt"
rc=$?
check "a trace of 1e-305 FLOP/s: exit 2 (got $rc)" test $rc -eq 2
check "a trace of 1e-305 FLOP/s: virtual time overflow named, no SQLite error" \
    test "$(grep -c "virtual time overflowed" "$TMP/err.txt")|$(grep -c "constraint" "$TMP/err.txt")" = "1|0"

# --- privacy.secagg_randomness: system draws the protocol's secrets from libsodium: the masks
# cancel all the same (the metrics equal the keyed run's), the log and the parameters say so;
# a threshold t = 1 is warned about
SA="--set privacy.secagg=secagg --set rounds.count=3"
"$FEDSIM" run "$TINY" --db "$TMP/sak.db" -j 1 $SA > /dev/null 2>&1
"$FEDSIM" run "$TINY" --db "$TMP/sas.db" -j 1 $SA --set privacy.secagg_randomness=system \
    > /dev/null 2> "$TMP/err.txt"
rc=$?
check "secagg_randomness=system: exit 0 (got $rc)" test $rc -eq 0
sa_metrics() { q "$1" 'SELECT round, vtime_s, completed, bytes_up, quote(train_loss), quote(test_acc)
                      FROM rounds ORDER BY round'; }
check "secagg_randomness=system: same aggregate as keyed" \
    test "$(sa_metrics "$TMP/sas.db")" = "$(sa_metrics "$TMP/sak.db")" -a -n "$(sa_metrics "$TMP/sak.db")"
check "secagg_randomness=system: said so in the log and in the run row" \
    test "$(grep -c "not reproducible" "$TMP/err.txt")|$(q "$TMP/sas.db" \
        "SELECT json_extract(params, '\$.\"privacy.secagg_randomness\"') FROM runs")" = "1|system"
"$FEDSIM" run "$TINY" --db "$TMP/sa1.db" -j 1 $SA --set privacy.secagg_threshold=1 \
    > /dev/null 2> "$TMP/err.txt"
check "secagg threshold t = 1 is warned about" grep -q "threshold t = 1" "$TMP/err.txt"

# --- a full disk under the client-state spill: one error line (no HDF5 error stack), run failed.
# Needs a private mount namespace for a 64 KiB tmpfs (root, or skipped)
mkdir "$TMP/full"
if unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$TMP/full'" 2> /dev/null; then
    unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$TMP/full' && exec '$FEDSIM' run '$TINY' \
        --db '$TMP/full.db' --quiet --set algorithm.name=scaffold \
        --set algorithm.state_memory_mb=0.0001 --set algorithm.state_dir='$TMP/full' \
        --set model.name=mlp --set model.hidden=[64]" > "$TMP/out.txt" 2>&1
    rc=$?
    check "full disk: exit 1 (got $rc)" test $rc -eq 1
    check "full disk: one line, no HDF5 stack ($(wc -l < "$TMP/out.txt") lines)" \
        test "$(wc -l < "$TMP/out.txt")" = 1 -a "$(grep -c HDF5-DIAG "$TMP/out.txt")" = 0
    check "full disk: run marked failed" test "$(q "$TMP/full.db" 'SELECT status FROM runs')" = failed
else
    echo "skip full disk (cannot mount a tmpfs here)"
fi

summary stops
