"""Shared helpers of the analysis scripts: reading a fedsim metrics database, grouping runs by
their swept parameters, aggregating over seeds, and the figure style.

Only the Python standard library, numpy and matplotlib (Debian's python3-numpy and
python3-matplotlib) are used. The database is opened read-only, so the scripts also work on a
sweep that is still running. Which runs count: completed runs only (docs/sweeps.md), so a run
that was interrupted and then rerun is never counted twice.
"""

import math
import os
import sqlite3
import sys
from collections import OrderedDict

import numpy as np

# Okabe & Ito (2008) colour-blind-safe palette, black last.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
LINESTYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

# metric -> (axis label, scale); accuracies are shown in percent
METRICS = {
    "test_acc": ("Test accuracy (%)", 100.0),
    "test_loss": ("Test loss", 1.0),
    "train_loss": ("Clients' local training loss", 1.0),
    "global_train_loss": ("Global training loss", 1.0),
    "global_train_acc": ("Global training accuracy (%)", 100.0),
    "completed": ("Updates aggregated per round", 1.0),
    "selected": ("Clients selected per round", 1.0),
    "available": ("Clients available", 1.0),
    "dropped": ("Dropouts per round", 1.0),
    "late": ("Late clients per round", 1.0),
    "bytes_down": ("Bytes downloaded per round", 1.0),
    "bytes_up": ("Bytes uploaded per round", 1.0),
    "flops_used": ("Training FLOPs used per round", 1.0),
    "flops_wasted": ("Training FLOPs wasted per round", 1.0),
    "wait_s": ("Waiting time per round (s)", 1.0),
    "epsilon": ("Privacy loss $\\varepsilon$", 1.0),
}


# key path -> legend title; value -> legend label (algorithm names as their papers write them)
PRETTY_KEYS = {
    "algorithm.name": "Algorithm",
    "partition.alpha": "Dirichlet $\\alpha$",
    "partition.kind": "Partition",
    "train.lr": "Client learning rate",
    "train.batch_size": "Batch size",
    "train.epochs": "Local epochs",
    "train.steps": "Local steps",
    "rounds.clients_per_round": "Clients per round",
    "rounds.deadline_s": "Round deadline (s)",
    "rounds.overcommit": "Over-commitment",
    "availability.mode": "Availability",
    "availability.p": "Availability $p$",
    "devices.flops.sigma": "Device speed $\\sigma$",
    "devices.model": "Device model",
    "dropout.p": "Dropout probability",
    "model.name": "Model",
    "algorithm.server_lr": "Server learning rate",
    "algorithm.mu": "FedProx $\\mu$",
}
# short forms for legends that combine several keys
SHORT_KEYS = {
    "partition.alpha": "$\\alpha$",
    "train.lr": "$\\eta$",
    "train.batch_size": "$B$",
    "train.epochs": "$E$",
    "train.steps": "local steps",
    "rounds.clients_per_round": "$K$",
    "availability.p": "$p$",
    "algorithm.mu": "$\\mu$",
    "algorithm.server_lr": "$\\eta_g$",
    "devices.flops.sigma": "$\\sigma_{\\mathrm{flops}}$",
    "dropout.p": "$p_{\\mathrm{drop}}$",
}
PRETTY_VALUES = {
    "fedavg": "FedAvg", "fedsgd": "FedSGD", "fedprox": "FedProx", "scaffold": "SCAFFOLD",
    "feddyn": "FedDyn", "fednova": "FedNova", "fedavgm": "FedAvgM", "fedadam": "FedAdam",
    "fedyogi": "FedYogi", "fedadagrad": "FedAdagrad", "logreg": "logistic regression",
    "mlp": "MLP", "fashion-mnist": "Fashion-MNIST", "synthetic": "Synthetic",
}


def pretty_key(k):
    return PRETTY_KEYS.get(k, k)


class UsageError(Exception):
    """A problem the user can fix (bad option, missing table): message and exit status 2."""


