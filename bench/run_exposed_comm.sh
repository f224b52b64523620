#!/usr/bin/env bash
# Exposed communication of the Fashion-MNIST CNN (examples/fashion_mnist_cnn.ini,
# global batch 128) on 4 CPU ranks across 2 namespace hosts (2 ranks each) whose
# links are capped at 1 Gbit/s (tc tbf): dist.overlap = false (before) against
# true (after), with fp32 and bf16 gradients, with the default 25 MB buckets
# (the whole 1.7 MB of gradients in one bucket) and with 0.25 MB buckets (three
# buckets, so two can start during backward). Each configuration is REPEATS
# short runs (2 epochs of STEPS steps; figures from the second epoch) through
# cluster/scaling/scaling.sh; the table has the medians.
# Usage: bench/run_exposed_comm.sh LOCKSTEP_BIN FASHION_TRAIN_H5 OUT_DIR [REPEATS] [RATE]
# Needs root (network namespaces); see README "Testing several hosts on one machine".
set -euo pipefail
bin=$1 data=$2 out=$3 repeats=${4:-5} rate=${5:-1gbit} steps=${STEPS:-20}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
py=${PYTHON:-python3}
"$py" -c "import matplotlib" 2>/dev/null || py=/usr/bin/python3
mkdir -p "$out"
configs=(
  "b25-overlap-off|--dist.overlap false"
  "b25-overlap-on|--dist.overlap true"
  "b25-overlap-on-bf16|--dist.overlap true --dist.grad_dtype bf16"
  "b025-overlap-off|--dist.bucket_mb 0.25 --dist.overlap false"
  "b025-overlap-on|--dist.bucket_mb 0.25 --dist.overlap true"
  "b025-overlap-on-bf16|--dist.bucket_mb 0.25 --dist.overlap true --dist.grad_dtype bf16"
)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${configs[@]}"; do
  IFS='|' read -r name extra <<<"$c"
  read -r -a extra_args <<<"$extra"
  "$root/cluster/scaling/scaling.sh" --launcher hosts --rate "$rate" --ranks 4 --ranks-per-host 2 \
    --mode weak --batch 32 --steps "$steps" --epochs 2 --repeat "$repeats" --name "$name" \
    --out "$out/$name" --bin "$bin" -- --config "$root/examples/fashion_mnist_cnn.ini" \
    --data.train "$data" --data.test "" --dist.device cpu "${extra_args[@]}" >"$out/$name.log" 2>&1 ||
    { echo "run_exposed_comm.sh: $name failed (see $out/$name.log)" >&2; tail -5 "$out/$name.log" >&2; exit 1; }
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" - "$out" "${configs[@]}" <<'EOF'
import csv, json, statistics, sys
out = sys.argv[1]
print("| configuration | runs | step (ms) | exposed comm, rank 0 (ms) | all-reduce launch to completion (ms) | overlap |")
print("|---|---|---|---|---|---|")
for c in sys.argv[2:]:
    name = c.split("|")[0]
    runs = list(csv.DictReader(open(f"{out}/{name}/runs.csv")))
    eps = []
    for r in runs:
        last = [json.loads(l) for l in open(r["run_dir"] + "/metrics.jsonl") if '"epoch"' in l][-1]
        eps.append((128 / last["samples_per_s"], last["exposed_comm_s"], last["comm_s"], last["overlap"]))
    med = [statistics.median(e[i] for e in eps) for i in range(4)]
    print(f"| {name} | {len(eps)} | {med[0] * 1e3:.1f} | {med[1] * 1e3:.1f} | {med[2] * 1e3:.1f} | {med[3]:.2f} |")
EOF
