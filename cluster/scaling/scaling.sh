#!/usr/bin/env bash
# Weak- and strong-scaling series (README "Scaling experiments"): trains the
# same model on each rank count of a list, collects step time, throughput,
# exposed communication and efficiency into a CSV and draws the curves (PNG).
#
# Usage: cluster/scaling/scaling.sh [options] -- [lockstep train options...]
#   --ranks "1 2 4"       rank counts of the series
#   --mode weak|strong|both
#                         weak: --batch rows per rank (the global batch grows
#                         with the ranks); strong: --global-batch rows on all
#                         ranks together (split across them)   [both]
#   --batch B             weak scaling: rows per rank per step       [64]
#   --global-batch G      strong scaling: rows per step on all ranks [ranks max x B]
#   --steps S             steps per epoch (data.limit is set to S x global batch) [30]
#   --epochs E            epochs per run; figures come from the last one (the
#                         first warms up)                             [2]
#   --repeat R            runs per point; the CSV has their median    [1]
#   --launcher local|hosts|hostfile|slurm
#       local:    mpirun -np N on this machine                        [local]
#       hosts:    N ranks over namespace "hosts" on this machine
#                 (cluster/multihost/hosts.sh; root; --ranks-per-host K per host,
#                 --rate R caps every host's link with tc tbf, e.g. 1gbit)
#       hostfile: mpirun --hostfile FILE (--hostfile), --ranks-per-host K per node
#       slurm:    srun -n N inside an allocation (salloc/sbatch), --ranks-per-host
#                 as --ntasks-per-node
#   --ranks-per-host K    ranks per host/node                         [1]
#   --rate RATE           hosts: tbf rate on each host's link (tc syntax: 1gbit, 300mbit)
#   --hostfile FILE       hostfile for --launcher hostfile
#   --threads T           dist.threads per rank (0: lockstep decides)  [cores / ranks, at least 1]
#   --trace               also write trace.json (log.trace) in every run, all steps
#                         (keep --steps x --epochs small: the file grows with them)
#   --name NAME           series name (run directory names: letters, digits, . _ -) [scaling]
#   --title TEXT          plot title                                  [NAME]
#   --out DIR             output folder: runs/, runs.csv, scaling.csv, scaling.png [scaling-out]
#   --bin PATH            the lockstep executable                     [lockstep on PATH, else build/launch/lockstep]
#   --mpirun "ARGS"       extra mpirun (or srun) arguments
# Everything after "--" goes to `lockstep train` (e.g. --config run.ini
# --data.train train.h5); the harness sets train.batch_size, data.limit,
# train.epochs, log.* and dist.threads itself. Exits 77 when --launcher hosts
# cannot make namespaces here (not root, no `ip netns`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

ranks="1 2 4" mode=both batch=64 global_batch="" steps=30 epochs=2 repeat=1
launcher=local per_host=1 rate="" hostfile="" threads="" trace=0 name=scaling
out=scaling-out bin="" mpirun_extra="" title=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --ranks) ranks=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --global-batch) global_batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --launcher) launcher=$2; shift 2 ;;
    --ranks-per-host) per_host=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --hostfile) hostfile=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --trace) trace=1; shift ;;
    --name) name=$2; shift 2 ;;
    --title) title=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --mpirun) mpirun_extra=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaling.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
train_args=("$@")
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "scaling.sh: --name may hold letters, digits, '.', '_' and '-' only (--title sets the plot title)" >&2; exit 2; }
case $mode in weak) modes=(weak) ;; strong) modes=(strong) ;; both) modes=(weak strong) ;;
  *) echo "scaling.sh: --mode must be weak, strong or both" >&2; exit 2 ;; esac
case $launcher in local|hosts|hostfile|slurm) ;;
  *) echo "scaling.sh: --launcher must be local, hosts, hostfile or slurm" >&2; exit 2 ;; esac
if [[ -z $bin ]]; then
  bin=$(command -v lockstep || true)
  [[ -z $bin && -x $root/build/launch/lockstep ]] && bin=$root/build/launch/lockstep
fi
[[ -x $bin ]] || { echo "scaling.sh: no lockstep executable (give --bin)" >&2; exit 2; }
[[ $launcher == hostfile && ! -f $hostfile ]] && { echo "scaling.sh: --hostfile FILE is needed" >&2; exit 2; }
read -r -a rank_list <<<"$ranks"
max_ranks=0
for n in "${rank_list[@]}"; do ((n > max_ranks)) && max_ranks=$n; done
[[ -z $global_batch ]] && global_batch=$((max_ranks * batch))
cores=$(nproc 2>/dev/null || echo 1)
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)

