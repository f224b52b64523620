#!/usr/bin/env bash
# Command-line mistakes get messages that say what is missing: no --config; a
# config file given as a bare word; train.batch_size and
# train.global_batch_size both in the file or both as flags (an error naming
# both keys). A flag or a swept key overrides the other batch key of the file
# and says so: the README's sweep example (--grid train.batch_size=16,32 on
# examples/fashion_mnist_mlp.ini, which sets global_batch_size) runs trials
# that differ. A run's saved config.ini trains again as it is.
# Usage: config_args_test.sh LOCKSTEP_BIN SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$bin" datagen --out "$work/train.h5" --samples 256 --shape 1x28x28 --classes 10 >/dev/null
cat > "$work/global.ini" <<INI
[model]
layers = dense(16), relu, dense(10)
[data]
train = $work/train.h5
[train]
epochs = 1
global_batch_size = 32
[dist]
device = cpu
[log]
dir = $work/runs
progress = off
tensorboard = false
INI
# expect_fail NAME PATTERN ARGS...: 2 ranks fail cleanly with PATTERN in the output
expect_fail() {
  local name=$1 pattern=$2
  shift 2
  (cd "$work" && timeout 60 "${mpi[@]}" -np 2 "$bin" "$@") >"$work/$name.log" 2>&1
  local rc=$?
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qF -- "$pattern" "$work/$name.log"; then
    ok "$name: $(grep -m1 -F -- "$pattern" "$work/$name.log" | cut -c1-170)"
  else
    bad "$name: exit $rc, expected '$pattern'"; tail -3 "$work/$name.log"
  fi
}
expect_fail no_config "lockstep train: error on ranks 0-1: no --config given: expected --config run.ini" train
expect_fail no_config_sweep "lockstep sweep: error on ranks 0-1: no --config given" sweep --grid optim.lr=0.1,0.2
expect_fail positional "lockstep train: error on ranks 0-1: unexpected argument 'global.ini': did you mean --config global.ini?" \
  train global.ini
expect_fail positional_other "unexpected argument 'extra': options are --name value (see lockstep train --help)" \
  train --config global.ini extra
sed 's/^global_batch_size = 32/global_batch_size = 32\nbatch_size = 8/' "$work/global.ini" >"$work/both.ini"
expect_fail both_in_file "train.batch_size and train.global_batch_size: expected at most one of them in config file" \
  train --config both.ini
expect_fail both_flags "train.batch_size and train.global_batch_size: expected at most one of them on the command line" \
  train --config global.ini --train.batch_size 8 --train.global_batch_size 64
expect_fail both_swept "--grid train.batch_size and --grid train.global_batch_size" \
  sweep --config global.ini --grid train.batch_size=8,16 --grid train.global_batch_size=32,64

# A flag overrides the other key of the file, and says so.
timeout 60 "${mpi[@]}" -np 2 "$bin" train --config "$work/global.ini" --train.batch_size 8 \
  --log.name flag >"$work/flag.log" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q "note: --train.batch_size overrides train.global_batch_size = 32" "$work/flag.log" \
   && grep -q "batch 8 per rank (global 16)" "$work/flag.log"; then
  ok "--train.batch_size 8 over the file's global_batch_size 32: said, and used (batch 8 per rank)"
else
  bad "flag override: exit $rc"; grep -E "note|batch" "$work/flag.log"; tail -3 "$work/flag.log"
fi
# The saved config of a run with a global batch trains again as it is.
timeout 60 "${mpi[@]}" -np 2 "$bin" train --config "$work/global.ini" --log.name saved >/dev/null 2>&1
timeout 60 "${mpi[@]}" -np 2 "$bin" train --config "$work/runs/saved/config.ini" --log.name again \
  >"$work/again.log" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q "batch 16 per rank (global 32)" "$work/again.log"; then
  ok "a run's config.ini (global_batch_size = 32) trains again: batch 16 per rank"
else
  bad "config.ini again: exit $rc"; tail -3 "$work/again.log"
fi

# The README's sweep example: trials of different batch sizes.
s=$work/sweep
timeout 300 "${mpi[@]}" -np 2 "$bin" sweep --config "$src/examples/fashion_mnist_mlp.ini" \
  --data.train "$work/train.h5" --data.test "" --data.mean 0 --data.std 1 --train.epochs 1 \
  --log.tensorboard false --log.progress off --grid train.batch_size=16,32 --out "$s" >"$work/sweep.log" 2>&1
rc=$?
losses=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "train_loss") c = i; next } { print $c }' \
  "$s/results.csv" 2>/dev/null | sort -u | wc -l)
if [[ $rc -eq 0 && $losses -eq 2 ]] && grep -q "note: --grid train.batch_size overrides train.global_batch_size = 256" "$work/sweep.log" \
   && grep -q "batch 16 per rank" "$work/sweep.log" && grep -q "batch 32 per rank" "$work/sweep.log"; then
  ok "the README sweep example: trials at batch 16 and 32 per rank, different train losses"
else
  bad "README sweep: exit $rc, $losses distinct train losses"; grep -E "note|batch" "$work/sweep.log"; tail -3 "$work/sweep.log"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
