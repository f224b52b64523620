#!/usr/bin/env python3
"""B4 (BENCH.md): Fashion-MNIST time to accuracy in PyTorch, the reference
for `lockstep train --config examples/fashion_mnist_{mlp,cnn}.ini` on one GPU.

The recipe is read from the same config file lockstep trains with: the
[model] layers (built by torch_step.py's parser; He-normal weights and zero
biases for init = he, as lockstep), [data] mean/std/hflip, [train] epochs,
global_batch_size and seed, [optim] sgd lr/momentum/nesterov/weight_decay,
warmup_epochs (linear, per step) then cosine per step to 0, [dist] precision
(fp32 unless given). The data are the same HDF5 files lockstep reads
(/features uint8 (N, 1, 28, 28), /labels), loaded once onto the GPU, scaled
by 1/255 and normalised there; each epoch is a seeded permutation in batches
of global_batch_size (the last partial batch dropped); the test set is
evaluated after every epoch.

  python3 bench/fashion_torch.py --config examples/fashion_mnist_mlp.ini \\
      --train data/fashion_train.h5 --test data/fashion_test.h5 --target 0.885

One line per epoch and one when the target is first reached (time: Unix time,
elapsed_s: seconds since this process started, before `import torch`):
  FASHION-torch epoch=3 test_accuracy=0.8712 train_loss=0.3561 time=... elapsed_s=...
  FASHION-torch target=0.885 reached epoch=6 elapsed_s=... time=...
  FASHION-torch done epochs=... final_test_accuracy=... elapsed_s=...
The run stops once the target is reached unless --full. --device cpu and
--limit N (the first N rows of each file) make a smoke test of the script.
"""

import time

T_START = time.time()  # the process's start, as near as Python gets

import argparse  # noqa: E402
import configparser  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402

import h5py  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import torch_step  # noqa: E402


def load(path, device, limit):
    with h5py.File(path, "r") as f:
        x = f["features"][:limit] if limit else f["features"][:]
        y = f["labels"][:limit] if limit else f["labels"][:]
    return (torch.from_numpy(x).to(device),
            torch.from_numpy(y.astype("int64")).reshape(-1).to(device))


def he_init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="lockstep config file (the recipe)")
    p.add_argument("--train", required=True, help="training HDF5 file")
    p.add_argument("--test", required=True, help="test HDF5 file")
    p.add_argument("--target", type=float, required=True, help="test accuracy to reach")
    p.add_argument("--epochs", type=int, default=0, help="override [train] epochs")
    p.add_argument("--full", action="store_true", help="run every epoch past the target")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--limit", type=int, default=0, help="only the first N rows (smoke tests)")
    args = p.parse_args()

    cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    if not cp.read(args.config):
        p.error(f"--config {args.config}: expected a lockstep config file, found none")
    get = lambda sec, key, default: cp.get(sec, key, fallback=default)  # noqa: E731
    if get("optim", "name", "sgd") != "sgd" or get("model", "loss", "cross_entropy") != "cross_entropy":
        p.error("--config: expected optim.name = sgd and model.loss = cross_entropy")
    epochs = args.epochs or int(get("train", "epochs", "10"))
    batch = int(get("train", "global_batch_size", "0") or 0) or int(get("train", "batch_size", "128"))
    seed = int(get("train", "seed", "0"))
    lr, momentum = float(get("optim", "lr", "0.01")), float(get("optim", "momentum", "0.9"))
    nesterov = get("optim", "nesterov", "false").lower() == "true"
    wd = float(get("optim", "weight_decay", "0"))
    schedule = get("optim", "schedule", "constant")
    warmup_epochs = float(get("optim", "warmup_epochs", "0"))
    mean, std = float(get("data", "mean", "0")), float(get("data", "std", "1"))
    hflip = get("data", "hflip", "false").lower() == "true"
    precision = get("dist", "precision", "fp32")

    device = torch.device("cuda", 0) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("fashion_torch.py: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    torch_step.set_tf32(precision in ("tf32", "bf16"))
    torch.manual_seed(seed)
    xtr, ytr = load(args.train, device, args.limit)
    xte, yte = load(args.test, device, args.limit)
    shape = tuple(xtr.shape[1:])

    def prep(x):
        return (x.float() * (1.0 / 255.0) - mean) / std

    xte_n = prep(xte)
    layers, _ = torch_step.build_layers(get("model", "layers", ""), shape)
    model = nn.Sequential(*(m for _, m in layers)).to(device)
    if get("model", "init", "he") == "he":
        he_init(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                          weight_decay=wd)
    loss_fn = nn.CrossEntropyLoss()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    steps_per_epoch = xtr.shape[0] // batch
    total_steps = epochs * steps_per_epoch
    warmup_steps = int(round(warmup_epochs * steps_per_epoch))

    def lr_at(step):  # core/schedule.cpp
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        if schedule != "cosine":
            return lr
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * lr * (1.0 + math.cos(math.pi * t))

    gen = torch.Generator(device=device).manual_seed(seed)
    print(f"# FASHION-torch torch={torch.__version__} config={args.config} epochs={epochs} "
          f"batch={batch} precision={precision} device={device.type} rows={xtr.shape[0]}",
          flush=True)
    step, reached, acc = 0, False, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(xtr.shape[0], device=device, generator=gen)
        loss_sum = torch.zeros((), device=device)
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            x = prep(xtr[idx])
            if hflip:
                flip = torch.rand(x.shape[0], device=device, generator=gen) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            with autocast:
                loss = loss_fn(model(x), ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            step += 1
        model.eval()
        correct = 0
        with torch.no_grad(), autocast:
            for b in range(0, xte_n.shape[0], 1000):
                correct += (model(xte_n[b:b + 1000]).argmax(1) == yte[b:b + 1000]).sum().item()
        acc = correct / xte_n.shape[0]
        now = time.time()
        print(f"FASHION-torch epoch={epoch} test_accuracy={acc:.4f} "
              f"train_loss={loss_sum.item() / max(1, steps_per_epoch):.4f} time={now:.3f} "
              f"elapsed_s={now - T_START:.2f}", flush=True)
        if not reached and acc >= args.target:
            reached = True
            print(f"FASHION-torch target={args.target} reached epoch={epoch} "
                  f"elapsed_s={now - T_START:.2f} time={now:.3f}", flush=True)
            if not args.full:
                break
    print(f"FASHION-torch done epochs={epoch} final_test_accuracy={acc:.4f} "
          f"reached={int(reached)} elapsed_s={time.time() - T_START:.2f} start={T_START:.3f}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
