#!/usr/bin/env bash
# End-to-end tests of stopping and of records that outlive their process (docs/metrics.md):
#   - SIGTERM/SIGINT during set-up (a long synthetic generation) exit 130 at once, nothing written;
#   - a run killed with SIGKILL leaves a `running` row that info shows as abandoned;
#   - an interrupted run with no finished round still writes its final checkpoint;
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
    ( sleep "$2"; kill -KILL "$1" 2>/dev/null ) &
    local dog=$!
    wait "$1"
    rc=$?
    kill "$dog" 2>/dev/null
    wait "$dog" 2>/dev/null
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

summary stops
