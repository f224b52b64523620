#!/usr/bin/env bash
# eval and predict of a model whose saved config has no data.train (or no
# model.layers): accepted, with the same results as the model it came from.
# Usage: eval_report_test.sh LOCKSTEP_BIN MODEL_TOOL_BIN
set -euo pipefail
bin=$1 tool=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*"; exit 1; }
run() { local np=$1; shift; timeout 120 "${mpi[@]}" -np "$np" "$bin" "$@"; }

awk 'BEGIN { srand(5); print "a,b,c,d,species";
  for (i = 0; i < 300; i++) { k = i % 3; printf "%.4f,%.4f,%.4f,%.4f,%d\n",
    k + rand(), rand(), 2 - k + rand(), rand(), k } }' >"$work/iris.csv"
"$bin" import csv --input "$work/iris.csv" --out "$work/iris.h5" >/dev/null
"$bin" train --dist.device cpu --model.layers "dense(8), relu, dense(3)" --data.train "$work/iris.h5" \
  --train.epochs 5 --train.batch_size 16 --optim.lr 0.05 --log.dir "$work/runs" --log.name iris \
  --log.progress off --checkpoint.every_epochs 0 >/dev/null
model="$work/runs/iris/final.h5"
run 2 eval --device cpu --model "$model" --data "$work/iris.h5" >"$work/e2.txt"
run 2 predict --device cpu --model "$model" --data "$work/iris.h5" --out "$work/p.csv" >/dev/null

# ---- a saved config without data.train (and without model.layers)
"$tool" drop-key "$model" "$work/notrain.h5" data.train
"$tool" drop-key "$work/notrain.h5" "$work/nolayers.h5" model.layers
for m in notrain nolayers; do
  run 2 eval --device cpu --model "$work/$m.h5" --data "$work/iris.h5" >"$work/e_$m.txt" 2>&1 \
    || { cat "$work/e_$m.txt"; fail "eval refused a model without $m"; }
  diff <(tail -n +2 "$work/e2.txt") <(tail -n +2 "$work/e_$m.txt") >/dev/null \
    || fail "eval of $m.h5 differs from final.h5's"
  run 2 predict --device cpu --model "$work/$m.h5" --data "$work/iris.h5" --out "$work/p_$m.csv" \
    >"$work/p_$m.log" 2>&1 || { cat "$work/p_$m.log"; fail "predict refused a model without $m"; }
  cmp "$work/p.csv" "$work/p_$m.csv" || fail "predictions of $m.h5 differ from final.h5's"
  echo "ok   eval and predict accept a model whose config lacks ${m#no} (same results)"
done
echo "PASS"
