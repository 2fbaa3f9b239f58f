#!/usr/bin/python3
"""Figures from a fedsim metrics database (one run, or a sweep of many).

Three kinds:

  curves (default)  any per-round metric against round, virtual time, wall time or bytes
                    moved; one line per value of a swept key (or combination of keys), the
                    mean over seeds with a +-1 std (or min-max) band.
  gantt             timeline of the client phases (download, compute, upload) of a few rounds
                    of one run, from the client_events table; dropped and late work marked.
  cdf               distribution over clients of per-client test accuracy at one round, one
                    line per group, from the client_eval table.

Examples:
  analysis/plot.py results/sweep_example.db --metric test_acc --x vtime --by algorithm.name \\
      -o results/acc_vs_time --format png,pdf
  analysis/plot.py results/sweep_example.db --where partition.alpha=0.1 --logy --metric train_loss
  analysis/plot.py results/quickstart.db --kind gantt --rounds 1-3 -o results/gantt.pdf
  analysis/plot.py results/sweep_example.db --kind cdf --by partition.alpha
  analysis/plot.py results/personal_fmnist.db --kind cdf --by algorithm.name --column pers_acc

Only completed runs are drawn (a run that was interrupted and rerun counts once). Exit status:
0 ok, 2 bad option or a database without the needed table or runs.
"""

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fsdb  # noqa: E402


def legend_title(by, groups):
    ns = {len(rs) for _, rs in groups.values()}
    what = "runs" if fsdb.pooled_keys(groups, by) else "seeds"
    seeds = ""
    if ns == {1}:
        seeds = ""
    elif len(ns) == 1:
        seeds = "mean of %d %s" % (ns.pop(), what)
    else:
        seeds = "mean over %s" % what
    key = ", ".join(fsdb.pretty_key(k) for k in by) if len(by) == 1 else ""
    return "\n".join(t for t in (key, seeds) if t) or None


def plot_curves(con, a):
    where = fsdb.parse_where(a.where)
    runs = fsdb.load_runs(con, a.sweep, where)
    if not runs:
        fsdb.fail("no completed runs%s in %s" % (" matching --where" if where else "", a.db),
                  "'fedsim info %s' lists the runs and their status" % a.db)
    by = fsdb.default_by(runs, a.by)
    groups = fsdb.group_runs(runs, by, pretty=True)
    pooled = fsdb.pooled_keys(groups, by)
    if pooled:
        print("plot.py: note: each line averages runs with different %s (add them to --by or "
              "fix them with --where)" % ", ".join(pooled), file=sys.stderr)
    cols = sorted(set(["round", a.metric] + fsdb.X_COLUMNS[a.x]))
    series = fsdb.load_series(con, [r.id for r in runs], cols)
    label, scale = fsdb.METRICS.get(a.metric, (a.metric.replace("_", " "), 1.0))

    size = fsdb.style(a.size)
    fig, ax = plt.subplots(figsize=size)
    xmax = max((np.nanmax(fsdb.x_values(series[r.id], a.x)) for r in runs
                if series[r.id]["round"].size), default=1.0)
    xdiv, xlabel = fsdb.x_axis(a.x, xmax)
    drawn = 0
    styles = fsdb.group_styles(groups, by)
    for i, (name, (_, rs)) in enumerate(groups.items()):
        xs = [fsdb.x_values(series[r.id], a.x) for r in rs]
        ys = [fsdb.smooth(series[r.id][a.metric], a.smooth) for r in rs]
        agg = fsdb.aggregate(xs, ys, aligned=(a.x == "round"))
        if agg is None:
            print("plot.py: warning: group '%s' has no values of %s" % (name, a.metric),
                  file=sys.stderr)
            continue
        gx, mean, std, lo, hi, n = agg
        gx = gx / xdiv
        color, ls, marker = styles[i]
        few = gx.size <= 30
        ax.plot(gx, mean * scale, color=color, ls=ls, marker=marker if few else None, label=name,
                zorder=3)
        if n > 1 and a.band != "none":
            b0, b1 = (mean - std, mean + std) if a.band == "std" else (lo, hi)
            if a.logy:  # mean - std can be <= 0: keep the band within the runs' values
                b0 = np.maximum(b0, lo)
            ax.fill_between(gx, b0 * scale, b1 * scale, color=color, alpha=0.18, lw=0, zorder=2)
        drawn += 1
    if not drawn:
        fsdb.fail("nothing to draw: no run has values of %s" % a.metric)
    ax.set_xlabel(xlabel)
    if a.logy:
        ax.set_yscale("log")
        fsdb.log_ticks(ax.yaxis)
    if a.logx:
        ax.set_xscale("log")
    elif a.x == "round":
        ax.xaxis.get_major_locator().set_params(integer=True)
    if a.smooth > 1:
        label = "%s, %d-round mean" % (label, a.smooth)
    ax.set_ylabel(label)
    if a.title:
        ax.set_title(a.title)
    if len(groups) > 1 or by:
        title = a.legend_title if a.legend_title is not None else legend_title(by, groups)
        if a.band != "none" and any(len(rs) > 1 for _, rs in groups.values()):
            title = (title + " " if title else "") + ("$\\pm$1 std" if a.band == "std"
                                                       else "(min–max)")
        fsdb.legend(ax, title, a.legend, len(groups))
    stem = os.path.splitext(a.db)[0] + "_%s_vs_%s" % (a.metric, a.x)
    fsdb.save(fig, fsdb.outputs_for(a.out, a.format, stem))


