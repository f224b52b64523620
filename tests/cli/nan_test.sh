#!/usr/bin/env bash
# Non-finite losses end to end: a learning rate that makes training diverge.
# train.on_nan = abort: every rank stops at the same step with exit code 4 and
# a message naming the step; skip: the bad steps are skipped and logged, and
# more than train.max_nan_skips of them in a row end the run with exit code 4.
# The same through LOCKSTEP_FAULT action=nan on one rank of a healthy run.
# Usage: nan_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$bin" datagen --out "$work/train.h5" --samples 256 --shape 1x8x8 --classes 4 >/dev/null || fail datagen
cat > "$work/run.ini" <<INI
[model]
layers = dense(32), relu, dense(4)
[data]
train = $work/train.h5
[train]
epochs = 5
batch_size = 16
[optim]
lr = 1e30
[dist]
device = cpu
[log]
dir = $work/runs
every = 1
progress = off
INI

timeout 120 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name abort >"$work/abort.log" 2>&1
rc=$?
[[ $rc -eq 4 ]] || fail "on_nan = abort: exit code $rc, expected 4; $(tail -n 3 "$work/abort.log")"
n=$(grep "error on ranks\? [0-9,-]*: non-finite loss or gradients at step [0-9]*" "$work/abort.log" >"$work/abort.err"; error_ranks "$work/abort.err")
[[ $n -eq 2 ]] || fail "on_nan = abort: expected the message from both ranks, got $n: $(tail -n 3 "$work/abort.log")"
steps=$(grep -o "at step [0-9]*" "$work/abort.log" | sort -u | wc -l)
[[ $steps -eq 1 ]] || fail "on_nan = abort: the ranks stopped at different steps"
echo "ok   on_nan = abort: both ranks stop at $(grep -o "at step [0-9]*" "$work/abort.log" | head -1), exit code 4"

timeout 120 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name skip \
  --train.on_nan skip --train.max_nan_skips 3 >"$work/skip.log" 2>&1
rc=$?
[[ $rc -eq 4 ]] || fail "on_nan = skip: exit code $rc, expected 4; $(tail -n 3 "$work/skip.log")"
skips=$(grep -c '"type":"skip"' "$work/runs/skip/metrics.jsonl")
[[ $skips -eq 3 ]] || fail "on_nan = skip: expected 3 skip records, got $skips"
grep -q "non-finite loss or gradients in 4 consecutive steps" "$work/skip.log" ||
  fail "on_nan = skip: no message about 4 consecutive steps: $(tail -n 3 "$work/skip.log")"
echo "ok   on_nan = skip: 3 skipped steps logged, the 4th in a row ends the run with exit code 4"

# LOCKSTEP_FAULT action=nan: rank 1 alone poisons its loss and gradients at
# step 5 of an otherwise healthy run (lr 0.05). abort: both ranks stop at step 5
# with exit code 4; skip: that one step is skipped on both ranks and logged,
# and the run finishes.
timeout 120 env LOCKSTEP_FAULT="rank=1,step=5,action=nan" "${mpi[@]}" -np 2 "$bin" train \
  --config "$work/run.ini" --log.name fault_abort --optim.lr 0.05 >"$work/fault_abort.log" 2>&1
rc=$?
[[ $rc -eq 4 ]] || fail "action=nan, abort: exit code $rc, expected 4; $(tail -n 3 "$work/fault_abort.log")"
grep -q "fault injection: rank 1 poisons its loss and gradients with NaN at step 5" "$work/fault_abort.log" ||
  fail "action=nan: no fault injection line"
n=$(error_ranks "$work/fault_abort.log" "non-finite loss or gradients at step 5 " 2)
[[ $n -eq 2 ]] || fail "action=nan, abort: expected both ranks to stop at step 5, got $n: $(tail -n 3 "$work/fault_abort.log")"
echo "ok   LOCKSTEP_FAULT action=nan on rank 1, on_nan = abort: both ranks stop at step 5, exit code 4"

timeout 120 env LOCKSTEP_FAULT="rank=1,step=5,action=nan" "${mpi[@]}" -np 2 "$bin" train \
  --config "$work/run.ini" --log.name fault_skip --optim.lr 0.05 --train.on_nan skip >"$work/fault_skip.log" 2>&1
rc=$?
[[ $rc -eq 0 ]] || fail "action=nan, skip: exit code $rc, expected 0; $(tail -n 3 "$work/fault_skip.log")"
grep -q "^step 5: non-finite loss or gradients: step skipped (1 in a row)" "$work/fault_skip.log" ||
  fail "action=nan, skip: no skip line for step 5: $(grep -m3 "skipped" "$work/fault_skip.log")"
skips=$(grep -c '"type":"skip"' "$work/runs/fault_skip/metrics.jsonl")
[[ $skips -eq 1 ]] || fail "action=nan, skip: expected 1 skip record, got $skips"
[[ -s $work/runs/fault_skip/final.h5 ]] || fail "action=nan, skip: no final.h5"
echo "ok   LOCKSTEP_FAULT action=nan on rank 1, on_nan = skip: step 5 skipped and logged once, the run finishes"
echo "4 passed, 0 failed"
