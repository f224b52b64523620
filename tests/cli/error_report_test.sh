#!/usr/bin/env bash
# Error reports under mpirun (README "Failure behaviour"): an error every rank
# has is printed once, by rank 0, as "lockstep CMD: error on ranks 0-3: ...",
# and the job ends through MPI_Finalize with exit code 1 (no MPI_ABORT
# banner); an error one rank found during a collective check is printed once
# with that rank ("error on rank 3: ..."), the other ranks' relays left out.
# Usage: error_report_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# 64 rows of class 0..2 to train on; a test file like it whose last row has
# class 7: in evaluation batches of 16 rows that row is rank 3's on 4 ranks.
{
  echo "a,b,label"
  for i in $(seq 0 63); do echo "$i,$((i % 5)),$((i % 3))"; done
} >"$work/data.csv"
{
  echo "a,b,label"
  for i in $(seq 0 62); do echo "$i,$((i % 5)),$((i % 3))"; done
  echo "63,1,7"
} >"$work/bad.csv"
"$bin" import csv --input "$work/data.csv" --out "$work/train.h5" >/dev/null || bad "import csv"
"$bin" import csv --input "$work/bad.csv" --out "$work/test.h5" >/dev/null || bad "import csv"
cat > "$work/run.ini" <<INI
[model]
layers = dense(8), relu, dense(3)
[data]
train = $work/train.h5
[train]
epochs = 1
batch_size = 4
[dist]
device = cpu
[log]
dir = $work/runs
progress = off
INI
# check NAME RANKS PATTERN ARGS...: 4 ranks fail with exit 1, one error line
# "error on RANKS: ..." matching PATTERN, no other error line, no abort banner
check() {
  local name=$1 ranks=$2 pattern=$3
  shift 3
  timeout 120 "${mpi[@]}" -np 4 "$bin" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  local lines
  lines=$(grep -c "error on rank" "$work/$name.log")
  if [[ $rc -eq 1 && $lines -eq 1 ]] && grep -q "^lockstep [a-z]*: error on $ranks: .*$pattern" "$work/$name.log" \
     && ! grep -qi "MPI_ABORT" "$work/$name.log"; then
    ok "$name: $(grep "error on rank" "$work/$name.log" | cut -c1-150)"
  else
    bad "$name: exit $rc, $lines error line(s), expected one 'error on $ranks: ...$pattern'"
    cat "$work/$name.log" | head -20
  fi
}
check same_on_all "ranks 0-3" "optim.lr: expected a number > 0" train --config "$work/run.ini" --optim.lr -1
check one_rank "rank 3" "class id 7" train --config "$work/run.ini" --data.test "$work/test.h5" \
  --train.eval_batch_size 16
check sweep_args "ranks 0-3" "got unknown key 'optim.lrate'" sweep --config "$work/run.ini" --grid optim.lrate=0.1,1

# A config file that only some ranks can read (a node without the shared
# file system): rank 1 fails while the others go on; its report cannot
# complete, so within the report's 10 s limit rank 1 prints its own line and
# the job is aborted instead of hanging.
cat >"$work/rank1-missing.sh" <<WRAP
#!/bin/sh
config=$work/run.ini
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && config=$work/only-elsewhere.ini
exec "$bin" train --config "\$config"
WRAP
chmod +x "$work/rank1-missing.sh"
start=$(date +%s)
timeout 120 "${mpi[@]}" -np 2 "$work/rank1-missing.sh" >"$work/partial.log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "error on rank 1: .*only-elsewhere.ini" "$work/partial.log"; then
  ok "partial_config: rank 1's own line after ${secs}s, exit $rc, no hang"
else
  bad "partial_config: exit $rc after ${secs}s, expected rank 1's line naming only-elsewhere.ini"
  head -20 "$work/partial.log"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
