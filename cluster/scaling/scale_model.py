#!/usr/bin/env python3
"""A scaling model for lockstep's data-parallel step (README "Predicting scaling").

A step is: everything but backward (input, forward, loss, optimizer: T_other),
then backward layer by layer (last layer first), while the gradient buckets are
all-reduced. A bucket is a run of consecutive layers' gradients in reverse
layer order, up to dist.bucket_mb (MiB of float32, as comm/reducer.cpp cuts
them; a layer larger than the cap gets a bucket of its own). It can start once
the backward of its last layer (the lowest index) is done (with
dist.overlap = false: once backward has ended). So

    step = T_other + T_backward + exposed,
    exposed = the wait, after backward, for the last bucket,

and the efficiency at N ranks (weak scaling: the batch per rank fixed) is
step(1 rank) / step(N ranks).

How the buckets are all-reduced, for N ranks, n per node (ranks filled node by
node), alpha = per-message latency, beta = link bandwidth (bytes/s) inside a
node (intra) or between nodes (inter); 16-bit gradients move half the bytes:
  binomial  lockstep's MPI backend (CPU ranks): Open MPI's nonblocking in-place
            all-reduce (libnbc's binomial reduce to rank 0, then a binomial
            broadcast), simulated message by message, rank by rank, over
            several steps until the step period settles (simulate_binomial):
            a message costs alpha + B / beta; messages between nodes queue for
            the sender node's uplink and the receiver node's downlink, and one
            rank's messages of one round to several nodes share its uplink; a
            round after the first starts during backward only at a layer
            boundary (MPI moves a nonblocking collective only inside MPI calls,
            and lockstep tests the buckets in flight after every layer); a
            rank whose last message is a send between nodes leaves its wait as
            soon as TCP has taken the bytes (--sndbuf), so the root of the
            broadcast starts its next step before the leaves. Each rank keeps
            its own compute times (with --compare, the ones its trace shows).
  ring      (flat ring, NCCL on one node): 2(N-1) x (alpha + B / (N beta)),
            beta the slowest link on the ring
  hier      (NCCL across nodes): reduce-scatter inside the node over NVLink,
            an all-reduce of B/n between the N/n nodes on each GPU's own NIC
            (ring or double binary tree, whichever is faster:
             ring 2(M-1)(alpha + B/(n M beta)), tree 2 ceil(log2 M) alpha + 2 B/(n beta)),
            then an all-gather inside the node.
  ring and hier collectives run one after another on the NCCL stream, the
  link carrying one at a time, and progress on their own (no layer boundary).

Where the compute times come from:
  --trace trace.json    measured: per-layer backward times (median over the
                        traced steps after --skip, over all ranks) of a run
                        (log.trace = true); --metrics metrics.jsonl of the same
                        run gives its step time (T_other = step - exposed -
                        backward); the layers' parameter counts come from
                        --layers/--input-shape (or --model final.h5).
  --flops               derived: each layer's FLOPs from --layers, --input-shape
                        and --batch; backward = 2 x forward FLOPs; the whole
                        step = --step-ms (a measured single-device step) or
                        3 x forward FLOPs / --tflops; backward gets the share of
                        its FLOPs, each layer the share of its own.

Networks (--net): hosts (namespace hosts here: --rate, --alpha), nvlink (one node,
NVLink, --busbw), ib (nodes of --per-node GPUs, NVLink inside, one
--nic-gbit NIC per GPU between nodes), or give --intra-bw/--inter-bw/... directly.

Examples:
  scale_model.py --trace runs/x/trace.json --metrics runs/x/metrics.jsonl \\
      --layers "conv2d(32, 3, padding=1), relu, ..." --input-shape 1x28x28 \\
      --ranks 4 --per-node 2 --net hosts --rate 1gbit --bucket-mb 25
  scale_model.py --flops --layers "dense(4096), relu, ..." --input-shape 3072 --batch 1024 \\
      --step-ms 1.572 --ranks 8 --per-node 8 --net nvlink
  scale_model.py --gpu-table          (the 8 / 64 / 512 GPU predictions of the README)
  scale_model.py --compare runs/a runs/b --input-shape 1x28x28 --net hosts --rate 1gbit \
      --calibration cal.json --per-node 2  (predicted against measured; validate_hosts.sh)
  scale_model.py --calibrate inter.jsonl:1gbit intra.jsonl:1gbit --out cal.json
                                      (the network's constants from `lockstep comm-bench`;
                                       cluster/scaling/calibrate_hosts.sh)

This file is the command line (compare, calibrate, the GPU table); the layers'
side is in scaling_layers.py, the network's (bucket cuts, the simulators) in
scaling_net.py.
"""
import argparse
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scaling_layers import flops_profile, metrics_step, parse, read_ini, trace_profile, walk  # noqa: E402
from scaling_net import Net, binomial_schedule, buckets, rate_bytes, simulate, simulate_binomial  # noqa: E402,F401


