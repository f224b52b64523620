#!/usr/bin/env python3
"""Collects and draws a scaling series (cluster/scaling/scaling.sh).

  scaling.py collect RUNS_CSV OUT_CSV
      RUNS_CSV: one line per run (mode, launcher, ranks, hosts, ranks_per_host,
      rate, global_batch, batch_per_rank, repeat, run_dir), as scaling.sh writes
      it. Reads the last epoch record of each run's metrics.jsonl and writes one
      line per (mode, ranks, placement) with the median over the repeats:
        step_s              seconds per step (global batch / samples per second)
        samples_per_s       throughput, all ranks together
        samples_per_s_per_rank
        exposed_comm_s      per step: the wait for the all-reduces after backward
        comm_s              per step: first bucket launch to last completion
        compute_s           step_s - exposed_comm_s
        overlap             1 - exposed / comm
        speedup             throughput / throughput at the series' fewest ranks
        efficiency          speedup x (fewest ranks) / ranks: 1 is perfect
                            scaling (weak: step time unchanged; strong: step
                            time divided by the ranks)
  scaling.py plot SCALING_CSV OUT_PNG [--title T]
      three panels: throughput against ranks (with the ideal line), efficiency,
      and the step time split into computation and exposed communication.
"""
import argparse
import csv
import json
import os
import statistics
import sys

COLUMNS = ["mode", "launcher", "ranks", "hosts", "ranks_per_host", "rate", "global_batch",
           "batch_per_rank", "repeats", "step_s", "samples_per_s", "samples_per_s_per_rank",
           "exposed_comm_s", "comm_s", "compute_s", "overlap", "speedup", "efficiency"]


def last_epoch(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    epochs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rec = json.loads(line)
                if rec.get("type") == "epoch":
                    epochs.append(rec)
    if not epochs:
        raise SystemExit(f"scaling.py: no epoch record in {path}")
    return epochs[-1]


def collect(runs_csv, out_csv):
    groups = {}
    with open(runs_csv) as f:
        for row in csv.DictReader(f):
            key = tuple(row[k] for k in ["mode", "launcher", "ranks", "hosts", "ranks_per_host",
                                          "rate", "global_batch", "batch_per_rank"])
            ep = last_epoch(row["run_dir"])
            g = int(row["global_batch"])
            groups.setdefault(key, []).append({
                "step_s": g / ep["samples_per_s"],
                "samples_per_s": ep["samples_per_s"],
                "exposed_comm_s": ep.get("exposed_comm_s", 0.0),
                "comm_s": ep.get("comm_s", 0.0),
            })
    rows = []
    for key, runs in groups.items():
        row = dict(zip(["mode", "launcher", "ranks", "hosts", "ranks_per_host", "rate",
                        "global_batch", "batch_per_rank"], key))
        row["repeats"] = len(runs)
        for k in ["step_s", "samples_per_s", "exposed_comm_s", "comm_s"]:
            row[k] = statistics.median(r[k] for r in runs)
        n = int(row["ranks"])
        row["samples_per_s_per_rank"] = row["samples_per_s"] / n
        row["compute_s"] = max(0.0, row["step_s"] - row["exposed_comm_s"])
        row["overlap"] = (1.0 - row["exposed_comm_s"] / row["comm_s"]) if row["comm_s"] > 0 else 1.0
        rows.append(row)
    rows.sort(key=lambda r: (r["mode"], r["launcher"], r["rate"], int(r["ranks"])))
    # speedup and efficiency against the fewest ranks of the same series
    for r in rows:
        series = [s for s in rows if (s["mode"], s["launcher"], s["rate"], s["ranks_per_host"]) ==
                  (r["mode"], r["launcher"], r["rate"], r["ranks_per_host"])]
        base = min(series, key=lambda s: int(s["ranks"]))
        r["speedup"] = r["samples_per_s"] / base["samples_per_s"]
        r["efficiency"] = r["speedup"] * int(base["ranks"]) / int(r["ranks"])
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in COLUMNS})
    for r in rows:
        print(f"{r['mode']:6s} {int(r['ranks']):4d} ranks  step {r['step_s'] * 1e3:9.2f} ms  "
              f"{r['samples_per_s']:10.0f} samples/s  exposed comm {r['exposed_comm_s'] * 1e3:8.2f} ms  "
              f"efficiency {r['efficiency']:.3f}")


def plot(scaling_csv, out_png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(scaling_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"scaling.py: {scaling_csv} has no rows")
    series = {}
    for r in rows:
        series.setdefault((r["mode"], r["launcher"], r["rate"]), []).append(r)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for (mode, launcher, rate), rs in sorted(series.items()):
        rs.sort(key=lambda r: int(r["ranks"]))
        n = [int(r["ranks"]) for r in rs]
        label = f"{mode}, {launcher}" + ("" if rate == "none" else f", {rate}")
        thr = [float(r["samples_per_s"]) for r in rs]
        line, = ax[0].plot(n, thr, "o-", label=label)
        ax[0].plot(n, [thr[0] * k / n[0] for k in n], ":", color=line.get_color(),
                   label=f"ideal ({mode})")
        ax[1].plot(n, [float(r["efficiency"]) for r in rs], "o-", color=line.get_color(), label=label)
        step = [float(r["step_s"]) * 1e3 for r in rs]
        exposed = [float(r["exposed_comm_s"]) * 1e3 for r in rs]
        ax[2].plot(n, step, "o-", color=line.get_color(), label=f"{label}: step")
        ax[2].plot(n, exposed, "x--", color=line.get_color(), label=f"{label}: exposed comm")
    ax[0].set(xlabel="ranks", ylabel="samples/s", title="throughput")
    ax[1].set(xlabel="ranks", ylabel="efficiency", title="scaling efficiency", ylim=(0, 1.1))
    ax[1].axhline(1.0, color="grey", lw=0.5)
    ax[2].set(xlabel="ranks", ylabel="ms per step", title="step time and exposed communication")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
        a.set_xticks(sorted({int(r["ranks"]) for r in rows}))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    print(f"wrote {out_png}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("runs_csv")
    c.add_argument("out_csv")
    q = sub.add_parser("plot")
    q.add_argument("scaling_csv")
    q.add_argument("out_png")
    q.add_argument("--title", default="scaling")
    a = p.parse_args()
    if a.cmd == "collect":
        collect(a.runs_csv, a.out_csv)
    else:
        plot(a.scaling_csv, a.out_png, a.title)


if __name__ == "__main__":
    sys.exit(main())
