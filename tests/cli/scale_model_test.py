#!/usr/bin/env python3
"""CTest scale_model_unit: cluster/scaling/scale_model.py's MPI (binomial) model
on cases whose answer is known by hand, and its calibration recovering the
constants it was given (README "Predicting scaling")."""
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(sys.argv[1], "cluster", "scaling"))
import scale_model as sm  # noqa: E402

failed = 0


def check(ok, what):
    global failed
    print(("ok   " if ok else "FAIL ") + what)
    failed += 0 if ok else 1


def close(a, b, rel=1e-6):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


# libnbc's in-place all-reduce trees (ompi/mca/coll/libnbc/nbc_iallreduce.c,
# allred_sched_diss): binomial reduce to 0, broadcast v -> v + 2^r for 2^r > v
check(sm.binomial_schedule(2) == [[[("recv", 1)], [("send", 1)]],
                                  [[("send", 0), ("recv", 0)]]], "2-rank schedule")
check(sm.binomial_schedule(3) == [[[("recv", 1)], [("recv", 2)], [("send", 1), ("send", 2)]],
                                  [[("send", 0), ("recv", 0)]],
                                  [[("send", 0), ("recv", 0)]]], "3-rank schedule")
check(sm.binomial_schedule(4) == [[[("recv", 1)], [("recv", 2)], [("send", 1), ("send", 2)]],
                                  [[("send", 0), ("recv", 0)], [("send", 3)]],
                                  [[("recv", 3)], [("send", 0), ("recv", 0)]],
                                  [[("send", 2), ("recv", 1)]]], "4-rank schedule")
for n in range(2, 17):  # every rank but 0 receives the result once, from a lower rank
    sched = sm.binomial_schedule(n)
    sends = sorted((u, v) for u in range(n) for st in sched[u] for k, v in st if k == "send")
    recvs = sorted((u, v) for v in range(n) for st in sched[v] for k, u in st if k == "recv")
    bcast = [v for u, v in sends if u < v]
    if sends != recvs or sorted(bcast) != list(range(1, n)) or len(sends) != 2 * (n - 1):
        check(False, f"{n}-rank schedule: every send has its receive, each rank gets the result once")
        break
else:
    check(True, "2..16-rank schedules: every send has its receive, each rank gets the result once")

# One bucket of B bytes after a backward of one layer, no compute hidden:
# 2 ranks on 2 hosts: reduce then broadcast, 2 (alpha + B / beta)
alpha, beta, B, other, bwd = 1e-3, 1e8, 4e6, 5e-3, 10e-3
net = sm.Net("binomial", 1e10, 0.0, beta, alpha)
hop = alpha + B / beta
step, t_bwd, exposed, per_rank, busy = sm.simulate_binomial([(other, [bwd])] * 2, [B / 4], net, 2, 1,
                                                            100, 4, True)
check(close(step, other + bwd + 2 * hop), f"2 ranks: step {step:.6f} = other + backward + 2 hops")
check(close(per_rank[0], 2 * hop) and close(per_rank[1], 2 * hop),
      f"2 ranks: each rank waits 2 hops after backward: {per_rank}")
check(close(busy, 2 * hop), f"2 ranks: links busy {busy:.6f} = 2 hops")
# 3 ranks on 3 hosts: two reduce rounds one after another, then the root's two
# broadcast sends share its uplink (both end after 2 B)
step3, _, _, _, _ = sm.simulate_binomial([(other, [bwd])] * 3, [B / 4], net, 3, 1, 100, 4, True)
check(close(step3, other + bwd + 2 * hop + alpha + 2 * B / beta),
      f"3 ranks: step {step3:.6f} = compute + 2 reduce hops + a shared broadcast of 2 B")
# bf16 gradients: half the bytes
step_h, _, _, _, _ = sm.simulate_binomial([(other, [bwd])] * 2, [B / 4], net, 2, 1, 100, 2, True)
check(close(step_h, other + bwd + 2 * (alpha + B / 2 / beta)), "bf16 gradients: half the bytes")
# a rank whose compute is slower only where it has slack does not slow the step:
# the root leaves a hop early, so up to a hop of extra compute is hidden
slow = sm.simulate_binomial([(other + 0.9 * hop, [bwd]), (other, [bwd])], [B / 4], net, 2, 1, 100, 4,
                            True)[0]
