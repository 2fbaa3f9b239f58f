#!/usr/bin/env bash
# End-to-end tests of fedsim sweep, info and export and of the analysis scripts, on a 2 x 2
# sweep (two learning rates x two seeds) of the tiny scenario with --jobs 2:
#   - sweep-section mistakes give file:line:col and exit 2 before anything runs;
#   - a second sweep on the same database is refused while the first runs;
#   - SIGINT to the sweep stops it: exit 130, runs in flight marked interrupted, none running;
#   - rerunning the same command completes it: completed runs skipped, interrupted ones rerun
#     (the old rows superseded), exactly one completed row per run key; a third run does nothing;
#   - info and export agree with SQL queries on the database;
#   - plot.py (curves, gantt, cdf), table.py and quickstart_figure.py write non-empty files, and
#     the table's numbers equal the same statistics computed in SQL;
#   - scenarios/cross_silo/results.sh on a small real grid: cells equal SQL, every run listed.
# Usage: tests/e2e/sweep.sh [path/to/fedsim]. Ends with "sweep: N passed, M failed".
set -u
FEDSIM=$(realpath "${1:-build/fedsim}")
if [ ! -x "$FEDSIM" ]; then
    echo "FAIL no fedsim binary at ${1:-build/fedsim}"
    echo "sweep: 0 passed, 1 failed"
    exit 1
fi
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
[ -n "${KEEP_TMP:-}" ] && trap - EXIT
nonempty() { [ -s "$1" ]; }

ROUNDS=1000
cat "$HERE/tiny.yaml" > "$TMP/sw.yaml"
cat >> "$TMP/sw.yaml" <<'EOF'
sweep:
  name: lr
  grid:
    train.lr: [0.05, 0.1]
  seeds: [1, 2]
EOF
DB=$TMP/lr.db
SWEEP=("$FEDSIM" sweep "$TMP/sw.yaml" --jobs 2 --db "$DB" --set rounds.count=$ROUNDS
       --set eval.every=100)

# --- mistakes in the sweep section: position, exit 2, no database
expect_error() { # name, expected-message-regex, sweep section text
    local name=$1 want=$2
    { cat "$HERE/tiny.yaml"; printf '%s\n' "$3"; } > "$TMP/bad.yaml"
    rm -f "$TMP/bad.db"
    "$FEDSIM" sweep "$TMP/bad.yaml" --db "$TMP/bad.db" --quiet 2> "$TMP/err.txt"
    local rc=$?
    if [ $rc -ne 2 ]; then bad "$name: exit $rc, expected 2" "$(cat "$TMP/err.txt")"; return; fi
    if ! tr '\n' ' ' < "$TMP/err.txt" | grep -Eq -- "$want"; then
        bad "$name: message" "got: $(cat "$TMP/err.txt")"; return
    fi
    if [ -e "$TMP/bad.db" ]; then bad "$name: wrote a database"; return; fi
    ok "$name"
}
L=$(($(wc -l < "$HERE/tiny.yaml") + 1)) # line of 'sweep:'
expect_error "bad key path in the grid" \
    "bad.yaml:$((L + 2)):5: error: unknown key 'train.lrr'.*did you mean 'train.lr'" \
    $'sweep:\n  grid:\n    train.lrr: [0.1]'
expect_error "bad value in the grid" \
    "bad.yaml:$((L + 2)):21: error: train.lr must be a number, got 'fast'" \
    $'sweep:\n  grid:\n    train.lr: [0.1, fast]'
expect_error "zip lists of unequal length" \
    "bad.yaml:$((L + 2)):48: error: zip group: 'train.batch_size' has 1 values" \
    $'sweep:\n  zip:\n    - {train.lr: [0.1, 0.2], train.batch_size: [10]}'
expect_error "bad seed" "bad.yaml:$((L + 1)):14: error: seed = -1 is out of range" \
    $'sweep:\n  seeds: [1, -1]'
expect_error "no sweep section" "bad.yaml: error: no 'sweep' section" ''

