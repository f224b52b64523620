#!/usr/bin/env bash
# cluster/slurm/train.sbatch's requeue rule (README "Failure behaviour"), without
# Slurm: the script runs under bash with stand-ins for `srun` (exits with a
# chosen code, records its arguments) and `scontrol` (records its arguments).
# Ranks that exit with 75 (stopped by a signal, checkpoint written) requeue the
# job, unless LOCKSTEP_REQUEUE=0; any other exit code does not; the script
# exits with the ranks' code and always trains with --checkpoint.resume auto in
# a run directory named by the job. tests/cli/slurm_test.sh runs the real thing.
# Usage: sbatch_requeue_test.sh SOURCE_DIR
set -uo pipefail
src=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fails=0 passes=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; passes=$((passes + 1)); }

mkdir -p "$work/bin"
cat > "$work/bin/srun" <<'SH'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/srun.args"
exit "$FAKE_SRUN_RC"
SH
cat > "$work/bin/scontrol" <<'SH'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/scontrol.args"
SH
chmod +x "$work/bin/srun" "$work/bin/scontrol"

# run_script NAME SRUN_RC [VAR=VALUE...]: runs the script; sets rc.
run_script() {
  local name=$1 srun_rc=$2
  shift 2
  rm -f "$work/srun.args" "$work/scontrol.args"
  env PATH="$work/bin:$PATH" FAKE_DIR="$work" FAKE_SRUN_RC="$srun_rc" SLURM_JOB_ID=4242 \
    SLURM_JOB_NAME=lockstep SLURM_JOB_NUM_NODES=1 SLURM_JOB_NODELIST=node1 SLURM_NTASKS=2 \
    "$@" bash "$src/cluster/slurm/train.sbatch" --train.epochs 2 >"$work/$name.log" 2>&1
  rc=$?
}
requeued() { [[ -f $work/scontrol.args ]] && grep -qx "requeue 4242" "$work/scontrol.args"; }

run_script stopped 75
if [[ $rc -eq 75 ]] && requeued; then
  ok "ranks exit 75: the job is requeued (scontrol requeue 4242), exit 75"
else
  fail "ranks exit 75: expected scontrol requeue 4242 and exit 75, got exit $rc, scontrol: $(cat "$work/scontrol.args" 2>/dev/null)"
  cat "$work/stopped.log"
fi
args=$(cat "$work/srun.args" 2>/dev/null)
if [[ $args == *"train --config"*"--log.name lockstep-4242"*"--checkpoint.resume auto"*"--train.epochs 2"* ]]; then
  ok "srun runs lockstep train with --log.name lockstep-4242, --checkpoint.resume auto and the extra arguments"
else
  fail "unexpected srun arguments: $args"
fi

run_script no_requeue 75 LOCKSTEP_REQUEUE=0
if [[ $rc -eq 75 ]] && ! requeued; then
  ok "LOCKSTEP_REQUEUE=0: no requeue, exit 75"
else
  fail "LOCKSTEP_REQUEUE=0: expected no requeue and exit 75, got exit $rc, scontrol: $(cat "$work/scontrol.args" 2>/dev/null)"
  cat "$work/no_requeue.log"
fi

for code in 0 1 3 4; do
  run_script "exit$code" "$code"
  if [[ $rc -eq $code ]] && ! requeued; then
    ok "ranks exit $code: no requeue, exit $code"
  else
    fail "ranks exit $code: expected no requeue and exit $code, got exit $rc, scontrol: $(cat "$work/scontrol.args" 2>/dev/null)"
  fi
done

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
