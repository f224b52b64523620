#!/usr/bin/env bash
# lockstep export checked in a real runtime: the layers of the Fashion MLP,
# CNN, CNN+BN and ResNet examples (with their input normalisation), a model
# of every other layer kind and a regressor (float features, per-column
# normalisation), trained briefly on synthetic data, exported (and
# CNN+BN and ResNet also with BatchNorm folded); each file passes the onnx
# package's checker with strict shape inference (where python3-onnx is
# installed; the C++ checker runs inside every export) and ONNX Runtime
# (npm's onnxruntime-node, CPU) gives the probabilities (the regressor: the
# outputs) `lockstep predict` writes, to 1e-5 relative per output. Then the errors: a truncated ONNX
# file, a graph whose input does not fit the data, a missing model; nothing
# is written. ONNX Runtime is installed into ORT_DIR on the first run
# (npm install --ignore-scripts onnxruntime-node); without npm or network the
# runtime checks are skipped (exit 77 after the other checks).
# Usage: onnx_runtime_test.sh LOCKSTEP_BIN SOURCE_DIR ORT_DIR
set -euo pipefail
bin=$1 src=$2 ort_dir=$3
source "$src/tests/cli/common.sh"
here="$src/tests/onnx"
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c "import h5py, numpy" 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "SKIP: no python3 with h5py and numpy (Debian: python3-h5py)"; exit 77; }
"$bin" export --model none.h5 --out "$work/none.onnx" 2>&1 | grep -q "built without ONNX support" &&
  { echo "SKIP: lockstep was built without ONNX support (libonnx-dev libprotobuf-dev)"; exit 77; }
py_onnx=0
"$py" -c "import onnx" 2>/dev/null && py_onnx=1
[[ $py_onnx == 1 ]] || echo "note: no python3 onnx package (Debian: python3-onnx): its checker is not run"

# ONNX Runtime: npm's onnxruntime-node ships the CPU library. --ignore-scripts
# skips only its install script, which downloads a GPU add-on.
ort=0
if [[ -d "$ort_dir/node_modules/onnxruntime-node" ]]; then
  ort=1
elif command -v npm >/dev/null && command -v node >/dev/null; then
  mkdir -p "$ort_dir"
  if timeout 300 npm install --prefix "$ort_dir" --ignore-scripts --no-audit --no-fund \
    onnxruntime-node >"$work/npm.log" 2>&1; then
    ort=1
  else
    echo "note: npm install onnxruntime-node failed (no network?):"; tail -3 "$work/npm.log"
  fi
else
  echo "note: no npm/node (Debian: npm): ONNX Runtime checks skipped"
fi

train() { "$bin" train --dist.device cpu --log.dir "$work/runs" --log.progress off \
  --checkpoint.every_epochs 0 "$@" >/dev/null; }
layers_of() { sed -n 's/^layers *= *//p' "$src/examples/$1.ini"; }
"$bin" datagen --out "$work/g28.h5" --samples 160 --shape 1x28x28 --classes 10 --seed 1 >/dev/null
"$bin" datagen --out "$work/g32.h5" --samples 96 --shape 3x32x32 --classes 10 --seed 2 >/dev/null
"$bin" datagen --out "$work/g12.h5" --samples 120 --shape 2x12x12 --classes 3 --seed 3 >/dev/null
"$bin" datagen --out "$work/g16.h5" --samples 96 --shape 3x16x16 --classes 4 --seed 4 >/dev/null
common=(--train.epochs 1 --train.batch_size 32 --optim.lr 0.05)
fashion=(--data.mean 0.2860 --data.std 0.3530 "${common[@]}")
train --log.name mlp --model.layers "$(layers_of fashion_mnist_mlp)" --data.train "$work/g28.h5" "${fashion[@]}"
train --log.name cnn --model.layers "$(layers_of fashion_mnist_cnn)" --data.train "$work/g28.h5" "${fashion[@]}"
train --log.name cnn_bn --model.layers "$(layers_of fashion_mnist_cnn_bn)" --data.train "$work/g28.h5" "${fashion[@]}"
train --log.name resnet --model.layers "$(layers_of perception_resnet)" --data.train "$work/g32.h5" \
  --data.mean 0.3 --data.std 0.3 "${common[@]}"
