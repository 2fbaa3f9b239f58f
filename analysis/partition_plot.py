#!/usr/bin/python3
"""Draw the label x client matrix of a partition, as papers show it.

Input: the CSV that `fedsim data stats ... --matrix m.csv` writes (columns client, name,
n_train, n_local_test, then one count column per class). Output: PNG, SVG or PDF, chosen by
the extension of OUT.

  analysis/partition_plot.py m.csv out.png                  # bubbles, 30 sampled clients
  analysis/partition_plot.py m.csv out.pdf --kind heatmap --clients 100 --normalize
  analysis/partition_plot.py m.csv out.svg --clients all --sort dominant

A bubble's area is proportional to the number of samples of that class the client holds
(Hsu et al. 2019 and NIID-Bench, Li et al. 2022, draw it this way); the heat map colours
counts, or each client's label proportions with --normalize. Clients are sampled evenly
across the population (or at random with --random SEED) and drawn in id order, by size, or
grouped by their most frequent class.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_matrix(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:4] != ["client", "name", "n_train", "n_local_test"]:
        sys.exit(f"{path}: not a matrix from 'fedsim data stats --matrix' (header "
                 "client,name,n_train,n_local_test,...)")
    classes = rows[0][4:]
    ids, names, counts = [], [], []
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(rows[0]):
            sys.exit(f"{path}:{i}: {len(r)} fields, the header has {len(rows[0])}")
        ids.append(int(r[0]))
        names.append(r[1])
        counts.append([int(v) for v in r[4:]])
    return classes, np.array(ids), names, np.array(counts, dtype=float).reshape(-1, len(classes))


def pick_clients(n, want, random_seed):
    if want == "all" or int(want) >= n:
        return np.arange(n)
    k = int(want)
    if random_seed is not None:
        return np.sort(np.random.default_rng(random_seed).choice(n, size=k, replace=False))
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def class_label(c):
    return {" ": "␣", "\n": "\\n"}.get(c, c)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("matrix", help="CSV from fedsim data stats --matrix")
    ap.add_argument("out", help="output file: .png, .svg or .pdf")
    ap.add_argument("--kind", choices=["bubble", "heatmap"], default="bubble")
    ap.add_argument("--clients", default="30", help="clients to draw, or 'all' (default 30)")
    ap.add_argument("--random", type=int, metavar="SEED", help="sample clients at random")
    ap.add_argument("--sort", choices=["id", "size", "dominant"], default="id",
                    help="client order: id, size (largest first), dominant class")
    ap.add_argument("--normalize", action="store_true",
                    help="heat map of each client's label proportions instead of counts")
    ap.add_argument("--title", default=None)
    a = ap.parse_args()

    classes, ids, names, counts = read_matrix(a.matrix)
    if len(ids) == 0:
        sys.exit(f"{a.matrix}: no clients")
    sel = pick_clients(len(ids), a.clients, a.random)
    m = counts[sel]
    totals = m.sum(axis=1)
    if a.sort == "size":
        order = np.argsort(-totals, kind="stable")
    elif a.sort == "dominant":
        order = np.lexsort((-totals, m.argmax(axis=1)))
    else:
        order = np.arange(len(sel))
    sel, m = sel[order], m[order]
    labels = [names[i] if names[i] else str(ids[i]) for i in sel]
    n_cl, n_k = m.shape

    w = min(max(6.0, 0.25 * n_cl + 2), 30)
    h = min(max(3.0, 0.25 * n_k + 1.5), 20)
    fig, ax = plt.subplots(figsize=(w, h))
    if a.kind == "bubble":
        xs, ys = np.meshgrid(np.arange(n_cl), np.arange(n_k), indexing="ij")
        peak = m.max() if m.max() > 0 else 1.0
        area = 250.0 * m / peak
        keep = m > 0
        ax.scatter(xs[keep], ys[keep], s=area[keep], c="tab:blue", alpha=0.7, linewidths=0)
        ax.set_xlim(-0.7, n_cl - 0.3)
        ax.set_ylim(-0.7, n_k - 0.3)
        ax.grid(True, color="0.9", linewidth=0.5)
        ax.set_axisbelow(True)
    else:
        z = m / np.where(totals[order] > 0, totals[order], 1)[:, None] if a.normalize else m
        im = ax.imshow(z.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="share of client's samples" if a.normalize else "samples")
    step = max(1, n_cl // 40)
    ax.set_xticks(np.arange(0, n_cl, step))
    ax.set_xticklabels(labels[::step], rotation=90, fontsize=7)
    kstep = max(1, n_k // 40)
    ax.set_yticks(np.arange(0, n_k, kstep))
    ax.set_yticklabels([class_label(c) for c in classes[::kstep]], fontsize=7)
    ax.set_xlabel(f"client ({n_cl} of {len(ids)})")
    ax.set_ylabel("label")
    ax.set_title(a.title if a.title else f"label x client: {a.matrix}", fontsize=9)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"wrote {a.out}: {n_cl} clients x {n_k} labels")


if __name__ == "__main__":
    main()
