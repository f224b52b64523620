"""The model side of cluster/scaling/scale_model.py: model.layers text -> each
layer's parameter count and forward FLOPs, and per-layer compute times from a
run's trace or from FLOPs (README "Predicting scaling")."""
import json
import math
import re
import statistics


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


def flops_profile(spec, shape, batch, step_s=None, tflops=None):
    """(backward per layer, params per layer, T_other) from FLOPs; see the module doc."""
    rows, _ = walk(parse(spec), shape, batch)
    fwd = [r[1] for r in rows]
    total = 3 * sum(fwd)
    step = step_s if step_s else total / (tflops * 1e12)
    bwd = [step * 2 * f / total for f in fwd]
    return bwd, [r[0] for r in rows], step - sum(bwd), total