# Every other layer kind and option: sigmoid, tanh, average pooling with
# padding, nobias, flatten, BatchNorm on dense features with its own eps,
# nested residual blocks; per-channel normalisation.
train --log.name kinds --data.train "$work/g12.h5" --data.mean 0.2,0.4 --data.std 0.5,0.25 "${common[@]}" \
  --model.layers "conv2d(4, 3, padding=1, nobias), bn, sigmoid, avgpool2d(3, stride=2, padding=1), residual(conv2d(4, 3, padding=1), tanh, residual(conv2d(4, 1), relu)), maxpool2d(3, stride=1, padding=1), flatten, dense(8), batchnorm(eps=0.001), tanh, dropout(0.1), dense(3), sigmoid, dense(3)"
# A U-Net-like DAG: encoder outputs named and read back by concat and add.
train --log.name unet --data.train "$work/g16.h5" --data.mean 0.4 --data.std 0.3 "${common[@]}" \
  --model.layers "conv2d(8, 3, padding=1), relu @e1, maxpool2d(2), conv2d(8, 3, padding=1), relu @e2, maxpool2d(2), conv2d(8, 3, padding=1), upsample(2, mode=bilinear), concat(@e2), conv2d(8, 3, padding=1), relu, conv_transpose2d(8, 3, stride=2, padding=1, output_padding=1), add(@e1), upsample(2), conv2d(8, 3, stride=2, padding=1), relu @d, conv_transpose2d(8, 2, nobias), maxpool2d(2), concat(@d), global_avg_pool, dense(4)"

# A regressor (mse: the graph's only output is "logits") on float features
# with per-column standardisation.
awk 'BEGIN { srand(7); print "a,b,c,d,y"; for (i = 0; i < 200; i++) {
  a = rand() * 10; b = rand(); c = rand() * 100; d = rand() - 0.5
  printf "%.4f,%.4f,%.4f,%.4f,%.4f\n", a, b, c, d, a * b - c / 50 + d } }' >"$work/reg.csv"
"$bin" import csv --input "$work/reg.csv" --out "$work/reg.h5" --label-column y --regression >/dev/null
train --log.name reg --model.loss mse --data.train "$work/reg.h5" --data.mean 5,0.5,50,0 \
  --data.std 3,0.3,30,0.3 --train.epochs 1 --train.batch_size 32 --optim.lr 0.01 \
  --model.layers "dense(16), tanh, dense(1)"

check_model() {  # name model.h5 data.h5 [export flags]
  local name=$1 model=$2 data=$3; shift 3
  local onnx="$work/$name.onnx" out="$work/ort_$name"
  "$bin" export --model "$model" --out "$onnx" "$@" >"$work/export.log" || { cat "$work/export.log"; bad "$name: export"; return; }
  ok "$name: export ($(head -1 "$work/export.log" | sed 's/^wrote [^:]*: //'))"
  if [[ $py_onnx == 1 ]]; then
    "$py" "$here/compare.py" check "$onnx" >/dev/null && ok "$name: onnx checker (python)" || bad "$name: onnx checker (python)"
  fi
  [[ $ort == 1 ]] || return 0
  "$bin" predict --device cpu --model "$model" --data "$data" --out "$work/pred_$name.h5" >/dev/null
  "$py" "$here/compare.py" features "$data" "$work/x_$name.f32"
  local dims
  dims=$(h5dump -H "$data" | grep -A2 'DATASET "features"' | grep -oE '\( [0-9, ]+\)' | head -1 | tr -d '() ')
  mkdir -p "$out"
  NODE_PATH="$ort_dir/node_modules" node "$here/ort_run.js" "$onnx" "$work/x_$name.f32" "$dims" "$out" >/dev/null ||
    { bad "$name: ONNX Runtime run"; return; }
  local result="$out/probabilities.f32"
  [[ -e $result ]] || result="$out/logits.f32"  # a regressor
  if "$py" "$here/compare.py" close "$work/pred_$name.h5" "$result" 1e-5 "$name" | tee "$work/close.txt"; then
    ok "$name: ONNX Runtime equals lockstep predict"
  else
    bad "$name: ONNX Runtime differs from lockstep predict"
  fi
}

check_model fashion_mlp "$work/runs/mlp/final.h5" "$work/g28.h5"
check_model fashion_cnn "$work/runs/cnn/final.h5" "$work/g28.h5"
check_model fashion_cnn_bn "$work/runs/cnn_bn/final.h5" "$work/g28.h5"
check_model fashion_cnn_bn_folded "$work/runs/cnn_bn/final.h5" "$work/g28.h5" --fold-batchnorm
check_model resnet "$work/runs/resnet/final.h5" "$work/g32.h5"
check_model resnet_folded "$work/runs/resnet/final.h5" "$work/g32.h5" --fold-batchnorm
check_model layer_kinds "$work/runs/kinds/final.h5" "$work/g12.h5"
check_model unet "$work/runs/unet/final.h5" "$work/g16.h5"
check_model regressor "$work/runs/reg/final.h5" "$work/reg.h5"

