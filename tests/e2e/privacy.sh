#!/usr/bin/env bash
# End-to-end tests of privacy (docs/privacy.md) on the tiny scenario: privacy.mode none equals a
# run without the keys; central DP with z = 0 and a clip nobody reaches equals plain FedAvg bit
# for bit; the epsilon column increases and equals `fedsim privacy` for the same q, z, rounds;
# a target epsilon is met; local DP's epsilon follows the busiest client; secure aggregation
# completes, costs bytes and virtual time, and lands within the quantisation error of the plain
# aggregate; an abort is recorded with its reason; DP + secure aggregation is bit-identical
# for 1 and 2 threads; Paillier aggregation (privacy.secagg = paillier) equals the plain and
# SecAgg aggregates within quantisation, charges bytes and time, is bit-identical for 1 and 2
# threads, and refuses bad key sizes; bad combinations are refused; `fedsim bench he` runs and
# refuses a Paillier key below 2048 bits. Ends with "privacy: N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TINY=$HERE/tiny.yaml
run() { "$FEDSIM" run "$TINY" --quiet "$@"; }
# every metric that depends on the training, at full precision
m() { q "$1" 'SELECT round, quote(vtime_s), selected, completed, quote(bytes_up), quote(bytes_down),
              quote(train_loss), quote(test_loss), quote(test_acc) FROM rounds ORDER BY round'; }
# relative difference |a - b| / |b| <= tol
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
          s = b < 0 ? -b : b; exit !(d <= t * s) }'; }

# --- the default is no privacy: the keys absent or set to none give the same run
run --db "$TMP/plain.db"
run --db "$TMP/none.db" --set privacy.mode=none --set privacy.secagg=none
check "privacy none == no privacy keys" test "$(m "$TMP/plain.db")" = "$(m "$TMP/none.db")"
check "no DP: epsilon and clip are NULL, no secure aggregation bytes" test \
    "$(q "$TMP/plain.db" 'SELECT count(*) FROM rounds WHERE epsilon IS NULL AND dp_clip IS NULL
                          AND secagg_bytes = 0 AND secagg_abort IS NULL')" = 8

# --- central DP with z = 0 and no clipping, sample weights, fixed-size selection == FedAvg
run --db "$TMP/z0.db" --set privacy.mode=central --set privacy.sampling=fixed \
    --set privacy.weighting=samples --set privacy.noise_multiplier=0 --set privacy.clip=1e9
check "central DP, z = 0, no clipping == plain FedAvg bit for bit" \
    test "$(m "$TMP/plain.db")" = "$(m "$TMP/z0.db")"

# --- DP-FedAvg: Poisson sampling (q = 5/30), epsilon per round == fedsim privacy
run --db "$TMP/dp.db" --set privacy.mode=central --set privacy.noise_multiplier=1.2 \
    --set rounds.count=10
check "DP run completes" test "$(q "$TMP/dp.db" 'SELECT status FROM runs')" = completed
check "Poisson sampling: the round size varies" \
    test "$(q "$TMP/dp.db" 'SELECT count(DISTINCT selected) FROM rounds')" -gt 2
check "epsilon strictly increases" test "$(q "$TMP/dp.db" 'SELECT count(*) FROM rounds a JOIN rounds b
    ON b.round = a.round + 1 WHERE b.epsilon > a.epsilon')" = 9
mism=0
for r in 1 2 5 10; do
    e_db=$(q "$TMP/dp.db" "SELECT printf('%.17g', epsilon) FROM rounds WHERE round = $r")
    e_cli=$("$FEDSIM" privacy --q 0.16666666666666666 --z 1.2 --steps $r --delta 1e-5 |
        awk '$1 == "epsilon" { print $2 }')
    close "$e_db" "$e_cli" 1e-9 || { mism=$((mism + 1)); echo "     round $r: $e_db vs $e_cli"; }
