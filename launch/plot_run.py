#!/usr/bin/env python3
"""Learning curves of lockstep runs as a PNG, from their metrics.jsonl.

Usage: launch/plot_run.py RUN_DIR [RUN_DIR ...] [--out FILE.png] [--smooth 0.9]

Panels: training loss per step (raw and exponentially smoothed), per-epoch
train/test loss, per-epoch accuracy (or, for regression runs, whatever other
train_/test_ metrics the epoch records hold), and the learning rate. Several
run directories are overlaid, one colour each. The default output is
RUN_DIR/curves.png for one run, ./curves.png for several.
Needs Python 3 and matplotlib (Debian: python3-matplotlib).
"""

import argparse
import json
import os
import sys

EPOCH_KNOWN = {"type", "epoch", "step", "seconds", "samples_per_s", "input_wait_s", "lr",
               "train_loss", "test_loss", "train_accuracy", "test_accuracy"}


def load_run(run_dir):
    """(step records, epoch records) of a run, one per step/epoch (the last
    logged wins, so a resumed run's repeated steps are not drawn twice)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"plot_run: expected {path} (a lockstep run directory), found no such file")
    steps, epochs = {}, {}
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
    return [steps[k] for k in sorted(steps)], [epochs[k] for k in sorted(epochs)]


def smooth(values, weight):
    """TensorBoard-style exponential moving average, debiased at the start."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i) if weight > 0 else v)
    return out


def series(records, x, y):
    pts = [(r[x], r[y]) for r in records if isinstance(r.get(y), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot(runs, out, weight):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax_step, ax_loss, ax_acc, ax_lr = axes.flat
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    extra_metrics = False
    for i, (name, (steps, epochs)) in enumerate(runs):
        c = colors[i % len(colors)]
        label = name if len(runs) > 1 else None
        xs, ys = series(steps, "step", "loss")
        if xs:
            ax_step.plot(xs, ys, color=c, alpha=0.25, linewidth=0.8)
            ax_step.plot(xs, smooth(ys, weight), color=c, label=label)
        for split, style in (("train", "-"), ("test", "--")):
            lbl = f"{name} {split}" if len(runs) > 1 else split
            ex, ey = series(epochs, "epoch", f"{split}_loss")
            if ex:
                ax_loss.plot(ex, ey, style, color=c, marker="o", label=lbl)
            ex, ey = series(epochs, "epoch", f"{split}_accuracy")
            if ex:
                ax_acc.plot(ex, ey, style, color=c, marker="o", label=lbl)
        others = sorted({k for r in epochs for k, v in r.items() if k not in EPOCH_KNOWN
                         and k.startswith(("train_", "test_")) and isinstance(v, (int, float))})
        for k in others:
            extra_metrics = True
            ex, ey = series(epochs, "epoch", k)
            ax_acc.plot(ex, ey, marker="o", color=c, label=f"{name} {k}" if len(runs) > 1 else k)
        lx, ly = series(steps, "step", "lr") if steps else series(epochs, "step", "lr")
        if lx:
            ax_lr.plot(lx, ly, color=c, label=label)
    ax_step.set(title=f"training loss per step (smoothed {weight:g})", xlabel="step", ylabel="loss")
    ax_loss.set(title="loss per epoch", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="accuracy per epoch" if not extra_metrics else "metrics per epoch",
               xlabel="epoch")
    ax_lr.set(title="learning rate", xlabel="step", ylabel="lr")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        if not ax.lines:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(", ".join(name for name, _ in runs))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="lockstep run directories")
    p.add_argument("--out", help="PNG file (default RUN_DIR/curves.png; ./curves.png for several)")
    p.add_argument("--smooth", type=float, default=0.9,
                   help="weight of the exponential smoothing of the step loss, in [0, 1) [0.9]")
    a = p.parse_args(argv)
    if not 0 <= a.smooth < 1:
        p.error(f"--smooth: expected a number in [0, 1), got {a.smooth}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit("plot_run: expected matplotlib (Debian package python3-matplotlib), "
                 "found no module named matplotlib")
    runs = [(os.path.basename(os.path.normpath(d)), load_run(d)) for d in a.run_dirs]
    if not any(s or e for _, (s, e) in runs):
        sys.exit(f"plot_run: expected step or epoch records in {', '.join(a.run_dirs)}, found none")
    out = a.out or (os.path.join(a.run_dirs[0], "curves.png") if len(runs) == 1 else "curves.png")
    plot(runs, out, a.smooth)
    print(f"plot_run: wrote {out}")


if __name__ == "__main__":
    main()
