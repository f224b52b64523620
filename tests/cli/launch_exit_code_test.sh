#!/usr/bin/env bash
# The documented launch paths return 75 when a signal stopped the run
# with a checkpoint: cluster/mpirun/train_mpirun.sh with SIGTERM sent to its
# mpirun, and with SIGTERM sent to the script itself (which passes it on);
# cluster/slurm/train.sbatch (with stand-ins for srun and scontrol) when its
# launcher returns 1 after the run stopped with a checkpoint.
# Bare mpirun's own status after SIGTERM is printed for the README.
# Usage: launch_exit_code_test.sh LOCKSTEP_BIN SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$bin" datagen --out "$work/train.h5" --samples 8192 --shape 1x32x32 --classes 4 >/dev/null
cat > "$work/run.ini" <<INI
[model]
layers = dense(256), relu, dense(64), relu, dense(4)
[data]
train = $work/train.h5
[train]
epochs = 30
batch_size = 16
[dist]
device = cpu
threads = 1
[checkpoint]
every_epochs = 0
[log]
every = 1
progress = off
tensorboard = false
INI
echo "localhost slots=2" >"$work/hostfile"
last_step() {
  local s
  s=$(grep -o '"step":[0-9]*' "$work/runs/$1/metrics.jsonl" 2>/dev/null | tail -1 | cut -d: -f2)
  echo "${s:-0}"
}
wait_step() {  # wait_step RUN: until step 5 is logged (30 s at most)
  local i
  for ((i = 0; i < 3000; ++i)); do
    (($(last_step "$1") >= 5)) && return 0
    sleep 0.01
  done
  return 1
}
# wrapper RUN TARGET: train_mpirun.sh on 2 local ranks, SIGTERM to TARGET
# (mpirun or script) after step 5; sets rc
wrapper() {
  local run=$1 target=$2 pid
  HOSTFILE="$work/hostfile" GPUS_PER_NODE=2 CONFIG="$work/run.ini" LOCKSTEP="$bin" \
    LOG_DIR="$work/runs" RUN_NAME="$run" timeout 300 bash "$src/cluster/mpirun/train_mpirun.sh" \
    >"$work/$run.log" 2>&1 &
  pid=$!
  wait_step "$run" || { bad "$run: no step 5 within 30 s: $(tail -n 3 "$work/$run.log")"; kill "$pid"; wait; rc=-1; return; }
  if [[ $target == mpirun ]]; then
    kill -TERM "$(pgrep -f "^mpirun .*--log.name $run")"
  else
    kill -TERM "$(pgrep -P "$pid")"  # the shell running the script (timeout's child)
  fi
  wait "$pid"
  rc=$?
}
for target in mpirun script; do
  wrapper "to_$target" "$target"
  if [[ $rc -eq 75 ]] && grep -q "exit code 75" "$work/to_$target.log" \
     && ls "$work/runs/to_$target/checkpoints" | grep -q '^ckpt-'; then
    ok "train_mpirun.sh, SIGTERM to the $target: exit code 75 with a checkpoint"
  else
    bad "train_mpirun.sh, SIGTERM to the $target: exit code $rc"; tail -n 5 "$work/to_$target.log"
  fi
done

# cluster/slurm/train.sbatch run by bash with stand-ins for srun (mpirun on 2
# local ranks) and scontrol (records the requeue): SIGTERM to the launcher
# after step 5 makes it return 1, the script exits with 75 and requeues.
mkdir -p "$work/stubs"
cat >"$work/stubs/srun" <<'SH'
#!/usr/bin/env bash
while [[ $1 == --* ]]; do shift; done # srun's own options
exec mpirun -np 2 "$@"
SH
cat >"$work/stubs/scontrol" <<SH
#!/usr/bin/env bash
echo "\$*" >>"$work/scontrol.log"
SH
chmod +x "$work/stubs/srun" "$work/stubs/scontrol"
PATH="$work/stubs:$PATH" SLURM_JOB_ID=42 SLURM_JOB_NAME=sb SLURM_JOB_NUM_NODES=1 SLURM_JOB_NODELIST=localhost \
  SLURM_NTASKS=2 CONFIG="$work/run.ini" LOCKSTEP="$bin" LOG_DIR="$work/runs" \
  timeout 300 bash "$src/cluster/slurm/train.sbatch" >"$work/sbatch.log" 2>&1 &
pid=$!
if wait_step sb-42; then
  kill -TERM "$(pgrep -f "^mpirun .*--log.name sb-42")"
  wait "$pid"
  rc=$?
  if [[ $rc -eq 75 ]] && grep -qx "requeue 42" "$work/scontrol.log" 2>/dev/null; then
    ok "train.sbatch, the launcher ending with 1 after the run stopped with a checkpoint: exit code 75, requeued"
  else
    bad "train.sbatch: exit code $rc, scontrol: $(cat "$work/scontrol.log" 2>/dev/null)"; tail -n 5 "$work/sbatch.log"
  fi
else
  bad "train.sbatch: no step 5: $(tail -n 3 "$work/sbatch.log")"; kill "$pid"; wait
fi

# Bare mpirun (for the README): its exit status after SIGTERM.
timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.dir "$work/runs" --log.name bare \
  >"$work/bare.log" 2>&1 &
pid=$!
if wait_step bare; then
  kill -TERM "$(pgrep -P "$pid" -f mpirun || echo "$pid")"
  wait "$pid"
  rc=$?
  echo "note bare mpirun after SIGTERM: exit status $rc; the run's $(cat "$work/runs/bare/stopped" 2>/dev/null || echo 'stopped file is missing')"
  [[ -f $work/runs/bare/stopped ]] && ok "bare mpirun: rank 0 wrote the run's stopped file ($(cat "$work/runs/bare/stopped" | cut -c1-60))" ||
    bad "bare mpirun: no stopped file: $(tail -n 3 "$work/bare.log")"
else
  bad "bare: no step 5"; kill "$pid"; wait
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
