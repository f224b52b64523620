#!/usr/bin/env bash
# B3 (BENCH.md): our CPU MLP benchmark next to the PyTorch reference, in the
# same call on the same machine. Alternates ours and PyTorch's per setting
# (1 rank x 2 threads, then 2 ranks x 1 thread), repeats the sequence R times,
# takes the median per setting, prints a markdown table of ratios (ours /
# torch) and appends it, dated, to bench/RESULTS.md.
#
# Builds nothing: expects $BUILD_DIR/bench/bench_b3_mlp (BUILD_DIR defaults to
# build, relative to the repository root).
#   R=3 STEPS=1000 BUILD_DIR=build bench/run_b3.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build_dir="${BUILD_DIR:-build}"
reps="${R:-3}"
steps="${STEPS:-1000}"
warmup="${WARMUP:-20}"
python="${PYTHON:-/usr/bin/python3}"
results="${RESULTS:-bench/RESULTS.md}"
ours="$build_dir/bench/bench_b3_mlp"

if [[ ! -x "$ours" ]]; then
  echo "run_b3.sh: $ours not found; build it first:" >&2
  echo "  cmake -S . -B $build_dir -DCMAKE_BUILD_TYPE=Release && cmake --build $build_dir -j2 --target bench_b3_mlp" >&2
  exit 1
fi
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "run_b3.sh: $python cannot import torch; install Debian's: apt-get install -y python3-torch" >&2
  exit 1
fi

mpi_flags=(--oversubscribe)
[[ "$(id -u)" == 0 ]] && mpi_flags+=(--allow-run-as-root)

# run_one SETTING_KEY RANKS THREADS KIND: runs one measurement, prints its line,
# records samples_per_s and median_step_ms under "$key.$kind".
declare -A sps step_ms
run_one() {
  local key=$1 ranks=$2 threads=$3 kind=$4 line
  # The same BLAS/OpenMP thread count for both sides; OPENBLAS_CORETYPE is left alone.
  export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
  if [[ $kind == ours ]]; then
    line=$(mpirun "${mpi_flags[@]}" -np "$ranks" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS \
      "$ours" --threads "$threads" --steps "$steps" --warmup "$warmup" | grep '^B3 mlp ')
  else
    line=$("$python" bench/b3_mlp_torch.py --ranks "$ranks" --threads "$threads" \
      --steps "$steps" --warmup "$warmup" | grep '^B3 mlp-torch ')
  fi
  echo "$line"
  [[ $kind == torch ]] && torch_version=$(sed -n 's/.*torch=\([^ ]*\).*/\1/p' <<<"$line")
  sps["$key.$kind"]+="$(sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p' <<<"$line") "
  step_ms["$key.$kind"]+="$(sed -n 's/.*median_step_ms=\([0-9.]*\).*/\1/p' <<<"$line") "
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
torch_version=?
for ((r = 1; r <= reps; ++r)); do
  echo "== repetition $r/$reps"
  run_one 1x2 1 2 ours
  run_one 1x2 1 2 torch
  run_one 2x1 2 1 ours
  run_one 2x1 2 1 torch
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

table="| setting | ours samples/s | PyTorch samples/s | ratio | ours median step | PyTorch median step | ratio (step time, PyTorch / ours) |
|---|---|---|---|---|---|---|"
runs=""
for key in 1x2 2x1; do
  case $key in
    1x2) name="1 rank x 2 threads (torch: 1 process)" ;;
    2x1) name="2 ranks x 1 thread (torch: DDP gloo)" ;;
  esac
  o=$(median <<<"${sps[$key.ours]}")
  t=$(median <<<"${sps[$key.torch]}")
  os=$(median <<<"${step_ms[$key.ours]}")
  ts=$(median <<<"${step_ms[$key.torch]}")
  table+=$'\n'"$(awk -v n="$name" -v o="$o" -v t="$t" -v os="$os" -v ts="$ts" 'BEGIN {
    printf "| %s | %.0f | %.0f | **%.2fx** | %.3f ms | %.3f ms | %.2fx |", n, o, t, o / t, os, ts, ts / os }')"
  runs+="- $key samples/s per repetition: ours ${sps[$key.ours]}; PyTorch ${sps[$key.torch]}"$'\n'
done

echo
echo "$table"
echo
echo -n "$runs"

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
  echo "## B3 MLP (CPU), $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "- machine: $(uname -m), nproc $(nproc), $(lscpu | grep 'Model name' | sed 's/Model name: *//')"
  echo "- command: \`BUILD_DIR=$build_dir R=$reps STEPS=$steps WARMUP=$warmup bench/run_b3.sh\`"
  echo "- reference: PyTorch $torch_version ($python), same model/batch/optimizer;" \
    "OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads per rank for both"
  echo "- median of $reps repetitions; samples/s = ranks x 128 x steps / wall time (barrier to barrier)"
  echo "- load average before/after: $load_before / $load_after"
  echo
  echo "$table"
  echo
  echo -n "$runs"
} >>"$results"
echo "appended to $results"
