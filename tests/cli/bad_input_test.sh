#!/usr/bin/env bash
# Bad input ends every rank promptly with a clear message and a non-zero exit:
# each case runs `lockstep train` under mpirun with a timeout (no hang) and
# checks the exit code, the message (file or option, and the reason), and that
# every rank reported it (distinct ranks, whether printed per rank or once).
# Usage: bad_input_test.sh LOCKSTEP_BIN MAKE_BAD_DATA_BIN SOURCE_DIR
set -uo pipefail
bin=$1 make_bad=$2 src=$3
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$make_bad" "$work" || { echo "make_bad_data failed"; exit 1; }
cat > "$work/base.ini" <<INI
[model]
layers = dense(16), relu, dense(10)
[data]
train = $work/good.h5
[train]
epochs = 1
batch_size = 4
[dist]
# CPU ranks: several ranks on a one-GPU machine would stop at GPU placement
# before reaching the input under test.
device = cpu
[log]
dir = $work/runs
progress = off
INI

# expect_fail NAME RANKS EXPECTED_RANKS PATTERN -- ARGS...: a non-zero exit
# (no timeout), and error lines that match PATTERN (the file or option and the
# reason) from EXPECTED_RANKS distinct ranks: one line per rank or one line
# naming several ranks (error_ranks in tests/cli/error_ranks.sh).
expect_fail() {
  local name=$1 ranks=$2 expected=$3 pattern=$4
  shift 5
  local out="$work/$name.log"
  timeout 60 "${mpi[@]}" -np "$ranks" "$bin" "$@" >"$out" 2>&1
  local rc=$?
  local reported
  reported=$(error_ranks "$out" "$pattern" "$ranks")
  if [[ $rc -eq 0 || $rc -eq 124 ]]; then
    echo "FAIL $name: exit code $rc (expected non-zero, no timeout)"; sed 's/^/    /' "$out" | tail -5
    failed=$((failed + 1))
  elif ! grep -E "$pattern" "$out" | grep -q "error"; then
    echo "FAIL $name: no error line matches /$pattern/"; sed 's/^/    /' "$out" | tail -5
    failed=$((failed + 1))
  elif [[ $reported -ne $expected ]]; then
    echo "FAIL $name: $reported distinct rank(s) reported /$pattern/, expected $expected"; sed 's/^/    /' "$out" | tail -5
    failed=$((failed + 1))
  else
    echo "ok   $name (exit $rc, $reported ranks): $(grep -E "$pattern" "$out" | grep -m1 "error" | cut -c1-150)"
    passed=$((passed + 1))
  fi
}