PHASE_COLORS = {"download": "#0072B2", "compute": "#E69F00", "train": "#E69F00",
                "upload": "#009E73"}


def pick_run(con, a, table):
    runs = fsdb.load_runs(con, a.sweep, fsdb.parse_where(a.where), status=None,
                          run_ids={a.run} if a.run else None)
    with_rows = {r[0] for r in con.execute("SELECT DISTINCT run_id FROM %s" % table)}
    runs = [r for r in runs if r.id in with_rows]
    if not runs:
        fsdb.fail("no run%s has rows in the %s table"
                  % (" %d" % a.run if a.run else "", table),
                  "run the scenario with output.client_events: true" if table == "client_events"
                  else None)
    return runs


def parse_rounds(text):
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
        else:
            lo = hi = int(text)
    except ValueError:
        raise fsdb.UsageError("--rounds takes A-B or N, got '%s'" % text)
    return lo, hi


def plot_gantt(con, a):
    if not fsdb.has_table(con, "client_events"):
        fsdb.fail("%s has no client_events table: it holds one row per client phase" % a.db,
                  "run the scenario with output.client_events: true (docs/metrics.md)")
    run = pick_run(con, a, "client_events")[0]
    if a.rounds:
        lo, hi = parse_rounds(a.rounds)
    else:
        first = con.execute("SELECT min(round) FROM client_events WHERE run_id=?",
                            (run.id,)).fetchone()[0]
        lo, hi = first, first + 2
    rows = con.execute(
        "SELECT round, client, phase, t_start, t_end, outcome FROM client_events "
        "WHERE run_id=? AND round BETWEEN ? AND ? ORDER BY round, t_start, client",
        (run.id, lo, hi)).fetchall()
    if not rows:
        fsdb.fail("run %d has no client events in rounds %d-%d" % (run.id, lo, hi))
    # one lane per (round, client); within a round in order of finishing (arrival order)
    last = {}
    for rnd, client, _, _, t1, _ in rows:
        last[(rnd, client)] = max(t1, last.get((rnd, client), t1))
    order = sorted(last, key=lambda k: (k[0], last[k], k[1]))
    per_round = {}
    for rnd, client in order:
        per_round.setdefault(rnd, []).append(client)
    keep = []
    for rnd in sorted(per_round):
        keep.extend((rnd, c) for c in per_round[rnd][:a.max_clients])
    lane = {k: i for i, k in enumerate(keep)}
    hidden = len(order) - len(keep)
    tmax = max(r[4] for r in rows)
    div, unit = fsdb.time_unit(tmax)
    w, h = fsdb.style(a.size)
    h = max(h, min(9.0, 0.9 + 0.075 * len(keep)))
    fig, ax = plt.subplots(figsize=(w if a.size != "single" else 5.0, h))
    # a lane's outcome: its first phase that did not complete (then all its work was wasted)
    fate = {}
    for rnd, client, _, _, t1, outcome in rows:
        if outcome != "completed" and (rnd, client) not in fate:
            fate[(rnd, client)] = outcome
    ends = {}
    for rnd, client, phase, t0, t1, outcome in rows:
        if (rnd, client) not in lane:
            continue
        y = lane[(rnd, client)]
        ok = (rnd, client) not in fate
        outcome = fate.get((rnd, client), outcome)
        color = PHASE_COLORS.get(phase, "#999999")
        ax.broken_barh([(t0 / div, max(t1 - t0, 0) / div)], (y - 0.4, 0.8), facecolors=color,
                       alpha=1.0 if ok else 0.45, hatch=None if ok else "////",
                       edgecolor="white" if ok else color, linewidth=0.3)
        if not ok:
            ends[(rnd, client)] = (max(t1, ends.get((rnd, client), (t1,))[0]), outcome)
    for (rnd, client), (t1, outcome) in ends.items():
        y = lane[(rnd, client)]
        if outcome.startswith("dropped"):
            ax.plot([t1 / div], [y], marker="x", color="#D55E00", ms=4, mew=1.2, zorder=4)
        elif outcome in ("late", "stale"):
            ax.plot([t1 / div], [y], marker="|", color="#555555", ms=5, mew=1.2, zorder=4)
    closes = con.execute("SELECT round, vtime_s FROM rounds WHERE run_id=? AND round BETWEEN ? "
                         "AND ?", (run.id, lo, hi)).fetchall()
    starts = {rnd: min(r[3] for r in rows if r[0] == rnd) for rnd in per_round}
    for rnd, t in closes:
        ax.axvline(t / div, color="black", lw=0.7, ls="--", zorder=1)
        if rnd in starts:
            ax.text((starts[rnd] + t) / 2 / div, 1.0, "round %d" % rnd, fontsize=8,
                    transform=ax.get_xaxis_transform(), va="bottom", ha="center")
    # round separators and labels on the left
    prev = None
    for (rnd, _), y in lane.items():
        if rnd != prev and prev is not None:
            ax.axhline(y - 0.5, color="0.6", lw=0.5)
        prev = rnd
    ax.set_ylim(len(keep) - 0.5, -0.5)
    if len(keep) <= 40:
        ax.set_yticks(range(len(keep)))
        ax.set_yticklabels([str(c) for _, c in keep], fontsize=6)
        ax.set_ylabel("Client (by round, then finish time)")
    else:
        ax.set_yticks([])
        ax.set_ylabel("Selected clients (by round, then finish time)")
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Virtual time (%s)" % unit)
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    phases = []
    for p in ("download", "compute", "train", "upload"):
        if any(r[2] == p for r in rows):
            phases.append(Patch(color=PHASE_COLORS[p], label=p))
    extra = [Patch(facecolor="#999999", alpha=0.45, hatch="////", edgecolor="#999999",
                   label="wasted work")]
    if any(o.startswith("dropped") for _, o in ends.values()):
        extra.append(Line2D([], [], marker="x", color="#D55E00", ls="none", label="dropped"))
    if any(o in ("late", "stale") for _, o in ends.values()):
        extra.append(Line2D([], [], marker="|", color="#555555", ls="none", label="late"))
    ax.legend(handles=phases + extra, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
    if a.title:
        ax.set_title(a.title, pad=14)
    print("gantt: run %d, rounds %d-%d, %d clients%s" % (
        run.id, lo, hi, len(keep),
        " (first %d to finish per round of %d)" % (a.max_clients, len(order)) if hidden else ""))
    stem = os.path.splitext(a.db)[0] + "_gantt_run%d" % run.id
    fsdb.save(fig, fsdb.outputs_for(a.out, a.format, stem))


def plot_cdf(con, a):
    if not fsdb.has_table(con, "client_eval"):
        fsdb.fail("%s has no client_eval table: it holds per-client accuracies" % a.db,
                  "run a scenario that evaluates clients on their local data (docs/metrics.md)")
    where = fsdb.parse_where(a.where)
    runs = fsdb.load_runs(con, a.sweep, where)
    with_rows = {r[0] for r in con.execute("SELECT DISTINCT run_id FROM client_eval")}
    runs = [r for r in runs if r.id in with_rows]
    if not runs:
        fsdb.fail("no completed run has rows in the client_eval table")
    by = fsdb.default_by(runs, a.by)
    groups = fsdb.group_runs(runs, by, pretty=True)
    fig, ax = plt.subplots(figsize=fsdb.style(a.size))
    for i, (name, (_, rs)) in enumerate(groups.items()):
        accs = []
        for r in rs:
            rnd = a.round
            if rnd is None:
                rnd = con.execute("SELECT max(round) FROM client_eval WHERE run_id=?",
                                  (r.id,)).fetchone()[0]
            col = getattr(a, "column", "acc")
            if col == "pers_acc" and not any(c[1] == "pers_acc" for c in con.execute(
                    "PRAGMA table_info(client_eval)")):
                fsdb.fail("%s has no personalized accuracies (client_eval.pers_acc)" % a.db,
                          "run with eval.personalize_steps or a personalized algorithm "
                          "(docs/personalization.md)")
            accs += [v for (v,) in con.execute(
                "SELECT %s FROM client_eval WHERE run_id=? AND round=? AND %s IS NOT NULL"
                % (col, col), (r.id, rnd))]
        if not accs:
            continue
        v = np.sort(np.array(accs)) * 100
        frac = np.arange(1, v.size + 1) / v.size
        med, p10 = np.percentile(v, 50), np.percentile(v, 10)
        color = fsdb.PALETTE[i % len(fsdb.PALETTE)]
        ax.step(np.concatenate([[v[0]], v]), np.concatenate([[0], frac]), where="post",
                color=color, ls=fsdb.LINESTYLES[(i // 8) % 4],
                label="%s (median %.1f, 10th pct %.1f)" % (name, med, p10))
    ax.set_xlabel("Per-client test accuracy (%%)%s" % (
        ", personalized" if getattr(a, "column", "acc") == "pers_acc" else ""))
    ax.set_ylabel("Fraction of clients")
    ax.set_ylim(0, 1.02)
    if a.title:
        ax.set_title(a.title)
    fsdb.legend(ax, fsdb.pretty_key(by[0]) if len(by) == 1 else None,
                "upper left" if a.legend == "above" and len(groups) == 1 else a.legend,
                len(groups))
    stem = os.path.splitext(a.db)[0] + (
        "_client_pers_acc_cdf" if getattr(a, "column", "acc") == "pers_acc" else "_client_acc_cdf")
    fsdb.save(fig, fsdb.outputs_for(a.out, a.format, stem))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("db", help="fedsim metrics database (SQLite)")
    p.add_argument("--kind", choices=["curves", "gantt", "cdf"], default="curves")
    p.add_argument("--metric", default="test_acc",
                   help="rounds column to draw (test_acc, test_loss, train_loss, "
                        "global_train_loss, completed, ...)")
    p.add_argument("--x", choices=["round", "vtime", "wall", "bytes"], default="round",
                   help="x axis: round, virtual time, wall time, or cumulative bytes moved")
    p.add_argument("--by", help="swept key(s) that make the lines, comma-separated "
                               "(default: every swept key that varies)")
    p.add_argument("--where", action="append", metavar="KEY=VALUE",
                   help="only runs with this value (repeatable)")
    p.add_argument("--sweep", help="only runs of this sweep id")
    p.add_argument("--band", choices=["std", "minmax", "none"], default="std",
                   help="spread over seeds: +-1 sample std (default), min-max, or none")
    p.add_argument("--smooth", type=int, default=1, metavar="K",
                   help="centred moving average over K rounds of each run before averaging")
    p.add_argument("--legend-title", help="legend title (default: the key's name and the "
                                          "number of seeds)")
    p.add_argument("--logy", action="store_true", help="log-scale y axis")
    p.add_argument("--logx", action="store_true", help="log-scale x axis")
    p.add_argument("--title")
    p.add_argument("--legend", default="above",
                   help="legend location: above (the axes, default) or a matplotlib name such "
                        "as best, 'lower right'")
    p.add_argument("--size", default="single",
                   help="single (3.4x2.5 in), double (7x3 in) or WxH inches")
    p.add_argument("-o", "--out", action="append",
                   help="output file (.png, .svg, .pdf; repeatable); without an extension, one "
                        "file per --format")
    p.add_argument("--format", help="formats for -o without extension, e.g. png,svg,pdf")
    p.add_argument("--run", type=int, help="gantt: run id (default: the first with events)")
    p.add_argument("--rounds", help="gantt: rounds A-B (default: the first three)")
    p.add_argument("--max-clients", type=int, default=25,
                   help="gantt: clients shown per round (first to start)")
    p.add_argument("--round", type=int, help="cdf: round (default: each run's last)")
    p.add_argument("--column", choices=["acc", "pers_acc"], default="acc",
                   help="cdf: the global model's accuracy (acc) or the personalized models' "
                        "(pers_acc, docs/personalization.md)")
    a = p.parse_args()
    con = fsdb.connect(a.db)
    try:
        {"curves": plot_curves, "gantt": plot_gantt, "cdf": plot_cdf}[a.kind](con, a)
    except fsdb.UsageError as e:
        fsdb.fail(str(e))


if __name__ == "__main__":
    main()
