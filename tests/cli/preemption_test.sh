#!/usr/bin/env bash
# Preemption: SIGUSR1 (or SIGTERM) sent to ONE rank makes every rank stop at
# the same step boundary, write a checkpoint and exit with code 75; resuming
# with --checkpoint.resume auto then gives the same per-step losses and final
# parameters, bit for bit, as the uninterrupted run (CPU ranks). SIGTERM to one
# rank, and SIGUSR1 or SIGTERM sent to mpirun (which forwards them to every
# rank), do the same: each leaves the checkpoint of the step the ranks stopped
# at, which `latest` names and a resume continues from. A second signal ends a
# process at once.
# Usage: preemption_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'pkill -f "$work/run.ini" 2>/dev/null; rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
command -v h5diff >/dev/null || fail "h5diff (Debian package hdf5-tools) is not on the PATH"

"$bin" datagen --out "$work/train.h5" --samples 2048 --shape 1x16x16 --classes 4 >/dev/null || fail datagen
cat > "$work/run.ini" <<INI
[model]
layers = dense(128), relu, dense(64), relu, dense(4)
[data]
train = $work/train.h5
[train]
epochs = 30
batch_size = 16
seed = 3
[optim]
name = adam
lr = 0.001
[dist]
device = cpu
threads = 1
[checkpoint]
every_epochs = 0
[log]
dir = $work/runs
every = 1
progress = off
INI
steps() { grep '"type":"step"' "$1" | sed 's/,"samples_per_s":[-0-9.e+]*//; s/,"time":[-0-9.e+]*//; s/"\(comm_s\|exposed_comm_s\|overlap\)":[-0-9.e+]*,//g'; }
# last_step RUN: the newest step record's step number (0 if none yet)
last_step() {
  local s
  s=$(grep -o '"step":[0-9]*' "$work/runs/$1/metrics.jsonl" 2>/dev/null | tail -1 | cut -d: -f2)
  echo "${s:-0}"
}
# interrupt RUN SIGNAL TARGET [ARGS...]: starts RUN, waits for step 10, sends
# SIGNAL to one rank (TARGET=rank) or to mpirun (TARGET=mpirun); sets rc, log.
interrupt() {
  local run=$1 sig=$2 target=$3 pid i
  shift 3
  log="$work/$run.log"
  timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name "$run" "$@" \
    >"$log" 2>&1 &
  pid=$!
  for ((i = 0; i < 3000; ++i)); do
    (($(last_step "$run") >= 10)) && break
    sleep 0.01
  done
  (($(last_step "$run") >= 10)) || fail "$run: no step 10 within 30 s: $(tail -n 3 "$log")"
  if [[ $target == mpirun ]]; then
    kill -s "$sig" "$(pgrep -P "$pid" -f mpirun || echo "$pid")"
  else
    kill -s "$sig" "$(pgrep -f "lockstep train --config $work/run.ini --log.name $run" | tail -1)"
  fi
  wait "$pid"
  rc=$?
}

timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name full >/dev/null ||
  fail "the uninterrupted run failed"

interrupt split SIGUSR1 rank
[[ $rc -eq 75 ]] || fail "SIGUSR1 to one rank: exit code $rc, expected 75: $(tail -n 3 "$log")"
stop=$(grep -oP "stopped by SIGUSR1 after step \K[0-9]+" "$log") || fail "no stop message: $(tail -n 3 "$log")"
((stop < 1920)) || fail "the run ended before the signal (step $stop)"
[[ -f $work/runs/split/checkpoints/ckpt-$(printf '%010d' "$stop").h5 ]] ||
  fail "no checkpoint for step $stop: $(ls "$work/runs/split/checkpoints")"
echo "ok   SIGUSR1 to one rank: both ranks stopped after step $stop with a checkpoint, exit code 75"

timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name split \
  --checkpoint.resume auto >"$work/resume.log" 2>&1 || fail "resume failed: $(tail -n 3 "$work/resume.log")"
grep -q "resume .*ckpt-.*$stop.h5 (step $stop)" "$work/resume.log" || fail "did not resume from step $stop"
h5diff "$work/runs/full/final.h5" "$work/runs/split/final.h5" /parameters ||
  fail "final parameters differ after the signal and resume"
cmp <(steps "$work/runs/full/metrics.jsonl") <(steps "$work/runs/split/metrics.jsonl") ||
  fail "per-step losses differ after the signal and resume"
echo "ok   resumed from step $stop: per-step losses and final parameters bit-identical"

