#!/usr/bin/env bash
# cluster/scaling/scaling.sh on a tiny series: weak and strong scaling on 1 and
# 2 local ranks (a small MLP, a few steps each, with the trace on). Checks
#   (a) scaling.csv has the documented columns and one row per (mode, ranks),
#       with positive step times and throughputs, efficiency 1 at 1 rank and
#       0 < efficiency <= 1.5 at 2;
#   (b) scaling.png is a PNG (signature, non-trivial size);
#   (c) cluster/scaling/scale_model.py reads a run's trace and metrics and
#       predicts a step (JSON with a positive step time; no communication at
#       1 rank), and prints the GPU table;
#   (d) a bad option is refused with a message.
# Skips (exit 77) only when no python3 imports matplotlib.
# Usage: scaling_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
py=""
for p in python3 /usr/bin/python3; do
  if "$p" -c "import matplotlib" 2>/dev/null; then py=$p; break; fi
done
if [[ -z $py ]]; then
  echo "SKIP: no python3 imports matplotlib (Debian package python3-matplotlib)"
  exit 77
fi
# shellcheck source=tests/cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export PYTHON=$py

"$bin" datagen --out "$work/train.h5" --samples 2000 --shape 1x8x8 --classes 4 >/dev/null
layers="dense(32), relu, dense(4)"
t0=$(date +%s)
if ! timeout 300 "$src/cluster/scaling/scaling.sh" --ranks "1 2" --mode both --batch 16 --steps 8 \
  --epochs 2 --trace --name tiny --out "$work/out" --bin "$bin" -- --data.train "$work/train.h5" \
  --model.layers "$layers" --dist.device cpu >"$work/scaling.log" 2>&1; then
  cat "$work/scaling.log"
  fail "scaling.sh failed"
fi
ok "scaling.sh: weak and strong series on 1 and 2 ranks ($(($(date +%s) - t0)) s)"

# (a) the CSV
csv=$work/out/scaling.csv
want="mode,launcher,ranks,hosts,ranks_per_host,rate,global_batch,batch_per_rank,repeats,step_s,samples_per_s,samples_per_s_per_rank,exposed_comm_s,comm_s,compute_s,overlap,speedup,efficiency"
if [[ -f $csv && $(head -1 "$csv") == "$want" ]]; then
  ok "scaling.csv columns"
else
  bad "scaling.csv columns: '$(head -1 "$csv" 2>/dev/null)'"
fi
if "$py" - "$csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
got = sorted((r["mode"], int(r["ranks"])) for r in rows)
assert got == [("strong", 1), ("strong", 2), ("weak", 1), ("weak", 2)], got
for r in rows:
    assert float(r["step_s"]) > 0 and float(r["samples_per_s"]) > 0, r
    e = float(r["efficiency"])
    if r["ranks"] == "1":
        assert abs(e - 1) < 1e-9, r
    else:
        assert 0 < e <= 1.5, r
    if r["mode"] == "weak":
        assert int(r["global_batch"]) == 16 * int(r["ranks"]), r
    else:
        assert int(r["global_batch"]) == 32 and int(r["batch_per_rank"]) * int(r["ranks"]) == 32, r
EOF
then
  ok "scaling.csv rows: one per mode and rank count, efficiency 1 at 1 rank"
else
  bad "scaling.csv rows"; cat "$csv"
fi

# (b) the PNG
png=$work/out/scaling.png
if [[ -f $png && $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] &&
  (($(stat -c %s "$png") > 10000)); then
  ok "scaling.png ($(stat -c %s "$png") bytes)"
else
  bad "scaling.png is missing or not a PNG"
fi

# (c) the model on the measured trace
model=("$py" "$src/cluster/scaling/scale_model.py")
for n in 1 2; do
  run=$work/out/runs/tiny-weak-n$n-r1
  if ! out=$("${model[@]}" --trace "$run/trace.json" --metrics "$run/metrics.jsonl" \
    --global-batch $((16 * n)) --layers "$layers" --input-shape 1x8x8 --ranks 2 --per-node 2 \
    --net hosts --rate 1gbit --alpha 1e-4 --json 2>&1); then
    bad "scale_model.py on the $n-rank trace: $out"
    continue
  fi
  if "$py" -c "import json,sys; r=json.loads(sys.argv[1]); assert r['step_s'] > 0 and r['buckets'] == 1 and 0 < r['efficiency'] <= 1, r" "$out"; then
    ok "scale_model.py on the $n-rank trace: $out"
  else
    bad "scale_model.py on the $n-rank trace: $out"
  fi
done
out=$("${model[@]}" --trace "$work/out/runs/tiny-weak-n1-r1/trace.json" --metrics \
  "$work/out/runs/tiny-weak-n1-r1/metrics.jsonl" --global-batch 16 --layers "$layers" \
  --input-shape 1x8x8 --ranks 1 --json)
if "$py" -c "import json,sys; r=json.loads(sys.argv[1]); assert r['exposed_s'] == 0 and r['comm_busy_s'] == 0 and r['efficiency'] == 1, r" "$out"; then
  ok "scale_model.py: no communication at 1 rank"
else
  bad "scale_model.py at 1 rank: $out"
fi
table=$("${model[@]}" --gpu-table)
if grep -q "512 GPUs" <<<"$table"; then
  ok "scale_model.py --gpu-table"
else
  bad "scale_model.py --gpu-table"
fi

# (d) a bad option
if "$src/cluster/scaling/scaling.sh" --mode sideways --bin "$bin" >"$work/bad.log" 2>&1; then
  bad "scaling.sh accepted --mode sideways"
elif grep -q "must be weak, strong or both" "$work/bad.log"; then
  ok "scaling.sh refuses a bad --mode with a message"
else
  bad "scaling.sh --mode sideways: $(cat "$work/bad.log")"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