# a scenario that cannot be read (the reader parse.c shares): the path, why, exit 2, no database
for f in "$TMP/missing.yaml" "$TMP"; do
    rm -f "$TMP/bad.db"
    "$FEDSIM" sweep "$f" --db "$TMP/bad.db" --quiet 2> "$TMP/err.txt"
    rc=$?
    what=${f#"$TMP"}
    check "unreadable ${what:-folder}: exit 2, says why, no database" \
        sh -c '[ $0 -eq 2 ] && grep -q "^$1: error: cannot read the scenario: " "$2" && [ ! -e "$3" ]' \
        $rc "$f" "$TMP/err.txt" "$TMP/bad.db"
done

# --- the documented example expands and validates
"$FEDSIM" sweep "$ROOT/scenarios/examples/sweep_example.yaml" --dry-run --db "$TMP/ex.db" \
    > "$TMP/ex.txt"
check "scenarios/examples/sweep_example.yaml: 24 runs" \
    test "$(awk '$3 == "new"' "$TMP/ex.txt" | wc -l)" = 24

# --- dry run
"$FEDSIM" sweep "$TMP/sw.yaml" --dry-run --db "$DB" > "$TMP/dry.txt"
check "dry run exits 0" test $? -eq 0
check "dry run lists 4 new runs" test "$(awk '$3 == "new"' "$TMP/dry.txt" | wc -l)" = 4
check "dry run writes nothing" test ! -e "$DB"

# --- first pass, interrupted with SIGINT once a run completed and another is under way
"${SWEEP[@]}" > "$TMP/out1.txt" 2>&1 &
pid=$!
state=""
for _ in $(seq 1 600); do
    state=$(q "$DB" "SELECT (SELECT count(*) FROM runs WHERE status='completed') || ' ' ||
                           (SELECT count(*) FROM runs r WHERE status='running' AND
                            (SELECT count(*) FROM rounds WHERE run_id=r.id) >= 5)" 2>/dev/null)
    [ "${state%% *}" -ge 1 ] 2>/dev/null && [ "${state##* }" -ge 1 ] && break
    sleep 0.05
done
# a second sweep on the same database is refused while this one runs
"${SWEEP[@]}" > "$TMP/second.txt" 2>&1
rc=$?
check "second concurrent sweep refused (exit 1)" test $rc -eq 1
check "second sweep says why" grep -q "another fedsim sweep" "$TMP/second.txt"
kill -INT $pid
wait $pid
rc=$?
check "SIGINT stops the sweep with exit 130 (state at kill: $state)" test $rc -eq 130
n_done1=$(q "$DB" "SELECT count(*) FROM runs WHERE status='completed'")
check "some runs completed before the kill ($n_done1)" test "$n_done1" -ge 1 -a "$n_done1" -lt 4
check "runs in flight marked interrupted" \
    test "$(q "$DB" "SELECT count(*) FROM runs WHERE status='interrupted'")" -ge 1
check "no run left running" test "$(q "$DB" "SELECT count(*) FROM runs WHERE status='running'")" = 0
check "interrupted runs kept consecutive rounds" \
    test "$(q "$DB" "SELECT count(*) FROM runs r WHERE status='interrupted' AND
        (SELECT count(*) FROM rounds WHERE run_id=r.id) <> (SELECT coalesce(max(round), 0)
         FROM rounds WHERE run_id=r.id)")" = 0
check "parent reported the interruption" grep -q "interrupted" "$TMP/out1.txt"
check "workers wrote sweep id and swept values" \
    test "$(q "$DB" "SELECT count(*) FROM runs WHERE sweep_id='lr' AND
                     json_extract(swept, '\$.\"train.lr\"') IN (0.05, 0.1) AND run_key LIKE '________________'")" \
         = "$(q "$DB" "SELECT count(*) FROM runs")"

# --- second pass: resume
"${SWEEP[@]}" > "$TMP/out2.txt" 2>&1
rc=$?
check "rerun exits 0" test $rc -eq 0
check "rerun reports the skipped runs" grep -q "$n_done1 completed earlier (skipped)" "$TMP/out2.txt"
check "the sweep lock file is gone after the sweep" test ! -e "$DB-sweep.lock"
check "4 completed runs" test "$(q "$DB" "SELECT count(*) FROM runs WHERE status='completed'")" = 4
check "one completed run per run key (no duplicates)" \
    test "$(q "$DB" "SELECT count(DISTINCT run_key) FROM runs WHERE status='completed'")" = 4
check "completed runs have every round" \
    test "$(q "$DB" "SELECT count(*) FROM runs r WHERE status='completed' AND
        (SELECT count(*) FROM rounds WHERE run_id=r.id) = $ROUNDS")" = 4
check "interrupted rows superseded by the completed rerun of the same key" \
    test "$(q "$DB" "SELECT count(*) FROM runs o JOIN runs n ON n.id = o.superseded_by
        WHERE o.status='interrupted' AND n.status='completed' AND n.run_key = o.run_key")" \
         = "$(q "$DB" "SELECT count(*) FROM runs WHERE status='interrupted'")"
check "4 seeds x lr combinations" \
    test "$(q "$DB" "SELECT count(DISTINCT seed || '/' || json_extract(swept, '\$.\"train.lr\"'))
                     FROM runs WHERE status='completed'")" = 4
n_rows=$(q "$DB" "SELECT count(*) FROM runs")
"${SWEEP[@]}" > "$TMP/out3.txt" 2>&1
rc=$?
check "third run: nothing to do, exit 0" test $rc -eq 0
check "third run says so" grep -q "nothing to do" "$TMP/out3.txt"
check "third run adds no rows" test "$(q "$DB" "SELECT count(*) FROM runs")" = "$n_rows"
"$FEDSIM" sweep "$TMP/sw.yaml" --dry-run --db "$DB" --set rounds.count=$ROUNDS \
    --set eval.every=100 > "$TMP/dry2.txt"
check "dry run after: 4 completed" test "$(awk '$3 == "completed"' "$TMP/dry2.txt" | wc -l)" = 4

# --- info agrees with SQL
"$FEDSIM" info "$DB" > "$TMP/info.txt"
check "info exits 0" test $? -eq 0
# id seed lr final% best% of the listed runs, and the same from SQL
awk '$1 ~ /^[0-9]+$/ {print $1, $4, $5, $7, $8}' "$TMP/info.txt" > "$TMP/info_rows.txt"
q "$DB" "SELECT id, seed, json_extract(swept, '\$.\"train.lr\"'),
           100 * (SELECT test_acc FROM rounds WHERE run_id=r.id AND test_acc IS NOT NULL
                  ORDER BY round DESC LIMIT 1),
           100 * (SELECT max(test_acc) FROM rounds WHERE run_id=r.id)
         FROM runs r WHERE superseded_by IS NULL ORDER BY id" | tr '|' ' ' > "$TMP/sql_rows.txt"
check "info lists the non-superseded runs" \
    test "$(wc -l < "$TMP/info_rows.txt")" = "$(wc -l < "$TMP/sql_rows.txt")"
check "info: ids, seeds, swept values, final and best accuracy match SQL" \
    awk 'NR == FNR {a[FNR] = $0; next}
         {split(a[FNR], s, " ");
          if (s[1] != $1 || s[2] != $2 || s[3] + 0 != $3 + 0 ||
              (s[4] - $4) ^ 2 > 1e-4 || (s[5] - $5) ^ 2 > 1e-4) bad = 1}
         END {exit bad}' "$TMP/info_rows.txt" "$TMP/sql_rows.txt"
check "info shows the swept key as a column" grep -q "train.lr" "$TMP/info.txt"
"$FEDSIM" info "$DB" --all > "$TMP/info_all.txt"
check "info --all also lists superseded runs" \
    test "$(awk '$1 ~ /^[0-9]+$/' "$TMP/info_all.txt" | wc -l)" = "$n_rows"

# --- export agrees with SQL
"$FEDSIM" export "$DB" --format csv --out "$TMP/rounds.csv" 2> /dev/null
check "export exits 0" test $? -eq 0
check "export: one line per round of the completed runs" \
    test "$(($(wc -l < "$TMP/rounds.csv") - 1))" = "$(q "$DB" "SELECT count(*) FROM rounds x
        JOIN runs r ON r.id = x.run_id WHERE r.status='completed'")"
cat > "$TMP/cmp_export.py" <<'EOF'
import csv, sqlite3, sys
db, path = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
rows = list(csv.DictReader(open(path)))
want = {(r, n): (lr, seed, vt, acc, loss) for r, n, lr, seed, vt, acc, loss in con.execute(
    "SELECT x.run_id, x.round, json_extract(r.swept, '$.\"train.lr\"'), r.seed, x.vtime_s,"
    " x.test_acc, x.train_loss FROM rounds x JOIN runs r ON r.id = x.run_id"
    " WHERE r.status = 'completed'")}
assert len(rows) == len(want), (len(rows), len(want))
num = lambda s: None if s == "" else float(s)
for row in rows:
    lr, seed, vt, acc, loss = want[(int(row["run_id"]), int(row["round"]))]
    got = (float(row["train.lr"]), int(row["seed"]), float(row["vtime_s"]),
           num(row["test_acc"]), num(row["train_loss"]))
    assert got == (lr, seed, vt, acc, loss), (row, (lr, seed, vt, acc, loss))  # exact
assert all(r["sweep_id"] == "lr" and r["status"] == "completed" for r in rows)
EOF
check "export: every value equals the database's, exactly" $PY "$TMP/cmp_export.py" "$DB" "$TMP/rounds.csv"
"$FEDSIM" export "$DB" --all > "$TMP/all.csv"
check "export --all to stdout includes interrupted rounds" \
    test "$(($(wc -l < "$TMP/all.csv") - 1))" = "$(q "$DB" "SELECT count(*) FROM rounds")"

# --- figures
A=$ROOT/analysis
$PY "$A/plot.py" "$DB" --metric test_acc --x vtime -o "$TMP/fig/acc" --format png,svg,pdf \
    > /dev/null
check "plot.py exits 0" test $? -eq 0
for ext in png svg pdf; do check "plot.py wrote a non-empty $ext" nonempty "$TMP/fig/acc.$ext"; done
check "the PNG is a PNG" test "$(head -c 4 "$TMP/fig/acc.png" | tail -c 3)" = PNG
check "the PDF is a PDF" test "$(head -c 5 "$TMP/fig/acc.pdf")" = "%PDF-"
$PY "$A/plot.py" "$DB" --metric train_loss --x round --logy --smooth 5 --band minmax \
    -o "$TMP/fig/loss.png" > /dev/null
check "plot.py: log scale, smoothing, min-max band" nonempty "$TMP/fig/loss.png"
$PY "$A/plot.py" "$DB" --x bytes --where train.lr=0.1 -o "$TMP/fig/bytes.png" > /dev/null
check "plot.py: bytes on x, --where" nonempty "$TMP/fig/bytes.png"
$PY "$A/plot.py" "$DB" --by nope -o "$TMP/fig/x.png" 2> "$TMP/err.txt"
check "plot.py: unknown --by key exits 2" test $? -eq 2
$PY "$A/quickstart_figure.py" "$DB" -o "$TMP/fig/qs.png" > /dev/null
check "quickstart_figure.py writes a non-empty PNG" nonempty "$TMP/fig/qs.png"
# a schema version the scripts do not know (a newer fedsim's): refused, naming the version
cp "$DB" "$TMP/v99.db"
q "$TMP/v99.db" "PRAGMA user_version = 99"
for script in plot.py table.py; do
    $PY "$A/$script" "$TMP/v99.db" -o "$TMP/fig/v99.png" > /dev/null 2> "$TMP/err.txt"
    check "$script: unknown schema version: exit 2" test $? -eq 2
    check "$script: unknown schema version: says so" \
        grep -q "v99.db: metrics schema version 99; these scripts read versions 1 and 2" \
        "$TMP/err.txt"
done

# gantt and cdf: a clear exit 2 when their tables are missing or empty, a figure when present
cp "$DB" "$TMP/ev.db"
q "$TMP/ev.db" "DROP TABLE IF EXISTS client_events; DROP TABLE IF EXISTS client_eval"
$PY "$A/plot.py" "$TMP/ev.db" --kind gantt -o "$TMP/fig/g0.png" 2> "$TMP/err.txt"
check "gantt without client_events: exit 2" test $? -eq 2
check "gantt without client_events: says so" grep -q "no client_events table" "$TMP/err.txt"
$PY "$A/plot.py" "$TMP/ev.db" --kind cdf -o "$TMP/fig/c0.png" 2> "$TMP/err.txt"
check "cdf without client_eval: exit 2" test $? -eq 2
check "cdf without client_eval: says so" grep -q "no client_eval table" "$TMP/err.txt"
run=$(q "$DB" "SELECT min(id) FROM runs WHERE status='completed'")
q "$TMP/ev.db" "CREATE TABLE client_events (run_id INTEGER, client INTEGER, round INTEGER,
    phase TEXT, t_start REAL, t_end REAL, outcome TEXT, samples INTEGER, bytes REAL);
  CREATE TABLE client_eval (run_id INTEGER, round INTEGER, client INTEGER, n INTEGER, acc REAL,
    loss REAL);
  WITH RECURSIVE c(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM c WHERE k < 20)
  INSERT INTO client_events SELECT $run, k % 7, 1 + k / 7, 'download', k, k + 1,
      CASE WHEN k % 5 = 0 THEN 'dropped_random' ELSE 'completed' END, 10, 1000 FROM c
  UNION ALL SELECT $run, k % 7, 1 + k / 7, 'compute', k + 1, k + 3, 'completed', 10, 0 FROM c
  UNION ALL SELECT $run, k % 7, 1 + k / 7, 'upload', k + 3, k + 4, 'late', 10, 1000 FROM c;
  WITH RECURSIVE c(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM c WHERE k < 29)
  INSERT INTO client_eval SELECT r.id, $ROUNDS, k, 20, (k % 10) / 10.0, 1.0 FROM c, runs r
      WHERE r.status = 'completed'"
$PY "$A/plot.py" "$TMP/ev.db" --kind gantt --run "$run" --rounds 1-3 -o "$TMP/fig/g.png" > /dev/null
check "gantt from client_events: non-empty PNG" nonempty "$TMP/fig/g.png"
$PY "$A/plot.py" "$TMP/ev.db" --kind cdf -o "$TMP/fig/c.pdf" > /dev/null
check "cdf from client_eval: non-empty PDF" nonempty "$TMP/fig/c.pdf"

# the real table, when this build writes it
if "$FEDSIM" keys | grep -q 'output.client_events'; then
    "$FEDSIM" run "$HERE/tiny.yaml" --db "$TMP/events.db" --quiet --set output.client_events=true
    $PY "$A/plot.py" "$TMP/events.db" --kind gantt -o "$TMP/fig/g_real.svg" > /dev/null
    check "gantt from a run's own client_events: non-empty SVG" nonempty "$TMP/fig/g_real.svg"
fi

# --- table: files, and the numbers against SQL
for fmt in md latex; do
    $PY "$A/table.py" "$DB" --target 0.3 --format $fmt -o "$TMP/t.$fmt" 2> /dev/null
    check "table.py --format $fmt writes a non-empty file" nonempty "$TMP/t.$fmt"
done
check "markdown table has a row per learning rate" test "$(grep -c '^| 0\.' "$TMP/t.md")" = 2
$PY "$A/table.py" "$DB" --target 0.3 --format csv > "$TMP/t.csv"
# per lr: n, mean/std of final and best accuracy, reached, mean rounds and vtime to 30 %
q "$DB" "WITH f AS (
    SELECT json_extract(r.swept, '\$.\"train.lr\"') AS lr,
      (SELECT test_acc FROM rounds WHERE run_id = r.id AND test_acc IS NOT NULL
       ORDER BY round DESC LIMIT 1) AS fin,
      (SELECT max(test_acc) FROM rounds WHERE run_id = r.id) AS best,
      (SELECT min(round) FROM rounds WHERE run_id = r.id AND test_acc >= 0.3) AS rt,
      (SELECT vtime_s FROM rounds WHERE run_id = r.id AND test_acc >= 0.3
       ORDER BY round LIMIT 1) AS vt
    FROM runs r WHERE r.status = 'completed'),
  g AS (SELECT lr, count(*) AS n, avg(fin) AS mf, avg(best) AS mb, count(rt) AS reached,
               avg(rt) AS mr, avg(vt) AS mv FROM f GROUP BY lr)
  SELECT g.lr, g.n, g.mf, sqrt((SELECT sum((fin - g.mf) * (fin - g.mf)) FROM f
                                WHERE f.lr = g.lr) / (g.n - 1)),
         g.mb, sqrt((SELECT sum((best - g.mb) * (best - g.mb)) FROM f WHERE f.lr = g.lr)
                    / (g.n - 1)),
         g.reached, g.mr, g.mv FROM g ORDER BY g.lr" > "$TMP/t_sql.txt"
