#!/usr/bin/env bash
# Several hosts on one machine (README "Testing several hosts on one
# machine"): 3 network namespaces, each a host with its own host name and an
# address on a private bridge this test makes (cluster/multihost/hosts.sh),
# Open MPI launched across them through cluster/multihost/rsh.sh, TCP between
# hosts, shared memory inside one. 4 CPU ranks: 2 on the first host, 1 on each
# of the others. Checks
#   (a) the multi-rank equivalence test passes across hosts;
#   (b) placement: every rank names its own host, host index and local rank;
#   (c) the Fashion-MNIST MLP trains 1 epoch on 6,000 images across hosts and
#       learns (test accuracy above a floor);
#   (d) a whole host dying (every process in it killed at once, Open MPI's
#       daemon included) mid-training ends every rank within 10 s, non-zero:
#       Open MPI names the lost peer host (or daemon) and each surviving rank
#       says where it was ("lockstep: rank 0 at step 44, in allreduce");
#   and that nothing is left behind (namespaces, bridge, processes).
# Skips (exit 77) where namespaces cannot be made (not root, no `ip`, unshare
# fails).
# Usage: multihost_test.sh LOCKSTEP_BIN EQUIVALENCE_TEST_BIN SOURCE_DIR
set -uo pipefail
bin=$1 equiv=$2 src=$3
source "$src/cluster/multihost/hosts.sh"
if ! why=$(mh_check); then
  echo "SKIP: several hosts on one machine need network namespaces: $why"
  exit 77
fi
source "$src/tests/cli/common.sh"
tag="lsm$$"
mpirun_pid=""
cleanup() {
  [[ -n $mpirun_pid ]] && kill -KILL "$mpirun_pid" 2>/dev/null
  mh_down
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mh_up "$tag" 3 "$work" || fail "could not make the namespace hosts"
printf '%s slots=2\n%s slots=1\n%s slots=1\n' "${mh_addrs[@]}" >"$work/hostfile"
mpi+=(--hostfile "$work/hostfile" -np 4 "${mh_mpi[@]}" -x OPENBLAS_NUM_THREADS=1)

# (a) the equivalence suite (P ranks == one process on the global batch) across hosts
t0=$(date +%s)
if timeout 300 "${mpi[@]}" "$equiv" >"$work/equiv.log" 2>&1; then
  ok "equivalence test on 4 ranks over 3 hosts ($(($(date +%s) - t0)) s)"
else
  bad "equivalence test across hosts"; tail -30 "$work/equiv.log"
fi

# (c) Fashion-MNIST MLP, 1 epoch on 6,000 images, then (b) its placement lines
fashion_mnist_h5 "$bin" "$work"
t0=$(date +%s)
timeout 300 "${mpi[@]}" "$bin" train --config "$src/examples/fashion_mnist_mlp.ini" \
  --data.train "$work/train.h5" --data.test "$work/test.h5" --data.limit 6000 --train.epochs 1 \
  --dist.device cpu --dist.timeout 60 --log.dir "$work/runs" --log.name mh --log.progress off \
  >"$work/train.log" 2>&1
rc=$?
acc=$(grep -oP "test accuracy: \K[0-9.]+" "$work/train.log")
floor=0.70
if [[ $rc -eq 0 && -n $acc ]] && awk -v a="$acc" -v f="$floor" 'BEGIN { exit !(a >= f) }'; then
  ok "Fashion-MNIST MLP across hosts: test accuracy $acc after 1 epoch (floor $floor, $(($(date +%s) - t0)) s)"
else
  bad "Fashion-MNIST MLP across hosts: exit $rc, accuracy '${acc}' (floor $floor)"; tail -30 "$work/train.log"
fi
h=("${mh_hosts[@]}")
expect=("rank 0 on ${h[0]} (host 0/3, local rank 0/2): CPU"
        "rank 1 on ${h[0]} (host 0/3, local rank 1/2): CPU"
        "rank 2 on ${h[1]} (host 1/3, local rank 0/1): CPU"
        "rank 3 on ${h[2]} (host 2/3, local rank 0/1): CPU")
missing=0
for line in "${expect[@]}"; do
  grep -qF "$line" "$work/train.log" || { echo "missing: $line"; missing=1; }
done
if [[ $missing -eq 0 ]]; then
  ok "placement: host names, host indices and local ranks per host"
else
  bad "placement lines"; grep "^rank " "$work/train.log"
fi

# (d) a whole host dies mid-training: every process of host 3 killed at once
"$bin" datagen --out "$work/small.h5" --samples 4000 --shape 1x8x8 --classes 4 >/dev/null ||
  fail "datagen"
log="$work/die.log"
timeout 120 "${mpi[@]}" "$bin" train --data.train "$work/small.h5" --model.layers "dense(16), relu, dense(4)" \
  --train.epochs 1000 --train.global_batch_size 16 --dist.device cpu --dist.timeout 30 \
  --log.dir "$work/runs" --log.name die --log.progress lines --log.every 20 >"$log" 2>&1 &
mpirun_pid=$!
for _ in $(seq 600); do  # until training runs (a progress line), at most 60 s
  grep -q "step" "$log" && grep -qi "loss" "$log" && break
  sleep 0.1
done
sleep 1
mapfile -t victims < <(mh_pids 3)
t_kill=$(date +%s.%N)
((${#victims[@]} > 0)) && kill -KILL "${victims[@]}" 2>/dev/null
wait "$mpirun_pid"
rc=$?
mpirun_pid=""
# every rank gone: mpirun returned and no process is left on any host
host_procs() { for i in 1 2 3; do mh_pids "$i"; done | wc -l; }
until [[ $(host_procs) -eq 0 ]] || awk -v a="$t_kill" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 10) }'; do
  sleep 0.05
done
gone=$(awk -v a="$t_kill" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
left=$(host_procs)
if ((${#victims[@]} == 0)); then
  bad "host death: nothing was running on host 3"; tail -20 "$log"
elif [[ $rc -eq 0 || $rc -eq 124 ]]; then
  bad "host death: expected a non-zero exit (not the test's timeout), got $rc"; tail -30 "$log"
elif ! awk -v g="$gone" 'BEGIN { exit !(g < 10) }'; then
  bad "host death: every rank should be gone within 10 s, took $gone s"; tail -30 "$log"
elif [[ $left -ne 0 ]]; then
  bad "host death: $left processes left on the hosts"
elif ! grep -qE "Peer host: *${mh_addrs[2]//./\\.}|lost communication with a remote daemon|unable to reliably start one or more daemons" "$log"; then
  bad "host death: expected Open MPI to report the lost peer host or daemon"; cat "$log"
elif [[ $(grep -cE "^lockstep: rank [012] at step [0-9]+, in allreduce" "$log") -ne 3 ]]; then
  bad "host death: expected each of the surviving ranks 0-2 to say where it was"; cat "$log"
else
  ok "host death: every rank gone $gone s after host 3 was killed, exit $rc; survivors: $(grep -E "^lockstep: rank [012] at step" "$log" | sort | tr '\n' ';')"
fi

# nothing left behind: no namespace, bridge or process of this test
mh_down
sleep 0.5
if ip netns list | grep -q "^$tag" || ip link show "${tag}br" >/dev/null 2>&1 || pgrep -f "$work" >/dev/null; then
  bad "left behind: $(ip netns list | grep "^$tag") $(pgrep -af "$work")"
else
  ok "no namespace, bridge or process left behind"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