def fail(msg, hint=None):
    """Print 'script: error: msg' (and a hint) and exit 2."""
    prog = os.path.basename(sys.argv[0])
    print("%s: error: %s" % (prog, msg), file=sys.stderr)
    if hint:
        print("  hint: %s" % hint, file=sys.stderr)
    sys.exit(2)


# The schema versions (PRAGMA user_version) whose tables and columns these scripts read, as
# docs/metrics.md describes them. Within a version fedsim only adds columns (the scripts look
# columns up by name); a change of meaning or type gets a new version, which they refuse.
SCHEMA_VERSIONS = (1, 2)


def connect(path):
    """Open a fedsim database read-only; exits 2 with a message if it is not one, or is of a
    schema version these scripts do not know."""
    if not os.path.exists(path):
        fail("%s: no such file" % path, "run 'fedsim run' or 'fedsim sweep' first")
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = con.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        fail("%s: not a SQLite database (%s)" % (path, e))
    if not {"runs", "rounds"} <= tables:
        fail("%s: not a fedsim metrics database (no runs/rounds tables)" % path)
    if version not in SCHEMA_VERSIONS:
        fail("%s: metrics schema version %d; these scripts read versions %s (docs/metrics.md)"
             % (path, version, " and ".join(str(v) for v in SCHEMA_VERSIONS)),
             "use the analysis/ scripts of the fedsim that wrote it")
    return con


def has_table(con, name):
    return con.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?",
                       (name,)).fetchone()[0] > 0


def columns(con, table):
    return [r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (table,))]


class Run:
    """One row of `runs` with its swept values (dict) and resolved parameters (dict)."""

    def __init__(self, rid, sweep_id, run_key, name, status, seed, swept, params):
        self.id = rid
        self.sweep_id = sweep_id
        self.run_key = run_key
        self.name = name
        self.status = status
        self.seed = seed
        self.swept = swept
        self.params = params

    def value(self, key):
        """The run's value of a key path: swept first, else the resolved parameter."""
        if key == "seed":
            return self.seed
        if key in self.swept:
            return self.swept[key]
        return self.params.get(key)


def parse_where(items):
    """['key=value', ...] -> [(key, value text)]."""
    out = []
    for it in items or []:
        if "=" not in it:
            raise UsageError("--where takes key.path=value, got '%s'" % it)
        k, v = it.split("=", 1)
        out.append((k.strip(), v.strip()))
    return out


def same_value(a, text):
    """Does a stored value equal the text given on the command line?"""
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        try:
            return math.isclose(float(a), float(text), rel_tol=1e-12, abs_tol=0)
        except ValueError:
            return False
    if isinstance(a, list):
        return str(a).replace(" ", "") == text.replace(" ", "")
    return str(a) == text


def load_runs(con, sweep=None, where=None, status="completed", run_ids=None):
    """Runs in id order: completed ones (status=None: all but superseded), of one sweep if
    given, matching every (key, value) of where."""
    import json
    cols = set(columns(con, "runs"))
    sweep_cols = {"sweep_id", "run_key", "swept", "superseded_by"} <= cols
    sql = ("SELECT id, %s, name, status, seed, %s, params FROM runs r WHERE 1"
           % ("sweep_id, run_key" if sweep_cols else "NULL, NULL",
              "swept" if sweep_cols else "NULL"))
    args = []
    if status:
        sql += " AND status = ?"
        args.append(status)
    elif sweep_cols:
        sql += " AND superseded_by IS NULL"
    if sweep:
        if not sweep_cols:
            raise UsageError("this database has no sweeps")
        sql += " AND sweep_id = ?"
        args.append(sweep)
    sql += " ORDER BY id"
    runs = []
    for rid, sid, key, name, st, seed, swept, params in con.execute(sql, args):
        # seeds are uint64: schema 2 stores those >= 2^63 as text, schema 1 stored them negative
        seed = int(seed) % (1 << 64) if seed is not None else None
        r = Run(rid, sid, key, name, st, seed, json.loads(swept) if swept else {},
                json.loads(params) if params else {})
        if run_ids and rid not in run_ids:
            continue
        if all(same_value(r.value(k), v) for k, v in (where or [])):
            runs.append(r)
    if where:
        for k, v in where:
            if all(r.value(k) is None for r in runs) and runs:
                raise UsageError("--where: no run has a value for '%s'" % k)
    return runs


