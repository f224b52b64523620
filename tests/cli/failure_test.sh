#!/usr/bin/env bash
# Rank failure and hangs (README "Failure behaviour"), on 3 CPU ranks with
# LOCKSTEP_FAULT: a rank that exits, is killed, or hangs at step 5 ends the
# whole job promptly and non-zero, the output names the rank, the step (and for
# a hang the operation), the survivors of an exit or kill say where they were,
# and no lockstep process is left behind. A malformed
# LOCKSTEP_FAULT is a clear error.
# Usage: failure_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'pkill -KILL -f "$work/run.ini" 2>/dev/null; rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
fails=0 passes=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; passes=$((passes + 1)); }

"$bin" datagen --out "$work/train.h5" --samples 2000 --shape 1x8x8 --classes 4 >/dev/null || exit 1
cat > "$work/run.ini" <<INI
[model]
layers = dense(16), relu, dense(4)
[data]
train = $work/train.h5
[train]
epochs = 100
global_batch_size = 18
[dist]
device = cpu
[log]
dir = $work/runs
progress = off
every = 1000
INI

# run_case NAME ACTION TIMEOUT_S: runs 3 ranks with rank 1 doing ACTION at step
# 5; sets rc, log, and gone (seconds from the fault line to the end of mpirun).
run_case() {
  log="$work/$1.log"
  : >"$log"
  LOCKSTEP_FAULT="rank=1,step=5,action=$2" timeout 120 "${mpi[@]}" -np 3 "$bin" train \
    --config "$work/run.ini" --log.name "$1" --dist.timeout "$3" >"$log" 2>&1 &
  local pid=$! t_fault=""
  while kill -0 "$pid" 2>/dev/null; do
    [[ -z $t_fault ]] && grep -q "fault injection" "$log" && t_fault=$(date +%s.%N)
    sleep 0.05
  done
  wait "$pid"
  rc=$?
  local t_end
  t_end=$(date +%s.%N)
  [[ -n $t_fault ]] || t_fault=$t_end
  gone=$(awk -v a="$t_fault" -v b="$t_end" 'BEGIN { printf "%.2f", b - a }')
}
within() { awk -v g="$1" -v l="$2" 'BEGIN { exit !(g < l) }'; }
left_behind() {
  sleep 0.5
  if pgrep -f "$work/run.ini" >/dev/null; then
    pgrep -af "$work/run.ini"
    fail "$1: lockstep processes left behind"
  else
    ok "$1: no process left behind"
  fi
}
# The survivors (ranks 0 and 2), stopped by mpirun with SIGTERM while they
# wait in the gradient all-reduce of step 5, print where they were.
survivors_said_where() {
  local r missing=""
  for r in 0 2; do
    grep -q "^lockstep: rank $r at step 5, in allreduce$" "$log" || missing+=" $r"
  done
  if [[ -n $missing ]]; then
    fail "$1: expected 'lockstep: rank R at step 5, in allreduce' from rank(s)$missing"; cat "$log"
  else
    ok "$1: the survivors printed 'lockstep: rank R at step 5, in allreduce'"
  fi
}
check_common() {  # NAME WHAT LIMIT
  if [[ $rc -eq 0 || $rc -eq 124 ]]; then
    fail "$1: expected a non-zero exit (not the test's timeout), got $rc"; cat "$log"
  elif ! within "$gone" "$3"; then
    fail "$1: expected every rank gone within $3 s of the fault, took $gone s"; cat "$log"
  elif ! grep -q "lockstep: fault injection: rank 1 $2 at step 5" "$log"; then
    fail "$1: expected the output to name rank 1 and step 5"; cat "$log"
  else
    ok "$1: every rank gone $gone s after the fault (limit $3 s), exit $rc"
  fi
}

# (a) rank 1 exits at step 5: mpirun ends the job and names the rank.
run_case exit exit 600
check_common exit exits 10
grep -Eq "Process name: \[\[[0-9]+,1\],1\]" "$log" && grep -q "Exit code: *7" "$log" \
  || { fail "exit: expected mpirun to name rank 1 and exit code 7"; cat "$log"; }
survivors_said_where exit
left_behind exit

# (b) rank 1 is killed (SIGKILL) at step 5.
run_case kill kill 600
check_common kill "is killed (SIGKILL)" 10
grep -q "process rank 1 .*signal 9" "$log" || { fail "kill: expected mpirun to name rank 1"; cat "$log"; }
survivors_said_where kill
left_behind kill

# (c) rank 1 hangs at step 5: the others' watchdog (dist.timeout 5) ends the
# job, the hung rank included, with exit code 3 and the operation and step.
run_case hang hang 5
check_common hang "hangs (stops participating)" 10
[[ $rc -eq 3 ]] || fail "hang: expected exit code 3 (collective timed out), got $rc"
grep -Eq "lockstep: rank [02]: allreduce \(gradient bucket 1 of 1\) did not complete within 5 s at step 5: a rank stopped participating" "$log" \
  || { fail "hang: expected a watchdog message naming the operation and step 5"; cat "$log"; }
left_behind hang

# (d) a malformed LOCKSTEP_FAULT is a clear error.
LOCKSTEP_FAULT="rank=1,action=exit" timeout 60 "${mpi[@]}" -np 2 "$bin" train \
  --config "$work/run.ini" --log.name bad >"$work/bad.log" 2>&1
rc=$?
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "LOCKSTEP_FAULT: expected 'rank=R,step=S,action=exit|kill|hang|nan', got 'rank=1,action=exit' (missing step)" "$work/bad.log"; then
  ok "malformed LOCKSTEP_FAULT: clear error, exit $rc"
else
  fail "malformed LOCKSTEP_FAULT: expected a clear error, got exit $rc"; cat "$work/bad.log"
fi
left_behind bad

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
