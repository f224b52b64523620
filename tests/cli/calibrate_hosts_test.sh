#!/usr/bin/env bash
# cluster/scaling/calibrate_hosts.sh on namespace hosts (short: 2 sizes, 3
# iterations): it runs lockstep comm-bench on each of its three configurations
# and writes calibration.json, whose constants scale_model.py --calibration
# takes. Checks that
#   (a) each configuration's JSON lines have the ranks and hosts it asked for;
#   (b) the links are capped: at 300 Mbit/s a 512 KiB all-reduce (a message
#       each way) takes at least 0.8 x its bytes beyond tbf's burst at that rate
#       (a lower bound: load on the machine only makes it slower);
#   (c) the fit: alpha >= 0, positive constants, a fit row per measurement
#       (their values depend on the machine's load: not checked here);
#   (d) scale_model.py --calibration uses the file (a prediction across hosts).
# Skips (77) where network namespaces cannot be made (not root, no `ip netns`).
# Usage: calibrate_hosts_test.sh LOCKSTEP_BIN SOURCE_DIR
set -uo pipefail
bin=$1 src=$2
# shellcheck source=tests/cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out=$(SIZES=64K,512K ITERS=5 GAP_MS=5 bash "$src/cluster/scaling/calibrate_hosts.sh" "$bin" "$work/cal" 2>&1)
rc=$?
if ((rc == 77)); then
  echo "$out"
  exit 77
fi
((rc == 0)) || fail "calibrate_hosts.sh exited $rc: $out $(tail -n 20 "$work"/cal/*.log 2>/dev/null)"
ok "calibrate_hosts.sh ran"
for c in "inter-1gbit 2 2" "inter-300mbit 2 2" "intra-1gbit 4 2"; do
  read -r name ranks hosts <<<"$c"
  if python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert [r['bytes'] for r in rows] == [65536, 524288], rows
assert all(r['ranks'] == int(sys.argv[2]) and r['hosts'] == int(sys.argv[3]) and r['period_s'] > 0 for r in rows), rows
" "$work/cal/$name.jsonl" "$ranks" "$hosts"; then
    ok "$name: $ranks ranks on $hosts hosts, both sizes"
  else
    bad "$name.jsonl"
  fi
done
if python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][1]
wire = 2 * (r['bytes'] - 65536) / (300e6 / 8)
assert r['period_s'] >= 0.8 * wire, (r['period_s'], wire)
print(f\"{r['period_s'] * 1e3:.1f} ms >= 0.8 x {wire * 1e3:.1f} ms\")
" "$work/cal/inter-300mbit.jsonl" >"$work/cap.txt" 2>&1; then
  ok "the 300 Mbit/s cap holds: $(cat "$work/cap.txt")"
else
  bad "the 300 Mbit/s cap: $(cat "$work/cap.txt")"
fi
if python3 -c "
import json, math, sys
c = json.load(open(sys.argv[1]))
assert c['alpha'] >= 0 and c['inter_eff'] > 0 and math.isfinite(c['inter_eff']), c
assert c['intra_lat'] >= 0 and c['intra_bw'] > 0 and c['burst'] == 65536, c
assert len(c['points']) == 6, c['points']
" "$work/cal/calibration.json"; then
  ok "calibration.json: $(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print({k: c[k] for k in ('alpha','inter_eff','intra_lat','intra_bw')})" "$work/cal/calibration.json")"
else
  bad "calibration.json: $(cat "$work/cal/calibration.json" 2>&1)"
fi
grep -q "between hosts: alpha" <<<"$out" && ok "the fit is printed" || bad "no fit printed: $out"
pred=$(python3 "$src/cluster/scaling/scale_model.py" --flops --layers "dense(64), relu, dense(10)" \
  --input-shape 784 --batch 32 --step-ms 5 --ranks 2 --per-node 1 --net hosts --rate 1gbit \
  --calibration "$work/cal/calibration.json" --json 2>&1)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r['exposed_s'] > 0 and r['step_s'] > 0.005, r" "$pred"; then
  ok "scale_model.py --calibration: $pred"
else
  bad "scale_model.py --calibration: $pred"
fi
echo "$passed passed, $failed failed"
((failed == 0))
