#!/usr/bin/env bash
# End-to-end tests of vertical learning (docs/vertical.md): the shipped scenarios run with
# encryption off and on and write their rows; the encrypted hetero LR reaches the plain run's
# AUC; ciphertexts cost 2|n| bits on the wire; runs are deterministic; dropouts stall and are
# recorded; bad input (overlapping or missing feature groups, no labels, a small key, an empty
# intersection, a task hetero LR cannot learn) exits 2 with a file:line:col or a clear message
# and writes nothing. Builds datasets/breast_cancer.h5 (and fashion-mnist.h5) when missing.
set -u
FEDSIM=$(cd "$(dirname "${1:-build/fedsim}")" && pwd)/$(basename "${1:-build/fedsim}")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
cd "$HERE/../.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

BC=datasets/breast_cancer.h5
if [ ! -f "$BC" ]; then
    mkdir -p datasets
    "$FEDSIM" data import breast-cancer --out "$BC" > /dev/null
fi
check "breast-cancer dataset present" test -f "$BC"
LR=scenarios/vertical/breast_lr.yaml

metrics() {
    q "$1" "SELECT round, vtime_s, completed, dropped, late, bytes_up, bytes_down,
            quote(train_loss), quote(test_loss), quote(test_acc), quote(test_auc),
            crypto_time_s, stall_s FROM rounds ORDER BY round"
}

# --- hetero LR in the clear: the shipped scenario
"$FEDSIM" run "$LR" --db "$TMP/lr.db" --quiet -j 1
check "breast_lr exits 0" test $? -eq 0
check "breast_lr completed" test "$(q "$TMP/lr.db" 'SELECT status FROM runs')" = completed
check "one row per epoch and row 0 for the alignment" \
    test "$(q "$TMP/lr.db" 'SELECT count(*), min(round), max(round) FROM rounds')" = "11|0|10"
check "runs records the protocol (no key in the clear)" \
    test "$(q "$TMP/lr.db" "SELECT federation, protocol, quote(key_bits) FROM runs")" = \
    "vertical|hetero_lr|NULL"
check "row 0 carries the PSI traffic and time" \
    test "$(q "$TMP/lr.db" 'SELECT bytes_up > 30000 AND vtime_s > 0 AND completed = 0 FROM rounds WHERE round = 0')" = 1
check "parties table" test "$(q "$TMP/lr.db" "SELECT group_concat(name || ':' || role || ':' || features || ':' || common) FROM parties")" = \
    "guest:active:10:569,host:passive:20:569,arbiter:coordinator:0:0"
check "party_rounds: a row per party and rounds row" \
    test "$(q "$TMP/lr.db" 'SELECT count(*) FROM party_rounds')" = 33
check "party bytes add up to the row's" \
    test "$(q "$TMP/lr.db" 'SELECT count(*) FROM rounds r WHERE bytes_up <> (SELECT sum(bytes_sent) FROM party_rounds p WHERE p.round = r.round)')" = 0
AUC_PLAIN=$(q "$TMP/lr.db" 'SELECT test_auc FROM rounds WHERE round = 10')
check "plain hetero LR AUC >= 0.98 ($AUC_PLAIN)" awk -v a="$AUC_PLAIN" 'BEGIN { exit !(a >= 0.98) }'
"$FEDSIM" run "$LR" --db "$TMP/lr2.db" --quiet -j 2
check "same seed, 1 vs 2 threads: same metrics" test "$(metrics "$TMP/lr.db")" = "$(metrics "$TMP/lr2.db")"

summ() { q "$1" "SELECT group_concat(printf('%.6f %.6f %.6f %.6f', train_loss, test_loss, test_acc, test_auc), ',') FROM rounds WHERE round > 0"; }
"$FEDSIM" run "$LR" --db "$TMP/c.db" --quiet --set vertical.central=true
check "centralised baseline on the joined columns: one party" \
    test "$(q "$TMP/c.db" "SELECT protocol || ':' || (SELECT count(*) FROM parties) FROM runs")" = "hetero_lr+central:1"
check "hetero LR in the clear equals the centralised baseline" test "$(summ "$TMP/c.db")" = "$(summ "$TMP/lr.db")"

# --- encrypted: two epochs of real 2048-bit Paillier against the plain run of the same length
"$FEDSIM" run "$LR" --db "$TMP/p2.db" --quiet --set train.epochs=2
"$FEDSIM" run "$LR" --db "$TMP/he.db" --quiet --set train.epochs=2 --set vertical.encryption=paillier
check "encrypted breast_lr exits 0" test $? -eq 0
check "runs records Paillier and the key size" \
    test "$(q "$TMP/he.db" "SELECT protocol, key_bits FROM runs")" = "hetero_lr+paillier|2048"
