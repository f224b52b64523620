#!/usr/bin/env bash
# lockstep predict end to end on CPU ranks: a tiny classifier (datagen, HDF5
# input) and a tiny regressor (CSV input); predictions on 1 and 3 ranks are
# identical (CSV byte for byte, HDF5 by value with h5diff), as are a wider
# classifier's predictions and eval report on 1-3 ranks x 1-2 threads, and agree with
# `lockstep eval` (accuracy from the predicted classes, MSE from the predicted
# values); bad input (shape mismatch with a previous output left untouched, a
# missing model, a dataset as the model, the input as --out); and the diabetes
# regression example from CSV through import, training, eval and predict with
# an R^2 floor.
# Usage: predict_test.sh LOCKSTEP_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
train() { "$bin" train --dist.device cpu --log.dir "$work/runs" --log.progress off \
  --checkpoint.every_epochs 0 "$@" >/dev/null; }
predict() { local np=$1; shift; timeout 120 "${mpi[@]}" -np "$np" "$bin" predict --device cpu "$@"; }

# ---- classifier: HDF5 input, CSV and HDF5 output
"$bin" datagen --out "$work/c_train.h5" --samples 300 --shape 1x4x4 --classes 3 --seed 1 >/dev/null
"$bin" datagen --out "$work/c_test.h5" --samples 101 --shape 1x4x4 --classes 3 --seed 2 >/dev/null
# data.limit 90 (below the 101 test rows): eval must still evaluate every row
# of the file it is given, not the training run's limit.
train --model.layers "dense(16), relu, dense(3)" --data.train "$work/c_train.h5" --data.limit 90 \
  --train.epochs 5 --train.batch_size 16 --optim.lr 0.05 --log.name cls
model="$work/runs/cls/final.h5"
for np in 1 3; do
  predict $np --model "$model" --data "$work/c_test.h5" --out "$work/c$np.csv" --batch-size 7 >/dev/null
  predict $np --model "$model" --data "$work/c_test.h5" --out "$work/c$np.h5" >/dev/null
done
cmp "$work/c1.csv" "$work/c3.csv" || fail "classifier CSV differs between 1 and 3 ranks"
h5diff "$work/c1.h5" "$work/c3.h5" || fail "classifier HDF5 differs between 1 and 3 ranks"
[[ $(head -1 "$work/c1.csv") == "class,prob_0,prob_1,prob_2" ]] || fail "classifier CSV header"
[[ $(tail -n +2 "$work/c1.csv" | wc -l) -eq 101 ]] || fail "expected 101 prediction rows"
h5dump -d /class -y -w 0 "$work/c1.h5" | sed -n '/DATA {/,/}/p' | grep -oE '[0-9]+' >"$work/h5class.txt"
tail -n +2 "$work/c1.csv" | cut -d, -f1 | cmp - "$work/h5class.txt" || fail "HDF5 /class differs from the CSV"
h5dump -d /labels -y -w 0 "$work/c_test.h5" | sed -n '/DATA {/,/}/p' | grep -oE '[0-9]+' >"$work/labels.txt"
correct=$(tail -n +2 "$work/c1.csv" | cut -d, -f1 | paste -d' ' - "$work/labels.txt" | awk '$1 == $2' | wc -l)
eval_line=$(timeout 120 "${mpi[@]}" -np 2 "$bin" eval --device cpu --model "$model" --data "$work/c_test.h5" | grep "^accuracy")
echo "classifier: eval '$eval_line', predict $correct/101 correct"
[[ $eval_line == *"($correct/101)"* ]] || fail "accuracy from predictions differs from eval's"
awk -F, 'NR > 1 { s = $2 + $3 + $4; if (s < 0.9999 || s > 1.0001) exit 1 }' "$work/c1.csv" || fail "probabilities do not sum to 1"

# ---- a wider classifier (784 inputs, 256 hidden: GEMMs of many tiles):
# predictions and eval have the same bits on 1, 2 and 3 ranks and on 1 or 2
# threads, whatever OpenBLAS kernel runs (CI runs this under several
# OPENBLAS_CORETYPE values); 1000 rows in batches of 96 (not a tile multiple).
"$bin" datagen --out "$work/w_train.h5" --samples 400 --shape 1x28x28 --classes 10 --seed 3 >/dev/null
"$bin" datagen --out "$work/w_test.h5" --samples 1000 --shape 1x28x28 --classes 10 --seed 4 >/dev/null
train --model.layers "dense(256), relu, dense(10)" --data.train "$work/w_train.h5" \
  --train.epochs 1 --train.batch_size 32 --optim.lr 0.05 --log.name wide
wmodel="$work/runs/wide/final.h5"
for run in "1 1" "2 1" "3 1" "1 2" "3 2"; do
  read -r np threads <<<"$run"
  predict "$np" --threads "$threads" --model "$wmodel" --data "$work/w_test.h5" --batch-size 96 \
    --out "$work/w_${np}_$threads.csv" >/dev/null
  timeout 120 "${mpi[@]}" -np "$np" "$bin" eval --device cpu --threads "$threads" --model "$wmodel" \
    --data "$work/w_test.h5" --batch-size 96 | grep -v "rank(s)" >"$work/we_${np}_$threads.txt"
  cmp "$work/w_1_1.csv" "$work/w_${np}_$threads.csv" ||
    fail "wide classifier: predictions on $np rank(s) x $threads thread(s) differ from 1 x 1"
  cmp "$work/we_1_1.txt" "$work/we_${np}_$threads.txt" ||
    fail "wide classifier: eval on $np rank(s) x $threads thread(s) differs from 1 x 1"