done
check "epsilon column == fedsim privacy (q 1/6, z 1.2, rounds 1, 2, 5, 10)" test $mism = 0
check "dp_clip and dp_clipped recorded" test "$(q "$TMP/dp.db" 'SELECT count(*) FROM rounds
    WHERE dp_clip = 1 AND dp_clipped BETWEEN 0 AND 1')" -gt 5

# --- a target epsilon: z solved so that the last round spends at most, and about, 4
run --db "$TMP/target.db" --set privacy.mode=central --set privacy.target_epsilon=4
e_last=$(q "$TMP/target.db" 'SELECT epsilon FROM rounds WHERE round = 8')
check "target epsilon 4 met after rounds.count rounds ($e_last)" \
    awk -v e="$e_last" 'BEGIN { exit !(e <= 4 && e > 3.999) }'

# --- adaptive clipping moves C
run --db "$TMP/adapt.db" --set privacy.mode=central --set privacy.adaptive_clip=true \
    --set privacy.noise_multiplier=0.5 --set privacy.adaptive_count_noise=0.5 --set privacy.clip=0.01
check "adaptive clipping: C grows from 0.01 when every update is clipped" \
    test "$(q "$TMP/adapt.db" 'SELECT dp_clip > 0.0105 FROM rounds WHERE round = 8')" = 1

# --- local DP: epsilon of the busiest client so far (q = 1, multiplier z/2 per participation)
run --db "$TMP/local.db" --set privacy.mode=local --set privacy.noise_multiplier=4 \
    --set output.client_events=true
busiest=$(q "$TMP/local.db" "SELECT max(n) FROM (SELECT count(*) AS n FROM client_events
    WHERE phase = 'upload' AND outcome = 'completed' GROUP BY client)")
e_db=$(q "$TMP/local.db" "SELECT printf('%.17g', epsilon) FROM rounds WHERE round = 8")
e_cli=$("$FEDSIM" privacy --q 1 --z 2 --steps "$busiest" --delta 1e-5 | awk '$1 == "epsilon" { print $2 }')
check "local DP: epsilon == fedsim privacy --q 1 --z z/2 --steps $busiest" close "$e_db" "$e_cli" 1e-9

# --- secure aggregation: completes, pays bytes and time, aggregate within quantisation error
run --db "$TMP/sa.db" --set privacy.secagg=secagg --set privacy.secagg_threshold=0.5
check "secagg run completes, no round aborted" test \
    "$(q "$TMP/sa.db" "SELECT status FROM runs")/$(q "$TMP/sa.db" 'SELECT count(secagg_abort) FROM rounds')" = completed/0
check "secagg: protocol bytes every round" \
    test "$(q "$TMP/sa.db" 'SELECT count(*) FROM rounds WHERE secagg_bytes > 0 AND secagg_time_s > 0')" = 8
b_sa=$(q "$TMP/sa.db" 'SELECT sum(bytes_up + bytes_down) FROM rounds')
b_pl=$(q "$TMP/plain.db" 'SELECT sum(bytes_up + bytes_down) FROM rounds')
check "secagg moves more bytes than plain ($b_sa > $b_pl)" awk -v a="$b_sa" -v b="$b_pl" 'BEGIN { exit !(a > b) }'
t_sa=$(q "$TMP/sa.db" 'SELECT max(vtime_s) FROM rounds')
t_pl=$(q "$TMP/plain.db" 'SELECT max(vtime_s) FROM rounds')
check "secagg takes more virtual time than plain ($t_sa > $t_pl)" awk -v a="$t_sa" -v b="$t_pl" 'BEGIN { exit !(a > b) }'
l_sa=$(q "$TMP/sa.db" "SELECT printf('%.17g', test_loss) FROM rounds WHERE round = 2")
l_pl=$(q "$TMP/plain.db" "SELECT printf('%.17g', test_loss) FROM rounds WHERE round = 2")
check "secagg aggregate == plain within quantisation (test loss after 2 rounds: $l_sa vs $l_pl)" \
    close "$l_sa" "$l_pl" 1e-6
