#!/usr/bin/env bash
# launch/plot_run.py on the run directories of a short training: a valid PNG
# (signature, non-trivial size) for one run, for an overlay of two, and a clear
# error for a folder that is no run; with --summary (what was drawn): the
# validation curves and the best epoch of a run with validation rows, and the
# regression figures (val_mse, val_mae, val_r2; the MSE when there is no
# other) of regression runs, never an empty panel. Skips (exit 77) only when
# matplotlib cannot be imported.
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
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
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

# Summaries: the series drawn per panel, the best-epoch marks, the empty panels.
summary() {  # RUN_DIR PY_CHECK: runs --summary and the Python check on its JSON (as s)
  "${plot[@]}" "$1" --out "$work/s.png" --summary >"$work/s.json" || fail "plot_run.py --summary on $1"
  png_ok "$work/s.png" || fail "no valid PNG with --summary"
  "$py" -c 'import json, sys
s = json.load(open(sys.argv[1]))
drawn = {p: [d["label"] for d in v["series"]] for p, v in s["panels"].items()}
ok = eval("(" + sys.argv[2] + ")")
print(("ok  " if ok else "FAIL") + " " + sys.argv[3] + ": " + json.dumps(drawn) + " best " + json.dumps(s["best"]) + " empty " + json.dumps(s["no_data"]))
sys.exit(0 if ok else 1)' "$work/s.json" "$2" "$(basename "$1")" || fail "summary of $1"
}
timeout 300 "$bin" train --model.layers "dense(16), relu, dense(4)" --data.train "$work/train.h5" \
  --data.val_fraction 0.25 --train.epochs 4 --train.batch_size 16 --optim.lr 0.05 \
  --dist.device cpu --log.dir "$work/runs" --log.name val --log.every 2 --log.progress off >/dev/null
best_epoch=$(grep '"type":"best"' "$work/runs/val/metrics.jsonl" | tail -1 | sed 's/.*"epoch":\([0-9]*\).*/\1/')
summary "$work/runs/val" '"val_loss" in drawn["epoch_loss"] and "train_loss" in drawn["epoch_loss"]
  and "val_accuracy" in drawn["epoch_metrics"] and not s["no_data"]
  and [(b["metric"], b["epoch"]) for b in s["best"]] == [("val_loss", '"$best_epoch"')]'
summary "$work/runs/lr0.1" '"test_loss" in drawn["epoch_loss"] and "test_accuracy" in drawn["epoch_metrics"]
  and not s["best"] and not s["no_data"]'

awk 'BEGIN { srand(3); for (i = 0; i < 200; i++) { a = rand(); b = rand(); printf "%.4f,%.4f,%.5f\n", a, b, 2 * a - b } }' >"$work/reg.csv"
"$bin" import csv --input "$work/reg.csv" --no-header --regression --out "$work/reg.h5" >/dev/null
for v in 0 0.25; do
  timeout 300 "$bin" train --model.layers "dense(8), tanh, dense(1)" --model.loss mse \
    --data.train "$work/reg.h5" --data.val_fraction $v --train.epochs 3 --train.batch_size 16 \
    --optim.name adam --optim.lr 0.01 --dist.device cpu --log.dir "$work/runs" --log.name "reg$v" --log.every 2 \
    --log.progress off >/dev/null
done
summary "$work/runs/reg0.25" '{"val_mse", "val_mae", "val_r2"} <= set(drawn["epoch_metrics"])
  and "val_loss" in drawn["epoch_loss"] and len(s["best"]) == 1 and not s["no_data"]'
summary "$work/runs/reg0" 'drawn["epoch_metrics"] == ["train_mse"] and "log" in s["panels"]["epoch_metrics"]["title"]
  and not s["no_data"]'

mkdir "$work/empty"
if err=$("${plot[@]}" "$work/empty" 2>&1); then fail "plot_run.py accepted a folder without metrics.jsonl"; fi
[[ $err == *"expected $work/empty/metrics.jsonl"* ]] || fail "unclear error: $err"
echo "ok   a folder that is no run: $err"
echo "7 passed, 0 failed"