cat > "$TMP/cmp_table.py" <<'EOF'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
sql = [l.split("|") for l in open(sys.argv[2]).read().split("\n") if l]
assert len(rows) == len(sql) == 2, (rows, sql)
close = lambda a, b: math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
for r, s in zip(rows, sql):
    lr, n, mf, sf, mb, sb, reached, mr, mv = s
    assert close(r["train.lr"], lr) and int(r["n"]) == int(n) == 2, (r, s)
    for k, v in (("final_acc_mean", mf), ("final_acc_std", sf), ("best_acc_mean", mb),
                 ("best_acc_std", sb), ("rounds_to_target_mean", mr),
                 ("vtime_to_target_mean_s", mv)):
        assert close(r[k], v), (k, r[k], v)
    assert int(r["reached"]) == int(reached), (r, s)
EOF
check "table.py numbers equal SQL (means, sample stds, rounds and time to target)" \
    $PY "$TMP/cmp_table.py" "$TMP/t.csv" "$TMP/t_sql.txt"

# scenarios/cross_silo/results.sh (the docs/results.md generator) on a small grid of the same
# shape: the cross-silo scenario cut down to logistic regression and 2 rounds of 2 local steps,
# 2 partitions x 2 algorithms x 2 seeds; its cells must be the SQL means and sample standard
# deviations, and every run row must be listed.
"$FEDSIM" data import fashion-mnist --out "$TMP/fm.h5" >/dev/null 2>&1
cp "$ROOT/scenarios/cross_silo/cross_silo.yaml" "$TMP/cs.yaml"
sed -i '/^sweep:/,$d' "$TMP/cs.yaml"
cat >> "$TMP/cs.yaml" <<'EOF'
sweep:
  name: cs
  grid:
    partition.kind: [labels, dirichlet]
    algorithm.name: [fedavg, fedprox]
  seeds: [1, 2]