AUC_HE=$(q "$TMP/he.db" 'SELECT test_auc FROM rounds WHERE round = 2')
AUC_P2=$(q "$TMP/p2.db" 'SELECT test_auc FROM rounds WHERE round = 2')
check "encrypted AUC within 0.005 of the plain one ($AUC_HE vs $AUC_P2)" \
    awk -v a="$AUC_HE" -v b="$AUC_P2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005 && a >= 0.98) }'
# per epoch the host sends [[u]] and [[u^2]] for its 456 rows and 20 masked gradient
# coordinates in each of 8 steps, 512 bytes (2 x 2048 bits) each
check "host's ciphertext bytes per epoch" \
    test "$(q "$TMP/he.db" 'SELECT bytes_sent FROM party_rounds WHERE round = 1 AND party = 1')" = \
    "$(( (2 * 456 + 20 * 8) * 512 )).0"
check "crypto time recorded and on the clock" \
    test "$(q "$TMP/he.db" "SELECT (SELECT crypto_time_s > 0 FROM rounds WHERE round = 1) AND
        (SELECT vtime_s FROM rounds WHERE round = 2) > $(q "$TMP/p2.db" 'SELECT vtime_s FROM rounds WHERE round = 2')")" = 1

# --- stragglers and dropouts: a scenario whose host is slow and drops out
sed -e 's/^      columns: "10-29"$/      columns: "10-29"\n      dropout: 0.2\n      rejoin_s: 5\n      straggler_p: 0.3/' \
    "$LR" > "$TMP/faulty.yaml"
"$FEDSIM" run "$TMP/faulty.yaml" --db "$TMP/f.db" --quiet
check "faulty run completes" test "$(q "$TMP/f.db" 'SELECT status FROM runs')" = completed
check "dropouts and stragglers recorded" \
    test "$(q "$TMP/f.db" 'SELECT sum(dropped) > 0 AND sum(late) > 0 AND sum(stall_s) >= 5 * sum(dropped) FROM rounds')" = 1
check "dropouts by party add up" \
    test "$(q "$TMP/f.db" 'SELECT sum(dropouts) FROM party_rounds WHERE party = 1')" = \
    "$(q "$TMP/f.db" 'SELECT sum(dropped) FROM rounds')"
check "a dropout stalls the run (same model, later)" \
    test "$(q "$TMP/f.db" "SELECT max(vtime_s) > $(q "$TMP/lr.db" 'SELECT max(vtime_s) FROM rounds') FROM rounds")" = 1
check "faults do not change the model" \
    test "$(q "$TMP/f.db" 'SELECT test_auc FROM rounds WHERE round = 10')" = "$AUC_PLAIN"

