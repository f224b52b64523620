"""What the PyTorch references of the GPU step benchmarks share (B1, B2, B6;
BENCH.md): the model built from lockstep's layer spec, the precision and
memory-format settings, the timed step, the per-phase breakdown and DDP for B5.

The step: zero_grad(set_to_none=True), forward and loss (under
torch.autocast("cuda", dtype=torch.bfloat16) for bf16), backward,
optimizer.step (SGD momentum 0.9, lr 0.01); every step is timed with CUDA
events (start before zero_grad, stop after optimizer.step; the loss is read
back after each step, as lockstep's Trainer::step does); the figure is the
median over --steps steps after --warmup steps. One line per precision:
  <B> <kind>-torch precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=... compile=0 ...

Precision: fp32 turns TF32 off for matrix multiplies (cuBLAS) and
convolutions (cuDNN); tf32 allows both; bf16 is autocast to bfloat16 with TF32
allowed for what autocast leaves in float32 (what a tuned user runs).
--channels-last puts the model and the input in channels-last memory format
(convolutional models). --compile runs the model through torch.compile
(compiled during the warm-up; the line gives compile_s, the first step's wall
time).

--breakdown then times the phases of the (eager) step, as bench_*
--breakdown does (bench/breakdown.hpp), and prints the same table: a forward
hook per layer records a CUDA event after the layer's forward; a hook on the
layer's output tensor records one when backward reaches the layer (the
gradient of its output is ready), so "bwd i" runs from there to the next
layer's mark (layer 0: to the end of backward); "loss" is the loss's forward
and its gradient; the optimizer is timed around opt.step(). Median of each
row over --steps steps after --warmup steps:
  <B> breakdown-torch precision=... batch=... clock=cuda-events
  | phase | ms | % of step |
  ...
  <B> breakdown-torch_total step_ms=... rows_ms=... mean_step_ms=... mean_rows_ms=... trainer_step_ms=...
--layer-times times each layer's forward and backward alone (as
bench_* --layer-times). --ranks N > 1 runs N processes under DDP (NCCL; each
rank its own NCCL_HOSTID so that several ranks share the one GPU over NCCL's
socket transport, DEVICE.md); --grad-dtype bf16|fp16 registers DDP's
compression hook, --bucket-mb sets its bucket size. --device cpu runs the same
code on the CPU (wall clock; a smoke test of the script).
"""

import argparse
import math
import os
import socket
import statistics
import sys
import time

import torch
import torch.nn as nn

PRECISIONS = ("fp32", "tf32", "bf16")

# the layer-spec splitter the scaling model uses (commas outside parentheses)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster", "scaling"))
from scaling_layers import split_top  # noqa: E402


# ------------------------------------------------------------------ the model
def parse_call(token: str):
    """'conv2d(64, 3, stride=2, padding=1)' -> ('conv2d', [64, 3], {'stride': 2, 'padding': 1}, inner)."""
    token = token.strip()
    if "(" not in token:
        return token, [], {}, ""
    if not token.endswith(")"):
        raise ValueError(f"layer spec: expected '{token}' to end with ')'")
    name, inner = token[:token.index("(")].strip(), token[token.index("(") + 1:-1]
    args, kwargs = [], {}
    if name == "residual":
        return name, args, kwargs, inner
    for a in split_top(inner):
        if "=" in a:
            k, v = a.split("=", 1)
            kwargs[k.strip()] = number(v.strip())
        elif a in ("nobias", "sync"):
            kwargs[a] = True
        else:
            args.append(number(a))
    return name, args, kwargs, inner


