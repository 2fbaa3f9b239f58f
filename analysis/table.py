#!/usr/bin/python3
"""Summary table of a fedsim sweep: per group of runs (a value of the swept keys), over seeds:

  final   test accuracy at the last evaluated round,
  best    highest test accuracy of any evaluated round,
  rounds  first round whose test accuracy reaches the target,
  time    virtual time at the end of that round,

each as mean +- sample standard deviation (ddof 1; none for one run); rounds and time over the
runs that reached the target, with how many did. Accuracies are evaluated every eval.every
rounds, so "rounds to target" has that resolution.

Examples:
  analysis/table.py results/sweep_example.db --target 0.8
  analysis/table.py results/sweep_example.db --by algorithm.name --format latex -o table.tex
  analysis/table.py results/sweep_example.db --format csv      # every number at full precision

Only completed runs count (a run that was interrupted and rerun counts once). Exit status: 0 ok,
2 bad option or no completed runs.
"""

import argparse
import csv
import io
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fsdb  # noqa: E402


def mean_std(v):
    """(mean, sample std) of a list; std is NaN for fewer than two values, both for none."""
    n = len(v)
    if n == 0:
        return math.nan, math.nan
    m = math.fsum(v) / n
    if n < 2:
        return m, math.nan
    return m, math.sqrt(math.fsum((x - m) ** 2 for x in v) / (n - 1))


def run_stats(con, run, target):
    rows = con.execute("SELECT round, vtime_s, test_acc FROM rounds WHERE run_id = ? AND "
                       "test_acc IS NOT NULL ORDER BY round", (run.id,)).fetchall()
    if not rows:
        return None
    final = rows[-1][2]
    best = max(r[2] for r in rows)
    hit = next(((r[0], r[1]) for r in rows if r[2] >= target), None) if target is not None \
        else None
    return {"final": final, "best": best, "rounds": hit[0] if hit else None,
            "vtime": hit[1] if hit else None}


def summarise(con, runs, by, target):
    groups = fsdb.group_runs(runs, by)
    out = []
    for label, (vals, rs) in groups.items():
        st = [s for s in (run_stats(con, r, target) for r in rs) if s]
        if not st:
            continue
        row = {"values": vals, "label": label, "n": len(st)}
        for k in ("final", "best"):
            row[k] = mean_std([s[k] for s in st])
        reached = [s for s in st if s["rounds"] is not None]
        row["reached"] = len(reached)
        row["rounds"] = mean_std([s["rounds"] for s in reached])
        row["vtime"] = mean_std([s["vtime"] for s in reached])
        out.append(row)
    return out


def default_target(con, runs):
    """0.9 x the lowest best accuracy of any run, rounded down to 0.01: every run reaches it."""
    bests = []
    for r in runs:
        v = con.execute("SELECT max(test_acc) FROM rounds WHERE run_id = ?", (r.id,)).fetchone()[0]
        if v is not None:
            bests.append(v)
    if not bests:
        return None
    return math.floor(0.9 * min(bests) * 100) / 100


def pm(m, s, scale=1.0, digits=2):
    if math.isnan(m):
        return "–"
    if math.isnan(s):
        return "%.*f" % (digits, m * scale)
    return "%.*f ± %.*f" % (digits, m * scale, digits, s * scale)


def best_rows(rows, key, larger):
    vals = [r[key][0] for r in rows if not math.isnan(r[key][0])]
    if len(rows) < 2 or not vals:
        return set()
    b = max(vals) if larger else min(vals)
    return {i for i, r in enumerate(rows) if r[key][0] == b}