def compare(run_dir, a):
    """Predicted against measured for one run directory (run with log.trace = true and
    log.trace_steps covering its last epoch). The compute side comes from the trace,
    means per step over the last epoch: each rank's forward, loss, backward (per
    layer), optimizer and input spans (binomial: every rank its own; ring/hier:
    the slowest rank's for all), plus the smallest time any rank spent between
    steps (the small per-step collectives); what is predicted is the
    gradient all-reduce and how much of it backward hides. Measured: the last
    epoch's step time (metrics.jsonl) and the ranks' mean wait after backward."""
    import os
    cfg = read_ini(os.path.join(run_dir, "config.ini"))
    layers = cfg["model"]["layers"]
    with open(os.path.join(run_dir, "trace.json")) as f:
        ev = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    ranks = len({e["pid"] for e in ev})
    last = None
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line) if line.strip() else {}
            if r.get("type") == "epoch":
                last = r
    first_step = last["step"] - round(last["seconds"] * last["samples_per_s"] /
                                      (int(cfg["train"]["batch_size"]) * ranks))
    ev = [e for e in ev if e["args"]["step"] >= first_step]
    steps = sorted({e["args"]["step"] for e in ev})
    if len(steps) < 3:
        raise SystemExit(f"scale_model.py: {run_dir}: the trace does not cover the last epoch")
    shape = tuple(int(x) for x in a.input_shape.split("x"))
    rows, _ = walk(parse(layers), shape, 1)
    params = [r[0] for r in rows]
    # per rank, per step (means over the traced steps of the last epoch): compute (the
    # forward, loss, backward, optimizer and input spans), the wait for the gradient
    # all-reduce, and the rest of the step period (the small per-step collectives)
    profiles, gaps, waits = [], [], []
    for pid in range(ranks):
        mine = [e for e in ev if e["pid"] == pid and e["args"]["step"] < steps[-1]]
        starts = sorted(e["ts"] for e in ev if e["pid"] == pid and e["cat"] == "step")
        k = len(starts) - 1
        period = (starts[-1] - starts[0]) / k * 1e-6
        wait = sum(e["dur"] for e in mine if e["name"] == "wait for all-reduce") * 1e-6 / k
        comp = sum(e["dur"] for e in mine if e["cat"] in ("forward", "backward", "optimizer", "input")) * 1e-6 / k
        b = [0.0] * len(params)
        for e in mine:
            m = re.match(r"backward (\d+) ", e["name"])
            if m:
                b[int(m.group(1))] += e["dur"] * 1e-6 / k
        profiles.append((comp, b))
        gaps.append(period - comp - wait)
        waits.append(wait)
    d = cfg["dist"]
    gb = 4 if d.get("grad_dtype", "fp32") == "fp32" else 2
    overlap = d.get("overlap", "true") == "true"
    bucket_mb = float(d.get("bucket_mb", "25"))
    net = make_net(a)
    # the time between steps that is neither compute nor the gradients' wait (the
    # small per-step collectives) costs at least the smallest gap any rank saw
    between = max(0.0, min(gaps))
    if net.algo == "binomial":  # every rank with its own compute (module doc)
        ranked = [(c - sum(b) + between, b) for c, b in profiles]
        step, t_bwd, exposed, _, _ = simulate_binomial(ranked, params, net, ranks, a.per_node, bucket_mb,
                                                       gb, overlap, progress(a))
        comp = statistics.mean(c for c, _ in profiles)
    else:  # the slowest rank's compute for all
        comp, bwd = max(profiles, key=lambda x: x[0])
        step, t_bwd, _, exposed = simulate(bwd, params, comp - sum(bwd) + between, net, ranks, a.per_node,
                                           bucket_mb, gb, overlap, progress(a))
    measured = int(cfg["train"]["batch_size"]) * ranks / last["samples_per_s"]
    return {"run": os.path.basename(run_dir.rstrip("/")), "ranks": ranks, "per_node": a.per_node,
            "bucket_mb": bucket_mb, "grad_dtype": d.get("grad_dtype", "fp32"),
            "overlap": overlap, "compute_s": comp, "between_steps_s": between,
            "predicted_exposed_s": exposed,
            "measured_exposed_s": statistics.mean(waits), "predicted_s": step,
            "measured_s": measured, "error": step / measured - 1}