EOF
"$FEDSIM" sweep "$TMP/cs.yaml" --jobs 2 --db "$TMP/cs.db" --set data.path="$TMP/fm.h5" \
    --set model.name=logreg --set rounds.count=2 --set train.steps=2 --set eval.every=1 \
    --set eval.test_samples=500 --set eval.train_samples=300 >/dev/null 2>&1
check "results.sh: the small grid completed (8 runs)" \
    test "$(q "$TMP/cs.db" "SELECT count(*) FROM runs WHERE status = 'completed'")" = 8
FEDSIM="$FEDSIM" CS_DATA="$TMP/fm.h5" "$ROOT/scenarios/cross_silo/results.sh" "$TMP/cs.db" "$TMP/cs.md" >/dev/null
cell() { # table title, algorithm, partition column -> the cell text
    awk -v t="### $1" -v a="| $2 |" -v c="$3" '$0 == t { on = 1; next }
        on && index($0, a) == 1 { split($0, f, "|"); gsub(/^ +| +$/, "", f[c + 2]); print f[c + 2]; exit }' "$TMP/cs.md"
}
want=$(q "$TMP/cs.db" "WITH f AS (SELECT (SELECT x.test_acc FROM rounds x WHERE x.run_id = r.id
         AND x.test_acc IS NOT NULL ORDER BY x.round DESC LIMIT 1) AS v FROM runs r
         WHERE json_extract(r.params, '\$.\"algorithm.name\"') = 'fedprox'
           AND json_extract(r.params, '\$.\"partition.kind\"') = 'labels')
       SELECT printf('%.4f ± %.4f', avg(v), sqrt((sum(v*v) - sum(v)*sum(v)/2) / 1)) FROM f")
