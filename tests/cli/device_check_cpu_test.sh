#!/usr/bin/env bash
# bench/device_check.sh in DEVICE_CHECK_CPU=1 mode: every stage's commands on
# CPU ranks with tiny sizes, so that the staging, the parsing and the tables
# are exercised without a GPU. The PyTorch parts run when the Python found
# has torch (Debian's /usr/bin/python3 here), else they are skipped; the
# scripts must compile either way. Then a STAGES subset and an unknown stage.
# Usage: device_check_cpu_test.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
# shellcheck source=tests/cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

py=python3
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import torch, h5py' >/dev/null 2>&1; then py=$p; break; fi
done
for f in "$src"/bench/*.py; do
  python3 -m py_compile "$f" && ok "py_compile $(basename "$f")" || bad "py_compile $f"
done
bash -n "$src/bench/device_check.sh" && ok "device_check.sh parses" || bad "device_check.sh: bash -n"

out=$work/out
DEVICE_CHECK_CPU=1 BUILD="$build" OUT="$out" PYTHON="$py" TMPDIR="$work" \
  bash "$src/bench/device_check.sh" >"$work/run.log" 2>&1
rc=$?
((rc == 0)) && ok "device_check.sh (CPU mode, $py) exits 0" || { tail -40 "$work/run.log"; bad "device_check.sh exited $rc"; }
for f in summary.txt results.md next_stages.txt logs.tar.gz; do
  [[ -s "$out/$f" ]] && ok "$f written" || bad "$f missing"
done
for row in py_compile ldd b2_tf32 b2_bf16 resnet_bf16_cl resnet_bf16 resnet_tf32 breakdown_b1 breakdown_b2 \
  breakdown_b6 b1_tf32 b1_bf16 gpu_ctest equiv_gpu_np4 b2_tf32_compile b2_bf16_compile fashion_mlp \
  fashion_cnn b5_bf16 b5_fp32; do
  line=$(grep -E "^$row " "$out/summary.txt")
  if [[ -z "$line" ]]; then
    bad "summary: no row $row"
  elif grep -q " FAIL " <<<"$line"; then
    bad "summary: $line"
  else
    ok "summary: $row $(awk '{ print $2 }' <<<"$line")"
  fi
done
# The figures: ours always measured; PyTorch's and the ratio when torch is there.
for fig in b2_tf32 b2_bf16 resnet_bf16_cl b1_tf32 b1_bf16 "fashion_mlp to" "fashion_cnn to" "b5 2 ranks/1 GPU, grads bf16"; do
  line=$(grep -F "| $fig" "$out/results.md" | head -1)
  if [[ -z "$line" ]]; then
    bad "results.md: no row '$fig'"
  else
    ours=$(awk -F'|' '{ print $3 }' <<<"$line")
    if grep -q "[0-9]" <<<"$ours"; then ok "results.md: '$fig' ours $ours"; else bad "results.md: '$fig' has no figure of ours: $line"; fi
    if "$py" -c 'import torch' 2>/dev/null; then
      grep -qE '\*\*[0-9.]+x\*\*' <<<"$line" && ok "results.md: '$fig' has a ratio" || bad "results.md: '$fig' no ratio: $line"
    fi
  fi
done
for id in B1 B2 B6; do
  grep -q "^### Breakdown: $id" "$out/results.md" && ok "breakdown table $id" || bad "no breakdown table $id"
done
if "$py" -c 'import torch' 2>/dev/null; then
  grep -qE '^\| fwd 0 conv2d\(32, 3, padding=1\) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|' "$out/results.md" &&
    ok "breakdown rows joined: ours beside PyTorch's" || bad "breakdown rows not joined"
fi
grep -q '^STAGES=""' "$out/next_stages.txt" && ok "next_stages.txt: nothing left" || bad "next_stages.txt: $(cat "$out/next_stages.txt")"

# A subset, in the order given, and an unknown stage (recorded, not fatal).
out2=$work/out2
DEVICE_CHECK_CPU=1 BUILD="$build" OUT="$out2" PYTHON="$py" TMPDIR="$work" STAGES="b1 nosuch" \
  bash "$src/bench/device_check.sh" >"$work/run2.log" 2>&1
rc=$?
((rc == 1)) && ok "an unknown stage fails the run" || bad "STAGES='b1 nosuch' exited $rc"
grep -qE '^b1_tf32 +(PASS|SKIP)' "$out2/summary.txt" && ok "STAGES=b1 ran b1" || bad "STAGES=b1: $(cat "$out2/summary.txt")"
grep -qE '^nosuch +FAIL.*unknown stage' "$out2/summary.txt" && ok "unknown stage recorded" || bad "unknown stage not recorded"
! grep -qE '^(b2_tf32|fashion_mlp) ' "$out2/summary.txt" && ok "other stages not run" || bad "other stages ran"

echo "$passed passed, $failed failed"
((failed == 0))
