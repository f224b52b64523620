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
"""
import argparse
import json
import math
import re
import statistics
import sys


# ---------------------------------------------------------------- the model's layers
def split_top(spec):
    out, depth, cur = [], 0, ""
    for ch in spec:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse(spec):
    layers = []
    for item in split_top(spec):
        m = re.fullmatch(r"(\w+)\s*(?:\((.*)\))?", item.strip(), re.S)
        if not m:
            raise SystemExit(f"scale_model.py: cannot read layer '{item}'")
        name, inner = m.group(1), m.group(2) or ""
        if name == "residual":
            layers.append((name, parse(inner), {}, item))
            continue
        pos, kw = [], {}
        for a in split_top(inner):
            if "=" in a:
                k, v = a.split("=", 1)
                kw[k.strip()] = float(v)
            elif a:
                pos.append(float(a))
        layers.append((name, pos, kw, item))
    return layers


def walk(layers, shape, batch):
    """Per layer: (params, forward FLOPs for `batch` rows, spec); and the output shape."""
    out = []
    for name, pos, kw, item in layers:
        params = flops = 0
        if name == "dense":
            fin, n = math.prod(shape), int(pos[0])
            params, flops, shape = fin * n + n, 2 * batch * fin * n, (n,)
        elif name == "conv2d":
            c, h, w = shape
            co, k = int(pos[0]), int(pos[1])
            s, p = int(kw.get("stride", 1)), int(kw.get("padding", 0))
            ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            params = c * co * k * k + co
            flops = 2 * batch * c * co * k * k * ho * wo
            shape = (co, ho, wo)
        elif name == "batchnorm":
            params, flops = 2 * shape[0], 8 * batch * math.prod(shape)
        elif name in ("maxpool2d", "avgpool2d"):
            k = int(pos[0])
            flops = batch * math.prod(shape)
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif name == "global_avg_pool":
            flops, shape = batch * math.prod(shape), (shape[0],)
        elif name in ("relu", "dropout", "sigmoid", "tanh", "gelu", "flatten"):
            flops = batch * math.prod(shape)
            if name == "flatten":
                shape = (math.prod(shape),)
        elif name == "residual":
            inner, shape2 = walk(pos, shape, batch)
            params = sum(x[0] for x in inner)
            flops = sum(x[1] for x in inner) + batch * math.prod(shape2)
            shape = shape2
        else:
            raise SystemExit(f"scale_model.py: no FLOP/parameter rule for layer '{name}'")
        out.append((params, flops, item))
    return out, shape


# ---------------------------------------------------------------- compute profiles
def trace_profile(path, skip):
    """Median backward time per layer index (seconds) over steps >= skip and all ranks."""
    with open(path) as f:
        t = json.load(f)
    ev = t["traceEvents"] if isinstance(t, dict) else t
    per = {}
    steps = set()
    for e in ev:
        if e.get("ph") != "X" or e.get("args", {}).get("step", 0) < skip:
            continue
        steps.add(e["args"]["step"])
        m = re.match(r"backward (\d+) ", e["name"])
        if m:
            per.setdefault(int(m.group(1)), []).append(e["dur"] * 1e-6)
    if not per:
        raise SystemExit(f"scale_model.py: no backward spans after step {skip} in {path}")
    return {i: statistics.median(v) for i, v in per.items()}, len(steps)


def metrics_step(path, global_batch=None):
    """Step time and exposed communication (s) of a run's last epoch."""
    last = None
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r.get("type") == "epoch":
                    last = r
    if last is None:
        raise SystemExit(f"scale_model.py: no epoch record in {path}")
    if global_batch is None:
        raise SystemExit("scale_model.py: --metrics needs --global-batch (rows per step, all ranks)")
    return global_batch / last["samples_per_s"], last.get("exposed_comm_s", 0.0)


def read_ini(path):
    import configparser
    c = configparser.ConfigParser(interpolation=None, strict=False)
    c.read(path)
    return c


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


# ---------------------------------------------------------------- the network
def rate_bytes(text):
    m = re.fullmatch(r"([\d.]+)\s*([kmg]?)(bit|bps|b)?", text.strip().lower())
    if not m:
        raise SystemExit(f"scale_model.py: cannot read rate '{text}' (e.g. 1gbit, 300mbit)")
    mult = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]
    return float(m.group(1)) * mult / 8  # bits/s -> bytes/s


