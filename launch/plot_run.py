#!/usr/bin/env python3
"""Learning curves of lockstep runs as a PNG, from their metrics.jsonl.

Usage: launch/plot_run.py RUN_DIR [RUN_DIR ...] [--out FILE.png] [--smooth 0.9] [--summary]

Panels: training loss per step (raw and exponentially smoothed); per-epoch
train/test/validation loss; per-epoch metrics: accuracy (train/test/val) for
classifiers, the other figures the epoch records hold for regression runs
(val_mse, val_mae, val_r2, ...), or, when a regression run logged no other
figure, its MSE on a log scale; and the learning rate. The best epoch (the
run's last "best" record: the metric best.h5 was saved for) is marked on the
per-epoch panels with a dotted line and a star. Several run directories are
overlaid, one colour each. The default output is RUN_DIR/curves.png for one
run, ./curves.png for several. --summary prints what was drawn as JSON (per
panel: its title and each series with its number of points; the best-epoch
marks; the panels left empty) for scripts and tests.
Needs Python 3 and matplotlib (Debian: python3-matplotlib).
"""

import argparse
import json
import os
import sys

SPLITS = (("train", "-"), ("test", "--"), ("val", ":"))
NOT_METRICS = {"type", "epoch", "step", "time", "seconds", "samples_per_s", "input_wait_s", "lr",
               "exposed_comm_s", "comm_s", "overlap"}


def load_run(run_dir):
    """(step records, epoch records, best record or None) of a run: one record
    per step/epoch (the last logged wins, so a resumed run's repeated steps are
    not drawn twice) and the last "best" record."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"plot_run: expected {path} (a lockstep run directory), found no such file")
    steps, epochs, best = {}, {}, None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot_run: {path}:{n}: expected a JSON object, found {line[:60]!r} ({e})")
            if rec.get("type") == "step":
                steps[rec["step"]] = rec
            elif rec.get("type") == "epoch":
                epochs[rec["epoch"]] = rec
            elif rec.get("type") == "best":
                best = rec
    return [steps[k] for k in sorted(steps)], [epochs[k] for k in sorted(epochs)], best


def smooth(values, weight):
    """TensorBoard-style exponential moving average, debiased at the start."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i) if weight > 0 else v)
    return out


def series(records, x, y):
    pts = [(r[x], r[y]) for r in records if isinstance(r.get(y), (int, float))
           and not isinstance(r.get(y), bool)]
    return [p[0] for p in pts], [p[1] for p in pts]


def metric_names(epochs):
    """The per-epoch figures other than the losses, train_ before test_ before val_."""
    names = {k for r in epochs for k, v in r.items() if k not in NOT_METRICS
             and not k.endswith("_loss") and k.startswith(("train_", "test_", "val_"))
             and isinstance(v, (int, float)) and not isinstance(v, bool)}
    order = {"train": 0, "test": 1, "val": 2}
    return sorted(names, key=lambda k: (k.split("_", 1)[1], order[k.split("_", 1)[0]]))


def style_of(name):
    return dict(SPLITS)[name.split("_", 1)[0]]


class Figure:
    """The four panels, and a record of every series drawn on them."""

    def __init__(self, plt):
        self.fig, axes = plt.subplots(2, 2, figsize=(12, 8))
        self.axes = dict(zip(("step_loss", "epoch_loss", "epoch_metrics", "lr"), axes.flat))
        self.drawn = {k: [] for k in self.axes}
        self.marks = []

    def line(self, panel, xs, ys, label, legend=True, **style):
        if not xs:
            return
        self.axes[panel].plot(xs, ys, label=label if legend else "_" + label, **style)
        self.drawn[panel].append({"label": label, "points": len(xs)})

    def mark_best(self, run, best, epochs, panels, color):
        epoch, metric = best["epoch"], best["metric"]
        for panel in panels:
            ax = self.axes[panel]
            ax.axvline(epoch, color=color, linestyle=":", linewidth=1,
                       label=f"{run + ' ' if run else ''}best epoch {epoch} ({metric})")
            ex, ey = series(epochs, "epoch", metric)
            if (metric.endswith("_loss")) == (panel == "epoch_loss") and epoch in ex:
                ax.plot([epoch], [ey[ex.index(epoch)]], "*", color=color, markersize=14)
        self.marks.append({"run": run, "metric": metric, "epoch": epoch, "value": best["value"],
                           "step": best.get("step")})


