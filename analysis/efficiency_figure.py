#!/usr/bin/python3
"""The communication-efficiency study's figure: test accuracy by virtual time and by uploaded bytes.

  analysis/efficiency_figure.py results/efficiency.db -o docs/figures/efficiency.svg

One line per completed run named eff-<label> (scenarios/efficiency/results.sh), the newest of
each name; the dotted line is the runs' eval.target_accuracy. Left: accuracy against virtual
time (minutes); right: against the cumulative bytes uploaded (MB, log scale). Standard library
only (the SVG is written by hand), so the study's page can be rebuilt where matplotlib is absent.
"""

import argparse
import json
import math
import sqlite3
import sys

# Okabe & Ito (2008) colour-blind-safe palette, as analysis/fsdb.py
PALETTE = ["#000000", "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 420, 300, 52, 12, 28, 44
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


def panel(x0, series, idx, xlabel, log, target):
    xs = [p[idx] for _, pts in series for p in pts]
    lo, hi = (min(xs), max(xs)) if xs else (0, 1)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    else:
        lo = 0
    hi = hi if hi > lo else lo + 1

    def px(v):
        v = math.log10(v) if log else v
        return x0 + PAD_L + (v - lo) / (hi - lo) * (W - PAD_L - PAD_R)

    def py(a):
        a = min(max(a, Y_LO), Y_HI)
        return PAD_T + (Y_HI - a) / (Y_HI - Y_LO) * (H - PAD_T - PAD_B)

    s = [f'<rect x="{x0 + PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" '
         f'height="{H - PAD_T - PAD_B}" fill="none" stroke="#444"/>']
    for a in range(int(Y_LO), int(Y_HI) + 1, 10):
        s.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(a):.1f}" y2="{py(a):.1f}" '
                 'stroke="#ddd"/>')
        s.append(f'<text x="{x0 + PAD_L - 4}" y="{py(a) + 4:.1f}" text-anchor="end">{a}</text>')
    ticks = [10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1)] if log else \
        [lo + (hi - lo) * i / 5 for i in range(6)]
    for t in ticks:
        if (math.log10(t) if log else t) < lo - 1e-9 or (math.log10(t) if log else t) > hi + 1e-9:
            continue
        lab = (f"{t:g}" if log else f"{t:.0f}")
        s.append(f'<text x="{px(t):.1f}" y="{H - PAD_B + 14}" text-anchor="middle">{lab}</text>')
    s.append(f'<text x="{x0 + (W + PAD_L) / 2:.0f}" y="{H - 8}" text-anchor="middle">{xlabel}</text>')
    if target:
        s.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{py(100 * target):.1f}" '
                 f'y2="{py(100 * target):.1f}" stroke="#888" stroke-dasharray="2,3"/>')
    for k, (label, pts) in enumerate(series):
        if not pts:
            continue
        d = " ".join(f"{px(p[idx]):.1f},{py(p[2]):.1f}" for p in pts)
        dash = ' stroke-dasharray="6,3"' if "oort" in label or label == "poc" else ""
        s.append(f'<polyline points="{d}" fill="none" stroke="{PALETTE[k % len(PALETTE)]}" '
                 f'stroke-width="1.5"{dash}/>')
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", help="fedsim metrics database of the study")
    p.add_argument("-o", "--out", default="docs/figures/efficiency.svg", help="SVG file")
    a = p.parse_args()
    series, target = load(a.db)
    if not series:
        sys.exit(f"efficiency_figure.py: no completed eff-* runs in {a.db}")
    body = [f'<text x="{W}" y="16" text-anchor="middle" font-size="13">Fashion-MNIST MLP, 1,000 '
            'phones in device tiers: test accuracy (%) by selection and compression</text>']
    body += panel(0, series, 0, "virtual time (min)", False, target)
    body += panel(W, series, 1, "MB uploaded (log scale)", True, target)
    for k, (label, _) in enumerate(series):  # legend, right panel's lower right
        y = H - PAD_B - 10 - 14 * (len(series) - 1 - k)
        x = 2 * W - PAD_R - 120
        dash = ' stroke-dasharray="6,3"' if "oort" in label or label == "poc" else ""
        body.append(f'<line x1="{x}" x2="{x + 22}" y1="{y - 4}" y2="{y - 4}" '
                    f'stroke="{PALETTE[k % len(PALETTE)]}" stroke-width="1.5"{dash}/>')
        body.append(f'<text x="{x + 27}" y="{y}">{label}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" '
           'fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
    with open(a.out, "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
