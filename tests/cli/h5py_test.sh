#!/usr/bin/env bash
# The file formats are readable with h5py (README "File formats"): trains a tiny
# classifier with checkpoints, predicts on a CSV, and has h5py_check.py read the
# saved model, a checkpoint and the predictions with h5py and NumPy alone and
# recompute the predictions. Exits 77 (skipped) when no Python has h5py.
# Usage: h5py_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import h5py, numpy' 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "SKIP: no python3 with h5py and numpy (Debian: python3-h5py)"; exit 77; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$bin" datagen --out "$work/train.h5" --samples 200 --shape 1x4x4 --classes 3 --seed 1 >/dev/null
"$bin" train --dist.device cpu --model.layers "dense(8), relu, dense(3)" --data.train "$work/train.h5" \
  --train.epochs 2 --train.batch_size 16 --log.dir "$work/runs" --log.name r --log.progress off >/dev/null
"$py" -c 'import numpy as np; np.savetxt("'"$work"'/x.csv", np.random.default_rng(3).normal(size=(25, 16)), delimiter=",", fmt="%.6f")'
"$bin" predict --device cpu --model "$work/runs/r/final.h5" --data "$work/x.csv" --out "$work/p.h5" >/dev/null
ckpt=$(ls "$work"/runs/r/checkpoints/ckpt-*.h5 | tail -1)
"$py" "$src/tests/cli/h5py_check.py" "$work/runs/r/final.h5" "$ckpt" "$work/x.csv" "$work/p.h5"