def swept_keys(runs):
    """Keys swept by these runs (in order of first appearance) that take more than one value."""
    keys = []
    for r in runs:
        for k in r.swept:
            if k not in keys:
                keys.append(k)
    return [k for k in keys if len({repr(r.value(k)) for r in runs}) > 1]


def sort_values(values):
    """Numbers ascending, anything else in order of first appearance."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sorted(values)
    return values


def short_key(k):
    return k.rsplit(".", 1)[-1]


def fmt_value(v, pretty=False):
    if pretty and isinstance(v, str) and v in PRETTY_VALUES:
        return PRETTY_VALUES[v]
    if isinstance(v, float):
        return "%g" % v
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def group_runs(runs, by, pretty=False):
    """OrderedDict label -> (values tuple, [runs]) grouped by the keys in by (a list), ordered by
    value. by = [] puts every run in one group. pretty: labels for a figure legend."""
    combos = OrderedDict()
    for r in runs:
        vals = tuple(r.value(k) for k in by)
        combos.setdefault(repr(vals), (vals, []))[1].append(r)
    if by:
        ordered = list(combos.values())
        for i in reversed(range(len(by))):  # stable sort, first key most significant
            order = sort_values(list(OrderedDict((repr(v[i]), v[i]) for v, _ in ordered).values()))
            rank = {repr(v): j for j, v in enumerate(order)}
            ordered.sort(key=lambda g, i=i: rank[repr(g[0][i])])
    else:
        ordered = list(combos.values())
    out = OrderedDict()
    for vals, rs in ordered:
        if len(by) == 1:
            label = fmt_value(vals[0], pretty)
        elif pretty:  # names speak for themselves; numbers need their key
            label = ", ".join(fmt_value(v, True) if isinstance(v, str) else
                              "%s = %s" % (SHORT_KEYS.get(k, short_key(k)), fmt_value(v, True))
                              for k, v in zip(by, vals))
        else:
            label = ", ".join("%s=%s" % (short_key(k), fmt_value(v)) for k, v in zip(by, vals))
        out[label or "all runs"] = (vals, rs)
    return out


def group_styles(groups, by):
    """(colour, line style, marker) per group: with two keys, colour follows the first and line
    style the second, so a 2-D grid reads at a glance; otherwise colour by group."""
    out = []
    if len(by) == 2:
        firsts = list(OrderedDict((repr(v[0]), 0) for v, _ in groups.values()))
        seconds = list(OrderedDict((repr(v[1]), 0) for v, _ in groups.values()))
        if len(seconds) <= len(LINESTYLES):
            for vals, _ in groups.values():
                i, j = firsts.index(repr(vals[0])), seconds.index(repr(vals[1]))
                out.append((PALETTE[i % len(PALETTE)], LINESTYLES[j], MARKERS[j % len(MARKERS)]))
            return out
    for i in range(len(groups)):
        out.append((PALETTE[i % len(PALETTE)], LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)],
                    MARKERS[i % len(MARKERS)]))
    return out


def pooled_keys(groups, by):
    """Swept keys (not seed, not in by) that vary inside some group: their runs get averaged
    together, which a figure or table must say."""
    out = []
    for _, rs in groups.values():
        for k in swept_keys(rs):
            if k not in by and k != "seed" and k not in out:
                out.append(k)
    return out


def default_by(runs, by_arg):
    """The grouping keys: --by (comma-separated), else every swept key with several values."""
    if by_arg:
        by = [k.strip() for k in by_arg.split(",") if k.strip()]
        for k in by:
            if runs and all(r.value(k) is None for r in runs):
                raise UsageError("--by: no run has a value for '%s'" % k,)
        return by
    return swept_keys(runs)


def load_series(con, run_ids, cols):
    """run id -> {column: float array} of rounds in round order (NULL -> NaN)."""
    have = set(columns(con, "rounds"))
    for c in cols:
        if c not in have:
            raise UsageError("the rounds table has no column '%s'; it has: %s"
                             % (c, ", ".join(sorted(have - {"run_id"}))))
    out = {}
    sel = ", ".join('"%s"' % c for c in cols)
    for rid in run_ids:
        rows = con.execute('SELECT %s FROM rounds WHERE run_id = ? ORDER BY round' % sel,
                           (rid,)).fetchall()
        arr = np.array(rows, dtype=float).reshape(len(rows), len(cols))
        out[rid] = {c: arr[:, j] for j, c in enumerate(cols)}
    return out


def x_values(series, x):
    """The x axis of a run's series: round, vtime, wall or bytes (cumulative down + up)."""
    if x == "round":
        return series["round"]
    if x == "vtime":
        return series["vtime_s"]
    if x == "wall":
        return series["wall_s"]
    if x == "bytes":
        return np.cumsum(series["bytes_down"] + series["bytes_up"])
    raise UsageError("unknown --x '%s' (round, vtime, wall, bytes)" % x)