def render(rows, by, target, fmt, tdiv, tunit):
    heads = [fsdb.pretty_key(k) if fmt == "latex" else k for k in by] or ["runs"]
    heads += ["n", "final acc (%)", "best acc (%)"]
    if target is not None:
        heads += ["reached %.0f%%" % (100 * target), "rounds to %.0f%%" % (100 * target),
                  "virtual time to %.0f%% (%s)" % (100 * target, tunit)]
    bold = {"final": best_rows(rows, "final", True), "best": best_rows(rows, "best", True),
            "rounds": best_rows(rows, "rounds", False), "vtime": best_rows(rows, "vtime", False)}
    body = []
    for i, r in enumerate(rows):
        cells = [fsdb.fmt_value(v, fmt == "latex") for v in r["values"]] or [r["label"]]
        cells.append(str(r["n"]))
        parts = [("final", 100, 2), ("best", 100, 2)]
        if target is not None:
            parts += [("rounds", 1, 1), ("vtime", 1 / tdiv, 1)]
        for k, scale, digits in parts:
            txt = pm(*r[k], scale=scale, digits=digits)
            if fmt == "latex":
                txt = txt.replace("±", "$\\pm$").replace("–", "--")
            if i in bold[k] and txt not in ("–", "--"):
                txt = "**%s**" % txt if fmt == "md" else "\\textbf{%s}" % txt
            cells.append(txt)
            if k == "best" and target is not None:
                cells.append("%d/%d" % (r["reached"], r["n"]))
        body.append(cells)
    if fmt == "md":
        lines = ["| " + " | ".join(heads) + " |",
                 "|" + "|".join("---" if j < max(1, len(by)) else "---:"
                                for j in range(len(heads))) + "|"]
        lines += ["| " + " | ".join(c) + " |" for c in body]
        return "\n".join(lines) + "\n"
    esc = (lambda t: t.replace("_", "\\_").replace("%", "\\%").replace("&", "\\&"))
    ncol = len(heads)
    nkey = max(1, len(by))
    lines = ["\\begin{tabular}{%s}" % ("l" * nkey + "r" * (ncol - nkey)), "\\toprule",
             " & ".join(esc(h) if "$" not in h else h for h in heads) + " \\\\", "\\midrule"]
    lines += [" & ".join(esc(c) if "$" not in c and "\\textbf" not in c else c for c in cells)
              + " \\\\" for cells in body]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def render_csv(rows, by, target):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = list(by) or ["runs"]
    head += ["n", "final_acc_mean", "final_acc_std", "best_acc_mean", "best_acc_std"]
    if target is not None:
        head += ["target", "reached", "rounds_to_target_mean", "rounds_to_target_std",
                 "vtime_to_target_mean_s", "vtime_to_target_std_s"]
    w.writerow(head)
    num = (lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(v))
    for r in rows:
        cells = [fsdb.fmt_value(v) for v in r["values"]] or [r["label"]]
        cells += [r["n"], num(r["final"][0]), num(r["final"][1]), num(r["best"][0]),
                  num(r["best"][1])]
        if target is not None:
            cells += [repr(target), r["reached"], num(r["rounds"][0]), num(r["rounds"][1]),
                      num(r["vtime"][0]), num(r["vtime"][1])]
        w.writerow(cells)
    return buf.getvalue()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("db", help="fedsim metrics database (SQLite)")
    p.add_argument("--target", type=float,
                   help="target test accuracy, a fraction (0.8) or percent (80); default: 0.9 x "
                        "the lowest best accuracy of any run, so every run reaches it")
    p.add_argument("--by", help="swept key(s) that make the rows, comma-separated (default: "
                               "every swept key that varies)")
    p.add_argument("--where", action="append", metavar="KEY=VALUE",
                   help="only runs with this value (repeatable)")
    p.add_argument("--sweep", help="only runs of this sweep id")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    p.add_argument("-o", "--out", help="output file (default: standard output)")
    a = p.parse_args()
    con = fsdb.connect(a.db)
    try:
        runs = fsdb.load_runs(con, a.sweep, fsdb.parse_where(a.where))
        if not runs:
            fsdb.fail("no completed runs in %s" % a.db,
                      "'fedsim info %s' lists the runs and their status" % a.db)
        by = fsdb.default_by(runs, a.by)
    except fsdb.UsageError as e:
        fsdb.fail(str(e))
    target = a.target
    if target is not None and target > 1:
        target /= 100
    if target is None:
        target = default_target(con, runs)
    pooled = fsdb.pooled_keys(fsdb.group_runs(runs, by), by)
    if pooled:
        print("table.py: note: each row pools runs with different %s (add them to --by or fix "
              "them with --where)" % ", ".join(pooled), file=sys.stderr)
    rows = summarise(con, runs, by, target)
    if not rows:
        fsdb.fail("no run has test accuracies (eval rounds) in %s" % a.db)
    if a.format == "csv":
        text = render_csv(rows, by, target)
    else:
        tmax = max((r["vtime"][0] for r in rows if not math.isnan(r["vtime"][0])), default=0)
        tdiv, tunit = fsdb.time_unit(tmax)
        text = render(rows, by, target, a.format, tdiv, tunit)
    if a.out:
        d = os.path.dirname(a.out)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)
        print("wrote %s" % a.out, file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
