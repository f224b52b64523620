#!/usr/bin/env bash
# The step benchmarks' --breakdown (bench/breakdown.hpp) on CPU ranks, tiny
# sizes: the table has one row per phase (zero_grad, each layer's forward,
# loss, each layer's backward, allreduce, grad_norm, optimizer), the rows of a
# step add up to the step (exactly for the means, closely for the medians),
# and the flags are checked.
# Usage: bench_breakdown_test.sh BENCH_B2_CNN BENCH_RESNET
set -u
b2=$1 resnet=$2
# shellcheck source=tests/cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# check_table LOG ID LAYERS: the table of LOG's breakdown for a model of LAYERS layers.
check_table() {
  local log=$1 id=$2 layers=$3 rows total
  rows=$(awk -v id="$id" '$0 ~ "^" id " breakdown " { t = 1; next } $0 ~ "^" id " breakdown_total" { t = 0 }
    t && /^\| / && !/^\| phase/ && !/^\| (sum of rows|step) \|/ { n++ } END { print n + 0 }' "$log")
  if ((rows == 2 * layers + 5)); then ok "$id: $rows phase rows ($layers layers)"; else bad "$id: $rows phase rows, expected $((2 * layers + 5))"; fi
  for phase in "zero_grad" "fwd 0 " "loss" "bwd 0 " "allreduce" "grad_norm" "optimizer" "fwd $((layers - 1)) " "bwd $((layers - 1)) "; do
    grep -q "^| $phase" "$log" && ok "$id: row '$phase'" || bad "$id: no row '$phase'"
  done
  total=$(grep "^$id breakdown_total" "$log" | tail -1)
  [[ -n "$total" ]] || { bad "$id: no breakdown_total line"; return; }
  # Each step is cut into consecutive intervals: the means add up exactly.
  awk -v l="$total" 'BEGIN { split(l, w, " "); for (i in w) { split(w[i], kv, "="); v[kv[1]] = kv[2] }
      d = v["mean_rows_ms"] - v["mean_step_ms"]; if (d < 0) d = -d
      exit !(v["mean_step_ms"] > 0 && d <= 0.001 * v["mean_step_ms"] + 0.002) }' &&
    ok "$id: mean rows add up to the mean step ($total)" || bad "$id: mean rows do not add up: $total"
  # The medians of the rows add up to about the median step (loosely: a
  # shared 2-core machine puts stray delays into random phases of some steps).
  awk -v l="$total" 'BEGIN { split(l, w, " "); for (i in w) { split(w[i], kv, "="); v[kv[1]] = kv[2] }
      r = v["rows_ms"] / v["step_ms"]; exit !(r > 0.5 && r < 1.5) }' &&
    ok "$id: median rows within 50% of the median step" || bad "$id: median rows far from the step: $total"
  grep -q "trainer_step_ms=[0-9.]*[1-9]" <<<"$total" && ok "$id: Trainer::step's median beside it" ||
    bad "$id: no trainer_step_ms in '$total'"
}

# B2 on one CPU rank.
log=$work/b2.log
"${mpi[@]}" -np 1 "$b2" --device cpu --threads 1 --batch 2 --steps 12 --warmup 2 --precision fp32 --breakdown >"$log" 2>&1
rc=$?
((rc == 0)) && ok "bench_b2_cnn --device cpu --breakdown ran" || { cat "$log"; fail "bench_b2_cnn exited $rc"; }
grep -q "^B2 cnn precision=fp32 ranks=1 median_ms=.* device=cpu" "$log" && ok "B2 result line" || bad "no B2 result line"
check_table "$log" B2 13

# The ResNet example's model on 2 CPU ranks, bf16 (emulated on CPU) and bf16
# gradients: the all-reduce and BatchNorm's cross-rank sums take part.
log=$work/resnet.log
"${mpi[@]}" -np 2 "$resnet" --device cpu --threads 1 --batch 2 --steps 3 --warmup 1 --precision bf16 \
  --grad-dtype bf16 --breakdown >"$log" 2>&1
rc=$?
((rc == 0)) && ok "bench_resnet on 2 ranks --breakdown ran" || { cat "$log"; fail "bench_resnet exited $rc"; }
grep -q "^B6 resnet precision=bf16 ranks=2 .* grad_dtype=bf16" "$log" && ok "B6 result line" || bad "no B6 result line"
layers=$(grep -c '^| fwd ' "$log")
((layers == 17)) && ok "resnet: 17 top-level layers (examples/perception_resnet.ini)" || bad "resnet: $layers forward rows, expected 17"
grep -q '^| bwd 3 residual(conv2d(32, 3, padding=1), batchnorm' "$log" && ok "resnet: a residual block is one row" ||
  bad "resnet: no row for the first residual block"
check_table "$log" B6 17
[[ $(grep -c '^B6 breakdown ' "$log") == 1 ]] && ok "rank 0 alone prints the table" || bad "the table printed $(grep -c '^B6 breakdown ' "$log") times"

# Flags.
"$b2" --precision fp16 >"$work/bad.log" 2>&1
rc=$?
((rc == 2)) && grep -q "fp32|tf32|bf16" "$work/bad.log" && ok "--precision fp16 refused with the usage" ||
  bad "--precision fp16: rc $rc, $(head -2 "$work/bad.log")"
"$b2" --device cpu --overlap 2 >"$work/bad.log" 2>&1
(($? == 2)) && ok "--overlap 2 refused" || bad "--overlap 2 accepted"

echo "$passed passed, $failed failed"
((failed == 0))
