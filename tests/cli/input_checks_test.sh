#!/usr/bin/env bash
# Input that cannot train is refused before training, naming what is wrong, on
# every rank and promptly (never a hang, never a misleading later error):
#  - NaN / Inf in float features: train (in-memory and streamed shards), eval
#    and predict name the file, the dataset and the first row (not "non-finite
#    loss at step 0");
#  - a dataset compressed with h5py's LZF, which libhdf5 cannot decode: the
#    file, the dataset and the filter are named (not HDF5's plugin folder);
#  - a model whose last layer's width is not the class count (fewer or more
#    outputs; the count from the labels or from the class_names attribute):
#    the last layer and the class count are named, not a class id in the data.
# Files are written with h5py; exits 77 (skipped) when no Python has it.
# Usage: input_checks_test.sh LOCKSTEP_BIN
set -euo pipefail
bin=$1
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import h5py, numpy' 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "SKIP: no python3 with h5py and numpy (Debian: python3-h5py)"; exit 77; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# 64 rows of 6 float features, 4 classes (ids i % 4); variants with a NaN at
# row 40, an Inf at row 3, LZF compression, and a class_names attribute of 5.
"$py" - "$work" <<'PY'
import sys
import h5py
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
x = rng.normal(size=(64, 6)).astype(np.float32)
y = (np.arange(64) % 4).astype(np.int32)
def write(name, x, y, compression=None, names=None):
    with h5py.File(f"{d}/{name}", "w") as f:
        f.create_dataset("features", data=x, compression=compression, chunks=(16, 6) if compression else None)
        f.create_dataset("labels", data=y)
        if names:
            f.attrs["class_names"] = names
write("good.h5", x, y)
bad = x.copy(); bad[40, 2] = np.nan
write("nan.h5", bad, y)
bad = x.copy(); bad[3, 5] = np.inf
write("inf.h5", bad, y)
write("lzf.h5", x, y, compression="lzf")
write("named.h5", x, y, names=["a", "b", "c", "d", "e"])
PY

train() {  # NP -- train args; output in $work/out.log, exit code in $rc
  local np=$1; shift 2
  rc=0
  timeout 120 "${mpi[@]}" -np "$np" "$bin" train --dist.device cpu --log.dir "$work/runs" \
    --log.progress off --checkpoint.every_epochs 0 --train.epochs 1 --train.batch_size 8 \
    "$@" >"$work/out.log" 2>&1 || rc=$?
}
expect_error() {  # NAME PATTERN: the last command failed (not a timeout) with PATTERN
  [[ $rc -ne 0 && $rc -ne 124 ]] || { cat "$work/out.log"; fail "$1: exit code $rc"; }
  grep -qE "$2" "$work/out.log" || { cat "$work/out.log"; fail "$1: no /$2/"; }
  ! grep -q "non-finite loss" "$work/out.log" || fail "$1: blamed the loss"
  echo "ok   $1: $(grep -m1 -E "$2" "$work/out.log" | cut -c1-200)"
}

# ---- NaN / Inf in features
train 2 -- --model.layers "dense(4)" --data.train "$work/nan.h5" --log.name nan
expect_error "train, NaN" "nan.h5'?: dataset '/features' row 40 holds nan"
train 2 -- --model.layers "dense(4)" --data.train "$work/inf.h5" --log.name inf
expect_error "train, Inf" "inf.h5'?: dataset '/features' row 3 holds inf"
# Streamed (the shard exceeds data.memory_mb): the NaN is met by rank 1's reader thread.
train 2 -- --model.layers "dense(4)" --data.train "$work/nan.h5" --data.memory_mb 0.0015 --log.name nan_stream
expect_error "train streamed, NaN" "nan.h5'?: dataset '/features' row 40 holds nan"
# A test set with a NaN (evaluated at the end of the epoch) is refused at start-up.
train 2 -- --model.layers "dense(4)" --data.train "$work/good.h5" --data.test "$work/nan.h5" --log.name nan_test
expect_error "train, NaN test set" "nan.h5'?: dataset '/features' row 40 holds nan"

train 1 -- --model.layers "dense(4)" --data.train "$work/good.h5" --log.name good
[[ $rc -eq 0 ]] || { cat "$work/out.log"; fail "training on good.h5: exit code $rc"; }
model="$work/runs/good/final.h5"
rc=0
timeout 120 "${mpi[@]}" -np 2 "$bin" eval --device cpu --model "$model" --data "$work/nan.h5" \
  >"$work/out.log" 2>&1 || rc=$?
expect_error "eval, NaN" "nan.h5'?: dataset '/features' row 40 holds nan"
rc=0
timeout 120 "${mpi[@]}" -np 2 "$bin" predict --device cpu --model "$model" --data "$work/nan.h5" \
  --out "$work/p.csv" >"$work/out.log" 2>&1 || rc=$?
expect_error "predict, NaN" "nan.h5'?: dataset '/features' row 40 holds nan"
[[ ! -e $work/p.csv ]] || fail "predict wrote an output for NaN input"
printf 'a,b,c,d,e,f\n1,2,3,4,5,6\n1,2,nan,4,5,6\n' >"$work/nan.csv"
rc=0
timeout 120 "${mpi[@]}" -np 2 "$bin" predict --device cpu --model "$model" --data "$work/nan.csv" \
  --out "$work/p.csv" >"$work/out.log" 2>&1 || rc=$?
expect_error "predict CSV, NaN" "nan.csv:3: column 'c': 'nan' is not a finite number"

# ---- a filter libhdf5 cannot decode (an empty plugin folder, in case this
# machine has an LZF plugin installed)
mkdir "$work/no_plugins"
HDF5_PLUGIN_PATH="$work/no_plugins" train 2 -- --model.layers "dense(4)" --data.train "$work/lzf.h5" --log.name lzf
expect_error "train, LZF" "lzf.h5'?: dataset '/features' is compressed with filter 32000 \(lzf\), which this HDF5 library cannot decode"
! grep -q "can't open directory" "$work/out.log" || fail "LZF: HDF5's plugin message leaked"

# ---- the model's output width against the class count
train 2 -- --model.layers "dense(3)" --data.train "$work/good.h5" --log.name narrow
expect_error "3 outputs, 4 classes" "model.layers: the last layer, dense\(3\), gives 3 output\(s\), but the training data '.*good.h5' has 4 classes \(its labels '/labels' hold class ids up to 3: row 3 has class id 3\)"
train 2 -- --model.layers "dense(8), relu, dense(6)" --data.train "$work/good.h5" --log.name wide
expect_error "6 outputs, 4 classes" "the last layer, dense\(6\), gives 6 output\(s\).* has 4 classes"
train 2 -- --model.layers "dense(4)" --data.train "$work/named.h5" --log.name named
expect_error "4 outputs, 5 named classes" "dense\(4\), gives 4 output\(s\).* has 5 classes \(its class_names attribute names 5\)"
train 2 -- --model.layers "dense(5)" --data.train "$work/named.h5" --log.name named5
[[ $rc -eq 0 ]] || { cat "$work/out.log"; fail "5 outputs for 5 named classes: exit code $rc"; }
echo "PASS"
