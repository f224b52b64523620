#!/usr/bin/env bash
# Measures the network of namespace "hosts" on this machine with
# `lockstep comm-bench` (lockstep's own gradient all-reduce, in place, over
# Open MPI) and fits the scaling model's constants to it (README "Predicting
# scaling"): 2 ranks on 2 hosts at two link rates (per-message latency and the
# share of the tbf rate that TCP payload gets), then 4 ranks on 2 hosts (the
# cost of a message between two ranks of one host while the machine runs 4).
# Run it on a quiet machine: other work on the cores shows up as latency.
# Usage: cluster/scaling/calibrate_hosts.sh LOCKSTEP_BIN OUT_DIR
#   writes OUT_DIR/<config>.jsonl (comm-bench results), OUT_DIR/calibration.json
#   (for scale_model.py --calibration) and prints the fit
# Environment: SIZES (comm-bench --sizes) [64K,256K,512K,1M,2M,4M], ITERS [10],
#   GAP_MS (compute before each all-reduce, as a training step has) [10]
set -euo pipefail
bin=$1 out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
sizes=${SIZES:-64K,256K,512K,1M,2M,4M} iters=${ITERS:-10} gap=${GAP_MS:-10}
# shellcheck source=cluster/multihost/hosts.sh
source "$root/cluster/multihost/hosts.sh"
if ! why=$(mh_check); then
  echo "SKIP: calibrate_hosts.sh needs network namespaces: $why"
  exit 77
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
trap 'mh_down' EXIT
trap 'exit 1' INT TERM
cores=$(nproc 2>/dev/null || echo 1)
asroot=()
[[ $(id -u) -eq 0 ]] && asroot=(--allow-run-as-root)
specs=()
# name | ranks | ranks per host | rate
k=0
for c in "inter-1gbit|2|1|1gbit" "inter-300mbit|2|1|300mbit" "intra-1gbit|4|2|1gbit"; do
  IFS='|' read -r name n per rate <<<"$c"
  nhosts=$(((n + per - 1) / per)) k=$((k + 1))
  mh_up "lsc$$$k" "$nhosts" "$out" >/dev/null  # a new name: the last hosts may still be going
  mh_rate "$rate"
  : >"$out/$name.hosts"
  for a in "${mh_addrs[@]}"; do echo "$a slots=$per" >>"$out/$name.hosts"; done
  extra=()  # the options cluster/scaling/scaling.sh runs training with
  ((n > cores)) && extra=(--mca mpi_yield_when_idle 1)
  echo "== $name: $n ranks on $nhosts hosts, $rate links"
  if ! mpirun "${asroot[@]}" -np "$n" --hostfile "$out/$name.hosts" --bind-to none "${mh_mpi[@]}" \
      "${extra[@]}" "$bin" comm-bench --sizes "$sizes" --iters "$iters" --warmup 2 --gap-ms "$gap" \
      --out "$out/$name.jsonl" >"$out/$name.log" 2>&1; then
    echo "calibrate_hosts.sh: $name failed; the end of its log:" >&2
    tail -20 "$out/$name.log" >&2
    exit 1
  fi
  mh_down
  specs+=("$out/$name.jsonl:$rate")
done
py=${PYTHON:-python3}
"$py" "$here/scale_model.py" --calibrate "${specs[@]}" --out "$out/calibration.json"
echo "wrote $out/calibration.json"
