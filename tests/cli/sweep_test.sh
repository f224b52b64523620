#!/usr/bin/env bash
# Sweep and cross-validation: a 2x2 grid on 2 ranks gives 4 rows with the
# swept values, best.ini holds the values of the row with the least
# best_val_loss, every trial has its run directory; a trial that ends with a
# non-finite loss is recorded as failed and the sweep goes on; a seeded random
# search draws the same values twice; cv --folds 3 on 1 and 2 ranks gives 3
# fold rows plus mean and std, the same disjoint, covering, balanced folds;
# bad input is a clear error on every rank with a non-zero exit.
# Usage: sweep_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$bin" datagen --out "$work/train.h5" --samples 200 --shape 1x4x4 --classes 3 >/dev/null
cat > "$work/base.ini" <<INI
[model]
layers = dense(16), relu, dense(3)
[data]
train = $work/train.h5
[train]
epochs = 3
batch_size = 8
seed = 2
[dist]
device = cpu
[log]
progress = off
tensorboard = false
INI
col() {  # col FILE NAME: the column NAME of FILE (no header)
  awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next } { print $c }' "$1"
}

# 1. A 2x2 grid on 2 ranks.
s=$work/grid
timeout 180 "${mpi[@]}" -np 2 "$bin" sweep --config "$work/base.ini" --data.val_fraction 0.25 \
  --grid optim.lr=0.01,0.1 --grid train.batch_size=8,16 --out "$s" >"$work/grid.log" 2>&1
rc=$?
pairs=$(paste -d' ' <(col "$s/results.csv" optim.lr) <(col "$s/results.csv" train.batch_size) | tr '\n' ';')
if [[ $rc -eq 0 && $pairs == "0.01 8;0.01 16;0.1 8;0.1 16;" && $(col "$s/results.csv" status | sort -u) == ok ]]; then
  ok "grid: 4 rows with the swept values ($pairs), all ok"
else
  bad "grid: exit $rc, rows '$pairs'"; tail -5 "$work/grid.log"
fi
best_row=$(awk -F, -v b="$(head -1 "$s/results.csv" | tr ',' '\n' | grep -n '^best_val_loss$' | cut -d: -f1)" \
  'NR > 1 { print $b, $2, $3 }' "$s/results.csv" | sort -g | head -1)
read -r _ best_lr best_bs <<<"$best_row"
if grep -qx "lr = $best_lr" "$s/best.ini" && grep -qx "batch_size = $best_bs" "$s/best.ini" \
   && grep -qx "val_fraction = 0.25" "$s/best.ini" && ! grep -q "name = trial" "$s/best.ini"; then
  ok "best.ini holds the base config with the best row's values (lr $best_lr, batch $best_bs)"
else
  bad "best.ini: best row '$best_row'"; grep -E "^(lr|batch_size|val_fraction|name) =" "$s/best.ini"
fi
if [[ -f $s/trial-001/final.h5 && -f $s/trial-004/final.h5 && -f $s/trial-004/metrics.jsonl ]]; then
  ok "every trial has its run directory (trial-001 .. trial-004)"
else
  bad "trial directories: $(ls "$s")"
fi

# 2. A failed trial (non-finite loss) is recorded and the sweep goes on.
s=$work/nan
timeout 120 "${mpi[@]}" -np 2 "$bin" sweep --config "$work/base.ini" --train.epochs 1 \
  --grid optim.lr=1e30,0.1 --out "$s" >"$work/nan.log" 2>&1
rc=$?
st=$(col "$s/results.csv" status | tr '\n' ' ')
if [[ $rc -eq 0 && $st == "failed ok " ]] && grep -q "non-finite" "$s/results.csv"; then
  ok "a trial with a non-finite loss is recorded as failed, the next one runs ($st)"
else
  bad "failed trial: exit $rc, statuses '$st'"; tail -5 "$work/nan.log"
fi

# 3. A seeded random search draws the same values twice.
for i in 1 2; do
  timeout 120 "$bin" sweep --config "$work/base.ini" --train.epochs 1 --random 3 --seed 5 \
    --grid optim.lr=loguniform:1e-3:1e-1 --grid train.batch_size=int:4:32 \
    --grid optim.name=sgd,adam --out "$work/rand$i" >"$work/rand$i.log" 2>&1
