#!/usr/bin/env bash
# GPU checks in ONE call on the GPU machine (see ../shared/DEVICE.md): the GPU
# test suites, NCCL equivalence with several ranks on the one GPU, Fashion-MNIST
# on the GPU, and the B1/B5 benchmarks next to the PyTorch reference.
#
# Nothing is built there: the binaries are built HERE (CUDA build, Boost linked
# statically) and carried. The GPU machine has no Debian packages, so the
# Fashion-MNIST IDX files are not there: the HDF5 files data/fashion_train.h5
# and data/fashion_test.h5 must be carried too (make them here with
# `bash launch/quickstart.sh`, or `lockstep import idx ... --out data/fashion_{train,test}.h5`).
#
# Usage, on the GPU machine, from the repository root:
#   bash bench/device_check.sh                  # carry: build, data
#   BUILD=build-carry bash bench/device_check.sh   # carry: build-carry, data
# Here, to make a slim copy of a build folder for carrying (executables and
# CTest files only, no object files or static libraries; 64 MiB limit):
#   bash bench/device_check.sh --stage build-carry     # from $BUILD (default build)
#
# Environment: OUT (results; default ./device_out), BUILD (default build),
# DATA (default data), PYTHON (default python3), BUDGET_S (wall-clock budget
# for all steps, default 420), REPS (B1 repetitions, default 3), B1_STEPS (50),
# B1_WARMUP (10), B5_STEPS (40), EPOCHS (Fashion-MNIST epochs; default: the
# example's), EXTRA_LIB_DIR (prepended to LD_LIBRARY_PATH), SKIP_CTEST=1.
#
# Every step runs under `timeout`, a failed step does not stop the script, and
# each step is recorded PASS / FAIL / SKIP / INFO. Logs go to a scratch folder
# and are packed into $OUT/logs.tar.gz after every step (the device tool brings
# back at most 8 files); $OUT/summary.txt and $OUT/b1.md (a section ready for
# bench/RESULTS.md) are rewritten as results come in. The summary table is
# printed last. Exit status: 0 when no step failed.
set -u

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1
BUILD="${BUILD:-build}"

# ---------------------------------------------------------------- --stage DIR
if [[ "${1:-}" == "--stage" ]]; then
  dest="${2:?usage: bash bench/device_check.sh --stage DIR}"
  [[ -f "$BUILD/CMakeCache.txt" ]] || { echo "--stage: $BUILD is not a CMake build folder" >&2; exit 1; }
  [[ "$(realpath -m "$dest")" != "$(realpath -m "$BUILD")" ]] || { echo "--stage: DIR must differ from $BUILD" >&2; exit 1; }
  rm -rf "$dest" && mkdir -p "$dest" || exit 1
  # CMakeCache.txt (for the path fix below), every CTestTestfile.cmake, and
  # every executable outside CMakeFiles/.
  (cd "$BUILD" && find . -path '*/CMakeFiles' -prune -o -type f \
    \( -name CMakeCache.txt -o -name CTestTestfile.cmake -o -perm -u+x \) -print0) |
    (cd "$BUILD" && xargs -0 -r cp --parents -t "$repo/$dest") || exit 1
  # Symbol tables are not needed there (the CUDA fat binaries stay): smaller carry.
  if command -v strip >/dev/null; then
    find "$dest" -type f -perm -u+x -exec strip --strip-unneeded {} + 2>/dev/null
  fi
  du -sh "$dest" data 2>/dev/null
  echo "staged $BUILD -> $dest; on the GPU machine: BUILD=$dest bash bench/device_check.sh (carry $dest and data)"
  exit 0
fi

OUT="${OUT:-$repo/device_out}"
DATA="${DATA:-data}"
PY="${PYTHON:-python3}"
BUDGET_S="${BUDGET_S:-420}"
REPS="${REPS:-3}"
B1_STEPS="${B1_STEPS:-50}"
B1_WARMUP="${B1_WARMUP:-10}"
B5_STEPS="${B5_STEPS:-40}"
EPOCHS="${EPOCHS:-}"
mkdir -p "$OUT" || exit 1
work="$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")" || exit 1
t_start=$SECONDS

