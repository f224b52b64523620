"""The network side of cluster/scaling/scale_model.py: how the gradient
buckets are cut and all-reduced, NCCL's rings and trees as rounds on one link,
and lockstep's MPI backend (Open MPI's binomial all-reduce) simulated message by
message and rank by rank (README "Predicting scaling"; the module doc of
scale_model.py states the model)."""
import math
import re
import statistics


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
    the ranks' mean backward, the ranks' mean exposed wait, per-rank exposed,
    the time in the last step some transfer was under way).

    A rank posts the first round of a bucket's schedule when backward has
    produced the bucket (dist.overlap = false: when backward has ended), and
    each later round when it next makes progress after the round before it is
    complete: MPI makes progress during backward only at a layer boundary
    (lockstep tests the buckets in flight after every layer), after backward
    always. A transfer u -> v starts once u has posted its send and v its
    receive (the kernel then moves the bytes) and once its links are free: between hosts u's host's uplink and
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
        done, points, bwd_end = [], [], []
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