done
echo "wide classifier: predict and eval identical on 1-3 ranks x 1-2 threads ($(grep ^loss "$work/we_1_1.txt"))"

# ---- regressor: CSV input (with a header), CSV and HDF5 output
awk 'BEGIN { srand(7); print "a,b,c"; for (i = 0; i < 150; i++) printf "%.4f,%.4f,%.4f\n", rand(), rand(), rand() }' >"$work/r_x.csv"
awk -F, 'NR > 1 { printf "%.5f\n", 3 * $1 - 2 * $2 + $3 * $3 + 0.5 }' "$work/r_x.csv" >"$work/r_y.csv"
tail -n +2 "$work/r_x.csv" >"$work/r_x_nohead.csv"
"$bin" import csv --input "$work/r_x_nohead.csv" --targets "$work/r_y.csv" --no-header --regression \
  --out "$work/r.h5" >/dev/null
train --model.layers "dense(16), tanh, dense(1)" --model.loss mse --data.train "$work/r.h5" \
  --train.epochs 20 --train.batch_size 16 --optim.name adam --optim.lr 0.01 --log.name reg
rmodel="$work/runs/reg/final.h5"
for np in 1 3; do
  predict $np --model "$rmodel" --data "$work/r_x.csv" --out "$work/r$np.csv" >/dev/null
  predict $np --model "$rmodel" --data "$work/r.h5" --out "$work/r$np.h5" >/dev/null
done
cmp "$work/r1.csv" "$work/r3.csv" || fail "regression CSV differs between 1 and 3 ranks"
h5diff "$work/r1.h5" "$work/r3.h5" || fail "regression HDF5 differs between 1 and 3 ranks"
[[ $(head -1 "$work/r1.csv") == "output_0" ]] || fail "regression CSV header"
emse=$("$bin" eval --device cpu --model "$rmodel" --data "$work/r.h5" | awk '/^mse/ { print $2 }')
pmse=$(tail -n +2 "$work/r1.csv" | paste -d' ' - "$work/r_y.csv" | awk '{ d = $1 - $2; s += d * d } END { printf "%.6f", s / NR }')
echo "regressor: eval mse $emse, mse from predictions $pmse"
awk -v a="$emse" -v b="$pmse" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 + 1e-4 * a) }' \
  || fail "MSE from predictions differs from eval's"

# ---- bad input: every rank reports, non-zero exit, previous output untouched
expect_fail() {  # NAME PATTERN -- predict args
  local name=$1 pattern=$2; shift 3
  local rc=0
  predict 2 "$@" >"$work/$name.log" 2>&1 || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] || fail "$name: exit code $rc"
  grep -qE "$pattern" "$work/$name.log" || { cat "$work/$name.log"; fail "$name: no /$pattern/"; }
  [[ $(error_ranks "$work/$name.log") -ge 2 ]] || fail "$name: not every rank reported"
  echo "ok   $name: $(grep -m1 'error on rank' "$work/$name.log" | cut -c1-160)"
}
cp "$work/c1.csv" "$work/keep.csv"
expect_fail shape "r_x.csv.*expects samples of shape \(1, 4, 4\).*has \(3,\)" -- \
  --model "$model" --data "$work/r_x.csv" --out "$work/keep.csv"
cmp "$work/keep.csv" "$work/c1.csv" || fail "shape error: previous output changed"
ls "$work"/keep.csv.tmp.* 2>/dev/null && fail "shape error: temporary file left behind"
expect_fail missing_model "nope.h5" -- --model "$work/nope.h5" --data "$work/c_test.h5" --out "$work/x.csv"
expect_fail dataset_as_model "c_train.h5" -- --model "$work/c_train.h5" --data "$work/c_test.h5" --out "$work/x.csv"
expect_fail input_as_out "is the input file" -- --model "$model" --data "$work/c_test.h5" --out "$work/c_test.h5"
expect_fail bad_extension "expected .csv" -- --model "$model" --data "$work/c_test.h5" --out "$work/x.txt"
[[ ! -e $work/x.csv ]] || fail "an output was written by a failed run"

# ---- the diabetes regression example (Debian python3-sklearn data)
d=/usr/lib/python3/dist-packages/sklearn/datasets/data
floor=0.25
[[ -f $d/diabetes_data_raw.csv.gz ]] || fail "python3-sklearn is not installed (install_deps.sh installs it)"
"$bin" import csv --input $d/diabetes_data_raw.csv.gz --targets $d/diabetes_target.csv.gz --no-header \
  --delimiter ' ' --regression --test-fraction 0.2 --seed 1 --out "$work/dia_train.h5" \
  --test-out "$work/dia_test.h5" >/dev/null
timeout 300 "${mpi[@]}" -np 2 "$bin" train --config "$src/examples/diabetes_regression.ini" \
  --data.train "$work/dia_train.h5" --data.test "$work/dia_test.h5" --dist.device cpu \
  --log.dir "$work/runs" --log.name dia --log.progress off >/dev/null
r2=$("$bin" eval --device cpu --model "$work/runs/dia/final.h5" --data "$work/dia_test.h5" | awk '/^r2/ { print $2 }')
echo "diabetes: test R^2 $r2 (floor $floor)"
awk -v a="$r2" -v f="$floor" 'BEGIN { exit !(a >= f) }' || fail "diabetes R^2 below the floor"
predict 3 --model "$work/runs/dia/final.h5" --data $d/diabetes_data_raw.csv.gz --delimiter ' ' \
  --out "$work/dia_pred.csv" >/dev/null
[[ $(tail -n +2 "$work/dia_pred.csv" | wc -l) -eq 442 ]] || fail "diabetes: expected 442 predictions"
echo "1 passed, 0 failed"