# --- SplitNN on Fashion-MNIST halves (no PSI: 70,000 IDs would take a minute)
FM=datasets/fashion-mnist.h5
if [ ! -f "$FM" ] && [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
    "$FEDSIM" data import fashion-mnist --out "$FM" > /dev/null
fi
SNN=scenarios/vertical/fmnist_splitnn.yaml
if [ -f "$FM" ]; then
    "$FEDSIM" run "$SNN" --db "$TMP/s.db" --quiet --set vertical.psi=false --set train.steps=300 \
        --set eval.every=150
    check "splitnn exits 0" test $? -eq 0
    check "splitnn: a row every eval.every steps" \
        test "$(q "$TMP/s.db" 'SELECT group_concat(completed) FROM rounds')" = "0,150,150"
    check "splitnn learns (test accuracy > 0.6, AUC > 0.9)" \
        test "$(q "$TMP/s.db" 'SELECT test_acc > 0.6 AND test_auc > 0.9 FROM rounds WHERE round = 2')" = 1
    # the passive party sends 64 floats per sample and receives their gradients
    check "splitnn: embeddings on the wire" \
        test "$(q "$TMP/s.db" 'SELECT bytes_sent FROM party_rounds WHERE round = 1 AND party = 1')" = \
        "$((150 * 64 * 64 * 4)).0"
    "$FEDSIM" run "$SNN" --db "$TMP/s4.db" --quiet --set vertical.psi=false --set train.steps=20 \
        --set eval.every=20 --set vertical.embedding_noise=0.1 \
        --set 'vertical.parties=[{name: tl, role: active, rows: 0-13, cols: 0-13}, {name: tr, rows: 0-13, cols: 14-27}, {name: bl, rows: 14-27, cols: 0-13}, {name: br, rows: 14-27, cols: 14-27}]'
    check "splitnn over four quadrants with noisy embeddings" \
        test "$(q "$TMP/s4.db" 'SELECT count(*) FROM parties')" = 4
    "$FEDSIM" run "$SNN" --db "$TMP/she.db" --quiet --set vertical.psi=false --set train.steps=2 \
        --set eval.every=1 --set vertical.encryption=paillier --set train.batch_size=16 \
        --set vertical.embedding_dim=8 --set vertical.top_hidden=[16]
    check "splitnn with Paillier runs" \
        test "$(q "$TMP/she.db" "SELECT protocol || ':' || key_bits || ':' || status FROM runs")" = "splitnn+paillier:2048:completed"
    check "splitnn with Paillier: ciphertexts of the embeddings" \
        test "$(q "$TMP/she.db" 'SELECT bytes_sent >= 16 * 8 * 512 AND crypto_s > 0 FROM party_rounds WHERE round = 1 AND party = 1')" = 1
else
    echo "skip splitnn: no Fashion-MNIST"
fi

# --- bad input: exit 2, a position or a clear message, nothing written
expect_bad() { # name, file, expected message, extra args...
    local name=$1 file=$2 msg=$3
    shift 3
    rm -f "$TMP/bad.db"
    "$FEDSIM" run "$file" --db "$TMP/bad.db" --quiet "$@" 2> "$TMP/err.txt"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$msg" "$TMP/err.txt" && [ ! -e "$TMP/bad.db" ]; then
        ok "$name"
    else
        bad "$name" "rc=$rc $(head -2 "$TMP/err.txt")"
    fi
}
sed -e 's/^      columns: "10-29"$/      columns: "5-29"/' "$LR" > "$TMP/overlap.yaml"
expect_bad "overlapping feature groups" "$TMP/overlap.yaml" \
    "overlap.yaml:26:16: error: features 5-9 of party 'host' also belong to party 'guest'"
sed -e 's/^      columns: "10-29"$/      columns: "10-28"/' "$LR" > "$TMP/missing.yaml"
expect_bad "a feature of no party" "$TMP/missing.yaml" \
    "missing.yaml:17:3: error: feature 29 of the 30 of 'breast-cancer' belongs to no party"
sed -e '/^      columns: "10-29"$/d' "$LR" > "$TMP/nogroup.yaml"
expect_bad "a party without a feature group" "$TMP/nogroup.yaml" \
    "nogroup.yaml:25:7: error: vertical.parties\[1\] ('host') has no feature group"
sed -e 's/^      role: active .*$/      role: passive/' "$LR" > "$TMP/nolabels.yaml"
expect_bad "no party with the labels" "$TMP/nolabels.yaml" \
    "nolabels.yaml:17:3: error: no party owns the labels"
sed -e 's/^  key_bits: 2048$/  key_bits: 1024/' "$LR" > "$TMP/small.yaml"
expect_bad "a key below 2048 bits" "$TMP/small.yaml" \
    "small.yaml:15:13: error: vertical.key_bits = 1024 is out of range"
sed -e 's/^      columns: "10-29"$/      columns: "10-29"\n      coverage: 0/' "$LR" > "$TMP/empty.yaml"
expect_bad "an empty intersection" "$TMP/empty.yaml" \
    "empty.yaml:17:3: error: the parties have no sample ID in common"
expect_bad "a missing breast-cancer file names its importer" "$LR" \
    "fedsim data import breast-cancer --out $TMP/none/breast_cancer.h5" \
    --set data.path="$TMP/none/breast_cancer.h5"
expect_bad "hetero LR on ten classes" "$SNN" "hetero_lr needs 2 classes" --set vertical.algorithm=hetero_lr
"$FEDSIM" validate "$TMP/missing.yaml" 2> "$TMP/err.txt"
check "validate checks the feature groups against the data" \
    grep -q "missing.yaml:17:3: error: feature 29" "$TMP/err.txt"
"$FEDSIM" validate "$TMP/empty.yaml" 2> "$TMP/err.txt"
check "validate finds an empty intersection" \
    grep -q "empty.yaml:17:3: error: the parties have no sample ID in common" "$TMP/err.txt"
check "validate accepts the shipped scenarios" \
    "$FEDSIM" validate "$LR" > /dev/null
summary vertical
