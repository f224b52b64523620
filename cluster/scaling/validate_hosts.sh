#!/usr/bin/env bash
# Checks cluster/scaling/scale_model.py against measured runs on namespace
# "hosts" on this machine whose links are capped with tc tbf (README
# "Predicting scaling"). Each configuration below is trained for 2 short epochs
# with the trace on (scaling.sh --launcher hosts); the model then predicts the
# last epoch's step from the run's compute (its trace) and the network
# description, and prints predicted, measured and the error.
# Usage: cluster/scaling/validate_hosts.sh LOCKSTEP_BIN FASHION_TRAIN_H5 OUT_DIR [REPEATS]
#   CALIBRATION=FILE  the network's constants, from cluster/scaling/calibrate_hosts.sh
#                     (measured apart from these runs); without it ALPHA, EFF,
#                     INTRA_ALPHA and INTRA_BW (seconds, share of the tbf rate,
#                     seconds, bytes/s) or scale_model.py's defaults
#   REUSE=1           no training where OUT_DIR has the runs already
#   PROGRESS=continuous|layers  scale_model.py --progress [layers]
set -euo pipefail
bin=$1 data=$2 out=$3 repeats=${4:-1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-python3}
"$py" -c "import matplotlib" 2>/dev/null || py=/usr/bin/python3
net=()
[[ -n ${CALIBRATION:-} ]] && net+=(--calibration "$CALIBRATION")
[[ -n ${ALPHA:-} ]] && net+=(--alpha "$ALPHA")
[[ -n ${EFF:-} ]] && net+=(--inter-eff "$EFF")
[[ -n ${INTRA_ALPHA:-} ]] && net+=(--intra-lat "$INTRA_ALPHA")
[[ -n ${INTRA_BW:-} ]] && net+=(--intra-bw "$INTRA_BW")
[[ -n ${PROGRESS:-} ]] && net+=(--progress "$PROGRESS")
cnn=(--config "$root/examples/fashion_mnist_cnn.ini" --data.train "$data" --data.test "" --dist.device cpu)
mlp=(--config "$root/examples/fashion_mnist_mlp.ini" --data.train "$data" --data.test "" --dist.device cpu)
mkdir -p "$out"
# name | model | ranks | ranks per host | rate | extra lockstep options
configs=(
  "cnn-n1|cnn|1|1|1gbit|"
  "cnn-n2-1g|cnn|2|1|1gbit|"
  "cnn-n2-1g-b025|cnn|2|1|1gbit|--dist.bucket_mb 0.25"
  "cnn-n2-1g-b025-nooverlap|cnn|2|1|1gbit|--dist.bucket_mb 0.25 --dist.overlap false"
  "cnn-n2-300m|cnn|2|1|300mbit|"
  "cnn-n3-1g|cnn|3|1|1gbit|"
  "cnn-n4-1g|cnn|4|2|1gbit|"
  "cnn-n4-1g-bf16|cnn|4|2|1gbit|--dist.grad_dtype bf16"
  "mlp-n2-1g|mlp|2|1|1gbit|"
  "mlp-n4-300m|mlp|4|2|300mbit|"
)
results=()
for c in "${configs[@]}"; do
  IFS='|' read -r name model n per rate extra <<<"$c"
  read -r -a extra_args <<<"$extra"
  if [[ $model == cnn ]]; then args=("${cnn[@]}"); batch=32; else args=("${mlp[@]}"); batch=64; fi
  [[ -n ${REUSE:-} && -f $out/$name/runs.csv ]] ||  # REUSE=1: the model again on runs made before
  "$here/scaling.sh" --launcher hosts --rate "$rate" --ranks "$n" --ranks-per-host "$per" --mode weak \
    --batch "$batch" --steps 15 --epochs 2 --repeat "$repeats" --trace --name "$name" \
    --out "$out/$name" --bin "$bin" -- "${args[@]}" "${extra_args[@]}" >"$out/$name.log" 2>&1 ||
    { echo "validate_hosts.sh: $name failed (see $out/$name.log)" >&2; tail -5 "$out/$name.log" >&2; exit 1; }
  for ((r = 1; r <= repeats; r++)); do
    "$py" "$here/scale_model.py" --compare "$out/$name/runs/$name-weak-n$n-r$r" --input-shape 1x28x28 \
      --per-node "$per" --net hosts --rate "$rate" "${net[@]}" --json >"$out/$name-r$r.json"
    results+=("$out/$name-r$r.json|$rate|$model")
  done
done
"$py" - "${results[@]}" <<'EOF'
import json, math, statistics, sys
groups = {}
for arg in sys.argv[1:]:
    f, rate, model = arg.split("|")
    r = json.load(open(f))
    groups.setdefault(r["run"].rsplit("-weak-", 1)[0], (rate, model, []))[2].append(r)
print("| config | ranks | hosts | link | model | bucket MB | grad | overlap | runs | exposed predicted / measured (ms) "
      "| step predicted (ms) | step measured (ms) | error |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, (rate, model, rs) in groups.items():
    r = rs[0]
    med = lambda k: statistics.median(x[k] for x in rs)  # noqa: E731
    pred, meas = med("predicted_s"), med("measured_s")
    print(f"| {name} | {r['ranks']} | {math.ceil(r['ranks'] / r['per_node'])} | {rate if r['ranks'] > 1 else '-'} | "
          f"{model} | {r['bucket_mb']:g} | {r['grad_dtype']} | {str(r['overlap']).lower()} | {len(rs)} | "
          f"{med('predicted_exposed_s') * 1e3:.1f} / {med('measured_exposed_s') * 1e3:.1f} | {pred * 1e3:.1f} | "
          f"{meas * 1e3:.1f} | {(pred / meas - 1) * 100:+.1f}% |")
EOF
