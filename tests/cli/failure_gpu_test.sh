#!/usr/bin/env bash
# Rank failure and hangs on GPU ranks (NCCL), 2 ranks on one GPU (each its own
# NCCL_HOSTID, socket transport on loopback; shared/DEVICE.md): a rank that
# exits at step 5 shows up on the other as an NCCL async error, which reports
# the operation and the step, aborts the communicator and ends the job with
# exit code 3; a rank that hangs is ended by the watchdog (dist.timeout 5).
# Skips (exit 77) without a GPU. Usage: failure_gpu_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "SKIP: no GPU"
  exit 77
fi
work=$(mktemp -d)
trap 'pkill -KILL -f "$work/run.ini" 2>/dev/null; rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe --bind-to none -x NCCL_SOCKET_IFNAME=lo -x LD_LIBRARY_PATH)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
# shellcheck disable=SC2016 # expanded by each rank's bash
hostid=(bash -c 'NCCL_HOSTID=host$OMPI_COMM_WORLD_RANK exec "$@"' bash)
fails=0 passes=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; passes=$((passes + 1)); }

"$bin" datagen --out "$work/train.h5" --samples 2000 --shape 1x8x8 --classes 4 >/dev/null || exit 1
cat > "$work/run.ini" <<INI
[model]
layers = dense(64), relu, dense(4)
[data]
train = $work/train.h5
[train]
epochs = 100
global_batch_size = 16
[dist]
device = cuda
allow_shared_gpu = true
[log]
dir = $work/runs
progress = off
every = 1000
INI

for action in exit hang; do
  log="$work/$action.log"
  t0=$(date +%s.%N)
  LOCKSTEP_FAULT="rank=1,step=5,action=$action" timeout 120 "${mpi[@]}" -np 2 "${hostid[@]}" \
    "$bin" train --config "$work/run.ini" --log.name "$action" --dist.timeout 5 >"$log" 2>&1
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  sleep 0.5
  left=$(pgrep -f "$work/run.ini" | wc -l)
  if [[ $rc -eq 0 || $rc -eq 124 || $left -ne 0 ]]; then
    fail "$action: expected a prompt non-zero end with nothing left, got exit $rc, $left left, $secs s"
    cat "$log"
    continue
  fi
  case $action in
    exit)  # README: NCCL reports the lost peer within about a millisecond; rank 0
      # prints where it was, aborts its communicator and ends the job with 3.
      if grep -q "lockstep: rank 0: allreduce (gradient bucket 1 of 1) failed at step 5: NCCL reports" "$log" && [[ $rc -eq 3 ]]; then
        ok "exit: rank 0 reported NCCL's async error at step 5 and ended the job (exit 3), whole run $secs s"
      else
        fail "exit: expected rank 0 to report NCCL's async error at step 5 and exit code 3, got exit $rc"
        cat "$log"
      fi ;;
    hang)
      if grep -q "lockstep: rank 0: allreduce (gradient bucket 1 of 1) did not complete within 5 s at step 5" "$log" && [[ $rc -eq 3 ]]; then
        ok "hang: watchdog ended the job (exit 3), whole run $secs s"
      else
        fail "hang: expected the watchdog message at step 5 and exit 3, got exit $rc"
        cat "$log"
      fi ;;
  esac
done
echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
