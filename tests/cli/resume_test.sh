#!/usr/bin/env bash
# Checkpoint and resume: a run stopped after k steps (mid-epoch on 2 ranks, at
# an epoch boundary on 1) and resumed with checkpoint.resume = auto gives the
# same per-step losses and the same final parameters, bit for bit, as the
# uninterrupted run (CPU ranks, same world size); a checkpoint also resumes on
# another number of ranks with its parameters and position; a saved model
# initialises a new run with its parameters (checkpoint.init); only `keep`
# checkpoints stay.
# Usage: resume_test.sh LOCKSTEP_BIN MAKE_BAD_DATA_BIN
set -euo pipefail
bin=$1 make_bad=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v h5diff >/dev/null || { echo "FAIL: h5diff (Debian package hdf5-tools) is not on the PATH"; exit 1; }
"$bin" datagen --out "$work/train.h5" --samples 1000 --shape 1x8x8 --classes 4 >/dev/null
cat > "$work/run.ini" <<INI
[model]
layers = conv2d(4, 3, padding=1), batchnorm, relu, maxpool2d(2), dropout(0.2), dense(16), relu, dense(4)
[data]
train = $work/train.h5
hflip = true
[train]
epochs = 3
global_batch_size = 32
seed = 7
[optim]
name = adamw
lr = 0.01
weight_decay = 0.01
schedule = cosine
warmup_epochs = 1
clip_norm = 1.0
[dist]
# CPU ranks: the resume is bit for bit there (and 2-4 ranks need no GPUs).
device = cpu
[checkpoint]
every_epochs = 1
keep = 2
[log]
dir = $work/runs
every = 1
progress = off
INI
steps() { grep '"type":"step"' "$1" | sed 's/,"samples_per_s":[-0-9.e+]*//; s/,"time":[-0-9.e+]*//; s/"\(comm_s\|exposed_comm_s\|overlap\)":[-0-9.e+]*,//g'; }

# exact_resume NP STOP SUFFIX: the uninterrupted run "full$SUFFIX" and a run
# "split$SUFFIX" stopped after STOP steps and resumed, on NP ranks: the final
# parameters, BatchNorm statistics and per-step losses must be identical.
exact_resume() {
  local np=$1 stop=$2 full="$work/runs/full$3" split="$work/runs/split$3"
  timeout 300 "${mpi[@]}" -np "$np" "$bin" train --config "$work/run.ini" --log.name "full$3" >/dev/null
  timeout 300 "${mpi[@]}" -np "$np" "$bin" train --config "$work/run.ini" --log.name "split$3" \
    --train.stop_after_steps "$stop" | grep -q "stopped after $stop steps" || fail "no stop after $stop steps"
  timeout 300 "${mpi[@]}" -np "$np" "$bin" train --config "$work/run.ini" --log.name "split$3" \
    --checkpoint.resume auto | grep -q "resume .*ckpt-$(printf '%010d' "$stop").h5" ||
    fail "did not resume from step $stop"
  h5diff "$full/final.h5" "$split/final.h5" /parameters ||
    fail "$np rank(s): final parameters differ after resume"
  h5diff "$full/final.h5" "$split/final.h5" /buffers ||
    fail "$np rank(s): BatchNorm running statistics differ after resume"
  cmp <(steps "$full/metrics.jsonl") <(steps "$split/metrics.jsonl") ||
    fail "$np rank(s): per-step losses differ after resume"
}

# 31 steps an epoch: stop at 20 (mid-epoch 1), resume, finish.
exact_resume 2 20 ""
echo "ok   exact resume from step 20 of 93 on 2 ranks (parameters, buffers, per-step losses)"
# 1 rank, stopped exactly at an epoch boundary (step 31 = the end of epoch 1,
# after its evaluation and checkpoint).
exact_resume 1 31 1
echo "ok   exact resume at the epoch boundary (step 31 of 93) on 1 rank"

