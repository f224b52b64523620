#!/usr/bin/env bash
# Semantic segmentation end to end: composed Fashion-MNIST scenes from
# `datagen --task segmentation`, the U-Net of examples/segmentation_unet.ini
# trained on 2 ranks, `eval` (pixel accuracy, per-class and mean IoU) the same
# on 1 and 2 ranks and above a floor, `predict` per-pixel class maps the same
# on 1 and 2 ranks, their accuracy the eval's, and a CSV output refused.
# Skips without Debian's dataset-fashion-mnist.
# Usage: segmentation_test.sh LOCKSTEP_BIN SOURCE_DIR
set -uo pipefail
bin=$1 src=$2
# shellcheck source=tests/cli/common.sh
source "$(dirname "$0")/common.sh"
fm=/usr/share/datasets/fashion-mnist
if [[ ! -e $fm/t10k-images-idx3-ubyte.gz ]]; then
  echo "SKIPPED: no $fm (apt-get install dataset-fashion-mnist)"
  exit 77
fi
py=/usr/bin/python3

"$bin" datagen --task segmentation --shape 3x32x32 --samples 1000 --seed 3 --out "$work/train.h5" \
  --test-out "$work/test.h5" --test-samples 200 >/dev/null || fail "datagen --task segmentation"
timeout 600 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/segmentation_unet.ini" \
  --data.train "$work/train.h5" --data.test "$work/test.h5" --train.epochs 5 \
  --dist.device cpu --dist.threads 1 --log.dir "$work/runs" --log.name unet --log.progress off \
  --checkpoint.every_epochs 0 >"$work/train.log" 2>&1 || { tail -20 "$work/train.log"; fail "training the U-Net on 2 ranks"; }
model="$work/runs/unet/final.h5"
[[ -f $model ]] && ok "the U-Net trained on 2 ranks (final.h5)" || fail "no final.h5"

"$bin" eval --device cpu --model "$model" --data "$work/test.h5" --json "$work/e1.json" \
  >"$work/e1.txt" || fail "eval on 1 rank"
timeout 300 "${mpi[@]}" -np 2 "$bin" eval --device cpu --model "$model" --data "$work/test.h5" \
  --json "$work/e2.json" >/dev/null || fail "eval on 2 ranks"
cmp -s "$work/e1.json" "$work/e2.json" && ok "eval --json identical on 1 and 2 ranks" ||
  bad "eval differs between 1 and 2 ranks"
# The floor: twice the mean IoU of predicting background everywhere (the
# background's share of the pixels, over the 11 classes).
miou=$("$py" - "$work/e1.json" "$work/test.h5" <<'PY'
import json, sys
import h5py
r = json.load(open(sys.argv[1]))
y = h5py.File(sys.argv[2], "r")["labels"][...]
print(r["task"], r["mean_iou"], len(r["classes"]), 2 * float((y == 0).mean()) / 11,
      r["class_names"] is not None and r["class_names"][0] == "background")
PY
)
read -r task m classes floor named <<<"$miou"
[[ $named == True ]] && ok "eval names the classes (background first)" || bad "eval lost the class names"
echo "test mean IoU after 5 epochs: $m (floor $floor: twice all-background's), $classes classes"
[[ $task == segmentation && $classes == 11 ]] && ok "eval reports a segmentation with 11 classes" ||
  bad "eval: task $task, $classes classes"
awk -v m="$m" -v f="$floor" 'BEGIN { exit !(m > f) }' && ok "mean IoU $m above $floor" || bad "mean IoU $m below $floor"

"$bin" predict --device cpu --model "$model" --data "$work/test.h5" --out "$work/p1.h5" >/dev/null ||
  fail "predict on 1 rank"
timeout 300 "${mpi[@]}" -np 2 "$bin" predict --device cpu --model "$model" --data "$work/test.h5" \
  --out "$work/p2.h5" --batch-size 64 >/dev/null || fail "predict on 2 ranks"
"$bin" predict --device cpu --model "$model" --data "$work/test.h5" --out "$work/p3.h5" \
  --png-dir "$work/png" >/dev/null || fail "predict --png-dir"
check=$("$py" - "$work/p1.h5" "$work/p2.h5" "$work/test.h5" "$work/e1.json" "$work/png" <<'PY'
import json, sys
import h5py, numpy as np
from PIL import Image
a = h5py.File(sys.argv[1], "r")["class"][...]
b = h5py.File(sys.argv[2], "r")["class"][...]
y = h5py.File(sys.argv[3], "r")["labels"][...]
r = json.load(open(sys.argv[4]))
png = np.stack([np.asarray(Image.open(f"{sys.argv[5]}/{i:06d}.png")) for i in range(len(a))])
print(a.shape == (200, 32, 32) and a.dtype == np.int32, np.array_equal(a, b),
      abs(float((a == y).mean()) - r["pixel_accuracy"]) < 1e-9, np.array_equal(png, a))
PY
)
read -r shape same acc pngs <<<"$check"
[[ $pngs == True ]] && ok "--png-dir: one grayscale PNG per row holding the class ids" || bad "PNG masks differ from the class maps"
[[ $shape == True ]] && ok "predict writes /class int32 (200, 32, 32)" || bad "class map shape/dtype"
[[ $same == True ]] && ok "class maps identical on 1 and 2 ranks" || bad "class maps differ"
[[ $acc == True ]] && ok "the maps' pixel accuracy is eval's" || bad "pixel accuracy differs from eval"
if msg=$("$bin" predict --device cpu --model "$model" --data "$work/test.h5" --out "$work/p.csv" 2>&1); then
  bad "a CSV output was accepted"
elif [[ $msg == *"per-pixel class maps"* && ! -e $work/p.csv ]]; then
  ok "a CSV output is refused, nothing written"
else
  bad "CSV output: $msg"
fi
# model.ignore_index travels with the model: eval leaves those pixels out.
timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/segmentation_unet.ini" \
  --data.train "$work/train.h5" --data.test "" --train.epochs 1 --model.ignore_index 0 --dist.device cpu \
  --dist.threads 1 --log.dir "$work/runs" --log.name ign --log.progress off \
  --checkpoint.every_epochs 0 >"$work/ign.log" 2>&1 || { tail -5 "$work/ign.log"; fail "training with model.ignore_index"; }
"$bin" eval --device cpu --model "$work/runs/ign/final.h5" --data "$work/test.h5" \
  --json "$work/ign.json" >/dev/null || fail "eval of the ignore_index model"
ign=$("$py" - "$work/ign.json" "$work/test.h5" <<'PY'
import json, sys
import h5py
r = json.load(open(sys.argv[1]))
y = h5py.File(sys.argv[2], "r")["labels"][...]
print(r["ignore_index"] == 0 and r["pixels"] == int((y != 0).sum()))
PY
)
[[ $ign == True ]] && ok "eval leaves out the model's ignore_index pixels" || bad "eval ignored no pixels"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
