#!/usr/bin/python3
"""The 2 x 2 figure of one run: test accuracy and loss, by round and by virtual time.

  analysis/quickstart_figure.py results/quickstart.db -o results/quickstart.png

`make run` draws it for the quickstart. The run is the newest completed run of the database
(--run ID to choose another). The virtual-time column shows what a wall-clock-free simulator
adds: the same training curve, stretched by slow devices, dropouts and stragglers.
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", help="fedsim metrics database")
    p.add_argument("--run", type=int, help="run id (default: the newest completed run)")
    p.add_argument("-o", "--out", action="append",
                   help="output file(s): .png, .svg or .pdf (default: <db>.png)")
    a = p.parse_args()
    con = fsdb.connect(a.db)
    runs = fsdb.load_runs(con, status=None if a.run else "completed",
                          run_ids={a.run} if a.run else None)
    if not runs:
        fsdb.fail("no %s in %s" % ("run %d" % a.run if a.run else "completed run", a.db),
                  "'fedsim info %s' lists the runs" % a.db)
    run = runs[-1]
    s = fsdb.load_series(con, [run.id], ["round", "vtime_s", "train_loss", "test_loss",
                                         "test_acc"])[run.id]
    if not np.isfinite(s["test_acc"]).any():
        fsdb.fail("run %d has no test accuracy" % run.id)
    w, _ = fsdb.style("double")
    fig, ax = plt.subplots(2, 2, figsize=(w, 4.6), sharey="row", sharex="col")
    tdiv, tunit = fsdb.time_unit(np.nanmax(s["vtime_s"]))
    ev = np.isfinite(s["test_acc"])
    c_acc, c_train, c_test = fsdb.PALETTE[0], fsdb.PALETTE[1], fsdb.PALETTE[3]
    for col, (x, xlabel) in enumerate(((s["round"], "Round"),
                                       (s["vtime_s"] / tdiv, "Virtual time (%s)" % tunit))):
        a0, a1 = ax[0][col], ax[1][col]
        a0.plot(x[ev], 100 * s["test_acc"][ev], color=c_acc, marker="o", label="test")
        a1.plot(x, s["train_loss"], color=c_train, lw=1.0, label="training (clients, mean)")
        a1.plot(x[ev], s["test_loss"][ev], color=c_test, marker="s", label="test")
        a1.set_xlabel(xlabel)
        if col == 0:
            a0.xaxis.get_major_locator().set_params(integer=True)
            a1.xaxis.get_major_locator().set_params(integer=True)
    ax[0][0].set_ylabel("Test accuracy (%)")
    ax[1][0].set_ylabel("Loss")
    ax[1][0].legend(loc="upper right")
    final = s["test_acc"][ev][-1]
    ax[0][1].annotate("%.1f%%" % (100 * final), xy=(s["vtime_s"][ev][-1] / tdiv, 100 * final),
                      xytext=(-4, -12), textcoords="offset points", ha="right", fontsize=8)
    p = run.params
    fig.suptitle("%s: %s, %s clients (%s per round), %s" % (
        run.name, fsdb.fmt_value(p.get("algorithm.name", "?"), True),
        "{:,}".format(p.get("partition.clients", 0)), p.get("rounds.clients_per_round", "?"),
        fsdb.fmt_value(p.get("data.dataset", "?"), True)), fontsize=9)
    for i, axx in enumerate(ax.flat):
        axx.text(-0.02, 1.02, "(%s)" % "abcd"[i], transform=axx.transAxes, fontsize=9,
                 fontweight="bold", ha="right", va="bottom")
    fig.tight_layout()
    outs = a.out or [os.path.splitext(a.db)[0] + ".png"]
    try:
        fsdb.save(fig, outs)
    except fsdb.UsageError as e:
        fsdb.fail(str(e))


if __name__ == "__main__":
    main()
