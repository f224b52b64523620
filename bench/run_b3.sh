#!/usr/bin/env bash
# B3 (BENCH.md): our CPU MLP and CNN benchmarks next to the PyTorch reference,
# in the same call on the same machine. Alternates ours and PyTorch's per
# setting (1 rank x 2 threads, then 2 ranks x 1 thread; the MLP, then the CNN),
# repeats the sequence R times, takes the median per setting, prints one
# markdown table of ratios (ours / torch) per model and appends both, in one
# dated section, to bench/RESULTS.md (NO_RECORD=1: print only, append nothing).
#
# Builds nothing: expects $BUILD_DIR/bench/bench_b3_mlp (BUILD_DIR defaults to
# build, relative to the repository root).
#   R=3 STEPS=1000 CNN_STEPS=200 BUILD_DIR=build bench/run_b3.sh
#   MODELS=cnn R=1 STEPS=20 CNN_STEPS=5 NO_RECORD=1 bench/run_b3.sh   # smoke run
# STEPS is the MLP's timed steps, CNN_STEPS the CNN's (a CNN step costs ~20x an
# MLP step); WARMUP applies to both; MODELS picks "mlp cnn" (default) or one.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build_dir="${BUILD_DIR:-build}"
reps="${R:-3}"
steps="${STEPS:-1000}"
cnn_steps="${CNN_STEPS:-200}"
models="${MODELS:-mlp cnn}"
no_record="${NO_RECORD:-0}"
warmup="${WARMUP:-20}"
python="${PYTHON:-/usr/bin/python3}"
results="${RESULTS:-bench/RESULTS.md}"
ours="$build_dir/bench/bench_b3_mlp"

for model in $models; do
  [[ $model == mlp || $model == cnn ]] || { echo "run_b3.sh: MODELS: expected mlp and/or cnn, got $model" >&2; exit 1; }
done
if [[ ! -x "$ours" ]]; then
  echo "run_b3.sh: $ours not found; build it first:" >&2
  echo "  cmake -S . -B $build_dir -DCMAKE_BUILD_TYPE=Release && cmake --build $build_dir -j2 --target bench_b3_mlp" >&2
  exit 1
fi
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "run_b3.sh: $python cannot import torch; install Debian's: apt-get install -y python3-torch" >&2
  exit 1
fi

# --bind-to none: Open MPI binds each of 1-2 ranks to a single core by default,
# so "1 rank x 2 threads" would run on one core; PyTorch (started without
# mpirun) is not bound either.
mpi_flags=(--oversubscribe --bind-to none)
[[ "$(id -u)" == 0 ]] && mpi_flags+=(--allow-run-as-root)

# Machine facts first (nproc honours OMP_NUM_THREADS).
machine="$(uname -m), nproc $(nproc --all), $(lscpu | grep 'Model name' | sed 's/Model name: *//')"

# Threads: ours uses OpenBLAS (pthreads) only. Debian's torch runs its own
# OpenMP pool (torch.set_num_threads) *and* calls the same OpenBLAS-pthread for
# GEMM, so with OPENBLAS_NUM_THREADS=2 the two pools share 2 cores. The 1x2
# setting therefore measures torch twice: with OPENBLAS_NUM_THREADS=2 (the same
# setting as ours) and with OPENBLAS_NUM_THREADS=1 (torch's faster choice on
# this build); the headline ratio is against the faster of the two.
# OMP_NUM_THREADS is unset so torch.set_num_threads alone decides its pool.
unset OMP_NUM_THREADS