# stopped_with_checkpoint RUN SIGNAL: the log names the step S both ranks
# stopped after ("stopped by SIGNAL after step S; checkpoint ...ckpt-S.h5"),
# that checkpoint exists, `latest` names it, and a resume continues from it.
stopped_with_checkpoint() {
  local run=$1 sig=$2 s ckpt
  s=$(grep -oP "stopped by $sig after step \K[0-9]+" "$log" | sort -u)
  [[ $s =~ ^[0-9]+$ ]] || fail "$run: expected one 'stopped by $sig after step S' step: $(tail -n 3 "$log")"
  ckpt=ckpt-$(printf '%010d' "$s").h5
  grep -q "stopped by $sig after step $s; checkpoint .*$ckpt" "$log" ||
    fail "$run: the stop message does not name $ckpt: $(grep -m1 "stopped by" "$log")"
  [[ -f $work/runs/$run/checkpoints/$ckpt ]] || fail "$run: no $ckpt: $(ls "$work/runs/$run/checkpoints")"
  [[ $(cat "$work/runs/$run/checkpoints/latest") == "$ckpt" ]] || fail "$run: latest does not name $ckpt"
  timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name "$run" \
    --checkpoint.resume auto --train.epochs 1000 --train.stop_after_steps $((s + 2)) >"$work/$run.resume.log" 2>&1 ||
    fail "$run: resuming failed: $(tail -n 3 "$work/$run.resume.log")"
  grep -q "resume .*$ckpt (step $s)" "$work/$run.resume.log" || fail "$run: did not resume from step $s"
  stopped_at=$s
}

interrupt term SIGTERM rank --train.epochs 1000
[[ $rc -eq 75 ]] || fail "SIGTERM to one rank: exit code $rc, expected 75: $(tail -n 3 "$log")"
stopped_with_checkpoint term SIGTERM
echo "ok   SIGTERM to one rank: stopped after step $stopped_at with a checkpoint that resumes, exit code 75"

interrupt forwarded SIGUSR1 mpirun --train.epochs 1000
[[ $rc -eq 75 ]] || fail "SIGUSR1 to mpirun: exit code $rc, expected 75: $(tail -n 3 "$log")"
stopped_with_checkpoint forwarded SIGUSR1
echo "ok   SIGUSR1 to mpirun (forwarded to every rank): stopped after step $stopped_at with a checkpoint, exit code 75"

# SIGTERM to mpirun: it forwards SIGTERM to the ranks, which stop at the same
# step with a checkpoint and exit with 75. (Bare mpirun's own exit code is not
# checked here: cluster/mpirun/train_mpirun.sh is the launch path that turns it
# into 75.)
interrupt mpirun_term SIGTERM mpirun --train.epochs 1000
[[ $rc -ne 0 ]] || fail "SIGTERM to mpirun: exit code 0"
n=$(grep -c "stopped by SIGTERM after step" "$log")
[[ $n -ge 1 ]] || fail "SIGTERM to mpirun: no stop message: $(tail -n 3 "$log")"
stopped_with_checkpoint mpirun_term SIGTERM
echo "ok   SIGTERM to mpirun: the ranks stopped after step $stopped_at with a checkpoint (mpirun exit code $rc)"

# A second signal ends a process at once: a rank hung at step 5 (LOCKSTEP_FAULT)
# never reaches a step boundary, so the first SIGTERM only asks it to stop (it
# says so and goes on); the second ends it by that signal, and mpirun the job.
log="$work/twice.log"
LOCKSTEP_FAULT="rank=0,step=5,action=hang" timeout 120 "${mpi[@]}" -np 1 "$bin" train \
  --config "$work/run.ini" --log.name twice >"$log" 2>&1 &
pid=$!
for ((i = 0; i < 3000; ++i)); do
  grep -q "fault injection: rank 0 hangs" "$log" && break
  sleep 0.01
done
grep -q "fault injection: rank 0 hangs" "$log" || fail "second signal: the rank did not reach its hang"
rank_pid=$(pgrep -f "lockstep train --config $work/run.ini --log.name twice" | tail -1)
kill -s SIGTERM "$rank_pid"
sleep 1.5
kill -0 "$rank_pid" 2>/dev/null || fail "second signal: the first SIGTERM ended the rank: $(tail -n 3 "$log")"
grep -q "SIGTERM received: stopping at the next step boundary" "$log" ||
  fail "second signal: the first SIGTERM was not acknowledged: $(tail -n 3 "$log")"
# alive PID: the process exists and is not a zombie waiting for mpirun to reap it.
alive() { [[ -e /proc/$1 ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
t0=$(date +%s.%N)
kill -s SIGTERM "$rank_pid"
for ((i = 0; i < 500; ++i)); do
  alive "$rank_pid" || break
  sleep 0.01
done
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
alive "$rank_pid" && fail "second signal: the rank is still running 5 s after it"
awk -v s="$secs" 'BEGIN { exit !(s < 1) }' || fail "second signal: the rank took $secs s to end"
wait "$pid"
rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "second signal: exit code $rc"
grep -q "signal 15" "$log" || fail "second signal: mpirun does not report the rank ended by signal 15: $(tail -n 5 "$log")"
! grep -q "stopped by SIGTERM" "$log" || fail "second signal: the rank stopped normally instead"
echo "ok   a second SIGTERM ends a hung rank at once (gone after $secs s; mpirun exit code $rc); the first only asked"
echo "7 passed, 0 failed"
