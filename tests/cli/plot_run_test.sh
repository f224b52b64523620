#!/usr/bin/env bash
# launch/plot_run.py on the run directories of a short training: a valid PNG
# (signature, non-trivial size) for one run, for an overlay of two, and a clear
# error for a folder that is no run. Skips (exit 77) only when matplotlib
# cannot be imported.
# Usage: plot_run_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
# The first Python 3 that imports matplotlib: the one on the PATH, else
# Debian's (python3-matplotlib installs for /usr/bin/python3).
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c "import matplotlib" 2>/dev/null; then py=$p; break; fi
done
if [[ -z $py ]]; then
  echo "SKIP: no python3 imports matplotlib (Debian package python3-matplotlib)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
plot=("$py" "$src/launch/plot_run.py")
png_ok() {  # FILE: PNG signature and more than 10 kB
  [[ -f "$1" ]] || return 1
  [[ $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || return 1
  (($(stat -c %s "$1") > 10000))
}

"$bin" datagen --out "$work/train.h5" --samples 512 --shape 1x8x8 --classes 4 >/dev/null
"$bin" datagen --out "$work/test.h5" --samples 128 --shape 1x8x8 --classes 4 --seed 1 >/dev/null
for lr in 0.1 0.02; do
  timeout 300 "$bin" train --model.layers "dense(16), relu, dense(4)" --data.train "$work/train.h5" \
    --data.test "$work/test.h5" --train.epochs 3 --train.batch_size 16 --optim.lr $lr \
    --optim.schedule cosine --dist.device cpu --log.dir "$work/runs" --log.name "lr$lr" \
    --log.every 2 --log.progress off >/dev/null
done

"${plot[@]}" "$work/runs/lr0.1" >/dev/null || fail "plot_run.py failed on one run"
png_ok "$work/runs/lr0.1/curves.png" || fail "no valid PNG at RUN_DIR/curves.png"
echo "ok   one run -> RUN_DIR/curves.png ($(stat -c %s "$work/runs/lr0.1/curves.png") bytes)"

"${plot[@]}" "$work/runs/lr0.1" "$work/runs/lr0.02" --out "$work/both.png" >/dev/null \
  || fail "plot_run.py failed on two runs"
png_ok "$work/both.png" || fail "no valid PNG for two runs at --out"
echo "ok   two runs overlaid -> --out ($(stat -c %s "$work/both.png") bytes)"

mkdir "$work/empty"
if err=$("${plot[@]}" "$work/empty" 2>&1); then fail "plot_run.py accepted a folder without metrics.jsonl"; fi
[[ $err == *"expected $work/empty/metrics.jsonl"* ]] || fail "unclear error: $err"
echo "ok   a folder that is no run: $err"
echo "3 passed, 0 failed"