check "results.sh: fedprox (mu=0.01)/1-label accuracy cell == SQL mean ± sd ($want)" \
    test "$(cell 'Final test accuracy' 'fedprox mu=0.01' 3)" = "$want (n=2)"
want5=$(q "$TMP/cs.db" "WITH f AS (SELECT (SELECT avg(x.test_acc) FROM rounds x WHERE x.run_id = r.id
          AND x.test_acc IS NOT NULL) AS v FROM runs r
          WHERE json_extract(r.params, '\$.\"algorithm.name\"') = 'fedavg'
            AND json_extract(r.params, '\$.\"partition.kind\"') = 'dirichlet')
        SELECT printf('%.4f ± %.4f (n=2)', avg(v), sqrt((sum(v*v) - sum(v)*sum(v)/2) / 1)) FROM f")
check "results.sh: fedavg/dir mean-of-last-evaluations cell == SQL ($want5)" \
    test "$(cell 'Mean test accuracy over the last 5 evaluations' fedavg 2)" = "$want5"
check "results.sh: cells of partitions that did not run are dashes, algorithms that did not are absent" \
    test "$(cell 'Final local training loss' fedavg 4)" = "—" -a -z "$(grep '^| fedyogi' "$TMP/cs.md")"
wantg=$(q "$TMP/cs.db" "WITH f AS (SELECT (SELECT x.global_train_loss FROM rounds x
          WHERE x.run_id = r.id ORDER BY x.round DESC LIMIT 1) AS v FROM runs r
          WHERE json_extract(r.params, '\$.\"algorithm.name\"') = 'fedavg'
            AND json_extract(r.params, '\$.\"partition.kind\"') = 'labels')
        SELECT printf('%.4f ± %.4f (n=2)', avg(v), sqrt((sum(v*v) - sum(v)*sum(v)/2) / 1)) FROM f")
