#!/usr/bin/env python3
"""B2 (BENCH.md): the PyTorch reference for bench_b2_cnn (b2_cnn.cpp).

Input 3x64x64, batch 256: conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-maxpool2,
conv3x3(128)-ReLU-maxpool2, conv3x3(256)-ReLU, global average pool, dense(10);
padding 1, softmax cross-entropy, SGD momentum 0.9 (lr 0.01), random inputs
created once on the GPU; one process, one GPU, cuDNN (cudnn.benchmark off
unless --cudnn-benchmark). The step, the timing, the flags and the output
lines are in torch_step.py:

  python3 bench/b2_cnn_torch.py --precision fp32,tf32 [--steps 50] [--warmup 10]
  python3 bench/b2_cnn_torch.py --precision bf16 --channels-last [--compile]
  python3 bench/b2_cnn_torch.py --precision tf32 --breakdown [--layer-times]

  B2 cnn-torch precision=tf32 ranks=1 median_ms=... samples_per_s=... batch=256 ...
"""

import sys

import torch_step

B2 = torch_step.Bench(
    "B2", "cnn",
    "conv2d(32, 3, padding=1), relu, maxpool2d(2), conv2d(64, 3, padding=1), relu, "
    "maxpool2d(2), conv2d(128, 3, padding=1), relu, maxpool2d(2), conv2d(256, 3, padding=1), "
    "relu, global_avg_pool, dense(10)",
    (3, 64, 64), 256, convolutional=True)

if __name__ == "__main__":
    sys.exit(torch_step.main(B2, __doc__))