# Environment shared by every rank. Open MPI refuses root without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"
# mpirun gives ranks a pty, and GoogleTest would colour its output.
export GTEST_COLOR=no
export LD_LIBRARY_PATH="${EXTRA_LIB_DIR:+$EXTRA_LIB_DIR:}${LD_LIBRARY_PATH:-}"
# --bind-to none: Open MPI binds each of 2 ranks to one core by default, and
# NCCL's proxy thread then shares that core with the rank's own thread.
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x NCCL_DEBUG -x GTEST_COLOR)
# Several ranks on the one GPU: each rank its own NCCL_HOSTID, so NCCL treats
# them as separate hosts and uses its socket transport on loopback (DEVICE.md).
# Usage: "${shared[@]}" NP prog args...
shared=("${mpi[@]}" -x NCCL_SOCKET_IFNAME=lo -np)
# shellcheck disable=SC2016 # expanded by each rank's bash, not here
hostid=(bash -c 'NCCL_HOSTID=host$OMPI_COMM_WORLD_RANK exec "$@"' bash)

lockstep_bin="$BUILD/launch/lockstep"
b1_bin="$BUILD/bench/bench_b1_mlp"

# ------------------------------------------------------------ bookkeeping
names=() statuses=() secs=() notes=()
card="unknown"

pack() { tar -czf "$OUT/logs.tar.gz" -C "$work" . 2>/dev/null; }

write_summary() {
  {
    echo "device_check.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  card: $card"
    echo "repo: $repo  build: $BUILD  elapsed: $((SECONDS - t_start)) s of budget $BUDGET_S s"
    printf '%-14s %-6s %6s  %s\n' STEP RESULT SECS NOTE
    local i
    for i in "${!names[@]}"; do
      printf '%-14s %-6s %6s  %s\n' "${names[$i]}" "${statuses[$i]}" "${secs[$i]}" "${notes[$i]}"
    done
  } >"$OUT/summary.txt"
}

# record NAME STATUS SECONDS NOTE
record() {
  names+=("$1") statuses+=("$2") secs+=("$3") notes+=("$4")
  printf '== %-14s %-6s %4ss  %s\n' "$1" "$2" "$3" "$4"
  write_summary
  pack
}

# run_cmd LOG LIMIT argv...: runs argv under timeout, output appended to LOG;
# the limit is cut to what is left of the budget. Returns the command's status,
# 124/137 on timeout, 200 when no budget is left. Sets LAST_SECS.
LAST_SECS=0
run_cmd() {
  local log=$1 limit=$2 left rc t0
  shift 2
  left=$((BUDGET_S - (SECONDS - t_start)))
  LAST_SECS=0
  if ((left < 20)); then
    echo "# skipped: budget exhausted" >>"$log"
    return 200
  fi
  ((limit > left)) && limit=$left
  { printf '$'; printf ' %q' "$@"; printf '\n# limit %ss\n' "$limit"; } >>"$log"
  t0=$SECONDS
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  LAST_SECS=$((SECONDS - t0))
  echo "# rc=$rc after ${LAST_SECS}s" >>"$log"
  return $rc
}

# status_of RC -> PASS | FAIL | SKIP;  why_of RC -> a short reason
status_of() { case $1 in 0) echo PASS ;; 200) echo SKIP ;; *) echo FAIL ;; esac; }
why_of() {
  case $1 in
    0) echo "" ;; 124 | 137) echo "timeout" ;; 200) echo "budget exhausted" ;; *) echo "rc $1" ;;
  esac
}

# gtest_result LOG RC -> "STATUS|NOTE": GoogleTest's tallies; all tests
# skipped (e.g. no GPU seen) is SKIP, not PASS.
gtest_result() {
  local log=$1 rc=$2 passed skipped failed st
  passed="$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$log" | head -1)"
  skipped="$(grep -oP '^\[  SKIPPED \] \K[0-9]+(?= test)' "$log" | head -1)"
  failed="$(grep -oP '^\[  FAILED  \] \K[0-9]+(?= test)' "$log" | head -1)"
  st="$(status_of "$rc")"
  if [[ $st == PASS && "${passed:-0}" == 0 && "${skipped:-0}" != 0 ]]; then st=SKIP; fi
  echo "$st|$(why_of "$rc") passed ${passed:-?}, skipped ${skipped:-0}, failed ${failed:-0}$(first_error "$log" "$rc")"
}