class Net:
    def __init__(self, algo, intra_bw, intra_lat, inter_bw, inter_lat, reduce_bw=0.0, sndbuf=4 << 20,
                 burst=0.0):
        self.algo, self.intra_bw, self.intra_lat = algo, intra_bw, intra_lat
        self.inter_bw, self.inter_lat, self.reduce_bw = inter_bw, inter_lat, reduce_bw
        self.sndbuf = sndbuf  # bytes a TCP send buffer takes (binomial: a send between hosts ends early)
        self.burst = burst  # bytes a rate limiter lets through at once between nodes (tc tbf's burst)

    def hop(self, same_node, nbytes):
        """(latency, time on the wire) of one message."""
        bw, lat = (self.intra_bw, self.intra_lat) if same_node else (self.inter_bw, self.inter_lat)
        wire = (nbytes if same_node else max(0.0, nbytes - self.burst)) / bw
        if self.reduce_bw > 0:
            wire += nbytes / self.reduce_bw
        return lat, wire

    def rounds(self, nbytes, n, per_node):
        """The all-reduce of one bucket as a list of rounds (latency, time on the wire), in
        order. binomial (MPI): a round's latency overlaps other collectives' traffic;
        ring/hier (NCCL: collectives strictly one after another on a stream): latency
        counts as wire time."""
        if n <= 1 or nbytes == 0:
            return []
        per_node = max(1, min(per_node, n))
        node = lambda r: r // per_node  # noqa: E731
        if self.algo == "ring":
            return [(0.0, sum(self.hop(n <= per_node, nbytes / n)))] * (2 * (n - 1))
        if self.algo == "hier":
            m = math.ceil(n / per_node)
            g = min(per_node, n)
            t = 2 * (g - 1) * sum(self.hop(True, nbytes / g))  # reduce-scatter + all-gather in the node
            if m > 1:
                shard = nbytes / g
                ring = 2 * (m - 1) * (self.inter_lat + shard / (m * self.inter_bw))
                tree = 2 * math.ceil(math.log2(m)) * self.inter_lat + 2 * shard / self.inter_bw
                t += min(ring, tree)
            return [(0.0, t)]
        raise SystemExit(f"scale_model.py: unknown algorithm {self.algo}")

    def allreduce(self, nbytes, n, per_node):
        return sum(lat + wire for lat, wire in self.rounds(nbytes, n, per_node))


def buckets(layer_params, bucket_mb):
    """comm/reducer.cpp's cut: [(first_layer, floats)] in launch order."""
    cap = int(bucket_mb * 1024 * 1024) // 4
    out, open_ = [], None
    for i in range(len(layer_params) - 1, -1, -1):
        p = layer_params[i]
        if p == 0:
            continue
        if open_ is not None and open_[1] + p > cap:
            out.append(tuple(open_))
            open_ = None
        if open_ is None:
            open_ = [i, 0]
        open_[0] = i
        open_[1] += p
    if open_ is not None:
        out.append(tuple(open_))
    return out


def simulate(bwd, params, t_other, net, n, per_node, bucket_mb, grad_bytes, overlap,
             progress="continuous"):
    """Returns (step, backward, comm busy, exposed) in seconds for one step on n ranks.

    The rounds of a bucket follow each other; the link carries one round at a
    time, whichever is ready first (a latency is time in flight, not time on
    the link, so the latencies of several buckets overlap).
    progress = "continuous": a round of an all-reduce starts as soon as the one
    before it ends (NCCL on its own stream). "layers": during backward a round
    after the first starts only when backward reaches a layer boundary (an MPI
    backend moves nonblocking collectives only inside MPI calls: lockstep tests
    the buckets in flight after every layer), and at once after backward."""
    L = len(bwd)
    done, t = [0.0] * L, 0.0
    for i in range(L - 1, -1, -1):  # backward: last layer first
        t += bwd[i]
        done[i] = t
    t_bwd = t
    points = sorted(done)
    # event-driven: a round is ready once the round before it in its bucket has
    # ended, progress allows it and its latency has passed; the link carries one
    # round at a time, the earliest ready first (launch order among equals)
    pending = []  # per bucket: [next round index, ready time, rounds]
    for first, floats in buckets(params, bucket_mb):
        rs = net.rounds(floats * grad_bytes, n, per_node)
        if rs:
            pending.append([0, (done[first] if overlap else t_bwd) + rs[0][0], rs])
    link_free, busy, last = 0.0, 0.0, 0.0
    while pending:
        k = min(range(len(pending)), key=lambda x: (pending[x][1], x))
        j, ready, rs = pending[k]
        lat, wire = rs[j]
        end = max(ready, link_free) + wire
        link_free, busy, last = end, busy + lat + wire, max(last, end)
        if j + 1 == len(rs):
            pending.pop(k)
            continue
        start = end
        if progress == "layers" and start < t_bwd:
            start = next((p for p in points if p >= start), t_bwd)
        pending[k] = [j + 1, start + rs[j + 1][0], rs]
    exposed = max(0.0, last - t_bwd) if n > 1 else 0.0
    return t_other + t_bwd + exposed, t_bwd, busy, exposed


