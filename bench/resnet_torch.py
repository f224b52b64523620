#!/usr/bin/env python3
"""B6 (BENCH.md): the PyTorch reference for bench_resnet (b6_resnet.cpp).

examples/perception_resnet.ini's model, built from the example's own [model]
layers line (a stem convolution, three stages of residual blocks with
BatchNorm, global average pooling, dense(10)) on 3x64x64 inputs, batch 256,
softmax cross-entropy, SGD momentum 0.9 (lr 0.01), random inputs created once
on the GPU; one process, one GPU, cuDNN. The step, the timing, the flags and
the output lines are in torch_step.py:

  python3 bench/resnet_torch.py --precision bf16 --channels-last [--compile]
  python3 bench/resnet_torch.py --precision bf16 --breakdown

  B6 resnet-torch precision=bf16 ranks=1 median_ms=... samples_per_s=... batch=256 ...
"""

import os
import sys

import torch_step

INI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                   "perception_resnet.ini")

if __name__ == "__main__":
    B6 = torch_step.Bench("B6", "resnet", torch_step.ini_layers(INI), (3, 64, 64), 256,
                          convolutional=True)
    sys.exit(torch_step.main(B6, __doc__))
