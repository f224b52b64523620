"""Reads lockstep's files with h5py alone (README "File formats"), as a user
would: a saved model's parameter slab through its layout, a checkpoint's
optimizer state and position, and a predictions file. Recomputes the model's
forward pass in NumPy from the file and compares it with `lockstep predict`.

Usage: h5py_check.py FINAL_H5 CHECKPOINT_H5 INPUT_CSV PREDICTIONS_H5
"""
import sys

import h5py
import numpy as np


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


final, ckpt, inputs, preds = sys.argv[1:5]

with h5py.File(final, "r") as f:
    if text(f.attrs["lockstep_format"]) != "model/1":
        fail(f"{final}: lockstep_format {f.attrs['lockstep_format']!r}, expected 'model/1'")
    layers = text(f.attrs["layers"])
    p = f["parameters"][:]
    weights = {}
    for name, off, shape in zip(f["layout/names"].asstr(), f["layout/offsets"],
                                f["layout/shapes"].asstr()):
        dims = [int(d) for d in shape.split("x")]
        weights[name] = p[off:off + int(np.prod(dims))].reshape(dims)
print(f"ok   {final}: model/1, layers '{layers}', {p.size} parameters in {len(weights)} tensors")

# The model of h5py_test.sh: dense(8), relu, dense(3) with softmax outputs.
x = np.loadtxt(inputs, delimiter=",", dtype=np.float32, ndmin=2)
h = np.maximum(x @ weights["0.weight"].T + weights["0.bias"], 0)
z = h @ weights["2.weight"].T + weights["2.bias"]
z = z - z.max(axis=1, keepdims=True)
prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
with h5py.File(preds, "r") as f:
    if text(f.attrs["lockstep_format"]) != "predictions/1":
        fail(f"{preds}: lockstep_format {f.attrs['lockstep_format']!r}")
    got = f["probabilities"][:]
    cls = f["class"][:]
if got.shape != prob.shape:
    fail(f"probabilities shape {got.shape}, NumPy gives {prob.shape}")
err = np.abs(got - prob).max()
if err > 1e-5:
    fail(f"predict's probabilities differ from NumPy's forward pass on the file's weights by {err}")
if not np.array_equal(cls, got.argmax(axis=1)):
    fail("/class is not the argmax of /probabilities")
print(f"ok   NumPy forward pass on the h5py-read weights = lockstep predict (max diff {err:.1e})")

with h5py.File(ckpt, "r") as f:
    if text(f.attrs["lockstep_format"]) != "checkpoint/1":
        fail(f"{ckpt}: lockstep_format {f.attrs['lockstep_format']!r}, expected 'checkpoint/1'")
    for a in ("step", "epoch", "step_in_epoch", "world_size", "seed"):
        if a not in f.attrs:
            fail(f"{ckpt}: attribute {a} missing")
    v = f["optimizer/velocity"]
    if v.shape != f["parameters"].shape:
        fail(f"optimizer/velocity shape {v.shape} != parameters {f['parameters'].shape}")
    name = f["optimizer"].attrs.get("name", v.attrs.get("name", b""))
    if text(name) != "sgd":
        fail(f"optimizer name {name!r}, expected 'sgd'")
    step = int(f.attrs["step"])
print(f"ok   {ckpt}: checkpoint/1 at step {step}, SGD velocity {v.shape}")
print("3 passed, 0 failed")
