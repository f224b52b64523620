#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing,
# builds, and runs every suite through CTest (single- and multi-rank).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/launch/install_deps.sh"
"$root/launch/build.sh"
cd "$root/build"
# Open MPI refuses to run as root unless told; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --output-on-failure -j 2 --timeout 600 "$@"

# The determinism tests again under other OpenBLAS kernels: results promised
# bit-identical across thread and rank counts must not depend on the kernel
# the CPU makes OpenBLAS pick (LOCKSTEP_SKIP_CORETYPES=1 skips this).
if [[ ${LOCKSTEP_SKIP_CORETYPES:-0} != 1 ]]; then
  coretypes=(SandyBridge)
  grep -qw avx2 /proc/cpuinfo && coretypes+=(Haswell)
  grep -qw avx512f /proc/cpuinfo && coretypes+=(SkylakeX)
  for coretype in "${coretypes[@]}"; do
    echo "== determinism tests with OPENBLAS_CORETYPE=$coretype"
    OPENBLAS_CORETYPE=$coretype ctest --output-on-failure -j 2 --timeout 600 \
      -R '^(test_core_threads|test_trainer_equivalence_np[124]|test_trainer_eval_metrics_np1|cli_predict)$'
  done
fi

# The fuzzed bad-input and checkpoint tests again under AddressSanitizer and
# UBSan: a CPU-only build of just those programs in build-sanitize/
# (LOCKSTEP_SKIP_SANITIZE=1 skips it).
if [[ ${LOCKSTEP_SKIP_SANITIZE:-0} != 1 ]]; then
  tests=(test_io_fuzz test_io_checksum test_io_model_file test_io_dataset test_io_importers
         test_io_dense_labels test_io_image_import)
  cmake -S "$root" -B "$root/build-sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOCKSTEP_WERROR=ON -DLOCKSTEP_CUDA=OFF -DLOCKSTEP_SANITIZE=address,undefined >/dev/null
  # `lockstep` too: Fuzz.ConfigFiles runs the sanitized executable on fuzzed
  # configuration files (LOCKSTEP_FUZZ_REQUIRE_BIN below: it fails, instead of
  # skipping, should the executable be missing).
  cmake --build "$root/build-sanitize" -j "$(nproc 2>/dev/null || echo 2)" \
    --target "${tests[@]}" lockstep
  cd "$root/build-sanitize"
  # Suppressed: errors inside HDF5 1.10 itself on damaged files, and Open MPI's
  # buffers left at exit (see the .supp files; full stacks, so that frames of
  # libraries without frame pointers match); huge allocations return NULL
  # (HDF5 checks) instead of aborting.
  ASAN_OPTIONS=suppressions=$root/tests/asan.supp:allocator_may_return_null=1:fast_unwind_on_malloc=0 \
    LSAN_OPTIONS=suppressions=$root/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
    LOCKSTEP_FUZZ_REQUIRE_BIN=1 \
    ctest --output-on-failure -j 2 --timeout 600 -R "^($(IFS='|'; echo "${tests[*]}"))\$"
fi
