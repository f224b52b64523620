#!/usr/bin/env bash
# Runs "$@" with NCCL_HOSTID set to this MPI rank's own value, so that several
# ranks on the one GPU are taken by NCCL for separate hosts (socket transport
# on loopback; shared/DEVICE.md). For test commands only.
#   mpirun -np 2 -x NCCL_SOCKET_IFNAME=lo bash tests/nccl_hostid.sh PROGRAM ARGS...
export NCCL_HOSTID=host${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
exec "$@"
