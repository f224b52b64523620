# shellcheck shell=bash
# Several "hosts" on one machine for tests (README "Testing several hosts on
# one machine"): each host is a network namespace with an address on a private
# bridge the functions make, and its own host name (a UTS namespace, entered by
# rsh.sh, Open MPI's plm_rsh_agent). Needs root, `ip` (iproute2) and `unshare`.
# Source this file, then:
#   mh_check               0 when namespaces can be made here, else prints why
#   mh_up TAG N DIR        N hosts named "${TAG}h1".."${TAG}hN" on 10.214.X.0/24
#                          (X from the TAG); writes DIR/table (for rsh.sh) and
#                          sets mh_hosts (names), mh_addrs, mh_subnet, mh_mpi
#                          (the mpirun options: agent, TCP between hosts,
#                          shared memory inside one)
#   mh_down                kills every process left in the hosts, removes the
#                          namespaces and the bridge (safe to call twice, and
#                          under set -e: a process that ends by itself meanwhile
#                          is no error; call it from a trap)
#   mh_pids H              the processes running in host H (1..N)
#   mh_rate RATE           caps both directions of every host's link with tc tbf
#                          (tc syntax: 1gbit, 300mbit; burst 64 KiB)
# TAG: a few lowercase letters and digits (unique per run: interface names
# are at most 15 characters), e.g. "lsm$$".

mh_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mh_hosts=() mh_addrs=() mh_ns=() mh_bridge="" mh_subnet="" mh_mpi=()

mh_check() {
  if [[ $(id -u) -ne 0 ]]; then echo "not root: cannot make network namespaces"; return 1; fi
  if ! command -v ip >/dev/null; then echo "no 'ip' (iproute2): cannot make network namespaces"; return 1; fi
  if ! command -v unshare >/dev/null; then echo "no 'unshare' (util-linux)"; return 1; fi
  if ! unshare -n -u true 2>/dev/null; then echo "unshare -n -u fails: this machine does not allow namespaces"; return 1; fi
  local probe="lsmprobe$$"
  if ! ip netns add "$probe" 2>/dev/null; then echo "'ip netns add' fails: cannot make network namespaces"; return 1; fi
  ip netns del "$probe"
  if ! ip link add "${probe:0:15}" type bridge 2>/dev/null; then echo "'ip link add ... type bridge' fails"; return 1; fi
  ip link del "${probe:0:15}"
}

mh_up() {
  local tag=$1 n=$2 dir=$3 i
  local x=$(( $(cksum <<<"$tag" | cut -d' ' -f1) % 200 + 20 ))
  mh_subnet="10.214.$x.0/24"
  mh_bridge="${tag}br"
  ip link add "$mh_bridge" type bridge
  ip addr add "10.214.$x.1/24" dev "$mh_bridge"
  ip link set "$mh_bridge" up
  : >"$dir/table"
  for ((i = 1; i <= n; i++)); do
    local ns="${tag}h$i" addr="10.214.$x.$((10 + i))"
    mh_ns+=("$ns")
    ip netns add "$ns"
    ip link add "${tag}v$i" type veth peer name eth0 netns "$ns"
    ip link set "${tag}v$i" master "$mh_bridge" up
    ip netns exec "$ns" ip addr add "$addr/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
    echo "$addr $ns $ns" >>"$dir/table"
    mh_hosts+=("$ns")
    mh_addrs+=("$addr")
  done
  export LOCKSTEP_MULTIHOST_TABLE="$dir/table"
  # shellcheck disable=SC2034,SC2054  # for the caller; "vader,tcp,self" is one value
  mh_mpi=(--mca plm_rsh_agent "$mh_dir/rsh.sh" --mca btl vader,tcp,self
          --mca btl_tcp_if_include "$mh_subnet" --mca oob_tcp_if_include "$mh_subnet")
}

mh_rate() {
  local i
  for ((i = 1; i <= ${#mh_ns[@]}; i++)); do  # toward the host, and from it
    tc qdisc add dev "${mh_bridge%br}v$i" root tbf rate "$1" burst 64kb latency 50ms
    ip netns exec "${mh_ns[$((i - 1))]}" tc qdisc add dev eth0 root tbf rate "$1" burst 64kb latency 50ms
  done
}

mh_pids() {
  ip netns pids "${mh_ns[$(($1 - 1))]}" 2>/dev/null
}

mh_down() {
  local ns pid
  for ns in "${mh_ns[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  # wait (at most 5 s) until they are gone, then remove the namespaces
  local i left
  for ((i = 0; i < 50; i++)); do
    left=0
    for ns in "${mh_ns[@]}"; do [[ -n $(ip netns pids "$ns" 2>/dev/null) ]] && left=1; done
    ((left == 0)) && break
    sleep 0.1
  done
  for ns in "${mh_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [[ -n $mh_bridge ]]; then ip link del "$mh_bridge" 2>/dev/null || true; fi
  mh_ns=() mh_hosts=() mh_addrs=() mh_bridge=""
  return 0
}
