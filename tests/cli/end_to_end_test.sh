#!/usr/bin/env bash
# End to end on real data: import Fashion-MNIST (Debian dataset-fashion-mnist),
# train the MLP example for 2 epochs on 2 ranks over a 20,000-image subset of the
# training set, require test accuracy above a floor, and check that `lockstep
# eval` prints the same figures on 1, 2 and 3 ranks, and that `inspect` reads
# the saved model.
# Usage: end_to_end_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
# Floors a little under the measured figures (2026-11-29, x86-64, OpenBLAS
# default, Haswell and SandyBridge kernels): after 2 epochs 0.8495-0.8498
# (the first epoch alone: 0.8194-0.8209, so a second epoch that does not train
# fails); the streaming run 0.7648-0.7651 (0.7522 without shuffling).
floor=0.84
stream_floor=0.755
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fashion_mnist_h5 "$bin" "$work"
"$bin" inspect "$work/train.h5" | grep -q "60000" || { echo "inspect: expected 60000 samples"; exit 1; }

# A 20,000-image subset: the model trains on rows [0, 20000) only.
timeout 600 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/fashion_mnist_mlp.ini" \
  --data.train "$work/train.h5" --data.test "$work/test.h5" --train.epochs 2 --dist.device cpu \
  --log.dir "$work/runs" --log.name e2e --log.progress lines --data.limit 20000 | tee "$work/train.log"
acc=$(grep -oP "test accuracy: \K[0-9.]+" "$work/train.log")
echo "test accuracy after 2 epochs on 2 ranks: $acc (floor $floor)"
awk -v a="$acc" -v f="$floor" 'BEGIN { exit !(a >= f) }' || { echo "FAIL: accuracy below the floor"; exit 1; }
for f in config.ini metrics.jsonl final.h5; do
  [[ -s $work/runs/e2e/$f ]] || { echo "FAIL: run directory lacks $f"; exit 1; }
done
grep -q '"type":"epoch"' "$work/runs/e2e/metrics.jsonl" || { echo "FAIL: no epoch record"; exit 1; }
# The second epoch must improve on the first (measured: +0.029).
mapfile -t per_epoch < <(grep '"type":"epoch"' "$work/runs/e2e/metrics.jsonl" | grep -oP '"test_accuracy":\K[0-9.]+')
[[ ${#per_epoch[@]} -eq 2 ]] || { echo "FAIL: expected 2 epoch records with test_accuracy, got ${#per_epoch[@]}"; exit 1; }
echo "test accuracy per epoch: ${per_epoch[*]}"
awk -v a="${per_epoch[0]}" -v b="${per_epoch[1]}" 'BEGIN { exit !(b >= a + 0.01) }' ||
  { echo "FAIL: the second epoch did not improve test accuracy by 0.01 (${per_epoch[*]})"; exit 1; }
"$bin" inspect "$work/runs/e2e/final.h5" | grep -q "dense(256)" || { echo "FAIL: inspect model"; exit 1; }

# Streaming input: a memory bound below the shard size (two-level shuffle), with
# augmentation; one epoch must still learn.
timeout 600 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/fashion_mnist_mlp.ini" \
  --data.train "$work/train.h5" --data.test "$work/test.h5" --train.epochs 1 --data.limit 20000 --dist.device cpu \
  --data.memory_mb 4 --data.crop_padding 2 --log.dir "$work/runs" --log.name stream \
  --log.progress off | tee "$work/stream.log"
sacc=$(grep -oP "test accuracy: \K[0-9.]+" "$work/stream.log")
echo "test accuracy of the streaming run: $sacc (floor $stream_floor)"
awk -v a="$sacc" -v f="$stream_floor" 'BEGIN { exit !(a >= f) }' || { echo "FAIL: streaming run accuracy $sacc < $stream_floor"; exit 1; }
grep -q '"input_wait_s"' "$work/runs/stream/metrics.jsonl" || { echo "FAIL: no input_wait_s"; exit 1; }

# Evaluation gives the same figures on any number of ranks.
for np in 1 2 3; do
  timeout 300 "${mpi[@]}" -np $np "$bin" eval --model "$work/runs/e2e/final.h5" --data "$work/test.h5" --device cpu \
    | grep -E "^(loss|accuracy)" > "$work/eval$np.txt"
  cat "$work/eval$np.txt"
done
cmp "$work/eval1.txt" "$work/eval2.txt" && cmp "$work/eval1.txt" "$work/eval3.txt" \
  || { echo "FAIL: eval differs between rank counts"; exit 1; }
grep -q "accuracy $acc" "$work/eval1.txt" || { echo "FAIL: eval accuracy differs from training's"; exit 1; }
echo "1 passed, 0 failed"
