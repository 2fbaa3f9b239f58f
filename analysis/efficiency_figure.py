#!/usr/bin/python3
"""The communication-efficiency study's figure: test accuracy by virtual time and by uploaded bytes.

  analysis/efficiency_figure.py results/efficiency.db -o docs/figures/efficiency.png

One line per completed run named eff-<label> (scenarios/efficiency/results.sh), the newest of
each name; the dashed line is the runs' eval.target_accuracy. Left: accuracy against virtual
time (hours); right: against the cumulative bytes uploaded (MB, log scale).
"""

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fsdb  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", help="fedsim metrics database of the study")
    p.add_argument("-o", "--out", default="docs/figures/efficiency.png", help="figure file")
    a = p.parse_args()
    con = fsdb.connect(a.db)
    runs = con.execute(
        "SELECT max(id), name, params FROM runs WHERE status = 'completed' AND name LIKE 'eff-%' "
        "GROUP BY name ORDER BY min(id)"
    ).fetchall()
    if not runs:
        fsdb.fail(f"no completed eff-* runs in {a.db}", "run scenarios/efficiency/results.sh")
    fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    target = None
    for rid, name, params in runs:
        target = json.loads(params).get("eval.target_accuracy") or target
        rows = con.execute(
            "SELECT vtime_s, bytes_up, test_acc FROM rounds WHERE run_id = ? ORDER BY round", (rid,)
        ).fetchall()
        up, t, b, acc = 0.0, [], [], []
        for vt, bu, ta in rows:
            up += bu or 0
            if ta is not None:
                t.append(vt / 3600)
                b.append(up / 1e6)
                acc.append(100 * ta)
        label = name[len("eff-"):]
        style = "--" if "oort" in label or label == "poc" else "-"
        ax_t.plot(t, acc, style, label=label, lw=1.4)
        ax_b.plot(b, acc, style, label=label, lw=1.4)
    for ax in (ax_t, ax_b):
        if target:
            ax.axhline(100 * target, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    ax_t.set_xlabel("virtual time (h)")
    ax_b.set_xlabel("bytes uploaded (MB, log scale)")
    ax_b.set_xscale("log")
    ax_t.set_ylabel("test accuracy (%)")
    ax_t.set_ylim(40, 90)
    ax_b.legend(loc="lower right", fontsize=8)
    fig.suptitle("Fashion-MNIST MLP, 1,000 phones in device tiers: selection and compression")
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)


if __name__ == "__main__":
    main()