def binomial_schedule(n):
    """Open MPI libnbc's in-place all-reduce (allred_sched_diss: a binomial reduce
    to rank 0, then a binomial broadcast), per rank: a list of steps, each a list
    of (kind, peer) with kind "send" or "recv". A step is posted once the step
    before it is complete (libnbc's barriers). In the reduce, rank v receives in
    round r from v + 2^(r-1) while v is a multiple of 2^r, else sends to
    v - 2^(r-1) and leaves; the broadcast's receive (from v minus its highest
    bit) is posted together with that last send; then v sends to every
    v + 2^r with 2^r > v, all at once (rank 0: to every power of two)."""
    maxr = (n - 1).bit_length()
    sched = []
    for v in range(n):
        steps = []
        for r in range(1, maxr + 1):
            if v % (1 << r) == 0:
                if v + (1 << (r - 1)) < n:
                    steps.append([("recv", v + (1 << (r - 1)))])
            else:
                steps.append([("send", v - (1 << (r - 1)))])
                break
        if v:
            steps[-1].append(("recv", v - (1 << (v.bit_length() - 1))))
        sends = [("send", v + (1 << r)) for r in range(maxr)
                 if v + (1 << r) < n and (v < (1 << r) or v == 0)]
        if sends:
            steps.append(sends)
        sched.append(steps)
    return sched


