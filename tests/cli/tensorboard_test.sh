#!/usr/bin/env bash
# TensorBoard events beside metrics.jsonl: a short training on 2 CPU ranks
# writes one events file whose scalars are exactly metrics.jsonl's numeric
# fields (read back with every CRC checked); log.tensorboard = false writes none.
# Usage: tensorboard_test.sh LOCKSTEP_BIN CHECK_TFEVENTS_BIN
set -euo pipefail
bin=$1 check=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }

"$bin" datagen --out "$work/train.h5" --samples 512 --shape 1x8x8 --classes 4 >/dev/null
"$bin" datagen --out "$work/test.h5" --samples 128 --shape 1x8x8 --classes 4 --seed 1 >/dev/null
args=(--model.layers "dense(16), relu, dense(4)" --data.train "$work/train.h5"
      --data.test "$work/test.h5" --train.epochs 2 --train.batch_size 16 --optim.schedule cosine
      --dist.device cpu --log.dir "$work/runs" --log.every 3 --log.progress off)

timeout 300 "${mpi[@]}" -np 2 "$bin" train "${args[@]}" --log.name tb >/dev/null
"$check" "$work/runs/tb" || fail "events file does not match metrics.jsonl"
grep -q '"test_accuracy"' "$work/runs/tb/metrics.jsonl" \
  || fail "metrics.jsonl has no epoch record with test_accuracy"

timeout 300 "${mpi[@]}" -np 1 "$bin" train "${args[@]}" --log.name off --log.tensorboard false \
  >/dev/null
compgen -G "$work/runs/off/*tfevents*" >/dev/null && fail "log.tensorboard = false wrote an events file"
[[ -s "$work/runs/off/metrics.jsonl" ]] || fail "log.tensorboard = false lost metrics.jsonl"
echo "ok   log.tensorboard = false: metrics.jsonl only"
echo "2 passed, 0 failed"
