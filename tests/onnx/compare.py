"""Helpers of the ONNX tests (numpy, h5py; onnx when installed).

  compare.py features DATA.h5 OUT.f32       raw features (as stored) to float32
  compare.py check MODEL.onnx               the onnx package's checker + strict shape inference
  compare.py body MODEL.onnx OUT.onnx VALUE the part of the graph from its input to VALUE
                                            (onnx.utils.extract_model), VALUE its output
  compare.py close PRED.h5 ORT.f32 TOL NAME lockstep predict's output vs ONNX Runtime's
                                            (or vs OTHER.h5's dataset of the same name)

`close` compares per output (column): max |a - b| / max(|b|) over the rows,
with max(|b|) the largest magnitude of that output, and prints the largest
figure over all outputs; it fails above TOL.
"""
import sys

import h5py
import numpy as np


def features(data, out):
    with h5py.File(data, "r") as f:
        np.ascontiguousarray(f["features"][...], dtype="<f4").tofile(out)


def check(model):
    import onnx
    m = onnx.load(model)
    onnx.checker.check_model(m, full_check=True)
    onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    print(f"onnx {onnx.__version__}: checker and strict shape inference pass ({model})")


def body(model, out, value):
    import onnx
    import onnx.utils
    m = onnx.load(model)
    onnx.utils.extract_model(model, out, [m.graph.input[0].name], [value])


def close(pred, ort_out, tol, name):
    with h5py.File(pred, "r") as f:
        key = "probabilities" if "probabilities" in f else "outputs"
        ref = f[key][...]
    if ort_out.endswith(".h5"):  # another program's outputs (PyTorch's), same dataset name
        with h5py.File(ort_out, "r") as f:
            got = f[key][...]
    else:
        got = np.fromfile(ort_out, dtype="<f4").reshape(ref.shape)
    ref = ref.astype(np.float64)
    got = got.astype(np.float64)
    scale = np.maximum(np.abs(ref).max(axis=0), 1e-30)
    rel = (np.abs(got - ref).max(axis=0) / scale).max()
    elem = (np.abs(got - ref) / np.maximum(np.abs(ref), 1e-30)).max()
    print(f"{name}: {ref.shape[0]} rows x {ref.shape[1]} outputs, max relative difference "
          f"per output {rel:.3g} (per element {elem:.3g}), tolerance {tol}")
    return rel <= float(tol)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "features":
        features(*sys.argv[2:4])
    elif cmd == "check":
        check(sys.argv[2])
    elif cmd == "body":
        body(*sys.argv[2:5])
    elif cmd == "close":
        sys.exit(0 if close(*sys.argv[2:6]) else 1)
    else:
        sys.exit(f"compare.py: unknown command {cmd}")