# run_one MODEL KEY RANKS THREADS OPENBLAS_THREADS KIND: one measurement;
# prints its line and records samples_per_s and median_step_ms under MODEL_KEY.
declare -A sps step_ms
run_one() {
  local model=$1 key=$1_$2 ranks=$3 threads=$4 blas=$5 kind=$6 line n=$steps
  [[ $model == cnn ]] && n=$cnn_steps
  export OPENBLAS_NUM_THREADS=$blas  # OPENBLAS_CORETYPE is left alone
  if [[ $kind == ours ]]; then
    line=$(mpirun "${mpi_flags[@]}" -np "$ranks" -x OPENBLAS_NUM_THREADS \
      "$ours" --model "$model" --threads "$threads" --steps "$n" --warmup "$warmup" |
      grep "^B3 $model ")
  else
    line=$("$python" bench/b3_mlp_torch.py --model "$model" --ranks "$ranks" \
      --threads "$threads" --steps "$n" --warmup "$warmup" | grep "^B3 $model-torch ")
    torch_version=$(sed -n 's/.*torch=\([^ ]*\).*/\1/p' <<<"$line")
  fi
  echo "OPENBLAS_NUM_THREADS=$blas $line"
  sps[$key]+="$(sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p' <<<"$line") "
  step_ms[$key]+="$(sed -n 's/.*median_step_ms=\([0-9.]*\).*/\1/p' <<<"$line") "
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
torch_version='?'
for ((r = 1; r <= reps; ++r)); do
  echo "== repetition $r/$reps"
  for model in $models; do
    run_one "$model" ours_1x2 1 2 2 ours
    run_one "$model" torch_1x2 1 2 2 torch
    run_one "$model" torch_1x2_blas1 1 2 1 torch
    run_one "$model" ours_2x1 2 1 1 ours
    run_one "$model" torch_2x1 2 1 1 torch
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# row NAME OURS_KEY TORCH_KEY: one table row from the medians.
row() {
  awk -v n="$1" -v o="$(median <<<"${sps[$2]}")" -v t="$(median <<<"${sps[$3]}")" \
    -v os="$(median <<<"${step_ms[$2]}")" -v ts="$(median <<<"${step_ms[$3]}")" 'BEGIN {
    printf "| %s | %.0f | %.0f | **%.2fx** | %.3f ms | %.3f ms | %.2fx |", n, o, t, o / t, os, ts, ts / os }'
}
# model_table MODEL: sets $table (markdown) and $runs (per-repetition lines).
# The faster torch 1x2 variant (by median samples/s) gives the headline row.
model_table() {
  local m=$1 best_1x2 other_1x2 best_blas other_blas key
  if awk -v a="$(median <<<"${sps[${m}_torch_1x2]}")" -v b="$(median <<<"${sps[${m}_torch_1x2_blas1]}")" \
    'BEGIN { exit !(b > a) }'; then
    best_1x2=torch_1x2_blas1 other_1x2=torch_1x2 best_blas=1 other_blas=2
  else
    best_1x2=torch_1x2 other_1x2=torch_1x2_blas1 best_blas=2 other_blas=1
  fi
  table="| setting | ours samples/s | PyTorch samples/s | ratio ours / PyTorch | ours median step | PyTorch median step | ratio (step time, PyTorch / ours) |
|---|---|---|---|---|---|---|
$(row "1 rank x 2 threads vs 1 process x 2 threads (torch OPENBLAS_NUM_THREADS=$best_blas, its faster)" "${m}_ours_1x2" "${m}_$best_1x2")
$(row "2 ranks x 1 thread vs DDP gloo 2 x 1" "${m}_ours_2x1" "${m}_torch_2x1")
$(row "(1 x 2, torch with OPENBLAS_NUM_THREADS=$other_blas, its slower)" "${m}_ours_1x2" "${m}_$other_1x2")"
  runs=""
  for key in ours_1x2 torch_1x2 torch_1x2_blas1 ours_2x1 torch_2x1; do
    runs+="- $m $key samples/s per repetition: ${sps[${m}_$key]% }"$'\n'
  done
}

declare -A tables model_runs
for model in $models; do
  model_table "$model"
  tables[$model]=$table
  model_runs[$model]=$runs
  echo
  echo "${model^^}:"
  echo "$table"
  echo
  echo -n "$runs"
done

if [[ $no_record == 1 ]]; then
  echo "NO_RECORD=1: nothing appended to $results"
  exit 0
fi
if [[ ! -f "$results" ]]; then
  cat >"$results" <<'EOF'
# Benchmark results

Each section is one run of a `bench/run_*.sh` script. Our figure and the
reference's (PyTorch) are measured in the same run, on the same machine,
alternating, and the **ratio** (ours / reference, higher is better) is the
result; the absolute numbers hold only for that run (these machines are shared
and noisy). See BENCH.md for the recipes and bench/README.md for how to run.
EOF
fi
{
  echo
  echo "## B3 $(tr 'a-z ' 'A-Z,' <<<"$models" | sed 's/,/ and /g') (CPU), $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "- machine: $machine"
  echo "- command: \`BUILD_DIR=$build_dir R=$reps STEPS=$steps CNN_STEPS=$cnn_steps WARMUP=$warmup MODELS=\"$models\" bench/run_b3.sh\`"
  echo "- reference: PyTorch $torch_version ($python), same model/batch/optimizer;" \
    "OPENBLAS_NUM_THREADS = threads per rank for ours; torch 1x2 measured with 2 and 1 (see run_b3.sh)"
  echo "- median of $reps repetitions; samples/s = ranks x batch x steps / wall time (barrier to barrier);" \
    "MLP batch 128, $steps steps; CNN batch 64, $cnn_steps steps (per rank)"
  echo "- load average before/after: $load_before / $load_after"
  for model in $models; do
    echo
    echo "### ${model^^}"
    echo
    echo "${tables[$model]}"
    echo
    echo -n "${model_runs[$model]}"
  done
} >>"$results"
echo "appended to $results"
