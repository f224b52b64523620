#!/usr/bin/env python3
"""B1 (BENCH.md): the PyTorch reference for bench_b1_mlp (b1_mlp.cpp).

MLP 3072-4096-4096-4096-10 (ReLU), softmax cross-entropy, SGD momentum 0.9
(lr 0.01), batch 1024, random inputs created once on the GPU; one process, one
GPU (or DDP with --ranks, B5). The step, the timing, the flags and the output
lines are in torch_step.py:

  python3 bench/b1_mlp_torch.py --precision tf32,bf16 [--steps 50] [--warmup 10] [--compile]
  python3 bench/b1_mlp_torch.py --precision tf32 --breakdown
  python3 bench/b1_mlp_torch.py --precision tf32 --ranks 2 --grad-dtype bf16   # B5: DDP on one GPU

  B1 mlp-torch precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=1024 ...
"""

import sys

import torch_step

B1 = torch_step.Bench("B1", "mlp",
                      "dense(4096), relu, dense(4096), relu, dense(4096), relu, dense(10)",
                      (3072,), 1024)

if __name__ == "__main__":
    sys.exit(torch_step.main(B1, __doc__))