# ---- errors: nothing written
out="$work/never.h5"
head -c 3000 "$work/resnet.onnx" >"$work/truncated.onnx"
if msg=$("$bin" import onnx "$work/truncated.onnx" --out "$out" 2>&1); then bad "truncated file accepted"
elif [[ $msg == *truncated.onnx* && ! -e $out ]]; then ok "truncated file: $(echo "$msg" | head -1 | cut -c1-150)"
else bad "truncated file: $msg"; fi
"$bin" export --model "$work/runs/mlp/final.h5" --out "$work/mlp_plain.onnx" --no-normalisation >/dev/null
if msg=$("$bin" import onnx "$work/mlp_plain.onnx" --data "$work/g12.h5" --out "$out" 2>&1); then bad "mismatched input accepted"
elif [[ $msg == *"(1, 28, 28)"* && $msg == *"(2, 12, 12)"* && ! -e $out ]]; then ok "input shape mismatch: $(echo "$msg" | head -1 | cut -c1-160)"
else bad "input shape mismatch: $msg"; fi
if msg=$("$bin" export --model "$work/missing.h5" --out "$work/m.onnx" 2>&1); then bad "missing model accepted"
elif [[ $msg == *missing.h5* && ! -e $work/m.onnx ]]; then ok "missing model: $(echo "$msg" | head -1 | cut -c1-120)"
else bad "missing model: $msg"; fi
# The re-import of an export without normalisation gives the same predictions.
"$bin" import onnx "$work/mlp_plain.onnx" --out "$work/mlp_back.h5" --mean 0.2860 --std 0.3530 >/dev/null
"$bin" predict --device cpu --model "$work/mlp_back.h5" --data "$work/g28.h5" --out "$work/pred_back.h5" >/dev/null
"$bin" predict --device cpu --model "$work/runs/mlp/final.h5" --data "$work/g28.h5" --out "$work/pred_mlp.h5" >/dev/null
h5diff -d 0 "$work/pred_mlp.h5" "$work/pred_back.h5" /probabilities >/dev/null && ok "export + import of the MLP: the same predictions" ||
  bad "export + import of the MLP changes its predictions"
# The U-Net likewise: its skips come back as named outputs.
"$bin" export --model "$work/runs/unet/final.h5" --out "$work/unet_plain.onnx" --no-normalisation >/dev/null
"$bin" import onnx "$work/unet_plain.onnx" --out "$work/unet_back.h5" --mean 0.4 --std 0.3 >"$work/import.log"
"$bin" predict --device cpu --model "$work/unet_back.h5" --data "$work/g16.h5" --out "$work/pred_unet_back.h5" >/dev/null
"$bin" predict --device cpu --model "$work/runs/unet/final.h5" --data "$work/g16.h5" --out "$work/pred_unet.h5" >/dev/null
if grep -q "concat(@skip" "$work/import.log" && grep -q "add(@skip" "$work/import.log" &&
  "$py" "$here/compare.py" close "$work/pred_unet.h5" "$work/pred_unet_back.h5" 1e-6 "unet re-import"; then
  ok "export + import of the U-Net: named skips, the same predictions"
else
  cat "$work/import.log"; bad "export + import of the U-Net"
fi
# Per pixel: the U-Net's decoder output (layer 13, after its nearest upsampling:
# (8, 32, 32)) cut out of the export by the onnx package, imported as a
# regression model, exported again: ONNX Runtime gives each of its 8192
# outputs as lockstep predict does.
if [[ $py_onnx == 1 ]]; then
  "$py" "$here/compare.py" body "$work/unet_plain.onnx" "$work/unet_body.onnx" l13.upsample
  "$bin" import onnx "$work/unet_body.onnx" --out "$work/unet_body.h5" --loss mse --mean 0.4 --std 0.3 >"$work/import.log" ||
    { cat "$work/import.log"; bad "unet body: import"; }
  check_model unet_pixels "$work/unet_body.h5" "$work/g16.h5" --input-type uint8
fi

echo "$passed passed, $failed failed"
((failed == 0)) || exit 1
if [[ $ort == 0 ]]; then echo "SKIP: ONNX Runtime checks (npm's onnxruntime-node unavailable)"; exit 77; fi
