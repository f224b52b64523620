#!/usr/bin/env bash
# bf16 mixed precision trains like fp32 on real data: the Fashion-MNIST MLP
# example on 2 CPU ranks (bf16 emulated), 2 epochs over the 60,000 training
# images, once with dist.precision = fp32 and once with bf16, from the same
# seed. The training-loss curves (the logged per-step losses of rank 0's
# batches, averaged over windows of 10 records = 50 steps) stay within a band
# of each other, and the test accuracies within 0.01; bf16 must also differ
# from fp32 (it really ran).
# Band: |bf16 - fp32| <= 0.03 + 5% of fp32's windowed loss (measured
# 2026-11-29: largest gap 0.0077; test accuracy 0.8697 fp32, 0.8714 bf16).
# Usage: bf16_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fashion_mnist_h5 "$bin" "$work"

for p in fp32 bf16; do
  timeout 600 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/fashion_mnist_mlp.ini" \
    --data.train "$work/train.h5" --data.test "$work/test.h5" --train.epochs 2 \
    --dist.device cpu --dist.precision $p --log.dir "$work/runs" --log.name $p --log.every 5 \
    --log.progress off --checkpoint.every_epochs 0 | tee "$work/$p.log"
done

python3 - "$work/runs/fp32/metrics.jsonl" "$work/runs/bf16/metrics.jsonl" <<'PY' || fail "bf16 against fp32"
import json, sys

def read(path):
    recs = [json.loads(l) for l in open(path)]
    steps = [(r["step"], r["loss"]) for r in recs if r.get("type") == "step"]
    epoch = [r for r in recs if r.get("type") == "epoch"][-1]
    return steps, epoch["test_accuracy"]

(s32, a32), (s16, a16) = read(sys.argv[1]), read(sys.argv[2])
assert [s for s, _ in s32] == [s for s, _ in s16], "the runs logged different steps"
assert len(s32) >= 10, f"expected at least 10 step records, got {len(s32)}"
w = 10
worst, fails = 0.0, []
for i in range(0, len(s32) - w + 1, w):
    f = sum(l for _, l in s32[i:i + w]) / w
    b = sum(l for _, l in s16[i:i + w]) / w
    gap = abs(b - f)
    worst = max(worst, gap)
    if gap > 0.03 + 0.05 * f:
        fails.append(f"steps {s32[i][0]}-{s32[i + w - 1][0]}: fp32 {f:.4f} bf16 {b:.4f}")
print(f"windowed training loss: largest gap {worst:.4f} over {len(s32) // w} windows")
print(f"test accuracy: fp32 {a32:.4f} bf16 {a16:.4f}")
if fails:
    sys.exit("loss outside the band: " + "; ".join(fails))
if abs(a16 - a32) > 0.01:
    sys.exit(f"test accuracy differs by more than 0.01: fp32 {a32:.4f} bf16 {a16:.4f}")
if all(a == b for (_, a), (_, b) in zip(s32, s16)):
    sys.exit("bf16 logged exactly fp32's losses: bf16 did not take effect")
PY
ok "bf16 follows fp32"
grep -q "bf16 emulated" "$work/bf16.log" && ! grep -q "bf16 emulated" "$work/fp32.log" ||
  fail "the bf16 run's first line should say 'bf16 emulated' (and only it)"
ok "the run says bf16 is emulated on CPU ranks"
echo "$passed passed, $failed failed"
