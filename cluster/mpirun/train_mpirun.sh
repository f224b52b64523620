#!/usr/bin/env bash
# lockstep across hosts with Open MPI's mpirun and a hostfile (no scheduler):
# NODES nodes x GPUS_PER_NODE GPUs, one rank per GPU (cluster/README.md).
# Arguments are passed on to `lockstep train`:
#
#   cp cluster/mpirun/hostfile.example hostfile    # edit: your nodes, slots = GPUs
#   HOSTFILE=hostfile GPUS_PER_NODE=4 cluster/mpirun/train_mpirun.sh --train.epochs 30
#
# Environment:
#   HOSTFILE       Open MPI hostfile (default cluster/mpirun/hostfile)
#   GPUS_PER_NODE  ranks per node = GPUs per node (default 4)
#   NODES          nodes to use (default: the host lines in HOSTFILE)
#   CONFIG         INI file (default examples/fashion_mnist_mlp.ini)
#   LOCKSTEP       the lockstep binary (default: `lockstep` on the PATH)
#   LOG_DIR        parent of the run directory (default runs)
#   RUN_NAME       run directory name (default mpirun-<date>-<time>)
#   NCCL_DEBUG     passed to every rank (default WARN; INFO to see transports)
#   NCCL_SOCKET_IFNAME  passed to every rank when set (e.g. ib0, eth0)
#   OPENBLAS_NUM_THREADS  passed to every rank when set (else lockstep picks
#                  cores / ranks on the host)
set -euo pipefail

HOSTFILE="${HOSTFILE:-cluster/mpirun/hostfile}"
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
CONFIG="${CONFIG:-examples/fashion_mnist_mlp.ini}"
LOCKSTEP="${LOCKSTEP:-lockstep}"
LOG_DIR="${LOG_DIR:-runs}"
RUN_NAME="${RUN_NAME:-mpirun-$(date +%Y%m%d-%H%M%S)}"

if [[ ! -f "$HOSTFILE" ]]; then
  echo "train_mpirun.sh: hostfile '$HOSTFILE' not found (see cluster/mpirun/hostfile.example)" >&2
  exit 2
fi
# Host lines: not blank, not comments.
NODES="${NODES:-$(grep -cvE '^[[:space:]]*(#|$)' "$HOSTFILE" || true)}"
np=$((NODES * GPUS_PER_NODE))
if ((np < 1)); then
  echo "train_mpirun.sh: no ranks: $NODES node(s) in '$HOSTFILE' x GPUS_PER_NODE=$GPUS_PER_NODE" >&2
  exit 2
fi

export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"

mpi_args=(
  -np "$np"
  --hostfile "$HOSTFILE"
  # GPUS_PER_NODE ranks on each node, filled node by node: ranks 0..G-1 on the
  # first host, and so on. lockstep gives local rank r GPU r mod (visible GPUs).
  --map-by "ppr:${GPUS_PER_NODE}:node"
  # No core pinning: each rank runs an input-pipeline thread and BLAS threads.
  --bind-to none
  # Environment for the ranks on the other hosts (the local one's is not copied).
  -x LD_LIBRARY_PATH -x NCCL_DEBUG
)
[[ -n "${NCCL_SOCKET_IFNAME:-}" ]] && mpi_args+=(-x NCCL_SOCKET_IFNAME)
[[ -n "${OPENBLAS_NUM_THREADS:-}" ]] && mpi_args+=(-x OPENBLAS_NUM_THREADS)
[[ -n "${OMP_NUM_THREADS:-}" ]] && mpi_args+=(-x OMP_NUM_THREADS)
# Open MPI refuses to run as root without this (containers, test machines).
[[ "$(id -u)" == 0 ]] && mpi_args+=(--allow-run-as-root)

echo "mpirun: $np rank(s) on $NODES node(s) x $GPUS_PER_NODE from $HOSTFILE, config $CONFIG"
# Exit status: lockstep's; 75 when a signal stopped the run with a checkpoint
# (README "Failure behaviour"). SIGTERM or SIGUSR1 sent to this script reaches
# the ranks as SIGUSR1 through mpirun, which forwards it and lets them stop at
# the next step. SIGTERM sent to mpirun itself makes mpirun end the job: the
# ranks still stop with a checkpoint and exit with 75 when they can do so
# within about a second, but mpirun returns 1; the run directory's `stopped`
# file (written by rank 0 after the checkpoint) turns that into 75 here.
run_dir="$LOG_DIR/$RUN_NAME"
rm -f "$run_dir/stopped"
mpirun "${mpi_args[@]}" "$LOCKSTEP" train --config "$CONFIG" \
  --log.dir "$LOG_DIR" --log.name "$RUN_NAME" "$@" &
pid=$!
trap 'kill -s USR1 "$pid" 2>/dev/null || true' TERM USR1
# Ctrl-C and a lost terminal end the job through mpirun, which this script
# then waits for, so that no mpirun is left behind.
trap 'kill -s INT "$pid" 2>/dev/null || true' INT
trap 'kill -s HUP "$pid" 2>/dev/null || true' HUP
set +e
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done # a trapped signal interrupts wait
wait "$pid"
rc=$?
if [[ $rc -ne 0 && $rc -ne 75 && -f "$run_dir/stopped" ]]; then
  echo "train_mpirun.sh: mpirun exited with $rc after the run stopped with a checkpoint" \
    "($(cat "$run_dir/stopped")): exit code 75" >&2
  rc=75
fi
exit "$rc"
