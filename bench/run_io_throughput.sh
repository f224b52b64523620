#!/usr/bin/env bash
# Input pipeline throughput (bench/io_throughput.cpp): io::BatchPipeline in
# kMemory and kStream mode against a plain sequential HDF5 read of the same
# file, in one call on the same machine. Prints the table and appends it, dated,
# to bench/RESULTS.md (created with a one-line header when absent; append only).
#
# Builds nothing: expects $BUILD_DIR/bench/bench_io_throughput (BUILD_DIR
# defaults to build). Extra arguments go to the benchmark (--file, --n, --batch,
# --reps, --prefetch); without --file it generates /tmp/lockstep_bench_io_<n>.h5
# once and reuses it.
#   BUILD_DIR=build bench/run_io_throughput.sh --reps 5
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build_dir="${BUILD_DIR:-build}"
results="${RESULTS:-bench/RESULTS.md}"
bench="$build_dir/bench/bench_io_throughput"

if [[ ! -x "$bench" ]]; then
  echo "run_io_throughput.sh: $bench not found; build it first:" >&2
  echo "  cmake -S . -B $build_dir -DCMAKE_BUILD_TYPE=Release && cmake --build $build_dir -j2 --target bench_io_throughput" >&2
  exit 1
fi

machine="$(uname -m), nproc $(nproc --all), $(lscpu | grep 'Model name' | sed 's/Model name: *//')"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
output=$("$bench" "$@")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$output"

[[ -f "$results" ]] || echo "# Benchmark results" >"$results"
{
  echo
  echo "## IO pipeline throughput (CPU), $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "- machine: $machine"
  echo "- command: \`BUILD_DIR=$build_dir bench/run_io_throughput.sh${*:+ $*}\`"
  echo "- reference: (a) a plain sequential read of the same file (H5Dread in chunk-sized" \
    "hyperslabs, no processing), measured in the same call; ratios are ours / (a)"
  echo "- load average before/after: $load_before / $load_after"
  echo
  grep -v '^generated ' <<<"$output"
} >>"$results"
echo "appended to $results"
