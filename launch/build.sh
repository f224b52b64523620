#!/usr/bin/env bash
# Configures and builds lockstep into build/ (Release, warnings as errors).
# Usage: launch/build.sh [extra cmake arguments]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DLOCKSTEP_WERROR=ON "$@" >/dev/null
cmake --build "$root/build" -j "$jobs"
