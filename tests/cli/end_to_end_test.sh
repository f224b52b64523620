#!/usr/bin/env bash
# End to end on real data: import Fashion-MNIST (Debian dataset-fashion-mnist),
# train the MLP example for 2 epochs on 2 ranks over a 20,000-image subset of the
# training set, require test accuracy above a floor, and check that `lockstep
# eval` prints the same figures on 1, 2 and 3 ranks, and that `inspect` reads
# the saved model.
# Usage: end_to_end_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
data=/usr/share/datasets/fashion-mnist
floor=0.82
if [[ ! -f $data/train-images-idx3-ubyte.gz ]]; then
  echo "dataset-fashion-mnist is not installed: cannot run (install_deps.sh installs it)"
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)

"$bin" import idx --images $data/train-images-idx3-ubyte.gz --labels $data/train-labels-idx1-ubyte.gz --out "$work/train.h5"
"$bin" import idx --images $data/t10k-images-idx3-ubyte.gz --labels $data/t10k-labels-idx1-ubyte.gz --out "$work/test.h5"
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
"$bin" inspect "$work/runs/e2e/final.h5" | grep -q "dense(256)" || { echo "FAIL: inspect model"; exit 1; }

# Streaming input: a memory bound below the shard size (two-level shuffle), with
# augmentation; one epoch must still learn.
timeout 600 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/fashion_mnist_mlp.ini" \
  --data.train "$work/train.h5" --data.test "$work/test.h5" --train.epochs 1 --data.limit 20000 --dist.device cpu \
  --data.memory_mb 4 --data.crop_padding 2 --log.dir "$work/runs" --log.name stream \
  --log.progress off | tee "$work/stream.log"
sacc=$(grep -oP "test accuracy: \K[0-9.]+" "$work/stream.log")
awk -v a="$sacc" 'BEGIN { exit !(a >= 0.70) }' || { echo "FAIL: streaming run accuracy $sacc < 0.70"; exit 1; }
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
