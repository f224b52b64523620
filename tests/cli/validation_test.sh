#!/usr/bin/env bash
# Validation: a run with data.val_fraction logs validation figures every epoch;
# early stopping with patience ends a run whose val_loss stops improving
# (lr too large: deterministic on CPU ranks) before train.epochs, with exit 0;
# best.h5 holds the best epoch and `lockstep eval --rows val` reproduces its
# logged value; a run resumed from a checkpoint makes the same decisions; bad
# validation settings are clear errors on every rank.
# Usage: validation_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$bin" datagen --out "$work/train.h5" --samples 600 --shape 1x8x8 --classes 4 >/dev/null
cat > "$work/run.ini" <<INI
[model]
layers = dense(32), relu, dense(4)
[data]
train = $work/train.h5
val_fraction = 0.25
[train]
epochs = 12
global_batch_size = 16
seed = 3
early_stop_metric = val_loss
patience = 2
[optim]
lr = 0.5
[dist]
device = cpu
[log]
dir = $work/runs
progress = off
INI
epochs() { grep '"type":"epoch"' "$1"; }
run=$work/runs/stop
timeout 120 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name stop >"$work/stop.log" 2>&1
rc=$?
n=$(epochs "$run/metrics.jsonl" | wc -l)
nval=$(epochs "$run/metrics.jsonl" | grep -c '"val_loss".*"val_accuracy"\|"val_accuracy".*"val_loss"')
if [[ $rc -eq 0 && $n -ge 1 && $nval -eq $n ]] && grep -q "val_loss .* val_accuracy" "$work/stop.log"; then
  ok "val_loss and val_accuracy in every epoch record ($n) and progress line"
else
  bad "validation figures: exit $rc, $nval of $n epoch records"; tail -5 "$work/stop.log"
fi
if [[ $rc -eq 0 && $n -lt 12 ]] && grep -q "early stopping after epoch $n: val_loss did not improve for 2" "$work/stop.log" \
   && [[ -f $run/final.h5 ]]; then
  ok "early stopping after epoch $n of 12, exit 0, final.h5 written"
else
  bad "no early stop (exit $rc, $n epochs)"; tail -3 "$work/stop.log"
fi
# best.h5: the epoch and value of the last "best" record, and of the minimum val_loss.
best=$(grep '"type":"best"' "$run/metrics.jsonl" | tail -1)
best_epoch=$(sed 's/.*"epoch":\([0-9]*\).*/\1/' <<<"$best")
best_value=$(sed 's/.*"value":\([-0-9.e+]*\).*/\1/' <<<"$best")
min_epoch=$(epochs "$run/metrics.jsonl" | sed 's/.*"epoch":\([0-9]*\).*"val_loss":\([-0-9.e+]*\).*/\2 \1/' | sort -g | head -1 | cut -d' ' -f2)
file_epoch=$(h5dump -a /best_epoch "$run/best.h5" 2>/dev/null | sed -n 's/.*(0): *\([0-9]*\).*/\1/p')
if [[ -n $best_epoch && $best_epoch == "$min_epoch" && $file_epoch == "$best_epoch" ]]; then
  ok "best.h5 holds epoch $best_epoch, the epoch of the least val_loss ($best_value)"
else
  bad "best.h5: record epoch '$best_epoch', least val_loss at '$min_epoch', file says '$file_epoch'"
fi
eval_loss=$(timeout 60 "${mpi[@]}" -np 2 "$bin" eval --model "$run/best.h5" --data "$work/train.h5" --rows val \
  | sed -n 's/^loss \([0-9.]*\)$/\1/p')
if awk -v a="$eval_loss" -v b="$best_value" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-5 && d > -1e-5) }'; then
  ok "eval --rows val on best.h5 gives the logged best val_loss ($eval_loss)"
else
  bad "eval of best.h5 gives '$eval_loss', logged $best_value"
fi

# Resume: stop after epoch 4 (best at 3, one epoch without improvement: a run
# that forgot this would take epoch 5 as its first best), resume, same decisions.
timeout 120 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name split \
  --train.stop_after_steps 112 >/dev/null 2>&1
timeout 120 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name split \
  --checkpoint.resume auto >"$work/split.log" 2>&1
strip() { grep -v '"type":"step"' "$1" | sed 's/,"input_wait_s":[-0-9.e+]*//; s/,"samples_per_s":[-0-9.e+]*//; s/,"seconds":[-0-9.e+]*//; s/,"time":[-0-9.e+]*//; s/"\(comm_s\|exposed_comm_s\|overlap\)":[-0-9.e+]*,//g'; }
if cmp -s <(strip "$run/metrics.jsonl") <(strip "$work/runs/split/metrics.jsonl") \
   && cmp -s <(grep "^early stopping" "$work/stop.log") <(grep "^early stopping" "$work/split.log") \
   && h5diff "$run/best.h5" "$work/runs/split/best.h5" /parameters >/dev/null; then
  ok "a run resumed after epoch 4 stops at the same epoch with the same best.h5"
else
  bad "resumed run differs"; diff <(strip "$run/metrics.jsonl") <(strip "$work/runs/split/metrics.jsonl") | head -6
fi

# Bad input: clear errors on every rank, non-zero exit.
expect_fail() {
  local name=$1 pattern=$2
  shift 2
  timeout 60 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name "$name" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  local ranks
  ranks=$(error_ranks "$work/$name.log")
  if [[ $rc -ne 0 && $rc -ne 124 && $ranks -eq 2 ]] && grep -q -- "$pattern" "$work/$name.log"; then
    ok "$name: $(grep -m1 "error on rank" "$work/$name.log" | cut -c1-140)"
  else
    bad "$name: exit $rc, $ranks rank(s) reported, expected /$pattern/"; tail -3 "$work/$name.log"
  fi
}
expect_fail fraction_range "data.val_fraction: expected a number 0 <= f < 1, got '1.5'" --data.val_fraction 1.5
expect_fail both_sources "data.val and data.val_fraction: expected at most one" --data.val "$work/train.h5"
expect_fail no_validation "train.early_stop_metric = val_loss: expected validation data" --data.val_fraction 0
expect_fail bad_metric "train.early_stop_metric: expected none or one of val_loss, val_accuracy" \
  --train.early_stop_metric val_r2
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
