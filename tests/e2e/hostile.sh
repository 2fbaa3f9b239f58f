#!/usr/bin/env bash
# End-to-end tests of hostile input (docs/fuzzing.md): every file of the regression corpus
# tests/fuzz/regress/ makes validate, run and sweep --dry-run exit 2 with a file:line:col message
# (a hang is caught by timeout); validate refuses what run would refuse at set-up (corrupt dataset
# files, infeasible partitions, models that do not chain, a missing model.init_from, unknown
# frozen layers, missing device or availability traces, output paths that cannot be created,
# more memory than the machine has), and run refuses it before writing anything;
# names cannot leave results/; info, export and privacy exit 2 on bad arguments.
# Ends with the line "hostile: N passed, M failed".
set -u
FEDSIM=${1:-build/fedsim}
case $FEDSIM in /*) ;; *) FEDSIM=$PWD/$FEDSIM ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# exit status of "$@" with a 20 s guard against hangs (124: it hung), stderr in $TMP/err.txt
run2() { timeout 20 "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"; }

# --- the regression corpus: exit 2, a positioned message, nothing written
for f in "$HERE"/../fuzz/regress/*.yaml; do
    b=$(basename "$f")
    cp "$f" "$TMP/$b"
    (cd "$TMP" && run2 "$FEDSIM" validate "$b")
    rc=$?
    check "regress $b: validate exits 2 (got $rc)" test $rc -eq 2
    check "regress $b: says where" grep -q "^$b\(:[0-9]*:[0-9]*\)\?: error: " "$TMP/err.txt"
    (cd "$TMP" && run2 "$FEDSIM" run "$b" --quiet)
    rc=$?
    check "regress $b: run exits 2 (got $rc), writes nothing" \
        test $rc -eq 2 -a ! -e "$TMP/results" -a -z "$(find / -maxdepth 1 -name '*.db' 2>/dev/null)"
    (cd "$TMP" && run2 "$FEDSIM" sweep "$b" --dry-run)
    rc=$?
    check "regress $b: sweep --dry-run exits 2 (got $rc)" test $rc -eq 2
done
check "messages name the first bad byte" grep -q "error: invalid UTF-8 (byte 0xE9)" \
    <("$FEDSIM" validate "$HERE/../fuzz/regress/latin1.yaml" 2>&1)
check "empty scenario says so" grep -q "empty scenario" \
    <("$FEDSIM" validate "$HERE/../fuzz/regress/empty.yaml" 2>&1)
check "UTF-16 says so" grep -q "UTF-16 (or UTF-32) is not supported" \
    <("$FEDSIM" validate "$HERE/../fuzz/regress/utf16le-no-bom.yaml" 2>&1)
check "binary data says so" grep -q "nul-first.yaml:1:1: error: binary data" \
    <("$FEDSIM" validate "$HERE/../fuzz/regress/nul-first.yaml" 2>&1)

# --- a malformed sweep file frees everything on its parse error (valgrind, when installed)
if command -v valgrind > /dev/null; then
    for b in sweep-bad-indent sweep-bad-flow hang-percent-a3 model-100gb; do
        timeout 60 valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 \
            "$FEDSIM" sweep "$HERE/../fuzz/regress/$b.yaml" --dry-run > /dev/null 2> "$TMP/vg.txt"
        rc=$?
        check "valgrind: sweep $b.yaml exits 2 with nothing lost (got $rc)" test $rc -eq 2
    done
fi

# --- validate does every set-up check run does (a small CSV dataset of 200 samples)
{
    echo "x1,x2,x3,label"
    for i in $(seq 200); do echo "$((i % 7)).5,$((i % 5)),$((i % 3)).25,$((i % 3))"; done
} > "$TMP/d.csv"
"$FEDSIM" data import csv "$TMP/d.csv" --label label --test-fraction 0.2 --out "$TMP/d.h5" \
    > /dev/null
cat > "$TMP/base.yaml" <<YAML
name: base
data:
  dataset: file
  path: $TMP/d.h5
partition:
  kind: iid
  clients: 10
model:
  name: logreg
rounds:
  count: 2
  clients_per_round: 5
YAML
run2 "$FEDSIM" validate "$TMP/base.yaml"
check "the base scenario validates" test $? -eq 0
mkdir "$TMP/dir.h5"
: > "$TMP/empty.h5"
head -c 3000 "$TMP/d.h5" > "$TMP/trunc.h5"
echo "x,y" > "$TMP/text.h5"
# name | --set override | the key the message must point at (file:line:col or --set:N:col)
while IFS='|' read -r name sets where; do
    args=()
    IFS=';' read -r -a list <<< "$sets"
    for s in "${list[@]}"; do args+=(--set "$s"); done
    run2 "$FEDSIM" validate "$TMP/base.yaml" "${args[@]}"
    rc=$?
    check "validate refuses $name (exit $rc)" test $rc -eq 2
    check "  ... at $where" grep -q "^$where: error: " "$TMP/err.txt"
    (cd "$TMP" && run2 "$FEDSIM" run base.yaml --quiet --db "$TMP/r.db" "${args[@]}")
    rc=$?
    check "run refuses $name before writing (exit $rc)" test $rc -eq 2 -a ! -e "$TMP/r.db"
done <<LIST
a directory as dataset|data.path=$TMP/dir.h5|--set:1:1
an empty dataset file|data.path=$TMP/empty.h5|--set:1:1
a truncated dataset file|data.path=$TMP/trunc.h5|--set:1:1
a text dataset file|data.path=$TMP/text.h5|--set:1:1
/dev/zero as dataset|data.path=/dev/zero|--set:1:1
a missing dataset file|data.path=$TMP/none.h5|--set:1:1
more clients x min_size than samples|partition.kind=dirichlet;partition.clients=100;partition.min_size=5|--set:3:1
more shards than samples|partition.kind=shards;partition.clients=100;partition.labels_per_client=3|--set:3:1
more clients than samples|partition.clients=500|--set:1:1
a missing model.init_from|model.init_from=$TMP/none.h5|--set:1:1
a dataset as model.init_from|model.init_from=$TMP/d.h5|--set:1:1
an unknown frozen layer|model.freeze=[nope]|--set:1:1
a custom model whose shapes do not chain|model.name=custom;model.layers=[{type: conv2d, filters: 2, kernel: 5}]|--set:2:1
a 100 GB model|model.name=mlp;model.hidden=[50000, 50000]|--set:2:1
a missing device trace|devices.model=trace;devices.trace=$TMP/none.csv|--set:2:1
a missing device tiers file|devices.model=tiers;devices.tiers_file=$TMP/none.csv|--set:2:1
a missing availability trace|availability.mode=trace;availability.trace=$TMP/none.csv|--set:2:1
a checkpoint directory under a file|checkpoint.dir=$TMP/d.csv/ckpt|--set:1:1
a state directory under a file|algorithm.name=scaffold;algorithm.state_dir=$TMP/d.csv/st|--set:2:1
LIST
# where the database goes: checked by validate, refused by run before it starts
run2 "$FEDSIM" validate "$TMP/base.yaml" --set "output.db=$TMP/dir.h5"
check "validate refuses a directory as output.db" test $? -eq 2
check "  ... and says so" grep -q "the database $TMP/dir.h5 is a directory" "$TMP/err.txt"
run2 "$FEDSIM" run "$TMP/base.yaml" --quiet --db "$TMP/d.csv/r.db"
check "run refuses a --db it cannot create" test $? -eq 2
grep -q "the largest part is" <("$FEDSIM" validate "$TMP/base.yaml" \
    --set model.name=mlp --set 'model.hidden=[50000, 50000]' 2>&1)
check "the memory refusal gives the estimate and the limit" test $? -eq 0

# --- names and output paths stay where they belong
for n in ../../../../etc/passwd a/b/c .hidden/x "$(printf 'a\tb')" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; do
    run2 "$FEDSIM" validate "$HERE/tiny.yaml" --set "name='$n'"
    check "name '$n' refused" test $? -eq 2
done
run2 "$FEDSIM" validate "$HERE/tiny.yaml" --set name=run_1.a-b
check "name run_1.a-b accepted" test $? -eq 0
for k in output.db checkpoint.dir algorithm.state_dir; do
    run2 "$FEDSIM" validate "$HERE/tiny.yaml" --set "$k=results/../../x"
    check "$k with '..' refused" test $? -eq 2
    run2 "$FEDSIM" validate "$HERE/tiny.yaml" --set "$k=$TMP/x"
    check "$k absolute accepted" test $? -eq 0
done
cp "$HERE/tiny.yaml" "$TMP/my run!.yaml"
sed -i '/^name:/d' "$TMP/my run!.yaml"
check "a derived name is sanitised" grep -q "scenario 'my_run_'" \
    <("$FEDSIM" validate "$TMP/my run!.yaml" 2>&1)

# --- bad arguments of info, export and privacy exit 2
for cmd in info export; do
    run2 "$FEDSIM" $cmd "$TMP/none.db"
    check "$cmd on a missing file exits 2" test $? -eq 2
    run2 "$FEDSIM" $cmd "$TMP/d.csv"
    check "$cmd on a non-database exits 2" test $? -eq 2
done
run2 "$FEDSIM" privacy --q 0.01 --z 0 --steps 100 --delta 1e-5
check "privacy --z 0 exits 2" test $? -eq 2
check "privacy --z 0 says 'no privacy'" grep -q "no privacy: noise multiplier 0" "$TMP/err.txt"

summary hostile