t=(train --config "$work/base.ini")
expect_fail missing_file 2 2 "nope.h5'?: no such file" -- "${t[@]}" --data.train "$work/nope.h5"
expect_fail not_hdf5 2 2 "not_hdf5.h5'?: not an HDF5 file" -- "${t[@]}" --data.train "$work/not_hdf5.h5"
expect_fail truncated 2 2 "truncated.h5'?: cannot open as HDF5 \(damaged or truncated" -- "${t[@]}" --data.train "$work/truncated.h5"
expect_fail missing_dataset 2 2 "good.h5'?: no dataset '/nope'" -- "${t[@]}" --data.labels /nope
expect_fail count_mismatch 2 2 "count_mismatch.h5.*(64 rows.* 60|60 rows.* 64)" -- "${t[@]}" --data.train "$work/count_mismatch.h5"
expect_fail unsupported_dtype 2 2 "int16_features.h5.*dtype int16; expected uint8 or float32" -- "${t[@]}" --data.train "$work/int16_features.h5"
expect_fail empty_dataset 2 2 "empty.h5.*(dataset is empty|no samples|0 samples)" -- "${t[@]}" --data.train "$work/empty.h5"
# A class id beyond the model's outputs in the training data: every rank names
# the last layer, the class count the labels imply and the row.
expect_fail label_out_of_range 2 2 "dense\(10\).*bad_label.h5.*13 classes.*row 5 has class id 12.*or correct the labels" -- "${t[@]}" --data.train "$work/bad_label.h5"
# In a test set only the rank whose shard holds the bad row has the error (the
# others relay it and print nothing of their own).
expect_fail label_out_of_range_test_set 4 1 "bad_label.h5.*row 5 has class id 12; expected 0 <= id < 10" -- "${t[@]}" --data.test "$work/bad_label.h5"
expect_fail fewer_samples_than_ranks 4 4 "tiny.h5.*3 samples but 4 ranks" -- "${t[@]}" --data.train "$work/tiny.h5"
expect_fail targets_for_classifier 2 2 "float_targets.h5.*expects integer class ids.*float targets" -- "${t[@]}" --data.train "$work/float_targets.h5"
expect_fail batch_larger_than_shard 2 2 "batch size 64 is larger than the smallest shard \(32 rows with 2 ranks\)" -- "${t[@]}" --train.batch_size 64
expect_fail unknown_key 2 2 "unrecognised option '--optim.lrr'" -- "${t[@]}" --optim.lrr 0.1
expect_fail bad_value 2 2 "optim.lr: expected a number.*abc" -- "${t[@]}" --optim.lr abc
expect_fail negative_lr 2 2 "optim.lr: expected a number > 0" -- "${t[@]}" --optim.lr -1
expect_fail bad_layer 2 2 "unknown layer 'conv9'; known layers" -- "${t[@]}" --model.layers "dense(4), conv9"
expect_fail missing_config 2 2 "missing.ini'?: no such file" -- train --config "$work/missing.ini"
printf '[model]\nlayers = dense(4)\nbogus line without equals\n' > "$work/malformed.ini"
expect_fail malformed_config 2 2 "malformed.ini'?: .*invalid line 'bogus line without equals'" -- train --config "$work/malformed.ini"
printf '[optim]\nlearning_rate = 0.1\n' > "$work/unknown.ini"
expect_fail unknown_key_in_file 2 2 "unknown.ini'?: unrecognised option 'optim.learning_rate'" -- train --config "$work/unknown.ini"
expect_fail global_batch_not_divisible 2 2 "train.global_batch_size: expected a multiple of the 2 ranks, got 9" -- "${t[@]}" --train.global_batch_size 9
expect_fail bad_device 2 2 "dist.device: expected auto, cpu or cuda, got 'tpu'" -- "${t[@]}" --dist.device tpu
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  expect_fail cuda_without_gpu 2 2 "dist.device = cuda, but (no GPU is visible|this build)" -- "${t[@]}" --dist.device cuda
fi
expect_fail bad_precision 2 2 "dist.precision: expected fp32, tf32 or bf16" -- "${t[@]}" --dist.precision fp16
expect_fail bad_conv_backend 2 2 "dist.conv_backend: expected auto, cudnn or im2col" -- "${t[@]}" --dist.conv_backend winograd
expect_fail image_too_small_for_kernel 2 2 "conv2d\(8, 5\).*too small: kernel 5" -- "${t[@]}" --model.layers "conv2d(8, 5), relu, dense(10)"
expect_fail image_too_small_for_pool 2 2 "maxpool2d\(8\).*(too small: kernel 8|larger)" -- "${t[@]}" --model.layers "conv2d(4, 3, padding=1), maxpool2d(8), dense(10)"
# A CNN saved for (1, 4, 4) images, evaluated on 3-channel 8x8 images.
if timeout 120 "${mpi[@]}" -np 1 "$bin" train --config "$work/base.ini" --model.layers "conv2d(4, 3, padding=1), relu, dense(10)" \
     --log.name cnn >/dev/null 2>&1 && "$bin" datagen --out "$work/rgb.h5" --samples 32 --shape 3x8x8 >/dev/null; then
  expect_fail eval_channels_mismatch 2 2 "expects samples of shape \(1, 4, 4\).*\(3, 8, 8\)" -- eval --model "$work/runs/cnn/final.h5" --data "$work/rgb.h5" --device cpu
else
  echo "FAIL eval_channels_mismatch: could not prepare the model or the data"; failed=$((failed + 1))
fi
expect_fail eval_missing_model 2 2 "nope.h5'?: no such file" -- eval --model "$work/nope.h5" --data "$work/good.h5" --device cpu
expect_fail eval_dataset_not_model 2 2 "model file '[^']*good.h5'.*(lockstep_format|model/1)" -- eval --model "$work/good.h5" --data "$work/good.h5" --device cpu

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
