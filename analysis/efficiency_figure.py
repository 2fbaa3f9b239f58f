#!/usr/bin/python3
"""The communication-efficiency study's figure: test accuracy by virtual time and by uploaded bytes.

  analysis/efficiency_figure.py results/efficiency.db -o docs/figures/efficiency.png

One line per completed run named eff-<label> (scenarios/efficiency/results.sh), the newest of
each name; the dotted line is the runs' eval.target_accuracy. Left: accuracy against virtual
time (minutes); right: against the cumulative bytes uploaded (MB, log scale). Matplotlib, as
the other figures (Debian's python3-matplotlib, run with /usr/bin/python3).
"""

import argparse
import json
import sqlite3
import sys

# Okabe & Ito (2008) colour-blind-safe palette, as analysis/fsdb.py
PALETTE = ["#000000", "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]
Y_LO, Y_HI = 40.0, 90.0


def load(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    runs = con.execute(
        "SELECT max(id), name FROM runs WHERE status = 'completed' AND name LIKE 'eff-%' "
        "GROUP BY name ORDER BY min(id)"
    ).fetchall()
    out, target = [], None
    for rid, name in runs:
        params = con.execute("SELECT params FROM runs WHERE id = ?", (rid,)).fetchone()[0]
        target = json.loads(params).get("eval.target_accuracy") or target
        up, pts = 0.0, []
        for vt, bu, ta in con.execute(
            "SELECT vtime_s, bytes_up, test_acc FROM rounds WHERE run_id = ? ORDER BY round", (rid,)
        ):
            up += bu or 0
            if ta is not None:
                pts.append((vt / 60, max(up / 1e6, 1e-3), 100 * ta))
        out.append((name[len("eff-"):], pts))
    return out, target


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", help="fedsim metrics database of the study")
    p.add_argument("-o", "--out", default="docs/figures/efficiency.png", help="figure file")
    a = p.parse_args()
    series, target = load(a.db)
    if not series:
        sys.exit(f"efficiency_figure.py: no completed eff-* runs in {a.db}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(10, 4), sharey=True, constrained_layout=True)
    for k, (label, pts) in enumerate(series):
        if not pts:
            continue
        style = "--" if "oort" in label or label == "poc" else "-"
        for ax, idx in zip(axs, (0, 1)):
            ax.plot([q[idx] for q in pts], [q[2] for q in pts], style, lw=1.5,
                    color=PALETTE[k % len(PALETTE)], label=label)
    for ax, xl in zip(axs, ("virtual time (min)", "MB uploaded (log scale)")):
        if target:
            ax.axhline(100 * target, color="#888", ls=":", lw=1)
        ax.set_xlabel(xl)
        ax.set_ylim(Y_LO, Y_HI)
        ax.grid(alpha=0.3)
    axs[1].set_xscale("log")
    axs[0].set_xlim(left=0)
    axs[0].set_ylabel("test accuracy (%)")
    axs[1].legend(loc="lower right", fontsize=8)
    fig.suptitle("Fashion-MNIST MLP, 1,000 phones in device tiers: test accuracy by selection "
                 "and compression", fontsize=11)
    fig.savefig(a.out, dpi=110)


if __name__ == "__main__":
    main()
