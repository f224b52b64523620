#!/usr/bin/env bash
# lockstep datagen --task segmentation | road from the command line: train and
# test files with per-pixel labels and their class names (inspect), the same
# labels for the same seed, and errors for a missing Fashion-MNIST folder and
# a bad task. The segmentation part skips without dataset-fashion-mnist.
# Usage: datagen_tasks_test.sh LOCKSTEP_BIN
set -euo pipefail
bin=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# expect NAME TEXT PATTERN: ok when TEXT matches PATTERN (grep), else bad showing TEXT.
expect() { if grep -q -- "$3" <<<"$2"; then ok "$1"; else bad "$1: $2"; fi; }

out=$("$bin" datagen --task road --out "$work/road.h5" --samples 30 --shape 3x32x48 --seed 2 \
  --test-out "$work/road_test.h5" --test-samples 10)
expect "road train file" "$out" "wrote $work/road.h5: 30 samples, sample shape 3 32 48, class ids per pixel, 6 classes (road)"
expect "road test file" "$out" "wrote $work/road_test.h5: 10 samples"
info=$("$bin" inspect "$work/road.h5")
expect "inspect road labels" "$info" 'class ids per pixel (32, 48) 0\.\.'
expect "road class names" "$info" '"terrain", "sky", "road", "lane marking", "vehicle", "pedestrian"'
"$bin" datagen --task road --out "$work/road2.h5" --samples 30 --shape 3x32x48 --seed 2 >/dev/null
if command -v h5diff >/dev/null; then
  if h5diff "$work/road.h5" "$work/road2.h5" /labels /labels >/dev/null; then
    ok "same seed, same labels"
  else
    bad "same seed gave other labels"
  fi
fi

if msg=$("$bin" datagen --task segmentation --out "$work/x.h5" --fashion-dir "$work/none" 2>&1); then
  bad "a missing Fashion-MNIST folder was accepted"
else
  expect "missing items named" "$msg" "$work/none/train-images-idx3-ubyte.gz"
fi
if msg=$("$bin" datagen --task depth --out "$work/x.h5" 2>&1); then
  bad "task depth accepted"
else
  expect "bad task" "$msg" "expected classification, segmentation or road, got 'depth'"
fi

if [[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  out=$("$bin" datagen --task segmentation --out "$work/seg.h5" --samples 40 --shape 3x64x64 \
    --items 1-3 --test-out "$work/seg_test.h5" --test-samples 20)
  expect "segmentation train file" "$out" "wrote $work/seg.h5: 40 samples, sample shape 3 64 64, class ids per pixel, 11 classes"
  info=$("$bin" inspect "$work/seg_test.h5")
  expect "inspect segmentation test labels" "$info" 'class ids per pixel (64, 64) 0\.\.'
  expect "inspect segmentation class names" "$info" '"background", "t-shirt/top"'
else
  echo "skip segmentation: no dataset-fashion-mnist"
fi

echo "$passed passed, $failed failed"
((failed == 0))
