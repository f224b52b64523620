#!/usr/bin/env bash
# GPU checks and benchmarks on the GPU machine, staged (see ../shared/DEVICE.md
# and bench/README.md "device_check.sh"): every figure of BENCH.md that needs
# the GPU, each next to PyTorch measured in the same call on the same card.
#
# Nothing is built there: the binaries are built HERE (CUDA build, Boost linked
# statically) and carried, slimmed by --stage. The GPU machine has no Debian
# packages, so the Fashion-MNIST data travel as the HDF5 files
# data/fashion_{train,test}.h5 (make them here with `bash launch/quickstart.sh`
# or `lockstep import idx ... --out data/fashion_{train,test}.h5`).
#
# Here, once per build (a slim copy of the build folder: executables and CTest
# files, stripped, packed with xz into DIR/bundle.tar.xz, ~15 MiB, unpacked
# there by this script; the carry limit is 64 MiB with the data, ~30 MiB):
#   bash bench/device_check.sh --stage build-carry          # from $BUILD (default build)
# There (carry build-carry and data), one call, then a second for what is left:
#   BUILD=build-carry bash bench/device_check.sh
#   BUILD=build-carry STAGES="fashion b5" bash bench/device_check.sh   # $OUT/next_stages.txt says which
# Here, every stage's commands with tiny sizes on CPU ranks (the plumbing, the
# tables; tests/cli/device_check_cpu_test.sh):
#   DEVICE_CHECK_CPU=1 bash bench/device_check.sh
#
# Stages, in the default order (the GPU figures needed most come first):
#   b2         B2 ConvNet: ours TF32 and bf16 vs PyTorch eager TF32 and bf16 + channels-last
#   resnet     examples/perception_resnet.ini's model: ours bf16 (and TF32) vs PyTorch eager
#              bf16 (channels-last, and NCHW)
#   breakdown  per-phase step breakdowns (--breakdown) of B1, B2 and the ResNet, ours beside
#              PyTorch eager's, bf16 (BD_PRECISION), same memory format (NCHW)
#   b1         B1 MLP: ours TF32 and bf16 vs PyTorch eager TF32 and bf16 autocast
#   gputests   the GPU test suites through CTest (names matching GPU_TESTS), then the NCCL
#              equivalence test on 4 ranks on the one GPU (NCCL_HOSTID; 2 ranks is in CTest)
#   b2c        B2 vs torch.compile, TF32 and bf16 + channels-last
#   fashion    Fashion-MNIST on one GPU from process start: time to 0.885 (MLP example) and
#              to 0.925 (CNN example), lockstep vs bench/fashion_torch.py (same recipe)
#   b5         B1 MLP on 2 ranks on the one GPU (NCCL sockets): dist.grad_dtype bf16 and
#              fp32, overlap on, vs PyTorch DDP (bf16 compression hook, and fp32)
#   ctest      (not in the default list) the whole CTest suite
#
# Environment: STAGES (a subset, run in the order given), OUT (results; default
# ./device_out), BUILD (default build), DATA (default data), PYTHON (default
# python3), BUDGET_S (wall-clock budget of the call, default 540: a stage that
# needs more than is left is skipped and named in next_stages.txt), REPS
# (alternating repetitions of each throughput pair, default 1), STEPS (50),
# WARMUP (10), BD_STEPS (30), BD_PRECISION (bf16), B5_STEPS (20), EPOCHS
# (Fashion-MNIST epochs; default the example's), GPU_TESTS (CTest regex),
# EXTRA_LIB_DIR (prepended to LD_LIBRARY_PATH), CUDNN_LIB_DIR (default: the
# nvidia-cudnn wheel of $PYTHON, found by the env stage), DEVICE_CHECK_CPU=1.
#
# Every command runs under `timeout` (its own limit, its stage's and the
# budget's, whichever ends first); a failed command or stage does not stop the
# script (set -u, no -e); each stage is recorded PASS / FAIL / SKIP / INFO.
# Logs go to a scratch folder packed into $OUT/logs.tar.gz after every stage
# (the device tool brings back few files); $OUT/summary.txt (stages),
# $OUT/results.md (the figures with ratios and the breakdown tables: a section
# for bench/RESULTS.md) and $OUT/next_stages.txt are rewritten as results come
# in. The tables are printed last. Exit status: 0 when no stage failed.
set -u

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1
BUILD="${BUILD:-build}"

