#!/usr/bin/env bash
# lockstep comm-bench on local CPU ranks. Checks
#   (a) 2 ranks, sizes 4K,64K,1M, 5 iterations, a 1 ms busy gap: one JSON line
#       per size, in order, with bytes / floats / ranks / hosts / grad_dtype as
#       asked, a positive finite period, op_min <= op_median <= op_max and
#       busbw = algbw x 2(n-1)/n; --out writes the lines to the file and a
#       table to stdout;
#   (b) --grad-dtype bf16 halves the bytes of the same float counts;
#   (c) 1 rank: ranks 1, hosts 1, busbw 0;
#   (d) bad input on 2 ranks (unknown option, bad sizes, iters, warmup, gap,
#       grad dtype): a non-zero exit, an error line naming the option and the
#       value, from both ranks, no hang and no MPI_ABORT banner;
#   (e) --help exits 0.
# Usage: comm_bench_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
# shellcheck source=tests/cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
mpi+=(--bind-to none)
py=python3

# check_lines FILE SIZES_BYTES WIRE_BYTES RANKS GRAD_DTYPE: the JSON lines of FILE.
check_lines() {
  "$py" - "$@" <<'EOF'
import json, math, sys
path, sizes, wire, ranks, dtype = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lines = [json.loads(l) for l in open(path) if l.strip()]
sizes = [int(s) for s in sizes.split(",")]
assert len(lines) == len(sizes), f"{len(lines)} lines for {len(sizes)} sizes"
for j, size in zip(lines, sizes):
    floats = max(1, size // 4)
    assert j["floats"] == floats and j["bytes"] == floats * wire, j
    assert j["ranks"] == ranks and j["hosts"] == 1 and j["grad_dtype"] == dtype, j
    assert j["iters"] == 5 and j["warmup"] == 3 and abs(j["gap_s"] - 0.001) < 1e-12, j
    p = j["period_s"]
    assert math.isfinite(p) and p > 0, j
    assert 0 <= j["op_min_s"] <= j["op_median_s"] <= j["op_max_s"] < 10, j
    algbw, busbw = j["algbw_gbs"], j["busbw_gbs"]
    assert math.isfinite(algbw) and abs(algbw - j["bytes"] / p / 1e9) <= 1e-9 * algbw, j
    assert abs(busbw - algbw * 2 * (ranks - 1) / ranks) <= 1e-9 * algbw, j
EOF
}

common=(comm-bench --sizes "4K,64K,1M" --iters 5 --gap-ms 1)

# (a) float32 on 2 ranks, JSON lines on stdout
if ! timeout 60 "${mpi[@]}" -np 2 "$bin" "${common[@]}" >"$work/fp32.jsonl" 2>"$work/fp32.err"; then
  cat "$work/fp32.err"
  fail "comm-bench on 2 ranks failed"
fi
if check_lines "$work/fp32.jsonl" 4096,65536,1048576 4 2 fp32; then
  ok "2 ranks fp32: one line per size, sizes, ranks, hosts, period and bus bandwidth"
else
  bad "2 ranks fp32"; cat "$work/fp32.jsonl"
fi
# --out: the same lines in the file, a table on stdout
if timeout 60 "${mpi[@]}" -np 2 "$bin" "${common[@]}" --out "$work/out.jsonl" >"$work/table.txt" 2>&1 &&
  check_lines "$work/out.jsonl" 4096,65536,1048576 4 2 fp32 &&
  grep -q "period_ms" "$work/table.txt" && [[ $(grep -cE "^ +[0-9]+ +2 +1 +fp32" "$work/table.txt") -eq 3 ]]; then
  ok "--out: JSON lines in the file, a table (header + 3 rows) on stdout"
else
  bad "--out"; cat "$work/table.txt"
fi

# (b) bf16 halves the bytes
if timeout 60 "${mpi[@]}" -np 2 "$bin" "${common[@]}" --grad-dtype bf16 >"$work/bf16.jsonl" 2>"$work/bf16.err" &&
  check_lines "$work/bf16.jsonl" 4096,65536,1048576 2 2 bf16; then
  ok "2 ranks bf16: half the bytes, the result checked"
else
  bad "2 ranks bf16"; cat "$work/bf16.jsonl" "$work/bf16.err"
fi

# (c) one rank: no communication
if timeout 60 "${mpi[@]}" -np 1 "$bin" "${common[@]}" >"$work/one.jsonl" 2>"$work/one.err" &&
  "$py" - "$work/one.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 3, lines
for j in lines:
    assert j["ranks"] == 1 and j["hosts"] == 1 and j["busbw_gbs"] == 0, j
    assert 0 <= j["op_min_s"] <= j["op_median_s"] <= j["op_max_s"] < 0.1, j
EOF
then
  ok "1 rank: ranks 1, hosts 1, bus bandwidth 0"
else
  bad "1 rank"; cat "$work/one.jsonl" "$work/one.err"
fi

# (d) bad input: expect_bad NAME PATTERN -- ARGS...
expect_bad() {
  local name=$1 pattern=$2
  shift 3
  local out="$work/bad_$name.log"
  timeout 60 "${mpi[@]}" -np 2 "$bin" comm-bench "$@" >"$out" 2>&1
  local rc=$?
  if [[ $rc -eq 0 || $rc -eq 124 ]]; then
    bad "$name: exit code $rc (expected non-zero, no timeout)"; tail -5 "$out"
  elif ! grep -E "error" "$out" | grep -qE -- "$pattern"; then
    bad "$name: no error line matches /$pattern/"; tail -5 "$out"
  elif [[ $(error_ranks "$out" "$pattern" 2) -ne 2 ]]; then
    bad "$name: not every rank reported /$pattern/"; tail -5 "$out"
  elif grep -q "MPI_ABORT" "$out"; then
    bad "$name: the job was aborted (MPI_ABORT)"; tail -5 "$out"
  else
    ok "$name (exit $rc): $(grep -E -- "$pattern" "$out" | grep -m1 error | cut -c1-140)"
  fi
}
expect_bad unknown_option "unrecognised option '--bogus'" -- --bogus 1
expect_bad size_suffix "--sizes.*'64Q'" -- --sizes 4K,64Q
expect_bad size_zero "--sizes.*size > 0.*'0'" -- --sizes 0
expect_bad size_negative "--sizes.*'-4K'" -- --sizes=-4K
expect_bad size_empty "--sizes.*'' in '4K,,8K'" -- --sizes 4K,,8K
expect_bad iters "--iters: expected >= 1, got 0" -- --iters 0
expect_bad iters_text "'abc'.*'--iters'" -- --iters abc
expect_bad warmup "--warmup: expected >= 0, got -1" -- --warmup=-1
expect_bad gap "--gap-ms: expected a finite number >= 0, got -2" -- --gap-ms=-2
expect_bad grad_dtype "--grad-dtype: expected fp32, bf16 or fp16, got 'fp8'" -- --grad-dtype fp8
expect_bad stray_word "positional" -- extra

# (e) --help
if timeout 60 "${mpi[@]}" -np 2 "$bin" comm-bench --help >"$work/help.txt" 2>&1 &&
  [[ $(grep -c "^lockstep comm-bench:" "$work/help.txt") -eq 1 ]] && grep -q -- "--grad-dtype" "$work/help.txt"; then
  ok "--help: exit 0, printed once"
else
  bad "--help"; cat "$work/help.txt"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