# ---------------------------------------------------------------- calibration
def probe_period(net, n, per_node, floats, grad_bytes, gap):
    """What `lockstep comm-bench` measures (a back-to-back series of all-reduces,
    `gap` s of compute before each), as simulate_binomial predicts it."""
    period, _, _, _, _ = simulate_binomial([(gap, [0.0])] * n, [floats], net, n, per_node, 1e9,
                                           grad_bytes, True, "continuous", steps=6)
    return period - gap


def calibrate(a):
    """Fits the hosts' network constants to comm-bench results (README "Predicting
    scaling"). Between hosts: a 2-rank all-reduce is a send each way, so its
    period / 2 = alpha + (bytes - burst) / (eff x rate), a straight line over the
    sizes and rates (least squares of the relative error; burst: what tc tbf lets
    through at once, --burst). Inside a host: the runs with several ranks per host
    are simulated with those constants, and intra-lat and intra-bw are the
    pair (on a grid, refined twice) with the least squared relative error."""
    inter, intra = [], []
    for spec in a.calibrate:
        path, _, rate = spec.rpartition(":")
        if not path or not rate:
            raise SystemExit(f"scale_model.py: --calibrate takes FILE:RATE (e.g. runs/inter.jsonl:1gbit), got '{spec}'")
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if not rows:
            raise SystemExit(f"scale_model.py: {path}: no comm-bench results")
        for r in rows:
            r["rate_bytes"], r["rate"] = rate_bytes(rate), rate
            per = r["ranks"] // r["hosts"]
            if r["ranks"] == 2 and r["hosts"] == 2:
                inter.append(r)
            elif per >= 2 and r["hosts"] >= 2:
                intra.append(r)
            else:
                raise SystemExit(f"scale_model.py: {path}: {r['ranks']} ranks on {r['hosts']} hosts: "
                                 "expected 2 ranks on 2 hosts, or several hosts of several ranks")
    if len(inter) < 2:
        raise SystemExit("scale_model.py: --calibrate needs at least two sizes of 2 ranks on 2 hosts")
    burst = a.burst if a.burst is not None else 64 * 1024
    xs = [max(0.0, r["bytes"] - burst) / r["rate_bytes"] for r in inter]
    ys = [r["period_s"] / 2 for r in inter]
    # least squares of the relative error (weights 1/y^2), so that the small sizes,
    # where alpha shows, count as much as the large ones
    w = [1 / y ** 2 for y in ys]
    sw, sx, sy = sum(w), sum(wi * x for wi, x in zip(w, xs)), sum(wi * y for wi, y in zip(w, ys))
    sxx, sxy = sum(wi * x * x for wi, x in zip(w, xs)), sum(wi * x * y for wi, x, y in zip(w, xs, ys))
    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    alpha, eff = max(0.0, (sy - slope * sx) / sw), 1 / slope
    cal = {"alpha": alpha, "inter_eff": eff, "intra_lat": 20e-6, "intra_bw": 3e9, "sndbuf": a.sndbuf,
           "burst": burst}

    def net_of(lat, bw):
        return Net("binomial", bw, lat, 0.0, alpha, sndbuf=a.sndbuf, burst=burst)

    def predict(r, lat, bw):
        net = net_of(lat, bw)
        net.inter_bw = r["rate_bytes"] * eff
        gb = r["bytes"] / r["floats"]
        return probe_period(net, r["ranks"], r["ranks"] // r["hosts"], r["floats"], gb, r["gap_s"])

    if intra:
        lats = [i * 0.25e-3 for i in range(21)]  # 0 .. 5 ms
        bws = [10 ** (7.5 + i * 0.125) for i in range(21)]  # 32 MB/s .. 10 GB/s
        for _ in range(3):
            err = lambda lb: sum((predict(r, *lb) / r["period_s"] - 1) ** 2 for r in intra)  # noqa: E731
            best = min(((lat, bw) for lat in lats for bw in bws), key=err)
            dl, db = lats[1] - lats[0], bws[1] / bws[0]
            lats = [max(0.0, best[0] + dl * (i - 5) / 5) for i in range(11)]
            bws = [best[1] * db ** ((i - 5) / 5) for i in range(11)]
        cal["intra_lat"], cal["intra_bw"] = best
    print("| ranks | hosts | rate | MB | grad bytes | measured (ms) | fitted (ms) | error |")
    print("|---|---|---|---|---|---|---|---|")
    fits = []
    for r in inter + intra:
        pred = predict(r, cal["intra_lat"], cal["intra_bw"])
        fits.append({"ranks": r["ranks"], "hosts": r["hosts"], "rate": r["rate"], "bytes": r["bytes"],
                     "measured_s": r["period_s"], "fitted_s": pred})
        print(f"| {r['ranks']} | {r['hosts']} | {r['rate']} | {r['bytes'] / 1e6:.3f} | "
              f"{r['bytes'] / r['floats']:g} | {r['period_s'] * 1e3:.2f} | {pred * 1e3:.2f} | "
              f"{(pred / r['period_s'] - 1) * 100:+.1f}% |")
    print(f"between hosts: alpha {alpha * 1e3:.3f} ms, {eff:.3f} x the link rate; inside a host: "
          f"alpha {cal['intra_lat'] * 1e3:.3f} ms, {cal['intra_bw'] / 1e6:.0f} MB/s")
    cal["points"] = fits
    if a.out:
        with open(a.out, "w") as f:
            json.dump(cal, f, indent=1)
    return 0


# ---------------------------------------------------------------- presets
def progress(a):
    return a.progress or ("layers" if a.net == "hosts" else "continuous")


def make_net(a):
    if a.net == "hosts":
        eff = a.inter_eff if a.inter_eff is not None else 1448 / 1514
        inter = rate_bytes(a.rate) * eff if a.rate else a.inter_bw
        return Net(a.algo or "binomial", a.intra_bw or 3e9, a.intra_lat if a.intra_lat is not None else 20e-6,
                   inter or 1e9, a.alpha if a.alpha is not None else 100e-6, sndbuf=a.sndbuf,
                   burst=a.burst if a.burst is not None else 64 * 1024)
    if a.net == "nvlink":
        return Net(a.algo or "ring", a.busbw * 1e9, 2e-6, a.busbw * 1e9, 2e-6)
    if a.net == "ib":
        return Net(a.algo or "hier", a.busbw * 1e9, 2e-6, a.nic_gbit / 8 * 1e9 * a.nic_eff, 5e-6)
    return Net(a.algo or "ring", a.intra_bw, a.intra_lat or 0.0, a.inter_bw, a.alpha or 0.0)


B1 = ("dense(4096), relu, dense(4096), relu, dense(4096), relu, dense(10)", (3072,), 1024)
B2 = ("conv2d(32, 3, padding=1), relu, maxpool2d(2), conv2d(64, 3, padding=1), relu, maxpool2d(2), "
      "conv2d(128, 3, padding=1), relu, maxpool2d(2), conv2d(256, 3, padding=1), relu, "
      "global_avg_pool, dense(10)", (3, 64, 64), 256)
RESNET = ("conv2d(32, 3, padding=1), batchnorm, relu, residual(conv2d(32, 3, padding=1), batchnorm, "
          "relu, conv2d(32, 3, padding=1), batchnorm), relu, conv2d(64, 3, stride=2, padding=1), "
          "batchnorm, relu, residual(conv2d(64, 3, padding=1), batchnorm, relu, conv2d(64, 3, "
          "padding=1), batchnorm), relu, conv2d(128, 3, stride=2, padding=1), batchnorm, relu, "
          "residual(conv2d(128, 3, padding=1), batchnorm, relu, conv2d(128, 3, padding=1), "
          "batchnorm), relu, global_avg_pool, dense(10)", (3, 64, 64), 256)



def gpu_table(a):
    """The README's 8 / 64 / 512 GPU predictions."""
    b2_step = 11.592e-3  # lockstep B2 TF32 on an H200 (bench/RESULTS.md, 2026-11-26)
    _, _, _, b2_flops = flops_profile(*B2, step_s=b2_step)
    b2_tflops = b2_flops / b2_step / 1e12
    models = [("B1 MLP (46.2 M params), batch 1024/GPU, TF32", B1, 1.572e-3, None),
              ("B2 ConvNet, batch 256/GPU, TF32", B2, b2_step, None),
              ("ResNet example, batch 256/GPU, at B2's FLOP rate", RESNET, None, b2_tflops)]
    nets = [("8 GPUs, NVLink (450 GB/s bus bw)", 8, 8, Net("ring", 450e9, 2e-6, 450e9, 2e-6)),
            ("64 GPUs, 8/node, 400 Gb/s IB per GPU", 64, 8, Net("hier", 450e9, 2e-6, 45e9, 5e-6)),
            ("512 GPUs, 8/node, 400 Gb/s IB per GPU", 512, 8, Net("hier", 450e9, 2e-6, 45e9, 5e-6))]
    print(f"compute: B1 step {1.572:.3f} ms, B2 step {b2_step * 1e3:.3f} ms measured (lockstep, H200, TF32);"
          f" ResNet from its FLOPs at B2's rate ({b2_tflops:.1f} TFLOP/s)")
    print("| model | gradients | network | bucket MB | grad | 1-GPU step | predicted step | exposed comm | "
          "all-reduce busy | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mname, (spec, shape, batch), step_s, tflops in models:
        bwd, params, other, _ = flops_profile(spec, shape, batch, step_s, tflops)
        one = other + sum(bwd)
        for nname, n, per, net in nets:
            for mb, gb in ((25, 4), (25, 2)):
                step, _, busy, exp = simulate(bwd, params, other, net, n, per, mb, gb, True)
                print(f"| {mname} | {sum(params) * 4 / 1e6:.1f} MB | {nname} | {mb} | "
                      f"{'fp32' if gb == 4 else 'bf16'} | {one * 1e3:.3f} ms | {step * 1e3:.3f} ms | "
                      f"{exp * 1e3:.3f} ms | {busy * 1e3:.3f} ms | {one / step:.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpu-table", action="store_true", help="print the 8/64/512-GPU predictions")
    p.add_argument("--trace", help="trace.json of a run (log.trace = true): measured backward times")
    p.add_argument("--metrics", help="metrics.jsonl of the same run: its step time")
    p.add_argument("--global-batch", type=int, help="rows per step of that run (all ranks)")
    p.add_argument("--skip", type=int, default=2, help="traced steps to skip (warm-up) [2]")
    p.add_argument("--flops", action="store_true", help="derive backward times from FLOPs")
    p.add_argument("--layers", help="the model's layers (model.layers)")
    p.add_argument("--input-shape", help="e.g. 1x28x28 or 784")
    p.add_argument("--batch", type=int, default=1, help="rows per rank (for --flops)")
    p.add_argument("--step-ms", type=float, help="--flops: a measured single-device step (ms)")
    p.add_argument("--tflops", type=float, help="--flops: throughput when no --step-ms")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--per-node", type=int, default=1, help="ranks per node (host)")
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--grad-dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--no-overlap", action="store_true", help="dist.overlap = false")
    p.add_argument("--net", choices=["hosts", "nvlink", "ib", "custom"], default="custom")
    p.add_argument("--algo", choices=["binomial", "ring", "hier"])
    p.add_argument("--rate", help="hosts: link rate (tc syntax, e.g. 1gbit)")
    p.add_argument("--inter-eff", type=float,
                   help="hosts: share of the link rate TCP payload gets [1448/1514]")
    p.add_argument("--sndbuf", type=float, default=4 << 20,
                   help="hosts: bytes a TCP send buffer takes (a larger send between hosts ends "
                        "when its rest fits) [4 MiB, Linux's tcp_wmem maximum]")
    p.add_argument("--burst", type=float,
                   help="hosts: bytes a message between hosts gets through the rate limiter at once "
                        "(tc tbf's burst, 64 KiB as cluster/multihost/hosts.sh sets it) [65536]")
    p.add_argument("--calibration", metavar="FILE",
                   help="network constants from --calibrate (alpha, inter-eff, intra-lat, intra-bw); "
                        "options given explicitly win")
    p.add_argument("--calibrate", nargs="+", metavar="FILE:RATE",
                   help="fit the hosts' constants to `lockstep comm-bench` results (JSON lines): "
                        "runs of 2 ranks on 2 hosts fit alpha and inter-eff; runs with 2 ranks per "
                        "host then fit intra-lat and intra-bw (cluster/scaling/calibrate_hosts.sh)")
    p.add_argument("--out", help="--calibrate: write the constants to this JSON file")
    p.add_argument("--alpha", type=float, help="inter-node latency per message (s)")
    p.add_argument("--inter-bw", type=float, help="inter-node bandwidth (bytes/s)")
    p.add_argument("--intra-bw", type=float, help="intra-node bandwidth (bytes/s)")
    p.add_argument("--intra-lat", type=float, help="intra-node latency (s)")
    p.add_argument("--busbw", type=float, default=450.0, help="nvlink/ib: NVLink bus bandwidth GB/s")
    p.add_argument("--nic-gbit", type=float, default=400.0, help="ib: NIC rate per GPU (Gbit/s)")
    p.add_argument("--nic-eff", type=float, default=0.9, help="ib: share of the NIC rate reached")
    p.add_argument("--progress", choices=["continuous", "layers"],
                   help="when all-reduce rounds can start during backward: continuous (NCCL) or "
                        "at layer boundaries (MPI, lockstep's CPU ranks) [layers for --net hosts]")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--compare", nargs="+", metavar="RUN_DIR",
                   help="predicted against measured for these runs (same network for all)")
    a = p.parse_args()
    if a.calibrate:
        return calibrate(a)
    if a.calibration:
        with open(a.calibration) as f:
            cal = json.load(f)
        for key in ("alpha", "inter_eff", "intra_lat", "intra_bw", "burst"):
            if getattr(a, key) is None and key in cal:
                setattr(a, key, cal[key])
    if a.gpu_table:
        gpu_table(a)
        return 0
    if a.compare:
        if not a.input_shape:
            p.error("--compare needs --input-shape")
        for run in a.compare:
            r = compare(run, a)
            print(json.dumps(r) if a.json else
                  f"{r['run']}: {r['ranks']} ranks ({r['per_node']} per host), bucket {r['bucket_mb']:g} MB, "
                  f"{r['grad_dtype']}, overlap {r['overlap']}: compute {r['compute_s'] * 1e3:.1f} ms, exposed "
                  f"predicted {r['predicted_exposed_s'] * 1e3:.1f} / measured {r['measured_exposed_s'] * 1e3:.1f} ms;"
                  f" step predicted {r['predicted_s'] * 1e3:.1f} / measured {r['measured_s'] * 1e3:.1f} ms "
                  f"({r['error'] * 100:+.1f}%)")
        return 0
    if not a.layers or not a.input_shape:
        p.error("--layers and --input-shape are needed")
    shape = tuple(int(x) for x in a.input_shape.split("x"))
    rows, _ = walk(parse(a.layers), shape, a.batch)
    params = [r[0] for r in rows]
    if a.flops:
        bwd, params, other, _ = flops_profile(a.layers, shape, a.batch,
                                              a.step_ms / 1e3 if a.step_ms else None, a.tflops)
    else:
        if not a.trace or not a.metrics:
            p.error("give --trace and --metrics (measured) or --flops (derived)")
        med, _ = trace_profile(a.trace, a.skip)
        bwd = [med.get(i, 0.0) for i in range(len(params))]
        step_cal, exposed_cal = metrics_step(a.metrics, a.global_batch)
        other = max(0.0, step_cal - exposed_cal - sum(bwd))
    net = make_net(a)
    gb = 4 if a.grad_dtype == "fp32" else 2
    if net.algo == "binomial":
        step, t_bwd, exposed, _, busy = simulate_binomial([(other, bwd)] * a.ranks, params, net, a.ranks,
                                                          a.per_node, a.bucket_mb, gb, not a.no_overlap,
                                                          progress(a))
    else:
        step, t_bwd, busy, exposed = simulate(bwd, params, other, net, a.ranks, a.per_node, a.bucket_mb,
                                              gb, not a.no_overlap, progress(a))
    one = other + t_bwd
    res = {"ranks": a.ranks, "per_node": a.per_node, "buckets": len(buckets(params, a.bucket_mb)),
           "grad_mb": sum(params) * gb / 1e6, "other_s": other, "backward_s": t_bwd,
           "comm_busy_s": busy, "exposed_s": exposed, "step_s": step, "efficiency": one / step}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{a.ranks} ranks ({a.per_node} per node), {res['buckets']} buckets, "
              f"{res['grad_mb']:.2f} MB of gradients: step {step * 1e3:.2f} ms = other {other * 1e3:.2f}"
              f" + backward {t_bwd * 1e3:.2f} + exposed {exposed * 1e3:.2f} ms (all-reduce busy "
              f"{busy * 1e3:.2f} ms); efficiency {one / step:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