done
drawn() { cut -d, -f1-4 "$1/results.csv"; }
if [[ $(drawn "$work/rand1" | wc -l) -eq 4 ]] && cmp -s <(drawn "$work/rand1") <(drawn "$work/rand2"); then
  ok "random search with --seed 5 draws the same values twice: $(drawn "$work/rand1" | tail -3 | tr '\n' ' ')"
else
  bad "random search differs"; diff <(drawn "$work/rand1") <(drawn "$work/rand2")
fi

# 4. Cross-validation on 1 and 2 ranks.
timeout 120 "$bin" cv --config "$work/base.ini" --folds 3 --out "$work/cv1" >"$work/cv1.log" 2>&1
rc1=$?
timeout 120 "${mpi[@]}" -np 2 "$bin" cv --config "$work/base.ini" --folds 3 --out "$work/cv2" >"$work/cv2.log" 2>&1
rc2=$?
if [[ $rc1 -eq 0 && $rc2 -eq 0 && $(col "$work/cv2/cv.csv" fold | tr '\n' ' ') == "0 1 2 mean std " ]] \
   && grep -q "val_loss .* ± " "$work/cv2.log"; then
  ok "cv --folds 3: fold rows 0, 1, 2, mean and std; mean ± std printed"
else
  bad "cv: exit $rc1/$rc2"; cat "$work/cv2/cv.csv"; tail -5 "$work/cv2.log"
fi
sizes=$(head -4 "$work/cv2/cv.csv" | col /dev/stdin val_rows | tr '\n' ' ')
if cmp -s "$work/cv1/folds.csv" "$work/cv2/folds.csv" \
   && [[ $(tail -n +2 "$work/cv2/folds.csv" | cut -d, -f1 | sort -n | uniq | wc -l) -eq 200 ]] \
   && [[ $(tail -n +2 "$work/cv2/folds.csv" | wc -l) -eq 200 ]] \
   && [[ $(tail -n +2 "$work/cv2/folds.csv" | cut -d, -f2 | sort | uniq -c | awk '{print $1}' | sort -n | sed -n '1p;$p' | paste -sd-) =~ ^6[67]-6[67]$ ]] \
   && [[ $sizes == "67 67 66 " || $sizes == "67 66 67 " || $sizes == "66 67 67 " ]] \
   && cmp -s <(col "$work/cv1/cv.csv" val_rows) <(col "$work/cv2/cv.csv" val_rows); then
  ok "the same folds on 1 and 2 ranks: disjoint, covering all 200 rows, sizes $sizes"
else
  bad "folds: sizes '$sizes'"; head -3 "$work/cv1/folds.csv" "$work/cv2/folds.csv"
fi

# 5. Bad input: a clear error on every rank, non-zero exit.
expect_fail() {
  local name=$1 pattern=$2
  shift 2
  timeout 60 "${mpi[@]}" -np 2 "$bin" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  local ranks
  ranks=$(error_ranks "$work/$name.log")
  if [[ $rc -ne 0 && $rc -ne 124 && $ranks -eq 2 ]] && grep -q -- "$pattern" "$work/$name.log"; then
    ok "$name: $(grep -m1 "error on rank" "$work/$name.log" | cut -c1-150)"
  else
    bad "$name: exit $rc, $ranks rank(s) reported, expected /$pattern/"; tail -3 "$work/$name.log"
  fi
}
expect_fail unknown_key "got unknown key 'optim.lrate'" sweep --config "$work/base.ini" --grid optim.lrate=0.1,1
expect_fail bad_range "expected loguniform:LOW:HIGH with 0 < LOW < HIGH" sweep --config "$work/base.ini" \
  --random 2 --grid optim.lr=loguniform:0:1
expect_fail bad_value "trial-002 (optim.lr=-1): optim.lr: expected a number > 0" sweep --config "$work/base.ini" \
  --grid optim.lr=0.1,-1 --out "$work/never"
[[ -e $work/never ]] && bad "a sweep with a bad value started trials"
expect_fail range_in_grid "a range needs a random search" sweep --config "$work/base.ini" --grid optim.lr=uniform:0.1:1
expect_fail one_fold "--folds: expected at least 2 folds, got 1" cv --config "$work/base.ini" --folds 1
expect_fail too_many_folds "expected at most one fold per training row" cv --config "$work/base.ini" --folds 50 \
  --data.limit 20
expect_fail cv_with_split "expected neither data.val nor data.val_fraction" cv --config "$work/base.ini" --folds 3 \
  --data.val_fraction 0.2
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
