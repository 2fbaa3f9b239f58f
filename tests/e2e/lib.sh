# Shared helpers of the end-to-end test scripts (sourced). Each script counts its checks and
# ends with "<name>: N passed, M failed"; `summary NAME` prints that line and sets the status.
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; return 0; }
check() { # name, command...
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
q() { sqlite3 -batch -noheader "$1" "$2"; }
summary() {
    echo
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

# Peak memory (README.md, 'What validate checks'): est_rss SCENARIO ARGS... sets EST to
# `fedsim validate`'s estimate and RSS to the peak resident set of the same `fedsim run`
# (/usr/bin/time -v), both in MB of 1e6 bytes; the caller's FEDSIM and TMP. Status 1 if the run
# fails.
est_rss() {
    local f=$1
    shift
    EST=$("$FEDSIM" validate "$f" "$@" | sed -n 's/.*peak memory estimate \([0-9]*\) MB.*/\1/p')
    /usr/bin/time -v -o "$TMP/time.txt" "$FEDSIM" run "$f" --quiet --db "$TMP/rss.db" "$@" \
        >/dev/null 2>&1 || return 1
    rm -f "$TMP/rss.db"
    RSS=$(awk '/Maximum resident set size/ { printf "%d", $NF * 1024 / 1e6 }' "$TMP/time.txt")
}
# The runs both suites measure a feature against: 150 of 200 synthetic clients, all arriving,
# one round of an MLP with 1,000 hidden units on tiny.yaml's synthetic data, 2 threads
# (privacy.sh adds SecAgg+, robust.sh Krum).
MEM_BIG=(--set data.synthetic_clients=200 --set partition.clients=200 --set model.name=mlp
    --set 'model.hidden=[1000]' --set rounds.count=1 --set rounds.clients_per_round=150
    --set rounds.overcommit=0 --set availability.p=1 --set dropout.p=0 -j 2)
# What the estimate leaves out of the peak: the code, libraries and the OpenMP and OpenBLAS
# runtimes (the plain runs of these checks peak 21-33 MB above their estimates).
MEM_MARGIN=40
# mem_check NAME EST0 RSS0 EST RSS: a run with a feature (EST, RSS) against the same run without
# it (EST0, RSS0): the estimate is not below the peak by more than MEM_MARGIN, and the part the
# feature adds to it is 0.9-1.5 x what it adds to the peak.
mem_check() {
    local de=$(($4 - $2)) dr=$(($5 - $3))
    check "$1: estimate $4 MB >= peak RSS $5 MB - $MEM_MARGIN MB" test "$4" -ge $(($5 - MEM_MARGIN))
    check "$1: the estimate grows by $de MB, 0.9-1.5 x the peak's $dr MB" \
        test $((10 * de)) -ge $((9 * dr)) -a $((2 * de)) -le $((3 * dr))
}