X_COLUMNS = {"round": ["round"], "vtime": ["vtime_s"], "wall": ["wall_s"],
             "bytes": ["bytes_down", "bytes_up"]}


def time_unit(max_s):
    """(divisor, unit) so that times read well: s, min, h or days."""
    if max_s >= 2 * 86400:
        return 86400.0, "days"
    if max_s >= 2 * 3600:
        return 3600.0, "h"
    if max_s >= 120:
        return 60.0, "min"
    return 1.0, "s"


def bytes_unit(max_b):
    for div, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if max_b >= 2 * div:
            return div, unit
    return 1.0, "bytes"


def x_axis(x, max_value):
    """(divisor, axis label) for an x kind given its largest value."""
    if x == "round":
        return 1.0, "Round"
    if x == "vtime":
        div, unit = time_unit(max_value)
        return div, "Virtual time (%s)" % unit
    if x == "wall":
        div, unit = time_unit(max_value)
        return div, "Wall-clock time (%s)" % unit
    div, unit = bytes_unit(max_value)
    return div, "Data transferred, down + up (%s)" % unit


def smooth(y, k):
    """Centred moving average over k rounds of the non-NaN values (k <= 1: unchanged)."""
    if k <= 1:
        return y
    out = y.copy()
    ok = ~np.isnan(y)
    v = y[ok]
    if v.size == 0:
        return y
    pad = np.concatenate([np.full(k // 2, v[0]), v, np.full(k - 1 - k // 2, v[-1])])
    out[ok] = np.convolve(pad, np.ones(k) / k, mode="valid")
    return out


def aggregate(xs, ys, aligned, points=None):
    """Mean and spread of several runs' curves. aligned: the runs share x values (rounds), so
    take the values at the x common to all; else interpolate each run linearly on a common grid
    over the x range every run covers. Returns x, mean, std (ddof 1; 0 for one run), min, max."""
    pairs = []
    for x, y in zip(xs, ys):
        ok = ~np.isnan(y)
        if ok.any():
            pairs.append((x[ok], y[ok]))
    if not pairs:
        return None
    if aligned:
        common = set(pairs[0][0].tolist())
        for x, _ in pairs[1:]:
            common &= set(x.tolist())
        grid = np.array(sorted(common))
        if grid.size == 0:
            return None
        mat = np.array([[dict(zip(x.tolist(), y.tolist()))[g] for g in grid] for x, y in pairs])
    else:
        if len(pairs) == 1:
            grid, mat = pairs[0][0], pairs[0][1][None, :]
        else:
            lo = max(x[0] for x, _ in pairs)
            hi = min(x[-1] for x, _ in pairs)
            if not hi > lo:
                return None
            if points is None:  # as fine as the densest run, within 200..2000 points
                points = int(min(2000, max(200, max(x.size for x, _ in pairs))))
            grid = np.linspace(lo, hi, points)
            mat = np.array([np.interp(grid, x, y) for x, y in pairs])
    n = mat.shape[0]
    mean = mat.mean(axis=0)
    std = mat.std(axis=0, ddof=1) if n > 1 else np.zeros_like(mean)
    return grid, mean, std, mat.min(axis=0), mat.max(axis=0), n


def style(size="single"):
    """Paper style: serif text matching LaTeX (STIX), 8-9 pt, thin spines, light grid.
    size: single (3.4 x 2.5 in, one column), double (7 x 3 in) or WxH in inches."""
    import matplotlib as mpl
    mpl.rcParams.update({
        "font.family": "serif",
        "font.serif": ["STIXGeneral", "DejaVu Serif"],
        "mathtext.fontset": "stix",
        "font.size": 9,
        "axes.labelsize": 9,
        "axes.titlesize": 9,
        "legend.fontsize": 8,
        "legend.title_fontsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "axes.linewidth": 0.7,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.linewidth": 0.5,
        "grid.alpha": 0.35,
        "lines.linewidth": 1.4,
        "lines.markersize": 3.5,
        "legend.frameon": False,
        "legend.handlelength": 2.2,
        "savefig.dpi": 300,
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.02,
        "pdf.fonttype": 42,  # TrueType in PDFs: journals reject Type 3 fonts
        "ps.fonttype": 42,
        "svg.fonttype": "none",  # text stays text in SVG
    })
    if size == "single":
        return (3.4, 2.5)
    if size == "double":
        return (7.0, 3.0)
    try:
        w, h = (float(v) for v in size.lower().split("x"))
        return (w, h)
    except ValueError:
        raise UsageError("--size takes single, double or WxH in inches (e.g. 5x3)")


def log_ticks(axis):
    """Plain numbers on a log axis, with labelled minor ticks when it spans few decades."""
    from matplotlib import ticker
    def minor(v, _):
        lo, hi = axis.get_view_interval()
        if lo <= 0 or math.log10(hi / lo) > 2 or v <= 0:
            return ""
        mant = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        return "%g" % v if mant in (2, 3, 5) else ""

    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: "%g" % v))
    axis.set_minor_formatter(ticker.FuncFormatter(minor))


def legend(ax, title, loc, n):
    """A legend above the axes (never over the data), or at a matplotlib location."""
    if loc == "above":
        import re
        longest = max((len(re.sub(r"\$[^$]*\$", "x", t)) for t in
                       ax.get_legend_handles_labels()[1]), default=0)
        per_row = max(1, min(4, 72 // (longest + 8)))
        ncol = min(n, per_row) if n <= per_row else -(-n // -(-n // per_row))
        leg = ax.legend(title=title, loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=ncol,
                        columnspacing=1.2, handletextpad=0.5, borderaxespad=0.2)
    else:
        leg = ax.legend(title=title, loc=loc)
    if leg.get_title():
        leg.get_title().set_multialignment("center")
    return leg


def save(fig, outputs):
    """Write the figure to every path (format from the extension: png, svg, pdf)."""
    for out in outputs:
        ext = os.path.splitext(out)[1].lower()
        if ext not in (".png", ".svg", ".pdf"):
            raise UsageError("output %s: use a .png, .svg or .pdf file name" % out)
        d = os.path.dirname(out)
        if d:
            os.makedirs(d, exist_ok=True)
        fig.savefig(out)
        print("wrote %s" % out)


def outputs_for(args_out, formats, default_stem):
    """-o paths; a path without extension gets one file per --format (default png)."""
    fmts = [f.strip().lstrip(".") for f in (formats or "png").split(",") if f.strip()]
    outs = []
    for o in args_out or [default_stem]:
        if os.path.splitext(o)[1]:
            outs.append(o)
        else:
            outs.extend("%s.%s" % (o, f) for f in fmts)
    return outs