# ---------------------------------------------------------------- --stage DIR
if [[ "${1:-}" == "--stage" ]]; then
  dest="${2:?usage: bash bench/device_check.sh --stage DIR}" dest_name="$2"
  [[ -f "$BUILD/CMakeCache.txt" ]] || { echo "--stage: $BUILD is not a CMake build folder" >&2; exit 1; }
  [[ "$(realpath -m "$dest")" != "$(realpath -m "$BUILD")" ]] || { echo "--stage: DIR must differ from $BUILD" >&2; exit 1; }
  dest="$(realpath -m "$dest")"
  rm -rf "$dest" && mkdir -p "$dest" || exit 1
  # CMakeCache.txt (for the path fix below), every CTestTestfile.cmake, and
  # every executable outside CMakeFiles/.
  (cd "$BUILD" && find . -path '*/CMakeFiles' -prune -o -type f \
    \( -name CMakeCache.txt -o -name CTestTestfile.cmake -o -perm -u+x \) -print0) |
    (cd "$BUILD" && xargs -0 -r cp --parents -t "$dest") || exit 1
  # Symbol tables are not needed there (the CUDA fat binaries stay): smaller carry.
  if command -v strip >/dev/null; then
    find "$dest" -type f -perm -u+x -exec strip --strip-unneeded {} + 2>/dev/null
  fi
  # Shared libraries the GPU machine may lack (it has no Debian packages):
  # what our programs need, followed through their dependencies, leaving out
  # what it has its own copies of (C and C++ runtimes, MPI, HDF5, CUDA and its
  # libraries). There, only those its loader cannot find are used (env stage).
  mkdir -p "$dest/libs" || exit 1
  declare -A lib_path=() lib_seen=()
  queue=()
  while IFS= read -r exe; do
    while read -r so _ path _; do [[ $path == /* ]] && lib_path[$so]=$path; done < <(ldd "$exe" 2>/dev/null)
    mapfile -t -O "${#queue[@]}" queue < <(readelf -d "$exe" 2>/dev/null | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p')
  done < <(find "$dest" -type f -perm -u+x)
  skip='^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux.*|libmpi.*|libopen-(pal|rte).*|libhdf5.*|libcu[A-Za-z]*|libnccl|libnv[A-Za-z]*|libcudnn.*)\.so'
  while ((${#queue[@]})); do
    so=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n "${lib_seen[$so]:-}" || $so =~ $skip || -z "${lib_path[$so]:-}" ]] && continue
    lib_seen[$so]=1
    cp -L "${lib_path[$so]}" "$dest/libs/$so" || exit 1
    mapfile -t -O "${#queue[@]}" queue < <(readelf -d "${lib_path[$so]}" 2>/dev/null | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p')
  done
  echo "libraries for a machine without them: $(ls "$dest/libs" | tr '\n' ' ')"
  # Every test program links the same static libraries and CUDA kernels:
  # tar + xz (a large window) takes ~140 MiB down to ~15. The GPU machine
  # unpacks it before anything else (tar -J, or Python's lzma without xz).
  echo "packing $dest (xz, a minute or two) ..."
  tar -C "$dest" -cf - . | xz -T0 -6 >"$dest.bundle.tmp" || exit 1
  find "$dest" -mindepth 1 -delete && mv "$dest.bundle.tmp" "$dest/bundle.tar.xz" || exit 1
  du -sh "$dest" "${DATA:-data}" 2>/dev/null
  total_kb=$(du -sck "$dest" "${DATA:-data}" 2>/dev/null | tail -1 | cut -f1)
  echo "staged $BUILD -> $dest_name/bundle.tar.xz; carry $dest_name and ${DATA:-data}: $((total_kb / 1024)) MiB of 64"
  ((total_kb <= 64 * 1024)) || echo "warning: over the 64 MiB a call carries" >&2
  echo "on the GPU machine: BUILD=$dest_name bash bench/device_check.sh"
  exit 0
fi

# A build folder staged by --stage arrives packed: unpack it in place.
if [[ -f "$BUILD/bundle.tar.xz" && ! -f "$BUILD/CMakeCache.txt" ]]; then
  echo "unpacking $BUILD/bundle.tar.xz"
  if command -v xz >/dev/null; then
    tar -C "$BUILD" -xJf "$BUILD/bundle.tar.xz"
  else
    "${PYTHON:-python3}" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      "$BUILD/bundle.tar.xz" "$BUILD"
  fi || echo "warning: unpacking $BUILD/bundle.tar.xz failed" >&2
fi

CPU="${DEVICE_CHECK_CPU:-0}"
OUT="${OUT:-$repo/device_out}"
DATA="${DATA:-data}"
PY="${PYTHON:-python3}"
BUDGET_S="${BUDGET_S:-540}"
REPS="${REPS:-1}"
STEPS="${STEPS:-50}"
WARMUP="${WARMUP:-10}"
BD_STEPS="${BD_STEPS:-30}"
BD_WARMUP="${BD_WARMUP:-5}"
BD_PRECISION="${BD_PRECISION:-bf16}"
B5_STEPS="${B5_STEPS:-20}"
EPOCHS="${EPOCHS:-}"
GPU_TESTS="${GPU_TESTS:-cuda|gpu|cudnn|nccl|bf16|step_control|lean_step}"
ALL_STAGES="b2 resnet breakdown b1 gputests b2c fashion b5"
STAGES="${STAGES:-$ALL_STAGES}"
mkdir -p "$OUT" || exit 1
work="$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")" || exit 1
t_start=$SECONDS

# Sizes. On CPU ranks (DEVICE_CHECK_CPU=1) every command runs, with tiny
# batches and step counts: it tests the plumbing, not the speed.
dev=() tdev=() b1_batch=() b2_batch=() b6_batch=()
if [[ "$CPU" == 1 ]]; then
  STEPS=2 WARMUP=1 BD_STEPS=2 BD_WARMUP=1 B5_STEPS=2
  EPOCHS="${EPOCHS:-1}"
  dev=(--device cpu --threads 1) tdev=(--device cpu)
  b1_batch=(--batch 2) b2_batch=(--batch 2) b6_batch=(--batch 2)
fi

# Environment shared by every rank. Open MPI refuses root without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# mpirun gives ranks a pty, and GoogleTest would colour its output.
export GTEST_COLOR=no
export LD_LIBRARY_PATH="${EXTRA_LIB_DIR:+$EXTRA_LIB_DIR:}${LD_LIBRARY_PATH:-}"
# --bind-to none: Open MPI binds each of 2 ranks to one core by default, and
# NCCL's proxy thread then shares that core with the rank's own thread.
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x NCCL_DEBUG
  -x GTEST_COLOR -x OPENBLAS_NUM_THREADS)
# Several ranks on the one GPU: each rank its own NCCL_HOSTID, so NCCL treats
# them as separate hosts and uses its socket transport on loopback (DEVICE.md).
# Usage: "${shared[@]}" NP prog args...
shared=("${mpi[@]}" -x NCCL_SOCKET_IFNAME=lo -np)
# shellcheck disable=SC2016 # expanded by each rank's bash, not here
hostid=(bash -c 'NCCL_HOSTID=host$OMPI_COMM_WORLD_RANK exec "$@"' bash)

lockstep_bin="$BUILD/launch/lockstep"
b1_bin="$BUILD/bench/bench_b1_mlp"
b2_bin="$BUILD/bench/bench_b2_cnn"
b6_bin="$BUILD/bench/bench_resnet"

# ------------------------------------------------------------ bookkeeping
names=() statuses=() secs=() notes=()
fig_name=() fig_ours=() fig_torch=() fig_ratio=() fig_note=()
not_run=()
card="unknown" torch_version="" torch_ok=0 compile_ok=0

pack() { tar -czf "$OUT/logs.tar.gz" -C "$work" . 2>/dev/null; }

write_summary() {
  {
    echo "device_check.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  card: $card  torch: ${torch_version:-none}"
    echo "repo: $repo  build: $BUILD  mode: $([[ $CPU == 1 ]] && echo 'CPU ranks, tiny sizes (not a benchmark)' || echo GPU)"
    echo "stages: $STAGES  elapsed: $((SECONDS - t_start)) s of budget $BUDGET_S s"
    printf '%-18s %-6s %6s  %s\n' STEP RESULT SECS NOTE
    local i
    for i in "${!names[@]}"; do
      printf '%-18s %-6s %6s  %s\n' "${names[$i]}" "${statuses[$i]}" "${secs[$i]}" "${notes[$i]}"
    done
  } >"$OUT/summary.txt"
  if ((${#not_run[@]})); then
    echo "STAGES=\"${not_run[*]}\"" >"$OUT/next_stages.txt"
  else
    echo "STAGES=\"\"  # every stage asked for ran" >"$OUT/next_stages.txt"
  fi
}

# record NAME STATUS SECONDS NOTE
record() {
  names+=("$1") statuses+=("$2") secs+=("$3") notes+=("$4")
  printf '== %-18s %-6s %4ss  %s\n' "$1" "$2" "$3" "$4"
  write_summary
}

# figure NAME OURS TORCH UNIT NOTE: a row of the final table; the ratio is
# TORCH / OURS (times: > 1 means ours is faster).
figure() {
  fig_name+=("$1") fig_ours+=("$(fmt "$2" 3 " $4")") fig_torch+=("$(fmt "$3" 3 " $4")")
  fig_ratio+=("$(ratio "$3" "$2")") fig_note+=("$5")
  write_results
}

# run_cmd LOG LIMIT argv...: runs argv under timeout, output appended to LOG;
# the limit is cut to what is left of the stage and of the budget. Returns the
# command's status, 124/137 on timeout, 200 when no time is left. Sets
# LAST_SECS; a timeout or a command not run marks the stage incomplete.
LAST_SECS=0 stage_deadline=0 stage_incomplete=0
run_cmd() {
  local log=$1 limit=$2 left stage_left rc t0
  shift 2
  left=$((BUDGET_S - (SECONDS - t_start)))
  stage_left=$((stage_deadline - SECONDS))
  ((stage_left < left)) && left=$stage_left
  LAST_SECS=0
  if ((left < 5)); then
    echo "# skipped: no time left (stage or budget)" >>"$log"
    stage_incomplete=1
    return 200
  fi
  ((limit > left)) && limit=$left
  { printf '$'; printf ' %q' "$@"; printf '\n# limit %ss\n' "$limit"; } >>"$log"
  t0=$SECONDS
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  LAST_SECS=$((SECONDS - t0))
  echo "# rc=$rc after ${LAST_SECS}s" >>"$log"
  ((rc == 124 || rc == 137)) && stage_incomplete=1
  return $rc
}

# status_of RC -> PASS | FAIL | SKIP;  why_of RC -> a short reason
status_of() { case $1 in 0) echo PASS ;; 200) echo SKIP ;; *) echo FAIL ;; esac; }
why_of() {
  case $1 in
    0) echo "" ;; 124 | 137) echo "timeout" ;; 200) echo "no time left" ;; *) echo "rc $1" ;;
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
  line="$(grep -m1 -iE 'error|fail|abort|not found|Traceback|no CUDA|no GPU' "$1" 2>/dev/null | grep -v '^[$#]' | cut -c1-150)"
  [[ -n "$line" ]] && echo "; $line"
}

# field KEY LINE: the value of KEY=value in a benchmark line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# last_field LOG PATTERN KEY: KEY of the last line of LOG matching ^PATTERN
last_field() { field "$3" "$(grep -E "^$2" "$1" 2>/dev/null | tail -1)"; }
median() {
  (($#)) || { echo ""; return; }
  printf '%s\n' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2fx", a / b }'; }
# fmt VALUE DECIMALS [UNIT]
fmt() { awk -v a="$1" -v d="$2" -v u="${3:-}" 'BEGIN { if (a == "") print "n/a"; else printf "%.*f%s", d, a, u }'; }
left_s() { echo $((BUDGET_S - (SECONDS - t_start))); }
secs_or() { if [[ -n "$1" ]]; then echo "$1 s"; else echo "not reached"; fi; }

# ours LOG LIMIT BIN ARGS...: one rank of a bench binary (on CPU ranks with --device cpu)
ours() {
  local log=$1 limit=$2 bin=$3
  shift 3
  if [[ ! -x "$bin" ]]; then
    echo "# $bin not built" >>"$log"
    return 127
  fi
  run_cmd "$log" "$limit" "${mpi[@]}" -np 1 "$bin" "${dev[@]}" "$@"
}
# torch LOG LIMIT SCRIPT ARGS...: a PyTorch reference (on the CPU with --device cpu)
torch_run() {
  local log=$1 limit=$2 script=$3
  shift 3
  if ((!torch_ok)); then
    echo "# torch is not importable by $PY" >>"$log"
    return 126
  fi
  run_cmd "$log" "$limit" "$PY" "$script" "${tdev[@]}" "$@"
}

# pair NAME ID KIND OURS_ARGS -- TORCH_SCRIPT TORCH_ARGS: alternates ours and
# PyTorch REPS times, records the medians of their median step times as a
# stage row and a figure.
pair() {
  local name=$1 id=$2 kind=$3 bin=$4
  shift 4
  local oargs=() targs=() script rep om tm o=() t=() lo lt rc=0
  while (($#)) && [[ $1 != -- ]]; do oargs+=("$1"); shift; done
  shift
  script=$1
  shift
  targs=("$@")
  for ((rep = 1; rep <= REPS; rep++)); do
    lo="$work/${name}_ours_$rep.log" lt="$work/${name}_torch_$rep.log"
    ours "$lo" 120 "$bin" "${oargs[@]}" || rc=$?
    om="$(last_field "$lo" "$id $kind " median_ms)"
    [[ -n "$om" ]] && o+=("$om")
    torch_run "$lt" "${PAIR_TORCH_LIMIT:-150}" "$script" "${targs[@]}" || rc=$?
    tm="$(last_field "$lt" "$id $kind-torch " median_ms)"
    [[ -n "$tm" ]] && t+=("$tm")
    [[ -z "$torch_version" ]] && torch_version="$(last_field "$lt" "$id $kind-torch " torch)"
  done
  om="$(median "${o[@]}")" tm="$(median "${t[@]}")"
  local note="ours ${om:-none} ms (${o[*]:-}), PyTorch ${tm:-none} ms (${t[*]:-}) per step"
  figure "$name" "$om" "$tm" ms "ours: ${oargs[*]}; PyTorch: $(basename "$script") ${targs[*]}"
  if [[ -n "$om" && -n "$tm" ]]; then
    record "$name" PASS "$LAST_SECS" "$note: PyTorch / ours $(ratio "$tm" "$om")"
  elif [[ -n "$om" ]] && ((!torch_ok)) && [[ $CPU == 1 ]]; then
    record "$name" SKIP "$LAST_SECS" "$note (no torch here)"
  else
    record "$name" FAIL "$LAST_SECS" "$note$(first_error "$lo" 1)$(first_error "$lt" 1)"
  fi
}

# ------------------------------------------------------------ results.md
write_results() {
  local i
  {
    echo "## GPU figures (cuDNN, bf16, lean step), $(date -u +%Y-%m-%d) ($card)"
    echo
    if [[ $CPU == 1 ]]; then
      echo "DEVICE_CHECK_CPU=1: CPU ranks, tiny sizes; these numbers test the script, they measure nothing."
      echo
    fi
    echo "bench/device_check.sh (STAGES=\"$STAGES\"), PyTorch ${torch_version:-?} in the same call on the"
    echo "same card. Times are median step times (CUDA events, $STEPS steps after $WARMUP) or seconds"
    echo "from process start; ratio = PyTorch's time / ours (> 1: ours is faster)."
    echo
    echo "| figure | lockstep | PyTorch | ratio | commands |"
    echo "|---|---|---|---|---|"
    for i in "${!fig_name[@]}"; do
      echo "| ${fig_name[$i]} | ${fig_ours[$i]} | ${fig_torch[$i]} | **${fig_ratio[$i]}** | ${fig_note[$i]} |"
    done
    for f in "$work"/breakdown_*.md; do
      [[ -f "$f" ]] && { echo; cat "$f"; }
    done
  } >"$OUT/results.md"
}

# bd_table ID TITLE OURS_LOG TORCH_LOG > markdown: the two breakdown tables
# side by side, rows joined by phase ("fwd 3", "bwd 3", "loss", ...).
bd_table() {
  local id=$1 title=$2
  echo "### Breakdown: $title"
  echo
  grep -h -E "^$id breakdown(-torch)? " "$3" "$4" 2>/dev/null | sed 's/^/    /'
  echo
  echo "| phase | lockstep ms | lockstep % | PyTorch ms | PyTorch % |"
  echo "|---|---|---|---|---|"
  awk -v id="$id" '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    FNR == 1 { f++ }
    $0 ~ "^" id " breakdown(-torch)? " { inb = 1; next }
    $0 ~ "^" id " breakdown(-torch)?_total" { inb = 0; next }
    inb && /^\| / && !/^\| phase/ {
      n = split($0, c, "|"); name = trim(c[2]); key = name
      if (name ~ /^(fwd|bwd) /) { split(name, w, " "); key = w[1] " " w[2] }
      if (!(key in seen)) { seen[key] = 1; order[++k] = key; label[key] = name }
      ms[f, key] = trim(c[3]); pct[f, key] = trim(c[4])
    }
    END {
      for (i = 1; i <= k; i++) {
        key = order[i]
        printf "| %s | %s | %s | %s | %s |\n", label[key],
          ((1, key) in ms) ? ms[1, key] : "-", ((1, key) in pct) ? pct[1, key] : "-",
          ((2, key) in ms) ? ms[2, key] : "-", ((2, key) in pct) ? pct[2, key] : "-"
      }
    }' "$3" "$4"
  echo
}

# ------------------------------------------------------------ env (always)
stage_env() {
  local log="$work/env.log" rc lines missing=0 f cudnn
  {
    echo "date: $(date -u)"; echo "repo: $repo"; echo "BUILD=$BUILD DATA=$DATA OUT=$OUT CPU=$CPU"
    echo "STAGES=$STAGES"; uname -a; nproc
    command -v mpirun && mpirun --version 2>&1 | head -2
    command -v ctest && ctest --version | head -1
  } >>"$log" 2>&1
  # One import of torch (seconds): its version, torch.compile, and where its
  # cuDNN is (the nvidia-cudnn wheel, or torch/lib in wheels that bundle it).
  local probe torch_cudnn=""
  probe="$("$PY" - 2>/dev/null <<'PROBE'
import glob, importlib.util, os
import torch
d = ""
try:
    s = importlib.util.find_spec("nvidia.cudnn")
    if s and s.submodule_search_locations:
        d = os.path.join(list(s.submodule_search_locations)[0], "lib")
except ImportError:  # no nvidia package at all
    pass
if not (d and glob.glob(os.path.join(d, "libcudnn.so*"))):
    t = os.path.join(os.path.dirname(torch.__file__), "lib")
    d = t if glob.glob(os.path.join(t, "libcudnn.so*")) else ""
print(torch.__version__, int(hasattr(torch, "compile")), d or "-")
PROBE
)"
  if [[ -n "$probe" ]]; then
    read -r torch_version compile_ok torch_cudnn <<<"$probe"
    torch_ok=1
    [[ $torch_cudnn == - ]] && torch_cudnn=""
  fi
  echo "torch probe: ${probe:-torch not importable by $PY}" >>"$log"
  # The PyTorch scripts at least compile (here as there).
  if "$PY" -m py_compile bench/torch_step.py bench/b1_mlp_torch.py bench/b2_cnn_torch.py \
    bench/resnet_torch.py bench/fashion_torch.py >>"$log" 2>&1; then
    record py_compile PASS 0 "bench/*_torch.py compile with $PY"
  else
    record py_compile FAIL 0 "a PyTorch script does not compile$(first_error "$log" 1)"
  fi
  if [[ $CPU == 1 ]]; then
    record nvidia-smi INFO 0 "DEVICE_CHECK_CPU=1: CPU ranks, tiny sizes; torch ${torch_version:-not importable}"
  else
    stage_deadline=$((SECONDS + 60))
    run_cmd "$log" 30 nvidia-smi -L
    rc=$?
    card="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
    [[ -n "$card" ]] || card="unknown"
    nvidia-smi >>"$log" 2>&1
    record nvidia-smi "$(status_of $rc)" "$LAST_SECS" "$card; torch ${torch_version:-NOT importable by $PY}"
    ((torch_ok)) || record torch FAIL 0 "$PY cannot import torch: no references"
  fi
  # cuDNN: the machine's copy comes with PyTorch's wheel (DEVICE.md); the
  # lockstep binaries built with cuDNN find it there.
  cudnn="${CUDNN_LIB_DIR:-$torch_cudnn}"
  if [[ -n "$cudnn" && -d "$cudnn" ]]; then
    export LD_LIBRARY_PATH="$cudnn${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "cuDNN: $cudnn on LD_LIBRARY_PATH" >>"$log"
  fi
  # Libraries this machine lacks come from the carried folder's libs/ (see
  # --stage): linked into a folder of their own, appended to LD_LIBRARY_PATH,
  # so the machine's own copies keep precedence. A few rounds: a library
  # supplied can need another.
  local fallback="$work/fallback-libs" round so supplied=""
  if [[ -d "$BUILD/libs" ]]; then
    mkdir -p "$fallback"
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$fallback"
    for round in 1 2 3 4; do
      lines="$(for f in "$lockstep_bin" "$b1_bin" "$b2_bin" "$b6_bin" "$BUILD"/tests/*/test_*; do
        [[ -f "$f" && -x "$f" ]] && ldd "$f" 2>/dev/null; done | awk '/not found/ { print $1 }' | sort -u)"
      [[ -n "$lines" ]] || break
      for so in $lines; do
        [[ -f "$BUILD/libs/$so" && ! -e "$fallback/$so" ]] && ln -s "$(cd "$BUILD/libs" && pwd)/$so" "$fallback/$so" &&
          supplied+="$so "
      done
    done
    echo "supplied from $BUILD/libs (round $round): ${supplied:-none}" >>"$log"
  fi
  # Missing shared libraries (report only: the GPU suites say what fails).
  log="$work/ldd.log"
  for f in "$lockstep_bin" "$b1_bin" "$b2_bin" "$b6_bin" "$BUILD"/tests/*/test_*; do
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
    record ldd FAIL 0 "$missing binaries miss: $(grep -oE '[^[:space:]]+ => not found' "$log" | awk '{ print $1 }' | sort -u | tr '\n' ' ')"
  else
    record ldd PASS 0 "no missing libraries${cudnn:+ (cuDNN from $cudnn)}${supplied:+; carried: $supplied}"
  fi
  # CTest files hold the absolute paths of the folders where the build was
  # configured. If the repository sits elsewhere on this machine, link those
  # paths to this checkout and this build folder.
  log="$work/paths.log"
  local cache="$BUILD/CMakeCache.txt" src_dir bin_dir build_abs
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
}

# ------------------------------------------------------------ throughput stages
stage_b2() {
  pair b2_tf32 B2 cnn "$b2_bin" --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}" -- \
    bench/b2_cnn_torch.py --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}"
  pair b2_bf16 B2 cnn "$b2_bin" --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}" -- \
    bench/b2_cnn_torch.py --precision bf16 --channels-last --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}"
}

stage_b2c() {
  local c=(--compile)
  if ((torch_ok && !compile_ok)); then
    c=()
    echo "# torch.compile missing in torch $torch_version: eager instead" >>"$work/b2c.log"
  fi
  # torch.compile compiles forward and backward during the warm-up: more time.
  local PAIR_TORCH_LIMIT=240
  pair b2_tf32_compile B2 cnn "$b2_bin" --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}" -- \
    bench/b2_cnn_torch.py --precision tf32 "${c[@]}" --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}"
  pair b2_bf16_compile B2 cnn "$b2_bin" --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}" -- \
    bench/b2_cnn_torch.py --precision bf16 --channels-last "${c[@]}" --steps "$STEPS" --warmup "$WARMUP" "${b2_batch[@]}"
}

stage_resnet() {
  pair resnet_bf16_cl B6 resnet "$b6_bin" --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b6_batch[@]}" -- \
    bench/resnet_torch.py --precision bf16 --channels-last --steps "$STEPS" --warmup "$WARMUP" "${b6_batch[@]}"
  pair resnet_bf16 B6 resnet "$b6_bin" --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b6_batch[@]}" -- \
    bench/resnet_torch.py --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b6_batch[@]}"
  pair resnet_tf32 B6 resnet "$b6_bin" --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b6_batch[@]}" -- \
    bench/resnet_torch.py --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b6_batch[@]}"
}

stage_b1() {
  pair b1_tf32 B1 mlp "$b1_bin" --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b1_batch[@]}" -- \
    bench/b1_mlp_torch.py --precision tf32 --steps "$STEPS" --warmup "$WARMUP" "${b1_batch[@]}"
  pair b1_bf16 B1 mlp "$b1_bin" --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b1_batch[@]}" -- \
    bench/b1_mlp_torch.py --precision bf16 --steps "$STEPS" --warmup "$WARMUP" "${b1_batch[@]}"
}

# ------------------------------------------------------------ breakdown
stage_breakdown() {
  local spec id bin script title lo lt batch st o t
  for spec in "B1 $b1_bin bench/b1_mlp_torch.py b1" "B2 $b2_bin bench/b2_cnn_torch.py b2" \
    "B6 $b6_bin bench/resnet_torch.py b6"; do
    read -r id bin script title <<<"$spec"
    batch=()
    [[ $CPU == 1 ]] && batch=(--batch 2)
    lo="$work/breakdown_${title}_ours.log" lt="$work/breakdown_${title}_torch.log"
    ours "$lo" 120 "$bin" --precision "$BD_PRECISION" --steps "$BD_STEPS" --warmup "$BD_WARMUP" \
      "${batch[@]}" --breakdown
    torch_run "$lt" 150 "$script" --precision "$BD_PRECISION" --steps "$BD_STEPS" \
      --warmup "$BD_WARMUP" "${batch[@]}" --breakdown
    bd_table "$id" "$id ($title), $BD_PRECISION, $BD_STEPS steps, medians" "$lo" "$lt" \
      >"$work/breakdown_$title.md"
    o="$(grep -E "^$id breakdown_total" "$lo" | tail -1)"
    t="$(grep -E "^$id breakdown-torch_total" "$lt" | tail -1)"
    st=PASS
    [[ -n "$o" ]] || st=FAIL
    # No PyTorch line is a failure, except on CPU ranks without torch.
    if [[ -z "$t" ]] && { ((torch_ok)) || [[ $CPU != 1 ]]; }; then st=FAIL; fi
    record "breakdown_$title" "$st" "$LAST_SECS" \
      "ours: step $(field step_ms "$o") ms, rows $(field rows_ms "$o") ms, Trainer::step $(field trainer_step_ms "$o") ms; PyTorch: step $(field step_ms "$t") ms, rows $(field rows_ms "$t") ms$([[ $st == FAIL ]] && first_error "$lo" 1)$([[ $st == FAIL ]] && first_error "$lt" 1)"
  done
  write_results
}

# ------------------------------------------------------------ GPU test suites
stage_gputests() {
  local log="$work/ctest_gpu.log" rc tally failed list equiv r
  if ! command -v ctest >/dev/null || [[ ! -f "$BUILD/CTestTestfile.cmake" ]]; then
    record gpu_ctest SKIP 0 "ctest or $BUILD/CTestTestfile.cmake missing"
  elif [[ $CPU == 1 ]]; then
    # Here the suites skip without a GPU and CI runs them anyway: list them,
    # from the CTest files (ctest itself would write into the build folder's
    # Testing/, which a CTest run calling this script is using).
    list="$(grep -rhoE 'add_test\((\[=\[)?[A-Za-z0-9_.-]+' "$BUILD" --include=CTestTestfile.cmake |
      sed -E 's/add_test\((\[=\[)?//' | grep -E "$GPU_TESTS" | sort | tr '\n' ' ')"
    echo "GPU suites (CPU mode, not run): $list" >>"$log"
    if [[ -n "$list" ]]; then
      record gpu_ctest PASS 0 "listed (CPU mode): $list"
    else
      record gpu_ctest FAIL 0 "no test in $BUILD's CTest files matches '$GPU_TESTS'"
    fi
  else
    # shellcheck disable=SC2016
    run_cmd "$log" 300 bash -c 'cd "$1" && exec ctest --output-on-failure -j2 --timeout 240 -R "$2"' \
      bash "$BUILD" "$GPU_TESTS"
    rc=$?
    tally="$(grep -E 'tests passed, [0-9]+ tests failed' "$log" | tail -1)"
    failed="$(sed -n '/The following tests FAILED/,$p' "$log" | grep -oE '^[[:space:]]*[0-9]+ - [^ ]+' | awk '{ print $3 }' | tr '\n' ' ')"
    record gpu_ctest "$(status_of $rc)" "$LAST_SECS" "$(why_of $rc) ${tally} ${failed:+failed: $failed}"
  fi
  # 4 ranks on the one GPU through NCCL's socket transport (2 ranks: CTest).
  equiv="$BUILD/tests/trainer/test_trainer_equivalence_gpu"
  log="$work/equivalence_gpu_np4.log"
  if [[ -x "$equiv" ]]; then
    run_cmd "$log" 150 "${shared[@]}" 4 "${hostid[@]}" "$equiv"
    r="$(gtest_result "$log" $?)"
    record equiv_gpu_np4 "${r%%|*}" "$LAST_SECS" "${r#*|}"
  else
    record equiv_gpu_np4 SKIP 0 "$equiv not built"
  fi
}

# ------------------------------------------------------------ Fashion-MNIST
# lockstep_to_target METRICS T0 TARGET -> "seconds epoch final" (seconds empty if never)
lockstep_to_target() {
  "$PY" - "$1" "$2" "$3" <<'EOF' 2>/dev/null
import json, sys
path, t0, target = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
hit, final, epochs = "", "", 0
for line in open(path):
    r = json.loads(line)
    if r.get("type") != "epoch" or "test_accuracy" not in r:
        continue
    epochs, final = r["epoch"], r["test_accuracy"]
    if hit == "" and final >= target:
        hit = f"{r['time'] - t0:.2f} {r['epoch']}"
print(hit if hit else f"- -", f"{final}" if final != "" else "-", epochs)
EOF
}

stage_fashion() {
  local train="$DATA/fashion_train.h5" test="$DATA/fashion_test.h5" model ini target log t0 m
  local run_dir res lsecs epoch final ep tline tsecs tepoch tfinal st device=cuda extra=() textra=()
  if [[ $CPU == 1 ]]; then
    # Random stand-ins of the right shape: the plumbing is what runs here.
    train="$work/fashion_train.h5" test="$work/fashion_test.h5"
    log="$work/fashion_data.log"
    run_cmd "$log" 60 "$lockstep_bin" datagen --out "$train" --samples 512 --shape 1x28x28 --classes 10
    run_cmd "$log" 60 "$lockstep_bin" datagen --out "$test" --samples 256 --shape 1x28x28 --classes 10 --seed 1
    device=cpu
  fi
  [[ -n "$EPOCHS" ]] && { extra=(--train.epochs "$EPOCHS"); textra=(--epochs "$EPOCHS"); }
  if [[ ! -f "$train" || ! -f "$test" ]]; then
    record fashion SKIP 0 "$train / $test missing: carry $DATA"
    not_run+=(fashion)
    return
  fi
  local targets=("mlp 0.885" "cnn 0.925")
  # Random stand-ins: a target that chance reaches, so that the path runs.
  [[ $CPU == 1 ]] && targets=("mlp 0.01" "cnn 0.01")
  for m in "${targets[@]}"; do
    read -r model target <<<"$m"
    ini="examples/fashion_mnist_$model.ini"
    log="$work/fashion_${model}_ours.log"
    run_dir="$work/runs_$model"
    t0="$(date +%s.%N)"
    run_cmd "$log" 240 "${mpi[@]}" -np 1 "$lockstep_bin" train --config "$ini" --dist.device "$device" \
      --data.train "$train" --data.test "$test" --log.dir "$run_dir" --log.name "fashion_$model" \
      --log.progress lines "${extra[@]}"
    res="$(lockstep_to_target "$(find "$run_dir" -name metrics.jsonl 2>/dev/null | head -1)" "$t0" "$target")"
    read -r lsecs epoch final ep <<<"${res:-- - - 0}"
    [[ "$lsecs" == - ]] && lsecs=""
    log="$work/fashion_${model}_torch.log"
    t0="$(date +%s.%N)"
    torch_run "$log" 240 bench/fashion_torch.py --config "$ini" --train "$train" --test "$test" \
      --target "$target" "${textra[@]}"
    tline="$(grep -E '^FASHION-torch target=' "$log" | tail -1)"
    tsecs="" tepoch=""
    if [[ -n "$tline" ]]; then
      tsecs="$(awk -v a="$(field time "$tline")" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')"
      tepoch="$(field epoch "$tline")"
    fi
    tfinal="$(last_field "$log" 'FASHION-torch done' final_test_accuracy)"
    figure "fashion_${model} to $target, 1 GPU" "$lsecs" "$tsecs" s \
      "lockstep train --config $ini (epoch ${epoch:--}, final ${final:--} after $ep); fashion_torch.py (epoch ${tepoch:--}, stops at the target)"
    if [[ -n "$lsecs" && -n "$tsecs" ]]; then
      st=PASS
    elif [[ -n "$lsecs" && $CPU == 1 ]] && ((!torch_ok)); then
      st=SKIP  # ours ran; no torch here
    else
      st=FAIL
    fi
    record "fashion_$model" "$st" "$LAST_SECS" \
      "to $target: lockstep $(secs_or "$lsecs") (epoch ${epoch:--}, final ${final:--}), PyTorch $(secs_or "$tsecs") (epoch ${tepoch:--}, final ${tfinal:--})$([[ $st == FAIL ]] && first_error "$work/fashion_${model}_ours.log" 1)"
  done
}

# ------------------------------------------------------------ B5
stage_b5() {
  local g lo lt om tm ex cm tg bin=$b1_bin id=B1 kind=mlp script=bench/b1_mlp_torch.py
  if [[ $CPU == 1 ]]; then  # the plumbing only: B2's small model instead of B1's 46 M parameters
    bin=$b2_bin id=B2 kind=cnn script=bench/b2_cnn_torch.py
  fi
  for g in bf16 fp32; do
    lo="$work/b5_${g}_ours.log" lt="$work/b5_${g}_torch.log"
    if [[ -x "$bin" ]]; then
      run_cmd "$lo" 150 "${shared[@]}" 2 "${hostid[@]}" "$bin" "${dev[@]}" --precision tf32 \
        --grad-dtype "$g" --overlap 1 --steps "$B5_STEPS" --warmup 5 "${b1_batch[@]}"
    fi
    om="$(last_field "$lo" "$id $kind " median_ms)"
    ex="$(last_field "$lo" "$id $kind " exposed_ms)" cm="$(last_field "$lo" "$id $kind " comm_ms)"
    tg=$g
    if [[ $CPU == 1 && $g != fp32 ]]; then
      tg=fp32  # DDP's 16-bit hooks need NCCL
      echo "# CPU: DDP over gloo has no bf16 hook; fp32 instead" >>"$lt"
    fi
    torch_run "$lt" 180 "$script" --precision tf32 --ranks 2 --grad-dtype "$tg" \
      --steps "$B5_STEPS" --warmup 5 "${b1_batch[@]}"
    tm="$(last_field "$lt" "$id $kind-torch " median_ms)"
    figure "b5 2 ranks/1 GPU, grads $g, overlap" "$om" "$tm" ms \
      "$(basename "$bin") --grad-dtype $g --overlap 1 (exposed ${ex:-?} ms, launch-to-completion ${cm:-?} ms); DDP 25 MB buckets$([[ $tg != fp32 ]] && echo ", ${tg}_compress_hook")"
    if [[ -n "$om" && (-n "$tm" || ($CPU == 1 && $torch_ok == 0)) ]]; then
      record "b5_$g" PASS "$LAST_SECS" "ours ${om} ms (exposed ${ex:-?} ms), DDP ${tm:-none} ms: PyTorch / ours $(ratio "$tm" "$om")"
    else
      record "b5_$g" FAIL "$LAST_SECS" "ours ${om:-none} ms, DDP ${tm:-none} ms$(first_error "$lo" 1)$(first_error "$lt" 1)"
    fi
  done
}

# ------------------------------------------------------------ whole suite
stage_ctest() {
  local log="$work/ctest.log" rc tally failed
  if [[ $CPU == 1 ]]; then
    record ctest SKIP 0 "CPU mode: CI runs the suite"
    return
  fi
  # shellcheck disable=SC2016
  run_cmd "$log" 400 bash -c 'cd "$1" && exec ctest --output-on-failure -j4 --timeout 180' bash "$BUILD"
  rc=$?
  tally="$(grep -E 'tests passed, [0-9]+ tests failed' "$log" | tail -1)"
  failed="$(sed -n '/The following tests FAILED/,$p' "$log" | grep -oE '^[[:space:]]*[0-9]+ - [^ ]+' | awk '{ print $3 }' | tr '\n' ' ')"
  record ctest "$(status_of $rc)" "$LAST_SECS" "$(why_of $rc) ${tally} ${failed:+failed: $failed}"
}

# ------------------------------------------------------------ the run
# Seconds a stage needs at least (it is skipped when less is left) and may take.
declare -A need=([b2]=40 [resnet]=50 [breakdown]=60 [b1]=35 [gputests]=120 [b2c]=90 [fashion]=90
  [b5]=60 [ctest]=200)
declare -A limit=([b2]=150 [resnet]=200 [breakdown]=240 [b1]=150 [gputests]=330 [b2c]=300
  [fashion]=400 [b5]=300 [ctest]=420)

stage_env
pack
for s in $STAGES; do
  if [[ -z "${need[$s]:-}" ]]; then
    record "$s" FAIL 0 "unknown stage (expected some of: $ALL_STAGES ctest)"
    continue
  fi
  if (($(left_s) < need[$s])) && [[ $CPU != 1 ]]; then
    record "$s" SKIP 0 "needs ~${need[$s]} s, $(left_s) s of the budget left"
    not_run+=("$s")
    continue
  fi
  echo "-- stage $s ($(left_s) s of the budget left)"
  stage_deadline=$((SECONDS + limit[$s]))
  stage_incomplete=0
  "stage_$s"
  ((stage_incomplete)) && not_run+=("$s")
  write_summary
  write_results
  pack
done

# ------------------------------------------------------------ summary
write_summary
write_results
pack
echo
cat "$OUT/results.md"
echo
cat "$OUT/summary.txt"
cat "$OUT/next_stages.txt"
echo "files: $OUT/summary.txt $OUT/results.md $OUT/next_stages.txt $OUT/logs.tar.gz (all logs; scratch $work)"
for s in "${statuses[@]}"; do [[ "$s" == FAIL ]] && exit 1; done
exit 0
