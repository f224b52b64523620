#!/usr/bin/env python3
"""B1 (BENCH.md): the PyTorch reference for bench_b1_mlp (b1_mlp.cpp).

MLP 3072-4096-4096-4096-10 (ReLU), softmax cross-entropy, SGD momentum 0.9
(lr 0.01), batch 1024, random inputs created once on the GPU; eager mode, one
process, one GPU. Every step is timed with CUDA events (start before
zero_grad, stop after optimizer.step; the loss is read back each step, as
lockstep's Trainer::step does); the figure is the median over --steps steps
after --warmup steps.

  python3 bench/b1_mlp_torch.py --precision tf32 [--steps 50] [--warmup 10] [--batch 1024]
  python3 bench/b1_mlp_torch.py --precision fp32,tf32

One line per precision, in bench_b1_mlp's format:
  B1 mlp-torch precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=1024 ...
fp32 turns TF32 off for matrix multiplies (cuBLAS in full fp32); tf32 allows it.
"""

import argparse
import statistics
import sys

import torch


def set_tf32(enabled: bool) -> None:
    matmul = torch.backends.cuda.matmul
    try:  # PyTorch >= 2.9: the new API (allow_tf32 is deprecated there)
        matmul.fp32_precision = "tf32" if enabled else "ieee"
    except (AttributeError, AssertionError, RuntimeError):  # older PyTorch
        matmul.allow_tf32 = enabled


def make_model(device: torch.device) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(3072, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 10),
    ).to(device)


def run(precision: str, args: argparse.Namespace, device: torch.device) -> None:
    set_tf32(precision == "tf32")
    torch.manual_seed(args.seed)
    model = make_model(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(args.batch, 3072, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    total = 0.0
    for _ in range(args.warmup):
        total += step().item()
    torch.cuda.synchronize()

    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(args.steps):
        start.record()
        loss = step()
        stop.record()
        total += loss.item()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    torch.cuda.synchronize()

    med = statistics.median(times)
    print(f"B1 mlp-torch precision={precision} ranks=1 median_ms={med:.4f} "
          f"samples_per_s={args.batch * 1000.0 / med:.1f} batch={args.batch} "
          f"steps={args.steps} warmup={args.warmup} min_ms={min(times):.4f} "
          f"mean_loss={total / ((args.warmup + args.steps) * args.batch):.4f} "
          f"torch={torch.__version__}", flush=True)
    del model, opt, x, y
    torch.cuda.empty_cache()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--precision", default="tf32",
                   help="fp32, tf32, or a comma-separated list (default tf32)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args()
    precisions = [s.strip() for s in args.precision.split(",") if s.strip()]
    if not precisions or any(s not in ("fp32", "tf32") for s in precisions):
        p.error("--precision: expected fp32, tf32 or a list of them")
    if args.steps < 1 or args.warmup < 0 or args.batch < 1:
        p.error("--steps >= 1, --warmup >= 0, --batch >= 1")
    if not torch.cuda.is_available():
        print("b1_mlp_torch.py: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    device = torch.device("cuda", 0)
    print(f"# B1 torch={torch.__version__} gpu=\"{torch.cuda.get_device_name(device)}\"",
          flush=True)
    for precision in precisions:
        run(precision, args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