check "secagg: the same clients as plain" test "$(q "$TMP/sa.db" 'SELECT group_concat(completed) FROM rounds')" = \
    "$(q "$TMP/plain.db" 'SELECT group_concat(completed) FROM rounds')"

# --- Paillier aggregation: the same encoding, the sum decrypted by the key holder; 1 and 2
# threads give the same bits (keyed encryption randomness per client and round)
for j in 1 2; do
    run -j $j --db "$TMP/he$j.db" --set privacy.secagg=paillier
done
check "paillier run completes" test "$(q "$TMP/he1.db" "SELECT status FROM runs")" = completed
check "paillier: protocol time every round, key bytes charged" test \
    "$(q "$TMP/he1.db" 'SELECT count(*) FROM rounds WHERE secagg_time_s > 0')/$(q "$TMP/he1.db" \
    'SELECT sum(secagg_bytes) > 0 FROM rounds')" = 8/1
b_he=$(q "$TMP/he1.db" 'SELECT sum(bytes_up) FROM rounds')
b_up=$(q "$TMP/plain.db" 'SELECT sum(bytes_up) FROM rounds')
check "paillier uploads ciphertexts: more bytes than plain ($b_he > $b_up)" \
    awk -v a="$b_he" -v b="$b_up" 'BEGIN { exit !(a > b) }'
for r in 2 8; do
    l_he=$(q "$TMP/he1.db" "SELECT printf('%.17g', test_loss) FROM rounds WHERE round = $r")
    l_pl=$(q "$TMP/plain.db" "SELECT printf('%.17g', test_loss) FROM rounds WHERE round = $r")
    l_sa=$(q "$TMP/sa.db" "SELECT printf('%.17g', test_loss) FROM rounds WHERE round = $r")
    check "paillier aggregate == plain within quantisation (round $r test loss: $l_he vs $l_pl)" \
        close "$l_he" "$l_pl" 1e-6
    check "paillier == secagg within quantisation (round $r test loss: $l_he vs $l_sa)" \
        close "$l_he" "$l_sa" 1e-6
done
check "paillier: the same clients and accuracy as plain" \
    test "$(q "$TMP/he1.db" 'SELECT group_concat(completed), group_concat(test_acc) FROM rounds')" = \
    "$(q "$TMP/plain.db" 'SELECT group_concat(completed), group_concat(test_acc) FROM rounds')"
full_he() { q "$1" 'SELECT quote(secagg_bytes), quote(secagg_time_s) FROM rounds ORDER BY round'; }
check "paillier: 1 thread == 2 threads" \
    test "$(m "$TMP/he1.db")$(full_he "$TMP/he1.db")" = "$(m "$TMP/he2.db")$(full_he "$TMP/he2.db")"
out=$("$FEDSIM" validate "$TINY" --set privacy.secagg=paillier --set privacy.paillier_bits=2050 2>&1)
check "paillier: an even key size above 2048 bits is accepted" test $? = 0
out=$("$FEDSIM" validate "$TINY" --set privacy.secagg=paillier --set privacy.paillier_bits=2049 2>&1)
check "paillier: an odd key size is refused (exit 2)" test $? = 2
check "  ... naming privacy.paillier_bits" grep -q "privacy.paillier_bits" <<<"$out"
out=$("$FEDSIM" validate "$TINY" --set privacy.secagg=paillier --set privacy.paillier_bits=1024 2>&1)
check "paillier: a key below 2048 bits is refused (exit 2)" test $? = 2
out=$("$FEDSIM" validate "$TINY" --set privacy.secagg=paillier --set algorithm.name=fednova 2>&1)
check "paillier with fednova is refused (exit 2)" test $? = 2

# --- too many drop: the round aborts with the reason in the metrics, the run goes on
run --db "$TMP/abort.db" --set privacy.secagg=secagg --set privacy.secagg_threshold=0.9 \
    --set dropout.p=0.3