n=$(ls "$work/runs/split/checkpoints" | grep -c '^ckpt-')
[[ $n -eq 2 ]] || fail "expected 2 checkpoints kept, found $n"
echo "ok   keep = 2 checkpoints"

# The next two runs train with a learning rate (1e-30) too small to move any
# weight in float32 (an Adam step is about lr, far below half an ulp of every
# weight), so their final parameters are exactly the ones they started from:
# those of the checkpoint or model they loaded. Started from anything else
# (fresh initialisation, another file), they differ.
frozen=(--optim.lr 1e-30 --optim.schedule constant --optim.warmup_epochs 0)

# Another number of ranks: continues from the checkpoint's parameters, epoch
# and step (step records go on from step 63).
ckpt62="$work/runs/split/checkpoints/ckpt-0000000062.h5"
timeout 300 "${mpi[@]}" -np 4 "$bin" train --config "$work/run.ini" "${frozen[@]}" \
  --checkpoint.resume "$ckpt62" --log.name other \
  | grep -q "resume .*ckpt-0000000062.h5 (step 62)" || fail "resume on 4 ranks"
h5diff "$ckpt62" "$work/runs/other/final.h5" /parameters ||
  fail "4 ranks: the parameters are not those of the 2-rank checkpoint"
first=$(grep -m1 '"type":"step"' "$work/runs/other/metrics.jsonl" | grep -o '"step":[0-9]*')
[[ $first == '"step":63' ]] || fail "4 ranks: the first step record has $first, expected step 63"
echo "ok   resume on 4 ranks from a 2-rank checkpoint: its parameters, from step 63"

# Fine-tuning: start from saved weights (parameters and BatchNorm statistics),
# fresh optimizer and position.
timeout 300 "${mpi[@]}" -np 1 "$bin" train --config "$work/run.ini" --log.name tuned --train.epochs 1 \
  "${frozen[@]}" --checkpoint.init "$work/runs/full/final.h5" | grep -q "init .*final.h5 (step 0)" || fail "init"
h5diff "$work/runs/full/final.h5" "$work/runs/tuned/final.h5" /parameters ||
  fail "checkpoint.init: the parameters are not those of the saved model"
first=$(grep -m1 '"type":"step"' "$work/runs/tuned/metrics.jsonl" | grep -o '"step":[0-9]*')
[[ $first == '"step":1' ]] || fail "checkpoint.init: the first step record has $first, expected step 1"
echo "ok   checkpoint.init from a saved model: its parameters, from step 0"

# Resuming a model file (not a checkpoint) is a clear error.
if timeout 60 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name bad \
     --checkpoint.resume "$work/runs/full/final.h5" > "$work/bad.log" 2>&1; then
  fail "resuming from a model file succeeded"
fi
grep -q "is a saved model, not a checkpoint" "$work/bad.log" || fail "unclear error: $(tail -n 2 "$work/bad.log")"
echo "ok   resume from a model file is an error"

# A checkpoint of another model: a clear error on every rank, the checkpoint untouched.
ckpt="$work/runs/split/checkpoints/ckpt-0000000062.h5"
sum_before=$(sha256sum "$ckpt")
if timeout 60 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" --log.name other_model \
     --model.layers "dense(16), relu, dense(4)" --checkpoint.resume "$ckpt" > "$work/other.log" 2>&1; then
  fail "resuming a checkpoint of another model succeeded"
fi
[[ $(grep "error on ranks\? [0-9,-]*:.*ckpt-0000000062.h5" "$work/other.log" >"$work/other.err"; error_ranks "$work/other.err") -eq 2 ]] ||
  fail "expected the error from both ranks, naming the checkpoint: $(tail -n 2 "$work/other.log")"
[[ "$(sha256sum "$ckpt")" == "$sum_before" ]] || fail "the checkpoint changed"
echo "ok   a checkpoint of another model: $(grep -m1 -o "error on ranks\? 0[0-9,-]*: .*" "$work/other.log" | cut -c1-140)"
echo "7 passed, 0 failed"
