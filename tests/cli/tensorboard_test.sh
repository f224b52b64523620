#!/usr/bin/env bash
# TensorBoard events beside metrics.jsonl: a short training on 2 CPU ranks
# writes one events file whose scalars are exactly metrics.jsonl's numeric
# fields at each record's step and time (read back with every CRC checked);
# log.tensorboard = false writes none. metrics.jsonl: every record has a
# "time"; step and epoch records number epochs alike (1-based, a step record
# within its epoch's steps); a "best" record sits at the step of its epoch.
# Usage: tensorboard_test.sh LOCKSTEP_BIN CHECK_TFEVENTS_BIN
set -euo pipefail
bin=$1 check=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$bin" datagen --out "$work/train.h5" --samples 512 --shape 1x8x8 --classes 4 >/dev/null
"$bin" datagen --out "$work/test.h5" --samples 128 --shape 1x8x8 --classes 4 --seed 1 >/dev/null
args=(--model.layers "dense(16), relu, dense(4)" --data.train "$work/train.h5"
      --data.test "$work/test.h5" --train.epochs 2 --train.batch_size 16 --optim.schedule cosine
      --dist.device cpu --log.dir "$work/runs" --log.every 3 --log.progress off)

timeout 300 "${mpi[@]}" -np 2 "$bin" train "${args[@]}" --log.name tb >/dev/null
"$check" "$work/runs/tb" || fail "events file does not match metrics.jsonl"
grep -q '"test_accuracy"' "$work/runs/tb/metrics.jsonl" \
  || fail "metrics.jsonl has no epoch record with test_accuracy"

# With validation rows: "best" records, and their TensorBoard points at their epoch's step.
timeout 300 "${mpi[@]}" -np 2 "$bin" train "${args[@]}" --data.val_fraction 0.25 \
  --log.name val >/dev/null
"$check" "$work/runs/val" || fail "events file does not match metrics.jsonl (validation run)"
python3 - "$work/runs/tb/metrics.jsonl" "$work/runs/val/metrics.jsonl" <<'PY' || fail "metrics.jsonl records"
import json, sys
for path in sys.argv[1:]:
    recs = [json.loads(l) for l in open(path)]
    times = [r["time"] for r in recs]
    assert all(isinstance(t, float) and t > 1.6e9 for t in times), f"{path}: a record without a Unix time"
    assert times == sorted(times), f"{path}: times go back"
    end = {r["epoch"]: r["step"] for r in recs if r["type"] == "epoch"}
    assert sorted(end) == list(range(1, len(end) + 1)), f"{path}: epoch records {sorted(end)}"
    for r in recs:
        if r["type"] == "step":
            e = r["epoch"]
            assert e in end and end.get(e - 1, 0) < r["step"] <= end[e], f"{path}: step record {r} outside epoch {e}"
        if r["type"] == "best":
            assert r["step"] == end[r["epoch"]], f"{path}: best record {r} not at its epoch's step {end}"
    best = [r for r in recs if r["type"] == "best"]
    print(f"ok   {path.split('/')[-2]}: {len(recs)} records, 1-based epochs, times, {len(best)} best records at their epoch's step")
    assert best or path.split("/")[-2] != "val", f"{path}: no best record"
PY

timeout 300 "${mpi[@]}" -np 1 "$bin" train "${args[@]}" --log.name off --log.tensorboard false \
  >/dev/null
compgen -G "$work/runs/off/*tfevents*" >/dev/null && fail "log.tensorboard = false wrote an events file"
[[ -s "$work/runs/off/metrics.jsonl" ]] || fail "log.tensorboard = false lost metrics.jsonl"
echo "ok   log.tensorboard = false: metrics.jsonl only"
echo "3 passed, 0 failed"