check(close(slow, step), f"the root's extra compute inside its slack is hidden: {slow:.6f}")
slower = sm.simulate_binomial([(other, [bwd]), (other + 0.5 * hop, [bwd])], [B / 4], net, 2, 1, 100,
                              4, True)[0]
check(close(slower, step + 0.5 * hop), f"the leaf's extra compute is not: {slower:.6f}")
# overlap: a bucket whose layer ends early in backward hides its transfer
params, layers = [B / 4, 0.0], [20e-3, 1e-3]  # backward: layer 1 (1 ms, no params), then layer 0
early = sm.simulate_binomial([(other, layers)] * 2, [0.0, B / 4], net, 2, 1, 100, 4, True)
late = sm.simulate_binomial([(other, layers)] * 2, [B / 4, 0.0], net, 2, 1, 100, 4, True)
check(early[2] < late[2], f"a bucket ready early in backward is hidden more: {early[2]:.6f} < {late[2]:.6f}")
nooverlap = sm.simulate_binomial([(other, layers)] * 2, [0.0, B / 4], net, 2, 1, 100, 4, False)
check(close(nooverlap[0], other + sum(layers) + 2 * hop), "dist.overlap = false: all after backward")
# a send larger than the socket buffer keeps its sender until the rest fits: the
# root's slack (after its send's alpha) shrinks from all the bytes' time to a quarter of it
big = sm.Net("binomial", 1e10, 0.0, beta, alpha, sndbuf=B / 4)
root_slow = [(other + 0.5 * hop, [bwd]), (other, [bwd])]
kept = sm.simulate_binomial(root_slow, [B / 4], big, 2, 1, 100, 4, True)[0]
check(close(kept, step + 0.5 * hop - B / 4 / beta),
      f"a send beyond --sndbuf keeps its sender: step {kept:.6f}")
# 1 rank: no communication
one = sm.simulate_binomial([(other, [bwd])], [B / 4], net, 1, 1, 100, 4, True)
check(one[0] == other + bwd and one[2] == 0 and one[4] == 0, "1 rank: no communication")

# calibration: comm-bench results made by the model with known constants come back
# (a tc tbf burst of 64 KiB between hosts, as cluster/multihost/hosts.sh sets)
with tempfile.TemporaryDirectory() as d:
    truth = {"alpha": 0.4e-3, "inter_eff": 0.93, "intra_lat": 1.5e-3, "intra_bw": 4e8}
    files = []
    for name, n, per, rate in (("inter1g", 2, 1, "1gbit"), ("inter300m", 2, 1, "300mbit"),
                               ("intra", 4, 2, "1gbit")):
        net = sm.Net("binomial", truth["intra_bw"], truth["intra_lat"],
                     sm.rate_bytes(rate) * truth["inter_eff"], truth["alpha"], burst=64 * 1024)
        with open(os.path.join(d, name + ".jsonl"), "w") as f:
            for floats in (16384, 65536, 262144, 524288, 1048576):
                period = sm.probe_period(net, n, per, floats, 4, 0.01)
                f.write(json.dumps({"bytes": floats * 4, "floats": floats, "ranks": n, "hosts": n // per,
                                    "gap_s": 0.01, "period_s": period}) + "\n")
        files.append(os.path.join(d, name + ".jsonl") + ":" + rate)
    out = os.path.join(d, "cal.json")
    sys.argv = ["scale_model.py", "--calibrate", *files, "--out", out]
    sm.main()
    with open(out) as f:
        cal = json.load(f)
    for k, v in truth.items():
        check(math.isclose(cal[k], v, rel_tol=0.03, abs_tol=2e-5), f"calibration recovers {k}: {cal[k]:.4g} ~ {v:.4g}")
print("scale_model_unit:", "all passed" if failed == 0 else f"{failed} failed")
sys.exit(1 if failed else 0)