# the namespace hosts: made once for the whole series, removed on any exit
mpi_hosts=()
if [[ $launcher == hosts ]]; then
  # shellcheck source=cluster/multihost/hosts.sh
  source "$root/cluster/multihost/hosts.sh"
  if ! why=$(mh_check); then
    echo "SKIP: --launcher hosts needs network namespaces: $why"
    exit 77
  fi
  tag="lss$$"
  trap 'mh_down' EXIT
  trap 'exit 1' INT TERM
  nhosts=$(((max_ranks + per_host - 1) / per_host))
  mh_up "$tag" "$nhosts" "$out" >/dev/null
  [[ -n $rate ]] && mh_rate "$rate"
  : >"$out/hostfile"
  for a in "${mh_addrs[@]}"; do echo "$a slots=$per_host" >>"$out/hostfile"; done
  # --bind-to none: each namespace host's daemon would otherwise bind its first
  # rank to core 0, so ranks on different "hosts" share one core of this machine
  mpi_hosts=(--hostfile "$out/hostfile" --bind-to none "${mh_mpi[@]}")
fi

launch() {  # launch N COMMAND...: runs COMMAND on N ranks with the chosen launcher
  local n=$1; shift
  local extra=()
  [[ -n $mpirun_extra ]] && read -r -a extra <<<"$mpirun_extra"
  # more ranks than this machine has cores (local or namespace hosts, which all
  # share it): Open MPI's ranks busy-poll while they wait, and a waiting rank
  # would take the core from the one it waits for; let them yield instead
  if [[ ($launcher == local || $launcher == hosts) && $n -gt $cores && $mpirun_extra != *yield_when_idle* ]]; then
    extra+=(--mca mpi_yield_when_idle 1)
  fi
  local asroot=()
  [[ $(id -u) -eq 0 ]] && asroot=(--allow-run-as-root)
  case $launcher in
    local) mpirun "${asroot[@]}" -np "$n" --bind-to none "${extra[@]}" "$@" ;;
    hosts) mpirun "${asroot[@]}" -np "$n" "${mpi_hosts[@]}" "${extra[@]}" "$@" ;;
    hostfile) mpirun "${asroot[@]}" -np "$n" --hostfile "$hostfile" --map-by "ppr:$per_host:node" \
                --bind-to none -x LD_LIBRARY_PATH "${extra[@]}" "$@" ;;
    slurm) srun --mpi=pmix -n "$n" --ntasks-per-node "$per_host" "${extra[@]}" "$@" ;;
  esac
}

runs_csv="$out/runs.csv"
[[ -f $runs_csv ]] || echo "mode,launcher,ranks,hosts,ranks_per_host,rate,global_batch,batch_per_rank,repeat,run_dir" >"$runs_csv"
for m in "${modes[@]}"; do
  for n in "${rank_list[@]}"; do
    if [[ $m == weak ]]; then b=$batch; g=$((batch * n)); else g=$global_batch; b=$((global_batch / n)); fi
    if ((b * n != g)); then echo "scaling.sh: strong scaling: global batch $g does not split over $n ranks" >&2; exit 2; fi
    t=${threads:-$((cores / n > 0 ? cores / n : 1))}
    nh=$(((n + per_host - 1) / per_host)) ph=$per_host
    [[ $launcher == local ]] && nh=1 ph=$n
    for ((r = 1; r <= repeat; r++)); do
      run="$name-$m-n$n-r$r"
      echo "== $m scaling, $n ranks ($nh hosts x $ph, $launcher${rate:+, $rate links}), batch $b per rank, global $g, repeat $r"
      targs=("${train_args[@]}" --train.batch_size "$b" --data.limit "$((steps * g))"
             --train.epochs "$epochs" --dist.threads "$t" --log.dir "$out/runs" --log.name "$run"
             --log.overwrite true --log.progress off --log.every "$steps" --log.tensorboard false
             --checkpoint.every_epochs 0)
      ((trace)) && targs+=(--log.trace true --log.trace_steps "$((steps * epochs))")
      if ! launch "$n" "$bin" train "${targs[@]}" >"$out/runs/$run.log" 2>&1; then
        echo "scaling.sh: run $run failed; the end of its log:" >&2
        tail -20 "$out/runs/$run.log" >&2
        exit 1
      fi
      echo "$m,$launcher,$n,$nh,$ph,${rate:-none},$g,$b,$r,$out/runs/$run" >>"$runs_csv"
    done
  done
done
# a Python with matplotlib (Debian's python3-matplotlib is in /usr/bin/python3)
py=${PYTHON:-python3}
if ! "$py" -c "import matplotlib" 2>/dev/null && [[ -x /usr/bin/python3 ]]; then py=/usr/bin/python3; fi
"$py" "$here/scaling.py" collect "$runs_csv" "$out/scaling.csv"
"$py" "$here/scaling.py" plot "$out/scaling.csv" "$out/scaling.png" --title "${title:-$name}"
echo "wrote $out/scaling.csv and $out/scaling.png"
