#!/usr/bin/env bash
# Accuracy effect of 16-bit gradient all-reduce (dist.grad_dtype): the
# Fashion-MNIST MLP and CNN examples on 2 CPU ranks, EPOCHS epochs (the same
# epochs, data, seed and schedule for fp32, bf16 and fp16), full training set,
# test accuracy and loss after the last epoch.
# Usage: bench/run_grad_dtype_accuracy.sh LOCKSTEP_BIN TRAIN_H5 TEST_H5 OUT_DIR [EPOCHS]
set -euo pipefail
bin=$1 train=$2 test=$3 out=$4 epochs=${5:-2}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mpi=(mpirun -np 2 --bind-to none)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
mkdir -p "$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| model | grad_dtype | epochs | test accuracy | test loss | train loss | seconds |"
echo "|---|---|---|---|---|---|---|"
for model in mlp cnn; do
  for dtype in fp32 bf16 fp16; do
    name=$model-$dtype
    t0=$(date +%s.%N)
    "${mpi[@]}" "$bin" train --config "$root/examples/fashion_mnist_$model.ini" --data.train "$train" \
      --data.test "$test" --train.epochs "$epochs" --dist.device cpu --dist.grad_dtype "$dtype" \
      --log.dir "$out" --log.name "$name" --log.overwrite true --log.progress off \
      --checkpoint.every_epochs 0 >"$out/$name.log" 2>&1 ||
      { echo "run_grad_dtype_accuracy.sh: $name failed (see $out/$name.log)" >&2; exit 1; }
    t1=$(date +%s.%N)
    python3 - "$out/$name/metrics.jsonl" "$model" "$dtype" "$epochs" "$t0" "$t1" <<'EOF'
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l][-1]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {last['test_accuracy']:.4f} | {last['test_loss']:.4f} | "
      f"{last['train_loss']:.4f} | {float(sys.argv[6]) - float(sys.argv[5]):.0f} |")
EOF
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
