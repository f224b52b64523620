#!/usr/bin/env bash
# lockstep import images from the command line: PNG and JPEG class folders and
# image/mask pairs made with Pillow (python3-pil), inspect of the result
# (class names, per-pixel labels, layout), the throughput line, errors naming
# the file, and channels-last (NHWC) data written by h5py: refused without a
# layout, trained with data.layout = nhwc.
# Exits 77 (skipped) without python3-pil.
# Usage: import_images_test.sh LOCKSTEP_BIN
set -euo pipefail
bin=$1
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import PIL' 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "SKIP: no python3 with PIL (Debian: python3-pil)"; exit 77; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# expect NAME TEXT PATTERN: ok when TEXT matches PATTERN (grep), else bad showing TEXT.
expect() { if grep -q -- "$3" <<<"$2"; then ok "$1"; else bad "$1: $2"; fi; }

"$py" - "$work" <<'PY'
import os, sys
from PIL import Image
root = sys.argv[1]
for k, name in enumerate(["zebra", "apple"]):
    os.makedirs(f"{root}/cls/{name}", exist_ok=True)
    for i in range(6):
        img = Image.new("RGB", (12, 10), (40 * k + 3 * i, 100, 200 - 20 * i))
        img.save(f"{root}/cls/{name}/{i}." + ("jpg" if i % 2 else "png"))
os.makedirs(f"{root}/seg/images"); os.makedirs(f"{root}/seg/masks")
for i in range(5):
    Image.new("RGB", (16, 8), (10 * i, 20, 30)).save(f"{root}/seg/images/p{i}.jpg")
    m = Image.new("L", (16, 8), 0)
    for x in range(8, 16):
        for y in range(8):
            m.putpixel((x, y), 1 + (i % 2))
    m.putpixel((0, 0), 255)
    m.save(f"{root}/seg/masks/p{i}.png")
with open(f"{root}/seg/classes.txt", "w") as f:
    f.write("0 background\n1 left\n2 right\n")
PY

out=$("$bin" import images --input "$work/cls" --out "$work/cls.h5" --threads 2)
expect "class folders" "$out" "12 images, sample shape 3 10 12, class ids, 2 classes"
expect "throughput line" "$out" "decoded [0-9]* images/s (12 images in [0-9.]* s, 2 threads)"
info=$("$bin" inspect "$work/cls.h5")
expect "class names sorted" "$info" 'class names: \["apple", "zebra"\]'
expect "layout attribute" "$info" '@layout = "nchw"'

out=$("$bin" import images --input "$work/seg" --out "$work/seg.h5" --size 4x8 --ignore-index 255)
expect "image/mask pairs" "$out" "5 images, sample shape 3 4 8, class ids per pixel, 3 classes"
info=$("$bin" inspect "$work/seg.h5")
expect "inspect per-pixel labels" "$info" "class ids per pixel (4, 8) 0..2 (3 classes if 0-based), ignore_index 255"

if msg=$("$bin" import images --input "$work/seg" --out "$work/bad.h5" 2>&1); then
  bad "mask value 255 without --ignore-index was accepted"
else
  expect "mask value outside the classes names the file" "$msg" "mask file '$work/seg/masks/p.\.png': pixel (y 0, x 0) has class id 255; expected 0 <= id < 3"
fi
echo "not a picture" >"$work/cls/apple/7.png"
if msg=$("$bin" import images --input "$work/cls" --out "$work/bad.h5" 2>&1); then
  bad "an undecodable image was accepted"
else
  expect "undecodable image names the file" "$msg" "image file '$work/cls/apple/7.png': not a PNG or JPEG file"
fi
if [[ ! -e $work/bad.h5 ]]; then ok "no output file after an error"; else bad "bad.h5 left behind"; fi

# Channels-last data written by h5py: refused without a layout, trained with data.layout = nhwc.
if "$py" -c 'import h5py, numpy' 2>/dev/null; then
  "$py" - "$work/nhwc.h5" <<'PY'
import sys, h5py, numpy as np
rng = np.random.default_rng(0)
with h5py.File(sys.argv[1], "w") as f:
    f["features"] = rng.integers(0, 255, size=(64, 8, 8, 3), dtype=np.uint8)
    f["labels"] = rng.integers(0, 2, size=64, dtype=np.int32)
PY
  train=("$bin" train --dist.device cpu --model.layers "flatten, dense(2)" --data.train "$work/nhwc.h5"
    --train.epochs 1 --train.batch_size 16 --log.dir "$work/runs" --log.progress off)
  if msg=$("${train[@]}" --log.name a 2>&1); then
    bad "channels-last data without a layout was accepted"
  else
    expect "channels-last data without a layout is refused" "$msg" "samples of shape (8, 8, 3), which looks channels-last.*data.layout = nhwc"
  fi
  if "${train[@]}" --log.name b --data.layout nhwc >/dev/null; then
    ok "data.layout = nhwc trains"
  else
    bad "nhwc run failed"
  fi
fi

echo "$passed passed, $failed failed"
((failed == 0))