def number(text: str):
    """An int, a float, or the text itself (a mode name)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Residual(nn.Module):
    """x + body(x), as lockstep's residual(...)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def build_layer(token: str, shape: tuple):
    """One lockstep layer token on an input of `shape` (per sample) -> (module, output shape)."""
    name, args, kw, inner = parse_call(token)
    if name == "dense":
        n = int(args[0])
        lin = nn.Linear(math.prod(shape), n, bias=not kw.get("nobias", False))
        return (nn.Sequential(nn.Flatten(), lin) if len(shape) > 1 else lin), (n,)
    if name == "conv2d":
        out, k = int(args[0]), int(args[1])
        s, p = int(kw.get("stride", 1)), int(kw.get("padding", 0))
        c, h, w = shape
        m = nn.Conv2d(c, out, k, stride=s, padding=p, bias=not kw.get("nobias", False))
        return m, (out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    if name in ("batchnorm", "bn"):
        mom, eps = float(kw.get("momentum", 0.1)), float(kw.get("eps", 1e-5))
        bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        return bn(shape[0], eps=eps, momentum=mom), shape
    if name == "relu":
        return nn.ReLU(), shape
    if name == "maxpool2d":
        k = int(args[0])
        s = int(args[1]) if len(args) > 1 else int(kw.get("stride", k))
        c, h, w = shape
        return nn.MaxPool2d(k, s), (c, (h - k) // s + 1, (w - k) // s + 1)
    if name == "global_avg_pool":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (shape[0],)
    if name == "dropout":
        return nn.Dropout(float(args[0]) if args else 0.5), shape
    if name == "flatten":
        return nn.Flatten(), (math.prod(shape),)
    if name == "residual":
        body, out = build_layers(inner, shape)
        if out != shape:
            raise ValueError(f"residual: expected the block to keep the shape {shape}, got {out}")
        return Residual(nn.Sequential(*(m for _, m in body))), shape
    raise ValueError(f"layer spec: '{token}' is not a layer this script builds "
                     "(dense, conv2d, batchnorm, relu, maxpool2d, global_avg_pool, dropout, "
                     "flatten, residual)")


def build_layers(spec: str, shape: tuple):
    """[(token, module)] for a lockstep layer spec, and the output shape."""
    layers = []
    for token in split_top(spec):
        m, shape = build_layer(token, shape)
        layers.append((token, m))
    return layers, shape


def ini_layers(path: str) -> str:
    """The [model] layers line of a lockstep config file."""
    import configparser
    cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    if not cp.read(path):
        raise FileNotFoundError(f"{path}: expected a lockstep config file, found none")
    return cp["model"]["layers"]


# ------------------------------------------------------------------ settings
def set_tf32(enabled: bool) -> None:
    try:  # PyTorch >= 2.9: the new API (allow_tf32 is deprecated there)
        torch.backends.cuda.matmul.fp32_precision = "tf32" if enabled else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if enabled else "ieee"
    except (AttributeError, AssertionError, RuntimeError):  # older PyTorch
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


class Timer:
    """Elapsed milliseconds between marks: CUDA events on the GPU, else wall clock."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def mark(self):
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def ms(self, a, b) -> float:
        if self.cuda:
            b.synchronize()
            return a.elapsed_time(b)
        return (b - a) * 1e3

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()


# ------------------------------------------------------------------ one run
class Bench:
    """What differs between the benchmarks: id, kind, layer spec, input shape, batch."""

    def __init__(self, id_: str, kind: str, spec: str, input_shape: tuple, batch: int,
                 classes: int = 10, convolutional: bool = False):
        self.id, self.kind, self.spec = id_, kind, spec
        self.input_shape, self.batch, self.classes = input_shape, batch, classes
        self.convolutional = convolutional


def breakdown(b: Bench, layers, model, x, y, loss_fn, opt, autocast, args, precision, timer,
              step_median):
    """The per-phase table (see the module's doc)."""
    n = len(layers)
    marks = []  # (key, mark) in the order they are taken in a step

    def mark(key):
        marks.append((key, timer.mark()))

    handles = []
    for i, (_, m) in enumerate(layers):
        def fwd_hook(mod, inp, out, i=i):
            mark(("fwd", i))
            if isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(lambda g, i=i: mark(("gout", i)))
        handles.append(m.register_forward_hook(fwd_hook))

    def row_of(key):  # the row a segment belongs to, by the mark it starts at
        kind, i = key
        if kind == "start":
            return "zero_grad"
        if kind == "zero_grad":
            return f"fwd 0 {layers[0][0]}"
        if kind == "fwd":
            return "loss" if i == n - 1 else f"fwd {i + 1} {layers[i + 1][0]}"
        if kind == "gout":
            return f"bwd {i} {layers[i][0]}"
        if kind == "backward":
            return "optimizer"
        raise KeyError(key)

    rows = {}
    order = ["zero_grad"] + [f"fwd {i} {layers[i][0]}" for i in range(n)] + ["loss"] + \
        [f"bwd {i} {layers[i][0]}" for i in reversed(range(n))] + ["optimizer"]
    steps_ms = []
    for s in range(args.warmup + args.steps):
        marks.clear()
        mark(("start", 0))
        opt.zero_grad(set_to_none=True)
        mark(("zero_grad", 0))
        with autocast:
            loss = loss_fn(model(x), y)
        loss.backward()
        mark(("backward", 0))
        opt.step()
        mark(("optimizer", 0))
        loss.item()
        if s < args.warmup:
            continue
        per = {}
        for (k0, m0), (_, m1) in zip(marks, marks[1:]):
            r = row_of(k0)
            per[r] = per.get(r, 0.0) + timer.ms(m0, m1)
        for r in order:
            rows.setdefault(r, []).append(per.get(r, 0.0))
        steps_ms.append(timer.ms(marks[0][1], marks[-1][1]))
    for h in handles:
        h.remove()

    step = statistics.median(steps_ms)
    print(f"{b.id} breakdown-torch precision={precision} batch={args.batch} ranks=1 "
          f"steps={args.steps} warmup={args.warmup} clock={'cuda-events' if timer.cuda else 'wall-clock'} "
          f"mode=eager channels_last={int(args.channels_last)}")
    print("| phase | ms | % of step |\n|---|---|---|")
    total = mean_total = 0.0
    for r in order:
        ms = statistics.median(rows[r])
        total += ms
        mean_total += statistics.fmean(rows[r])
        print(f"| {r} | {ms:.4f} | {100.0 * ms / step:.1f} |")
    print(f"| sum of rows | {total:.4f} | {100.0 * total / step:.1f} |\n| step | {step:.4f} | 100.0 |")
    print(f"{b.id} breakdown-torch_total step_ms={step:.4f} rows_ms={total:.4f} "
          f"mean_step_ms={statistics.fmean(steps_ms):.4f} mean_rows_ms={mean_total:.4f} "
          f"trainer_step_ms={step_median:.4f} steps={len(steps_ms)}", flush=True)


def layer_times(b: Bench, layers, x, args, precision, timer, autocast):
    """Each layer's forward and backward alone (input and parameter gradients)."""
    ins, dys = [], []
    h = x
    with torch.no_grad(), autocast:
        for _, layer in layers:
            ins.append(h)
            h = layer(h)
            dys.append(h.clone())
    fwd_total = bwd_total = 0.0
    for i, (spec, layer) in enumerate(layers):
        xi = ins[i].detach().requires_grad_(i > 0)
        wrt = ([xi] if i > 0 else []) + list(layer.parameters())
        with autocast:
            for _ in range(args.warmup):
                y = layer(xi)
                if wrt:
                    torch.autograd.grad(y, wrt, dys[i])
            a = timer.mark()
            for _ in range(args.steps):
                y = layer(xi)
            bm = timer.mark()
        for _ in range(args.steps):
            if wrt:  # new gradient tensors, nothing accumulated (as set_to_none)
                torch.autograd.grad(y, wrt, dys[i], retain_graph=True)
        c = timer.mark()
        fwd, bwd = timer.ms(a, bm) / args.steps, timer.ms(bm, c) / args.steps
        fwd_total += fwd
        bwd_total += bwd
        print(f'{b.id} layer-torch i={i} fwd_ms={fwd:.4f} bwd_ms={bwd:.4f} spec="{spec}"')
    print(f"{b.id} layers-torch total fwd_ms={fwd_total:.4f} bwd_ms={bwd_total:.4f} "
          f"sum_ms={fwd_total + bwd_total:.4f} precision={precision} batch={args.batch}",
          flush=True)


def run(b: Bench, precision: str, args, device: torch.device, rank: int = 0, world: int = 1):
    set_tf32(precision in ("tf32", "bf16"))
    torch.manual_seed(args.seed)
    layers, _ = build_layers(b.spec, b.input_shape)
    model = nn.Sequential(*(m for _, m in layers)).to(device)
    x = torch.rand(args.batch, *b.input_shape, device=device)
    y = torch.randint(0, b.classes, (args.batch,), device=device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                  bucket_cap_mb=args.bucket_mb)
        if args.grad_dtype != "fp32":
            from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
            hook = default_hooks.bf16_compress_hook if args.grad_dtype == "bf16" \
                else default_hooks.fp16_compress_hook
            net.register_comm_hook(None, hook)
    run_net = torch.compile(net) if args.compile else net
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    timer = Timer(device)

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_fn(run_net(x), y)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    total = step().item()  # compiles with --compile
    compile_s = time.perf_counter() - t0
    for _ in range(args.warmup - 1):
        total += step().item()
    timer.sync()

    times = []
    for _ in range(args.steps):
        start = timer.mark()
        loss = step()
        stop = timer.mark()
        total += loss.item()
        times.append(timer.ms(start, stop))
    timer.sync()

    med, low = statistics.median(times), min(times)
    if world > 1:  # the slowest rank's median sets the pace
        import torch.distributed as dist
        t = torch.tensor([med, low], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        med, low = float(t[0]), float(t[1])
    if rank == 0:
        print(f"{b.id} {b.kind}-torch precision={precision} ranks={world} median_ms={med:.4f} "
              f"samples_per_s={world * args.batch * 1000.0 / med:.1f} batch={args.batch} "
              f"steps={args.steps} warmup={args.warmup} min_ms={low:.4f} "
              f"mean_loss={total / max(1, args.warmup + args.steps):.4f} "
              f"compile={int(args.compile)} compile_s={compile_s:.1f} "
              f"channels_last={int(args.channels_last)} grad_dtype={args.grad_dtype} "
              f"bucket_mb={args.bucket_mb:g} device={device.type} torch={torch.__version__}",
              flush=True)
    if args.breakdown and world == 1:
        breakdown(b, layers, model, x, y, loss_fn, opt, autocast, args, precision, timer, med)
    if args.layer_times and world == 1:
        layer_times(b, layers, x, args, precision, timer, autocast)
    del model, net, run_net, opt, x, y
    if timer.cuda:
        torch.cuda.empty_cache()


# ------------------------------------------------------------------ DDP (B5)
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, b: Bench, precisions: list, args, port: int) -> None:
    import torch.distributed as dist
    # Several ranks on the one GPU: NCCL takes each for a host of its own and
    # uses its socket transport on loopback (DEVICE.md).
    os.environ["NCCL_HOSTID"] = f"host{rank}"
    os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    if args.device == "cuda":
        device = torch.device("cuda", 0)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, rank=rank, world_size=args.ranks)
    try:
        for precision in precisions:
            run(b, precision, args, device, rank, args.ranks)
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------ main
def main(b: Bench, doc: str, argv=None) -> int:
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--precision", default="tf32",
                   help="fp32, tf32, bf16, or a comma-separated list (default tf32)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=b.batch)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--channels-last", action="store_true",
                   help="model and input in channels-last memory format")
    p.add_argument("--breakdown", action="store_true", help="the per-phase table of the step")
    p.add_argument("--layer-times", action="store_true", help="also time each layer alone")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="torch.backends.cudnn.benchmark = True (default: off, as eager)")
    p.add_argument("--ranks", type=int, default=1, help="> 1: DDP with this many processes")
    p.add_argument("--grad-dtype", default="fp32", choices=("fp32", "bf16", "fp16"),
                   help="DDP: compress the gradients with DDP's bf16/fp16 hook")
    p.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket size")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    args = p.parse_args(argv)
    precisions = [s.strip() for s in args.precision.split(",") if s.strip()]
    if not precisions or any(s not in PRECISIONS for s in precisions):
        p.error("--precision: expected fp32, tf32, bf16 or a list of them")
    if args.steps < 1 or args.warmup < 1 or args.batch < 1 or args.ranks < 1:
        p.error("--steps >= 1, --warmup >= 1, --batch >= 1, --ranks >= 1")
    if args.channels_last and not b.convolutional:
        p.error("--channels-last: expected a convolutional model")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print(f"{os.path.basename(sys.argv[0])}: no CUDA device visible to PyTorch", file=sys.stderr)
            return 1
        device = torch.device("cuda", 0)
        name = torch.cuda.get_device_name(device)
    else:
        device, name = torch.device("cpu"), "cpu"
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    print(f"# {b.id} torch={torch.__version__} gpu=\"{name}\" spec=\"{b.spec}\"", flush=True)
    if args.ranks > 1:
        import torch.multiprocessing as mp
        mp.spawn(ddp_worker, args=(b, precisions, args, free_port()), nprocs=args.ranks)
        return 0
    for precision in precisions:
        run(b, precision, args, device)
    return 0
