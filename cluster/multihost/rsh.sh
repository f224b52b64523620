#!/usr/bin/env bash
# The launcher Open MPI uses instead of ssh for "hosts" that are network
# namespaces on this machine (plm_rsh_agent; see hosts.sh):
#   rsh.sh HOST COMMAND...
# enters HOST's network namespace and a UTS namespace of its own with HOST's
# host name, and runs COMMAND (Open MPI's orted) there. HOST is looked up in
# the table $LOCKSTEP_MULTIHOST_TABLE (lines "address namespace hostname",
# written by mh_up); Open MPI passes the address from the hostfile.
set -euo pipefail
host=$1
shift
table=${LOCKSTEP_MULTIHOST_TABLE:?rsh.sh: LOCKSTEP_MULTIHOST_TABLE is not set (see cluster/multihost/hosts.sh)}
read -r _ ns name < <(awk -v h="$host" '$1 == h || $3 == h { print; exit }' "$table") ||
  { echo "rsh.sh: no host '$host' in $table" >&2; exit 255; }
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name; $*"
