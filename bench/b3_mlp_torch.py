#!/usr/bin/python3
# B3 (BENCH.md) reference in PyTorch (Debian's python3-torch, CPU), random
# inputs, SGD momentum 0.9 — the recipe of bench/b3_mlp.cpp. --model mlp
# (default): 784-256-128-10, batch 128 per rank; --model cnn: Conv2d(1,32,3)-
# ReLU-MaxPool2d(2)-Conv2d(32,64,3)-ReLU-MaxPool2d(2)-Linear(64*5*5,128)-ReLU-
# Linear(128,10) on (1, 28, 28), batch 64 per rank. Either one process
# (--ranks 1) or DDP over gloo with --ranks processes on 127.0.0.1. Rank 0
# prints one line:
#   B3 mlp-torch ranks=R threads=T batch=128 steps=S samples_per_s=... median_step_ms=...
# (`B3 cnn-torch ...` for the CNN).
# Run with /usr/bin/python3 (the python3 first on the PATH is another interpreter).

import argparse
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

CLASSES = 10
INPUT_SHAPE = {"mlp": (784,), "cnn": (1, 28, 28)}
DEFAULT_BATCH = {"mlp": 128, "cnn": 64}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_model(kind):
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
            nn.Linear(128, CLASSES))
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, CLASSES))


def run(rank, args, port):
    torch.set_num_threads(args.threads)
    distributed = args.ranks > 1
    if distributed:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    torch.manual_seed(args.seed)
    model = make_model(args.model)
    if distributed:
        model = nn.parallel.DistributedDataParallel(model)
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank)
    x = torch.rand(args.batch, *INPUT_SHAPE[args.model], generator=gen, dtype=torch.float32)
    y = torch.randint(0, CLASSES, (args.batch,), generator=gen)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    step_ms = []
    if distributed:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        a = time.perf_counter()
        loss = step()
        step_ms.append((time.perf_counter() - a) * 1e3)
    if distributed:
        dist.barrier()
    seconds = time.perf_counter() - t0
    if rank == 0:
        samples = args.ranks * args.batch * args.steps
        print(f"B3 {args.model}-torch ranks={args.ranks} threads={args.threads} batch={args.batch} "
              f"steps={args.steps} samples_per_s={samples / seconds:.1f} "
              f"median_step_ms={statistics.median(step_ms):.4f} seconds={seconds:.3f} "
              f"last_loss={loss:.4f} torch={torch.__version__}", flush=True)
    if distributed:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch threads per rank")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=0,
                   help="per rank (default: 128 for mlp, 64 for cnn)")
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args()
    if args.batch <= 0:
        args.batch = DEFAULT_BATCH[args.model]
    if args.ranks == 1:
        run(0, args, 0)
    else:
        mp.spawn(run, args=(args, free_port()), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
