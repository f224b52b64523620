#!/usr/bin/env bash
# The round trip from PyTorch: a ResNet-style classifier built in Debian's
# python3-torch (identity residual blocks with BatchNorm, max and average
# pooling, global average pooling, a Linear/Tanh/Dropout head), exported with
# torch.onnx.export both with BatchNormalization nodes and with them folded,
# imported with `lockstep import onnx`: `lockstep predict` gives PyTorch's
# logits (and softmax probabilities) to 1e-5 relative per output; fine-tuning
# the imported model for one epoch on 2 ranks (checkpoint.init, its layers
# taken from the file: no model.layers) lowers its loss. A small U-Net-like
# classifier (nn.Upsample nearest and bilinear, nn.ConvTranspose2d, torch.cat
# skips, an added skip) imports with named outputs and gives PyTorch's logits
# to 1e-5 likewise, and its body alone PyTorch's per-pixel outputs. What
# lockstep cannot express (Resize with align_corners=True, LeakyRelu) is an
# error naming the node and operator, and nothing is written.
# Skipped (exit 77) without a python3 that imports torch, onnx and h5py
# (Debian: python3-torch python3-onnx python3-h5py; launch/install_deps.sh).
# Usage: onnx_torch_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
source "$src/tests/cli/common.sh"
here="$src/tests/onnx"
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c "import torch, onnx, h5py" 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "SKIP: no python3 with torch, onnx and h5py (Debian: python3-torch python3-onnx python3-h5py)"; exit 77; }
"$bin" export --model none.h5 --out "$work/none.onnx" 2>&1 | grep -q "built without ONNX support" &&
  { echo "SKIP: lockstep was built without ONNX support (libonnx-dev libprotobuf-dev)"; exit 77; }

"$bin" datagen --out "$work/data.h5" --samples 384 --shape 3x16x16 --classes 4 --seed 5 >/dev/null
"$py" "$here/torch_resnet.py" "$work/data.h5" 4 "$work" 2>&1 | grep -v Warning | tail -1
for name in resnet resnet_folded; do
  "$bin" import onnx "$work/$name.onnx" --out "$work/${name}_mse.h5" --loss mse --data "$work/data.h5" >"$work/import.log" ||
    { cat "$work/import.log"; fail "$name: import"; }
  ok "$name: import ($(head -1 "$work/import.log" | sed 's/^wrote [^:]*: //'))"
  "$bin" predict --device cpu --model "$work/${name}_mse.h5" --data "$work/data.h5" --out "$work/p_$name.h5" >/dev/null
  "$py" "$here/compare.py" close "$work/p_$name.h5" "$work/logits.h5" 1e-5 "$name logits" &&
    ok "$name: lockstep predict equals PyTorch's logits" || bad "$name: lockstep predict differs from PyTorch"
done
"$bin" import onnx "$work/resnet.onnx" --out "$work/resnet.h5" --data "$work/data.h5" >"$work/import.log"
layers=$(sed -n 's/^layers: //p' "$work/import.log")
grep -q batchnorm <<<"$layers" && ok "BatchNormalization imported as batchnorm" || bad "no batchnorm in '$layers'"
"$bin" predict --device cpu --model "$work/resnet.h5" --data "$work/data.h5" --out "$work/p_cls.h5" >/dev/null
"$py" "$here/compare.py" close "$work/p_cls.h5" "$work/logits.h5" 1e-5 "resnet probabilities" &&
  ok "classifier: probabilities equal PyTorch's softmax" || bad "classifier probabilities differ"

# ---- a U-Net-like module: Resize (nearest, bilinear), ConvTranspose, Concat and Add skips
"$py" "$here/torch_resnet.py" unet "$work/data.h5" 4 "$work" 2>&1 | grep -v Warning | tail -1
"$bin" import onnx "$work/unet.onnx" --out "$work/unet.h5" --loss mse --data "$work/data.h5" >"$work/import.log" ||
  { cat "$work/import.log"; fail "unet: import"; }
ok "unet: import ($(head -1 "$work/import.log" | sed 's/^wrote [^:]*: //'))"
unet_layers=$(sed -n 's/^layers: //p' "$work/import.log")
echo "unet layers: $unet_layers"
for want in "upsample(2, mode=bilinear)" "upsample(2)" "conv_transpose2d(6, 3, padding=1, output_padding=1)" \
  "concat(@skip" "add(@skip"; do
  [[ $unet_layers == *"$want"* ]] && ok "unet: imported $want" || bad "unet: no $want in '$unet_layers'"
done
"$bin" predict --device cpu --model "$work/unet.h5" --data "$work/data.h5" --out "$work/p_unet.h5" >/dev/null
"$py" "$here/compare.py" close "$work/p_unet.h5" "$work/unet_logits.h5" 1e-5 "unet logits" &&
  ok "unet: lockstep predict equals PyTorch's logits" || bad "unet: lockstep predict differs from PyTorch"
# Its body alone: every per-pixel output (8 x 16 x 16 per row).
"$bin" import onnx "$work/unet_pixels.onnx" --out "$work/unet_pixels.h5" --loss mse --data "$work/data.h5" >"$work/import.log" ||
  { cat "$work/import.log"; fail "unet_pixels: import"; }
"$bin" predict --device cpu --model "$work/unet_pixels.h5" --data "$work/data.h5" --out "$work/p_unet_pixels.h5" >/dev/null
"$py" "$here/compare.py" close "$work/p_unet_pixels.h5" "$work/unet_pixels_logits.h5" 1e-5 "unet per-pixel outputs" &&
  ok "unet body: lockstep predict equals PyTorch per pixel" || bad "unet body: lockstep predict differs from PyTorch"

# ---- fine-tuning on 2 ranks from the imported weights
loss_of() { "$bin" eval --device cpu --model "$1" --data "$work/data.h5" | sed -n 's/^loss *//p' | awk '{print $1}'; }
before=$(loss_of "$work/resnet.h5")
timeout 300 "${mpi[@]}" -np 2 "$bin" train --dist.device cpu --log.dir "$work/runs" --log.progress off \
  --checkpoint.every_epochs 0 --checkpoint.init "$work/resnet.h5" \
  --data.train "$work/data.h5" --train.epochs 1 --train.batch_size 16 --optim.lr 0.1 \
  --optim.momentum 0.9 --log.name ft >"$work/train.log" 2>&1 || { cat "$work/train.log"; fail "fine-tuning on 2 ranks"; }
after=$(loss_of "$work/runs/ft/final.h5")
echo "fine-tuning: loss $before before, $after after one epoch on 2 ranks"
awk -v a="$after" -v b="$before" 'BEGIN { exit !(a < b) }' && ok "fine-tuning on 2 ranks lowers the loss" ||
  bad "fine-tuning did not lower the loss ($before -> $after)"

# ---- operators lockstep does not have: the node and operator named, nothing written
"$py" "$here/torch_resnet.py" unsupported "$work" 2>&1 | grep -v Warning || true
for case in "upsample_corners:(Resize):coordinate_transformation_mode = align_corners" \
  "leaky:(LeakyRelu):unsupported operator"; do
  IFS=: read -r name op words <<<"$case"
  if msg=$("$bin" import onnx "$work/$name.onnx" --out "$work/never.h5" 2>&1); then bad "$name accepted"
  elif [[ $msg == *"node '"* && $msg == *"$op"* && $msg == *"$words"* && ! -e $work/never.h5 ]]; then
    ok "$name: $(echo "$msg" | head -1 | cut -c1-160)"
  else bad "$name: $msg"; fi
done

echo "$passed passed, $failed failed"
((failed == 0))