# first_error LOG RC: "; <first error line>" when RC is not 0
first_error() {
  (($2 == 0)) && return
  local line
  line="$(grep -m1 -iE 'error|fail|abort|not found' "$1" 2>/dev/null | grep -v '^[$#]' | cut -c1-150)"
  [[ -n "$line" ]] && echo "; $line"
}

# field KEY LINE: the value of KEY=value in a benchmark line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
median() {
  (($#)) || { echo ""; return; }
  printf '%s\n' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }
# fmt VALUE DECIMALS [UNIT]
fmt() { awk -v a="$1" -v d="$2" -v u="${3:-}" 'BEGIN { if (a == "") print "n/a"; else printf "%.*f%s", d, a, u }'; }

# ------------------------------------------------------------ a. environment
log="$work/env.log"
{
  echo "date: $(date -u)"; echo "repo: $repo"; echo "BUILD=$BUILD DATA=$DATA OUT=$OUT"
  uname -a; nproc
  command -v mpirun && mpirun --version 2>&1 | head -2
  command -v ctest && ctest --version | head -1
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
} >>"$log" 2>&1
run_cmd "$log" 30 nvidia-smi -L
rc=$?
card="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
[[ -n "$card" ]] || card="unknown"
nvidia-smi >>"$log" 2>&1
record nvidia-smi "$(status_of $rc)" "$LAST_SECS" "$card"

# Missing shared libraries (report only).
log="$work/ldd.log"
missing=0
for f in "$lockstep_bin" "$b1_bin" "$BUILD"/tests/*/test_*; do
  [[ -f "$f" && -x "$f" ]] || continue
  lines="$(ldd "$f" 2>&1 | grep "not found")"
  if [[ -n "$lines" ]]; then
    missing=$((missing + 1))
    echo "$f:"$'\n'"$lines" >>"$log"
  fi
done
if [[ ! -x "$lockstep_bin" ]]; then
  record ldd FAIL 0 "$lockstep_bin missing: carry the build folder (BUILD=$BUILD)"
elif ((missing)); then
  record ldd INFO 0 "$missing binaries miss: $(grep -oE '[^[:space:]]+ => not found' "$log" | awk '{ print $1 }' | sort -u | tr '\n' ' ')"
else
  record ldd PASS 0 "no missing libraries"
fi

# CTest files hold the absolute paths of the folders where the build was
# configured. If the repository sits elsewhere on this machine, link those
# paths to this checkout and this build folder.
log="$work/paths.log"
cache="$BUILD/CMakeCache.txt"
if [[ -f "$cache" ]]; then
  src_dir="$(sed -n 's/^lockstep_SOURCE_DIR:STATIC=//p' "$cache")"
  bin_dir="$(sed -n 's/^lockstep_BINARY_DIR:STATIC=//p' "$cache")"
  echo "configured: source $src_dir, build $bin_dir; here: $repo, $BUILD" >>"$log"
  if [[ -n "$src_dir" && ! -e "$src_dir" ]]; then
    mkdir -p "$(dirname "$src_dir")" && ln -s "$repo" "$src_dir" && echo "linked $src_dir -> $repo" >>"$log"
  fi
  if [[ -n "$bin_dir" && ! -e "$bin_dir" && -d "$(dirname "$bin_dir")" ]]; then
    build_abs="$(cd "$BUILD" && pwd)"
    ln -s "$build_abs" "$bin_dir" && echo "linked $bin_dir -> $build_abs" >>"$log"
  fi
  [[ -x /usr/bin/mpiexec ]] || echo "note: /usr/bin/mpiexec (used by the CTest files) is missing" >>"$log"
fi

# ------------------------------------------------------------ b1. CUDA op tests
log="$work/test_core_cuda.log"
if [[ -x "$BUILD/tests/core/test_core_cuda" ]]; then
  run_cmd "$log" 150 "${mpi[@]}" -np 1 "$BUILD/tests/core/test_core_cuda"
  r="$(gtest_result "$log" $?)"
  record core_cuda "${r%%|*}" "$LAST_SECS" "${r#*|}"
else
  record core_cuda SKIP 0 "$BUILD/tests/core/test_core_cuda not built"
fi
# Whole-model training steps CPU vs GPU (the trainer's step).
log="$work/test_trainer_cuda_step.log"
if [[ -x "$BUILD/tests/trainer/test_trainer_cuda_step" ]]; then
  run_cmd "$log" 150 "${mpi[@]}" -np 1 "$BUILD/tests/trainer/test_trainer_cuda_step"
  r="$(gtest_result "$log" $?)"
  record trainer_cuda_step "${r%%|*}" "$LAST_SECS" "${r#*|}"
else
  record trainer_cuda_step SKIP 0 "$BUILD/tests/trainer/test_trainer_cuda_step not built"
fi

# ------------------------------------------------------------ c. NCCL equivalence
equiv="$BUILD/tests/trainer/test_trainer_equivalence_gpu"
equiv_hung=0
for np in 2 4; do
  log="$work/equivalence_gpu_np$np.log"
  if ((equiv_hung)); then
    record "equiv_np$np" SKIP 0 "the 2-rank run timed out: not trying $np ranks"
  elif [[ -x "$equiv" ]]; then
    run_cmd "$log" 120 "${shared[@]}" "$np" "${hostid[@]}" "$equiv"
    rc=$?
    ((rc == 124 || rc == 137)) && equiv_hung=1
    r="$(gtest_result "$log" $rc)"
    record "equiv_np$np" "${r%%|*}" "$LAST_SECS" "${r#*|}"
  else
    record "equiv_np$np" SKIP 0 "$equiv not built"
  fi
done

# ------------------------------------------------------------ d. Fashion-MNIST MLP
train_args=(train --config examples/fashion_mnist_mlp.ini --dist.device cuda
  --data.train "$DATA/fashion_train.h5" --data.test "$DATA/fashion_test.h5"
  --log.dir "$work/runs" --log.progress lines)
[[ -n "$EPOCHS" ]] && train_args+=(--train.epochs "$EPOCHS")
for np in 1 2; do
  log="$work/fashion_mlp_np$np.log"
  name="mnist_np$np"
  if [[ ! -f "$DATA/fashion_train.h5" || ! -f "$DATA/fashion_test.h5" ]]; then
    record "$name" SKIP 0 "$DATA/fashion_{train,test}.h5 missing: carry $DATA"
    continue
  fi
  if ((np == 1)); then
    run_cmd "$log" 150 "${mpi[@]}" -np 1 "$lockstep_bin" "${train_args[@]}" --log.name mlp_gpu_np1
  else
    run_cmd "$log" 180 "${shared[@]}" 2 "${hostid[@]}" "$lockstep_bin" "${train_args[@]}" \
      --log.name mlp_gpu_np2 --dist.allow_shared_gpu true
  fi
  rc=$?
  acc="$(grep -oP 'test accuracy: \K[0-9.]+' "$log" | tail -1)"
  wall="$LAST_SECS"
  if ((rc == 200)); then
    record "$name" SKIP 0 "budget exhausted"
  elif ((rc == 0)) && [[ -n "$acc" ]] && awk -v a="$acc" 'BEGIN { exit !(a >= 0.885) }'; then
    record "$name" PASS "$wall" "test accuracy $acc (>= 0.885)"
  else
    record "$name" FAIL "$wall" "$(why_of $rc) test accuracy ${acc:-none} (need >= 0.885)$(first_error "$log" $rc)"
  fi
done

# ------------------------------------------------------------ e. B1 and B5
# Alternates ours and PyTorch's per precision, REPS times; takes the median of
# the per-run median step times.
declare -A ours_ms torch_ms
for p in fp32 tf32; do ours_ms[$p]="" torch_ms[$p]=""; done
torch_version=""
b1_fail=0
for ((rep = 1; rep <= REPS; rep++)); do
  for p in fp32 tf32; do
    log="$work/b1_ours_${p}_$rep.log"
    if [[ -x "$b1_bin" ]]; then
      run_cmd "$log" 90 "${mpi[@]}" -np 1 "$b1_bin" --precision "$p" --steps "$B1_STEPS" --warmup "$B1_WARMUP"
      line="$(grep '^B1 mlp ' "$log" | tail -1)"
      if [[ -n "$line" ]]; then ours_ms[$p]+=" $(field median_ms "$line")"; else b1_fail=1; fi
    fi
    log="$work/b1_torch_${p}_$rep.log"
    run_cmd "$log" 90 "$PY" bench/b1_mlp_torch.py --precision "$p" --steps "$B1_STEPS" --warmup "$B1_WARMUP"
    line="$(grep '^B1 mlp-torch ' "$log" | tail -1)"
    if [[ -n "$line" ]]; then
      torch_ms[$p]+=" $(field median_ms "$line")"
      torch_version="$(field torch "$line")"
    else
      b1_fail=1
    fi
  done
done

# B5: 2 ranks on the one GPU (NCCL socket transport), TF32, batch 1024 per rank.
log="$work/b5_ours_tf32_np2.log"
b5_ms="" b5_sps=""
if [[ -x "$b1_bin" ]]; then
  run_cmd "$log" 120 "${shared[@]}" 2 "${hostid[@]}" "$b1_bin" --precision tf32 --steps "$B5_STEPS" --warmup 5
  rc=$?
  line="$(grep '^B1 mlp ' "$log" | tail -1)"
  b5_ms="$(field median_ms "$line")" b5_sps="$(field samples_per_s "$line")"
  if [[ -n "$b5_ms" ]]; then
    record b5_tf32_np2 PASS "$LAST_SECS" "median step $b5_ms ms, $b5_sps samples/s (2 ranks) (PyTorch DDP, BENCH.md: 106-115 ms)"
  else
    record b5_tf32_np2 FAIL "$LAST_SECS" "$(why_of $rc) no result line$(first_error "$log" 1)"
  fi
else
  record b5_tf32_np2 SKIP 0 "$b1_bin not built"
fi

# B2: the small perception CNN (3x64x64, batch 256), ours against PyTorch
# eager (cuDNN) per precision, once each; ours again with the per-layer
# breakdown (in the logs).
b2_bin="$BUILD/bench/bench_b2_cnn"
for p in fp32 tf32; do
  if [[ ! -x "$b2_bin" ]]; then
    record "b2_$p" SKIP 0 "$b2_bin not built"
    continue
  fi
  log="$work/b2_ours_$p.log"
  run_cmd "$log" 120 "${mpi[@]}" -np 1 "$b2_bin" --precision "$p" --steps 40 --warmup 10 --breakdown
  rc=$?
  ours_line="$(grep '^B2 cnn ' "$log" | tail -1)"
  log="$work/b2_torch_$p.log"
  run_cmd "$log" 120 "$PY" bench/b2_cnn_torch.py --precision "$p" --steps 40 --warmup 10
  torch_line="$(grep '^B2 cnn-torch ' "$log" | tail -1)"
  o="$(field median_ms "$ours_line")" t="$(field median_ms "$torch_line")"
  if [[ -n "$o" && -n "$t" ]]; then
    record "b2_$p" PASS "$LAST_SECS" "ours $o ms, PyTorch $t ms per step: ours / PyTorch speed $(ratio "$t" "$o")x"
  else
    record "b2_$p" FAIL "$LAST_SECS" "$(why_of $rc) no result line (ours '${o}', PyTorch '${t}')"
  fi
done

# The B1 table.
table="$work/b1_table.md"
{
  echo "| setting | ours median step | ours samples/s | PyTorch median step | PyTorch samples/s | ours / PyTorch |"
  echo "|---|---|---|---|---|---|"
} >"$table"
for p in fp32 tf32; do
  # shellcheck disable=SC2086 # word splitting of the value lists is intended
  om="$(median ${ours_ms[$p]})"
  # shellcheck disable=SC2086
  tm="$(median ${torch_ms[$p]})"
  osps="$(awk -v m="$om" 'BEGIN { if (m != "") print 1024 * 1000 / m }')"
  tsps="$(awk -v m="$tm" 'BEGIN { if (m != "") print 1024 * 1000 / m }')"
  r="$(ratio "$osps" "$tsps")"
  echo "| $p, 1 GPU, batch 1024 | $(fmt "$om" 3 " ms") | $(fmt "$osps" 0) | $(fmt "$tm" 3 " ms") | $(fmt "$tsps" 0) | **$r** |" >>"$table"
  if [[ -z "$om" && -z "$tm" ]] && ((BUDGET_S - (SECONDS - t_start) < 20)); then
    record "b1_$p" SKIP 0 "budget exhausted"
  elif [[ -n "$om" && -n "$tm" ]]; then
    record "b1_$p" PASS 0 "ours $(fmt "$om" 3) ms vs torch $(fmt "$tm" 3) ms: ratio $r (runs: ours${ours_ms[$p]:- none}; torch${torch_ms[$p]:- none})"
  else
    record "b1_$p" FAIL 0 "missing results (ours:${ours_ms[$p]:- none}; torch:${torch_ms[$p]:- none}); see b1_*_${p}_*.log$(first_error "$work/b1_ours_${p}_1.log" 1)"
  fi
done
if [[ -n "$b5_ms" ]]; then
  echo "| tf32, 2 ranks on the one GPU (NCCL sockets), batch 1024 each, samples/s of both | $(fmt "$b5_ms" 3 " ms") | $(fmt "$b5_sps" 0) | DDP (BENCH.md, not this run): 106–115 ms | | |" >>"$table"
fi

{
  echo "## B1 — GPU MLP throughput, $(date -u +%Y-%m-%d) ($card)"
  echo
  echo "Model 3072-4096-4096-4096-10, ReLU, softmax cross-entropy, SGD momentum 0.9,"
  echo "batch 1024 per rank, random inputs on the GPU; median step time over $B1_STEPS"
  echo "steps after $B1_WARMUP warm-up steps, CUDA events; median of $REPS alternating runs"
  echo "of ours and PyTorch ${torch_version:-?} eager (one process each), same call, same card."
  echo "Ratio: our samples/s ÷ PyTorch's."
  echo
  cat "$table"
  echo
  echo "Commands (bench/device_check.sh, on the GPU machine):"
  echo
  echo '```'
  echo "mpirun -np 1 $b1_bin --precision fp32|tf32 --steps $B1_STEPS --warmup $B1_WARMUP"
  echo "$PY bench/b1_mlp_torch.py --precision fp32|tf32 --steps $B1_STEPS --warmup $B1_WARMUP"
  echo "mpirun -np 2 -x NCCL_SOCKET_IFNAME=lo bash -c 'NCCL_HOSTID=host\$OMPI_COMM_WORLD_RANK exec $b1_bin --precision tf32 --steps $B5_STEPS --warmup 5'"
  echo '```'
} >"$OUT/b1.md"
cp "$OUT/b1.md" "$work/b1.md"
((b1_fail)) && echo "note: some B1 runs gave no result line (see b1_*.log)" | tee -a "$work/b1_table.md"

# ------------------------------------------------------------ b2. whole CTest suite
# Last: it repeats the CPU suites that CI runs anyway; it gets what is left of
# the budget. Suites that need the Debian Fashion-MNIST IDX files fail there.
log="$work/ctest.log"
if [[ "${SKIP_CTEST:-0}" == 1 ]]; then
  record ctest SKIP 0 "SKIP_CTEST=1"
elif ! command -v ctest >/dev/null; then
  record ctest SKIP 0 "ctest not on the PATH"
elif [[ ! -f "$BUILD/CTestTestfile.cmake" ]]; then
  record ctest SKIP 0 "$BUILD/CTestTestfile.cmake missing"
else
  # shellcheck disable=SC2016 # $1 is the inner bash's argument
  run_cmd "$log" 300 bash -c 'cd "$1" && exec ctest --output-on-failure -j4 --timeout 180' bash "$BUILD"
  rc=$?
  [[ -f "$BUILD/Testing/Temporary/LastTest.log" ]] && cp "$BUILD/Testing/Temporary/LastTest.log" "$work/ctest_LastTest.log"
  tally="$(grep -E 'tests passed, [0-9]+ tests failed' "$log" | tail -1)"
  failed="$(sed -n '/The following tests FAILED/,$p' "$log" | grep -oE '^[[:space:]]*[0-9]+ - [^ ]+' | awk '{ print $3 }' | tr '\n' ' ')"
  record ctest "$(status_of $rc)" "$LAST_SECS" "$(why_of $rc) ${tally} ${failed:+failed: $failed}"
fi

# ------------------------------------------------------------ summary
write_summary
pack
echo
echo "B1 (ratio = our samples/s / PyTorch's), $card:"
cat "$work/b1_table.md"
echo
cat "$OUT/summary.txt"
echo "files: $OUT/summary.txt $OUT/b1.md $OUT/logs.tar.gz (all logs; scratch $work)"
for s in "${statuses[@]}"; do [[ "$s" == FAIL ]] && exit 1; done
exit 0
