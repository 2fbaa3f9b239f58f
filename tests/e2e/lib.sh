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