def simulate_binomial(profiles, params, net, n, per_node, bucket_mb, grad_bytes, overlap,
                      progress="layers", steps=8):
    """One rank per profile (other_s, [backward s per layer]); lockstep's MPI backend
    over Open MPI's binomial all-reduce, simulated transfer by transfer over
    several steps until the ranks' step period settles. Returns (step period,
    the ranks' mean backward, the ranks' mean exposed wait, per-rank exposed).

    A transfer u -> v of a bucket starts once u has posted its send and v its
    receive, v has then made progress (matched it) and u has made progress
    after that (the rendezvous: MPI makes progress during backward only at a
    layer boundary, when lockstep tests the buckets in flight; after backward,
    always), and once its links are free: between hosts u's host's uplink and
    v's host's downlink, each carrying one transfer at a time; inside a host
    nothing is shared. It takes alpha + bytes / beta of its kind; sends of one
    step from one rank to several other hosts share its uplink (TCP flows:
    they all end when all their bytes have gone). A receive is
    complete at the transfer's end; a send between hosts once its last bytes fit
    in the socket's send buffer (net.sndbuf: TCP takes them, the sender goes on
    while they travel); a send inside a host at the end (the receiver copies).
    A rank leaves its wait after backward when all its buckets are complete,
    and its next step's backward starts its own `other` later."""
    if n <= 1:
        other, bwd = profiles[0]
        return other + sum(bwd), sum(bwd), 0.0, [0.0], 0.0
    sched = binomial_schedule(n)
    host = [r // max(1, per_node) for r in range(n)]
    cut = buckets(params, bucket_mb)
    up, down = {}, {}  # a host's link: the time it is free
    release = [0.0] * n
    history = []
    for _ in range(steps):
        done, points, bwd_end, post = [], [], [], {}
        for r, (other, bwd) in enumerate(profiles):
            t = release[r] + other
            d = [0.0] * len(bwd)
            for i in range(len(bwd) - 1, -1, -1):
                t += bwd[i]
                d[i] = t
            done.append(d)
            points.append(sorted(d))
            bwd_end.append(t)

        def prog(r, t):  # the first moment >= t at which rank r's MPI makes progress
            if progress != "layers" or t >= bwd_end[r]:
                return t
            return next((p for p in points[r] if p >= t), bwd_end[r])

        spans = []  # (start, end) of every transfer of this step
        complete = {}  # (rank, bucket) -> time its schedule is done
        state = {}  # (rank, bucket) -> [step index, posted time, ops left, latest op end]
        for b, (first, floats) in enumerate(cut):
            for r in range(n):
                state[(r, b)] = [0, done[r][first] if overlap else bwd_end[r],
                                 len(sched[r][0]), 0.0]
        nbytes = [floats * grad_bytes for _, floats in cut]
        finished = set()  # (bucket, u, v) transfers done
        while len(complete) < n * len(cut):
            best = None
            for (r, b), (k, posted, _, _) in state.items():
                if (r, b) in complete:
                    continue
                for kind, peer in sched[r][k]:
                    if kind != "send" or (b, r, peer) in finished:
                        continue
                    pk, pposted, _, _ = state[(peer, b)]
                    if (peer, b) in complete or ("recv", r) not in sched[peer][pk]:
                        continue  # the receiver has not posted this receive yet
                    t = max(posted, pposted)  # both posted: the kernel moves the bytes
                    inter = host[r] != host[peer]
                    if inter:
                        t = max(t, up.get(host[r], 0.0), down.get(host[peer], 0.0))
                    if best is None or t < best[0]:
                        best = (t, b, r, peer, inter)
            if best is None:
                raise SystemExit("scale_model.py: the binomial schedule is stuck (a bug)")
            t, b, u, v, inter = best
            group = [v]
            if inter:  # u's other sends of this step over its uplink share it (TCP flows)
                for kind, w in sched[u][state[(u, b)][0]]:
                    if (kind == "send" and w != v and host[w] != host[u] and (b, u, w) not in finished
                            and (w, b) not in complete and ("recv", u) in sched[w][state[(w, b)][0]]
                            and max(state[(w, b)][1], down.get(host[w], 0.0)) <= t):
                        group.append(w)
            lat, wire = net.hop(not inter, nbytes[b] * len(group))
            end = t + lat + wire
            spans.append((t, end))
            for w in group:
                if inter:
                    up[host[u]] = down[host[w]] = end
                    send_done = min(end, t + lat + wire * max(0.0, 1 - net.sndbuf / nbytes[b]))
                else:
                    send_done = end
                finished.add((b, u, w))
                for r, when in ((u, send_done), (w, end)):
                    s = state[(r, b)]
                    s[2] -= 1
                    s[3] = max(s[3], when)
                    if s[2] == 0:  # the step is complete: post the next one
                        s[0] += 1
                        if s[0] == len(sched[r]):
                            complete[(r, b)] = s[3]
                        else:
                            s[1], s[2] = prog(r, s[3]), len(sched[r][s[0]])
        for r in range(n):
            release[r] = max([bwd_end[r]] + [complete[(r, b)] for b in range(len(cut))])
        history.append((list(release), list(bwd_end)))
    m = max(1, min(4, steps - 1))
    (rel_a, _), (rel_b, ends) = history[-1 - m], history[-1]
    period = statistics.mean((rel_b[r] - rel_a[r]) / m for r in range(n))
    exposed = [rel_b[r] - ends[r] for r in range(n)]
    busy, reach = 0.0, float("-inf")  # the time some transfer was under way
    for t, end in sorted(spans):
        busy += max(0.0, end - max(t, reach))
        reach = max(reach, end)
    return period, statistics.mean(sum(p[1]) for p in profiles), statistics.mean(exposed), exposed, busy



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


def flops_profile(spec, shape, batch, step_s=None, tflops=None):
    """(backward per layer, params per layer, T_other) from FLOPs; see the module doc."""
    rows, _ = walk(parse(spec), shape, batch)
    fwd = [r[1] for r in rows]
    total = 3 * sum(fwd)
    step = step_s if step_s else total / (tflops * 1e12)
    bwd = [step * 2 * f / total for f in fwd]
    return bwd, [r[0] for r in rows], step - sum(bwd), total


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
