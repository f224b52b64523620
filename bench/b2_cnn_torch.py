#!/usr/bin/env python3
"""B2 (BENCH.md): the PyTorch reference for bench_b2_cnn (b2_cnn.cpp).

Input 3x64x64, batch 256: conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-maxpool2,
conv3x3(128)-ReLU-maxpool2, conv3x3(256)-ReLU, global average pool, dense(10);
padding 1, softmax cross-entropy, SGD momentum 0.9 (lr 0.01), random inputs
created once on the GPU; eager mode (cuDNN), one process, one GPU. Every step
is timed with CUDA events (start before zero_grad, stop after optimizer.step;
the loss is read back each step, as lockstep's Trainer::step does); the figure
is the median over --steps steps after --warmup steps.

  python3 bench/b2_cnn_torch.py --precision fp32,tf32 [--steps 50] [--warmup 10] [--breakdown]

One line per precision, in bench_b2_cnn's format:
  B2 cnn-torch precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=256 ...
fp32 turns TF32 off for convolutions (cuDNN) and matrix multiplies (cuBLAS);
tf32 allows both. cudnn.benchmark stays at PyTorch's default (off) unless
--cudnn-benchmark. --breakdown then times each layer alone, as bench_b2_cnn
does (--steps forwards back to back, then --steps backwards computing the
input and parameter gradients, mean per call):
  B2 layer-torch i=0 fwd_ms=... bwd_ms=... spec="conv2d(32, 3, padding=1)"
--device cpu runs the same code on the CPU (wall-clock timing; a smoke test).
"""

import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn


def set_tf32(enabled: bool) -> None:
    try:  # PyTorch >= 2.9: the new API (allow_tf32 is deprecated there)
        torch.backends.cuda.matmul.fp32_precision = "tf32" if enabled else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if enabled else "ieee"
    except (AttributeError, AssertionError, RuntimeError):  # older PyTorch
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def make_layers() -> list:
    """(lockstep spec, module) in bench_b2_cnn's layer order."""
    layers = []
    c = 3
    for i, out in enumerate((32, 64, 128, 256)):
        layers += [(f"conv2d({out}, 3, padding=1)", nn.Conv2d(c, out, 3, padding=1)),
                   ("relu", nn.ReLU())]
        if i < 3:
            layers.append(("maxpool2d(2)", nn.MaxPool2d(2)))
        c = out
    layers += [("global_avg_pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
               ("dense(10)", nn.Linear(256, 10))]
    return layers


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


def breakdown(layers: list, x: torch.Tensor, args, precision: str, timer: Timer) -> None:
    ins, dys = [], []
    h = x
    with torch.no_grad():
        for _, layer in layers:
            ins.append(h)
            h = layer(h)
            dys.append(h.clone())
    fwd_total = bwd_total = 0.0
    for i, (spec, layer) in enumerate(layers):
        xi = ins[i].detach().requires_grad_(i > 0)
        wrt = ([xi] if i > 0 else []) + list(layer.parameters())

        def fwd_bwd():
            y = layer(xi)
            if wrt:
                torch.autograd.grad(y, wrt, dys[i])

        for _ in range(args.warmup):
            fwd_bwd()
        y = None
        a = timer.mark()
        for _ in range(args.steps):
            y = layer(xi)
        b = timer.mark()
        for _ in range(args.steps):
            if wrt:  # new gradient tensors, nothing accumulated (as set_to_none)
                torch.autograd.grad(y, wrt, dys[i], retain_graph=True)
        c = timer.mark()
        fwd, bwd = timer.ms(a, b) / args.steps, timer.ms(b, c) / args.steps
        fwd_total += fwd
        bwd_total += bwd
        print(f'B2 layer-torch i={i} fwd_ms={fwd:.4f} bwd_ms={bwd:.4f} spec="{spec}"')
    print(f"B2 layers-torch total fwd_ms={fwd_total:.4f} bwd_ms={bwd_total:.4f} "
          f"sum_ms={fwd_total + bwd_total:.4f} precision={precision} batch={args.batch}",
          flush=True)


def run(precision: str, args: argparse.Namespace, device: torch.device) -> None:
    set_tf32(precision == "tf32")
    torch.manual_seed(args.seed)
    layers = make_layers()
    model = nn.Sequential(*(m for _, m in layers)).to(device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(args.batch, 3, 64, 64, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    timer = Timer(device)

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    total = 0.0
    for _ in range(args.warmup):
        total += step().item()
    if timer.cuda:
        torch.cuda.synchronize()

    times = []
    for _ in range(args.steps):
        start = timer.mark()
        loss = step()
        stop = timer.mark()
        total += loss.item()
        times.append(timer.ms(start, stop))
    if timer.cuda:
        torch.cuda.synchronize()

    med = statistics.median(times)
    print(f"B2 cnn-torch precision={precision} ranks=1 median_ms={med:.4f} "
          f"samples_per_s={args.batch * 1000.0 / med:.1f} batch={args.batch} "
          f"steps={args.steps} warmup={args.warmup} min_ms={min(times):.4f} "
          f"mean_loss={total / (args.warmup + args.steps):.4f} "
          f"cudnn_benchmark={int(args.cudnn_benchmark)} torch={torch.__version__}", flush=True)
    if args.breakdown:
        breakdown(layers, x, args, precision, timer)
    del model, opt, x, y
    if timer.cuda:
        torch.cuda.empty_cache()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--precision", default="tf32",
                   help="fp32, tf32, or a comma-separated list (default tf32)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--breakdown", action="store_true", help="also time each layer alone")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="torch.backends.cudnn.benchmark = True (default: off, as eager)")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    args = p.parse_args()
    precisions = [s.strip() for s in args.precision.split(",") if s.strip()]
    if not precisions or any(s not in ("fp32", "tf32") for s in precisions):
        p.error("--precision: expected fp32, tf32 or a list of them")
    if args.steps < 1 or args.warmup < 0 or args.batch < 1:
        p.error("--steps >= 1, --warmup >= 0, --batch >= 1")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("b2_cnn_torch.py: no CUDA device visible to PyTorch", file=sys.stderr)
            return 1
        device = torch.device("cuda", 0)
        name = torch.cuda.get_device_name(device)
    else:
        device, name = torch.device("cpu"), "cpu"
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    print(f"# B2 torch={torch.__version__} gpu=\"{name}\"", flush=True)
    for precision in precisions:
        run(precision, args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