check "results.sh: fedavg/1-label global training loss cell == SQL ($wantg)" \
    test "$(cell 'Final global training loss' fedavg 3)" = "$wantg"
check "results.sh: every run row listed" \
    test "$(sed '/^## Earlier runs/,$d' "$TMP/cs.md" |
            grep -cE '^\| [0-9]+ \| (1-label|dir\(0.5\)) \| (fedavg|fedprox mu=0.01) \| [12] \| completed')" = 8
# the per-class table: one row per label-skewed run; each class's accuracy is class_acc's at the
# last evaluation, and with 1 label per silo each class is held by exactly one silo
check "results.sh: per-class table, one row per 1-label run" \
    test "$(grep -cE '^\| [0-9]+ \| 1-label \| (fedavg|fedprox mu=0.01) \| [12] \| [0-9.]+ \(1\) \|' "$TMP/cs.md")" = 4
pc_id=$(q "$TMP/cs.db" "SELECT min(id) FROM runs WHERE json_extract(params, '\$.\"partition.kind\"') = 'labels'")
pc_want=$(q "$TMP/cs.db" "SELECT printf('%.2f (1)', acc) FROM class_acc WHERE run_id = $pc_id AND class = 3
             AND round = (SELECT max(round) FROM confusion WHERE run_id = $pc_id)")
pc_got=$(awk -v id="| $pc_id | 1-label" 'index($0, id) == 1 { split($0, f, "|"); gsub(/^ +| +$/, "", f[9]); print f[9]; exit }' "$TMP/cs.md")
check "results.sh: per-class cell (run $pc_id, class 3) == class_acc, held by one silo ($pc_want)" \
    test "$pc_got" = "$pc_want"

summary sweep
