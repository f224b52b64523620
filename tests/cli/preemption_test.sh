#!/usr/bin/env bash
# Preemption: SIGUSR1 (or SIGTERM) sent to ONE rank makes every rank stop at
# the same step boundary, write a checkpoint and exit with code 75; resuming
# with --checkpoint.resume auto then gives the same per-step losses and final
# parameters, bit for bit, as the uninterrupted run (CPU ranks). SIGUSR1 sent
# to mpirun (which forwards it to every rank) does the same.
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
steps() { grep '"type":"step"' "$1" | sed 's/,"samples_per_s":[-0-9.e+]*//; s/,"time":[-0-9.e+]*//'; }
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

interrupt term SIGTERM rank --train.epochs 1000
[[ $rc -eq 75 ]] || fail "SIGTERM to one rank: exit code $rc, expected 75: $(tail -n 3 "$log")"
grep -q "stopped by SIGTERM after step" "$log" || fail "no SIGTERM stop message: $(tail -n 3 "$log")"
echo "ok   SIGTERM to one rank: stopped with a checkpoint, exit code 75"

interrupt forwarded SIGUSR1 mpirun --train.epochs 1000
[[ $rc -eq 75 ]] || fail "SIGUSR1 to mpirun: exit code $rc, expected 75: $(tail -n 3 "$log")"
grep -q "stopped by SIGUSR1 after step" "$log" || fail "no stop message: $(tail -n 3 "$log")"
echo "ok   SIGUSR1 to mpirun (forwarded to every rank): stopped with a checkpoint, exit code 75"
echo "4 passed, 0 failed"
