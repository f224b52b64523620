#!/usr/bin/env python3
"""The U-Net of examples/segmentation_unet.ini in PyTorch, trained on the same
files with the same budget (epochs, batch, Adam, cosine schedule with warm-up,
horizontal flips, normalisation), for bench/run_unet.sh.

Prints the test set's pixel accuracy, per-class IoU and mean IoU (over the
classes that occur in the labels or the predictions, as `lockstep eval`
does), and the training samples/s.

Usage: unet_torch.py TRAIN.h5 TEST.h5 [--epochs 8] [--batch 32] [--lr 0.002]
       [--threads 2] [--seed 1] [--steps N (timing only: N steps, no eval)]
"""
import argparse
import json
import math
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class UNet(nn.Module):
    def __init__(self, cin=3, classes=11):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())

        self.enc1 = nn.Sequential(block(cin, 16), block(16, 16))
        self.enc2 = block(16, 32)
        self.mid = block(32, 64)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2 = block(64, 32)
        self.dec1 = block(48, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        u = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([u, e1], 1))
        return self.head(d1)


def load(path):
    with h5py.File(path, "r") as f:
        x = f["features"][...]
        y = f["labels"][...].astype(np.int64)
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs.get("class_names", [])]
    return x, y, names


def normalise(xb):
    return (torch.from_numpy(xb).float() / 255.0 - 0.5) / 0.25


def evaluate(model, x, y, classes, batch=100):
    model.eval()
    confusion = np.zeros((classes, classes), dtype=np.int64)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            pred = model(normalise(x[i:i + batch])).argmax(1).numpy()
            truth = y[i:i + batch]
            confusion += np.bincount(truth.ravel() * classes + pred.ravel(),
                                     minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = [float(tp[c] / union[c]) if union[c] > 0 else None for c in range(classes)]
    present = [v for v in iou if v is not None]
    return {"pixel_accuracy": float(tp.sum() / confusion.sum()), "iou": iou,
            "mean_iou": float(np.mean(present))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    x, y, names = load(a.train)
    classes = max(len(names), int(y.max()) + 1)
    model = UNet(x.shape[1], classes)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps_per_epoch = len(x) // a.batch
    total = steps_per_epoch * a.epochs
    warmup = round(a.warmup * steps_per_epoch)

    def lr_at(step):
        if step < warmup:
            return a.lr * (step + 1) / warmup
        return 0.5 * a.lr * (1 + math.cos(math.pi * step / total))

    step, t0, trained = 0, time.time(), 0
    for epoch in range(a.epochs):
        model.train()
        order = rng.permutation(len(x))
        for s in range(steps_per_epoch):
            idx = np.sort(order[s * a.batch:(s + 1) * a.batch])
            xb, yb = x[idx], y[idx]
            flip = rng.random(len(idx)) < 0.5
            xb = np.where(flip[:, None, None, None], xb[..., ::-1], xb)
            yb = np.where(flip[:, None, None], yb[..., ::-1], yb)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(normalise(np.ascontiguousarray(xb))),
                                   torch.from_numpy(np.ascontiguousarray(yb)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            trained += len(idx)
            if a.steps and step >= a.steps:
                print(json.dumps({"samples_per_s": trained / (time.time() - t0)}))
                return
        print(f"epoch {epoch + 1}/{a.epochs} loss {loss.item():.4f}", flush=True)
    seconds = time.time() - t0
    xt, yt, _ = load(a.test)
    r = evaluate(model, xt, yt, classes)
    r["samples_per_s"] = trained / seconds
    r["class_names"] = names
    print(json.dumps(r))


if __name__ == "__main__":
    main()