def plot(runs, out, weight, summary=False):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    f = Figure(plt)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    several = len(runs) > 1
    mse_only = False
    for i, (name, (steps, epochs, best)) in enumerate(runs):
        c = colors[i % len(colors)]
        pre = f"{name} " if several else ""
        xs, ys = series(steps, "step", "loss")
        f.line("step_loss", xs, ys, f"{pre}loss (raw)", legend=False, color=c, alpha=0.25,
               linewidth=0.8)
        f.line("step_loss", xs, smooth(ys, weight), f"{pre}loss (smoothed)", legend=several,
               color=c)
        for split, style in SPLITS:
            ex, ey = series(epochs, "epoch", f"{split}_loss")
            f.line("epoch_loss", ex, ey, f"{pre}{split}_loss", linestyle=style, color=c, marker="o")
        metrics = metric_names(epochs)
        for k in metrics:
            ex, ey = series(epochs, "epoch", k)
            f.line("epoch_metrics", ex, ey, f"{pre}{k}", linestyle=style_of(k), color=c,
                   marker="o")
        if not metrics:  # a regression run without validation: its loss is the MSE
            for split, style in SPLITS:
                ex, ey = series(epochs, "epoch", f"{split}_loss")
                if ex:
                    mse_only = True
                f.line("epoch_metrics", ex, ey, f"{pre}{split}_mse", linestyle=style, color=c,
                       marker="o")
        lx, ly = series(steps, "step", "lr") if steps else series(epochs, "step", "lr")
        f.line("lr", lx, ly, f"{pre}lr", legend=several, color=c)
        if best:
            f.mark_best(name if several else "", best, epochs, ("epoch_loss", "epoch_metrics"), c)

    ax = f.axes
    ax["step_loss"].set(title=f"training loss per step (smoothed {weight:g})", xlabel="step",
                        ylabel="loss")
    ax["epoch_loss"].set(title="loss per epoch", xlabel="epoch", ylabel="loss")
    only_accuracy = all(d["label"].endswith("_accuracy") for d in f.drawn["epoch_metrics"])
    if mse_only and all(d["label"].endswith("_mse") for d in f.drawn["epoch_metrics"]):
        ax["epoch_metrics"].set(title="mse per epoch (log scale)", xlabel="epoch", yscale="log")
    else:
        ax["epoch_metrics"].set(title="accuracy per epoch" if only_accuracy else "metrics per epoch",
                                xlabel="epoch")
    ax["lr"].set(title="learning rate", xlabel="step", ylabel="lr")
    for a in (ax["epoch_loss"], ax["epoch_metrics"]):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    empty = []
    for key, a in ax.items():
        a.grid(True, alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize="small")
        if not f.drawn[key]:
            empty.append(key)
            a.text(0.5, 0.5, "no data", ha="center", va="center", transform=a.transAxes)
    f.fig.suptitle(", ".join(name for name, _ in runs))
    f.fig.tight_layout()
    f.fig.savefig(out, dpi=100)
    plt.close(f.fig)
    if summary:
        print(json.dumps({"out": out,
                          "panels": {k: {"title": ax[k].get_title(), "series": f.drawn[k]}
                                     for k in ax},
                          "best": f.marks, "no_data": empty}, indent=1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="lockstep run directories")
    p.add_argument("--out", help="PNG file (default RUN_DIR/curves.png; ./curves.png for several)")
    p.add_argument("--smooth", type=float, default=0.9,
                   help="weight of the exponential smoothing of the step loss, in [0, 1) [0.9]")
    p.add_argument("--summary", action="store_true",
                   help="print what was drawn as JSON (panels, series, best-epoch marks)")
    a = p.parse_args(argv)
    if not 0 <= a.smooth < 1:
        p.error(f"--smooth: expected a number in [0, 1), got {a.smooth}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit("plot_run: expected matplotlib (Debian package python3-matplotlib), "
                 "found no module named matplotlib")
    runs = [(os.path.basename(os.path.normpath(d)), load_run(d)) for d in a.run_dirs]
    if not any(s or e for _, (s, e, _b) in runs):
        sys.exit(f"plot_run: expected step or epoch records in {', '.join(a.run_dirs)}, found none")
    out = a.out or (os.path.join(a.run_dirs[0], "curves.png") if len(runs) == 1 else "curves.png")
    plot(runs, out, a.smooth, a.summary)
    if not a.summary:
        print(f"plot_run: wrote {out}")


if __name__ == "__main__":
    main()