aborted=$(q "$TMP/abort.db" "SELECT count(*) FROM rounds WHERE secagg_abort LIKE
    'fewer than t masked inputs: % masked inputs arrived, threshold t = %' AND completed = 0 AND abandoned = 1")
check "secagg abort recorded with its reason ($aborted rounds)" test "$aborted" -gt 0
check "secagg abort: the run completes" test "$(q "$TMP/abort.db" 'SELECT status FROM runs')" = completed

# --- DP + SecAgg+ + adaptive clipping: 1 and 2 threads give the same bits
for j in 1 2; do
    run -j $j --db "$TMP/t$j.db" --set privacy.mode=central --set privacy.secagg=secagg_plus \
        --set privacy.adaptive_clip=true --set privacy.adaptive_count_noise=1 \
        --set privacy.noise_multiplier=0.5 --set rounds.clients_per_round=10 --set rounds.count=5
done
full() { q "$1" 'SELECT quote(epsilon), quote(dp_clip), quote(dp_clipped), quote(secagg_bytes),
                 quote(secagg_time_s), quote(secagg_abort) FROM rounds ORDER BY round'; }
check "DP + SecAgg+: 1 thread == 2 threads" \
    test "$(m "$TMP/t1.db")$(full "$TMP/t1.db")" = "$(m "$TMP/t2.db")$(full "$TMP/t2.db")"

# --- refused combinations: exit 2 with the key named
out=$("$FEDSIM" validate "$TINY" --set privacy.mode=central --set protocol=async 2>&1)
check "central DP with async is refused" test $? = 2
check "  ... naming protocol: sync" grep -q "needs protocol: sync" <<<"$out"
out=$("$FEDSIM" validate "$TINY" --set privacy.secagg=secagg --set rounds.clients_per_round=900 \
    --set partition.clients=2000 --set data.synthetic_clients=2000 2>&1)
check "complete-graph secagg beyond 1000 clients is refused (use secagg_plus)" grep -q "secagg_plus" <<<"$out"
out=$("$FEDSIM" run "$TINY" --quiet --db "$TMP/x.db" --set privacy.mode=central \
    --set privacy.target_epsilon=0.001 2>&1)
check "unreachable target epsilon: exit 2 with a reason" test $? = 2
check "  ... naming privacy.target_epsilon" grep -q "privacy.target_epsilon" <<<"$out"

# Paillier and PSI (sim/crypto, docs/vertical.md): the benchmark runs and prints every row; a
# key below 2048 bits is refused with a reason.
out=$("$FEDSIM" bench he --seconds 0.01 --bits 2048 --keygens 1 --psi-ids 20 2>&1)
check "bench he: exit 0" test $? = 0
check "  ... every Paillier operation and the PSI run reported" test \
    "$(grep -cE '^  (encrypt, (textbook|public|key holder)|decrypt|add|scalar multiply|inner product|psi_run)' <<<"$out")" = 9
out=$("$FEDSIM" bench he --bits 1024 2>&1)
check "bench he --bits 1024: exit 2" test $? = 2
check "  ... the key is too small, the minimum is 2048 bits" grep -q "too small: the minimum is 2048" <<<"$out"

# the peak-memory estimate covers secure aggregation: SecAgg+ over 150 clients of a 72k-parameter
# MLP (the chunk's encoded and masked vectors, the round's keys and shares), and Paillier on the
# tiny scenario (the 27 MB fixed-base table, the ciphertexts)
if [ -x /usr/bin/time ]; then
    est_rss "$TINY" "${MEM_BIG[@]}"
    e0=$EST r0=$RSS
    est_rss "$TINY" "${MEM_BIG[@]}" --set privacy.secagg=secagg_plus
    mem_check "SecAgg+ over 150 clients" "$e0" "$r0" "$EST" "$RSS"
    est_rss "$TINY" -j 2
    e0=$EST r0=$RSS
    est_rss "$TINY" -j 2 --set privacy.secagg=paillier
    mem_check "Paillier on the tiny scenario" "$e0" "$r0" "$EST" "$RSS"
else
    echo "skip the peak-memory checks: no /usr/bin/time"
fi

summary privacy
