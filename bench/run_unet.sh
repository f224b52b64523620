#!/usr/bin/env bash
# The U-Net of examples/segmentation_unet.ini on composed Fashion-MNIST scenes
# (lockstep datagen --task segmentation), trained by lockstep on 1 rank x 2
# threads and on 2 ranks x 1 thread, and by PyTorch (bench/unet_torch.py, the
# same model, data, epochs, batch, optimizer and schedule) in the same call:
# the test set's mean IoU and per-class IoU, and the training samples/s.
# Prints a markdown table and appends it, dated, to bench/RESULTS.md
# (NO_RECORD=1: print only).
#   SAMPLES=4000 TEST_SAMPLES=500 EPOCHS=4 SHAPE=3x64x64 bench/run_unet.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="${BUILD_DIR:-build}/launch/lockstep"
python="${PYTHON:-/usr/bin/python3}"
samples="${SAMPLES:-4000}" test_samples="${TEST_SAMPLES:-500}" epochs="${EPOCHS:-4}"
shape="${SHAPE:-3x64x64}" results="${RESULTS:-bench/RESULTS.md}"
work="${WORK:-$(mktemp -d)}"
mkdir -p "$work"
[[ -x $bin ]] || { echo "run_unet.sh: $bin not found; build first (launch/build.sh)" >&2; exit 1; }
"$python" -c 'import torch, h5py' 2>/dev/null ||
  { echo "run_unet.sh: $python cannot import torch and h5py (apt-get install python3-torch python3-h5py)" >&2; exit 1; }
mpi=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)

"$bin" datagen --task segmentation --shape "$shape" --samples "$samples" --seed 1 \
  --out "$work/train.h5" --test-out "$work/test.h5" --test-samples "$test_samples" >/dev/null

# lockstep: NP ranks x T threads; prints "miou samples_per_s per-class-iou-json"
ours() {
  local np=$1 threads=$2 name="unet_${1}x${2}"
  "${mpi[@]}" -np "$np" "$bin" train --config examples/segmentation_unet.ini \
    --data.train "$work/train.h5" --data.test "$work/test.h5" --train.epochs "$epochs" \
    --dist.device cpu --dist.threads "$threads" --log.dir "$work/runs" --log.name "$name" \
    --log.overwrite true --log.progress off --checkpoint.every_epochs 0 >"$work/$name.log" 2>&1 ||
    { tail -5 "$work/$name.log" >&2; exit 1; }
  "$bin" eval --device cpu --model "$work/runs/$name/final.h5" --data "$work/test.h5" \
    --json "$work/$name.json" >/dev/null
  local sps
  sps=$(grep '"type":"epoch"' "$work/runs/$name/metrics.jsonl" | sed -n 's/.*"samples_per_s":\([0-9.e+]*\).*/\1/p' |
        sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  "$python" - "$work/$name.json" "$sps" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"mean_iou": r["mean_iou"], "pixel_accuracy": r["pixel_accuracy"],
                  "iou": [c.get("iou") for c in r["classes"]], "samples_per_s": float(sys.argv[2])}))
PY
}
theirs() {
  "$python" bench/unet_torch.py "$work/train.h5" "$work/test.h5" --epochs "$epochs" --batch 32 \
    --threads 2 | tail -1
}
declare -A res
res[l12]=$(ours 1 2)
res[l21]=$(ours 2 1)
res[t12]=$(theirs)
table=$("$python" - "${res[l12]}" "${res[l21]}" "${res[t12]}" <<'PY'
import json, sys
rows = [("lockstep, 1 rank x 2 threads", json.loads(sys.argv[1])),
        ("lockstep, 2 ranks x 1 thread", json.loads(sys.argv[2])),
        ("PyTorch, 1 process x 2 threads", json.loads(sys.argv[3]))]
print("| run | mean IoU | pixel accuracy | samples/s | per-class IoU (0 background, k+1 Fashion class k) |")
print("|---|---|---|---|---|")
for name, r in rows:
    iou = " ".join("-" if v is None else f"{v:.3f}" for v in r["iou"])
    print(f"| {name} | {r['mean_iou']:.4f} | {r['pixel_accuracy']:.4f} | {r['samples_per_s']:.0f} | {iou} |")
PY
)
echo "$table"
if [[ ${NO_RECORD:-0} != 1 ]]; then
  {
    echo
    echo "## U-Net segmentation ($(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
    echo
    echo "bench/run_unet.sh: composed Fashion-MNIST scenes $shape, $samples training / $test_samples test samples, $epochs epochs, global batch 32, Adam 0.002 cosine; the same model and budget in PyTorch $("$python" -c 'import torch; print(torch.__version__)')."
    echo
    echo "$table"
  } >>"$results"
fi
