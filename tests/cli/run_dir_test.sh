#!/usr/bin/env bash
# Run directories: a second `train` with the log.name of an existing run (not
# resumed) is refused on every rank before anything is written, with a message
# naming the directory, and leaves every file of the old run as it was; the
# run then continues with --checkpoint.resume auto; --log.overwrite true
# replaces it (nothing of the old run remains: one epoch record per epoch, one
# events file, only the new checkpoints); overwrite with resume is an error.
# Usage: run_dir_test.sh LOCKSTEP_BIN
set -uo pipefail
bin=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$bin" datagen --out "$work/train.h5" --samples 256 --shape 1x4x4 --classes 3 >/dev/null
cat > "$work/run.ini" <<INI
[model]
layers = dense(16), relu, dense(3)
[data]
train = $work/train.h5
[train]
epochs = 2
batch_size = 16
[dist]
device = cpu
[checkpoint]
keep = 1
[log]
dir = $work/runs
name = r
every = 4
progress = off
INI
run() {  # run LOG ARGS...: 2 ranks; sets rc
  timeout 120 "${mpi[@]}" -np 2 "$bin" train --config "$work/run.ini" "${@:2}" >"$work/$1.log" 2>&1
  rc=$?
}
snapshot() { (cd "$work/runs/r" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
epochs() { grep -c '"type":"epoch"' "$work/runs/r/metrics.jsonl"; }

run first
[[ $rc -eq 0 && -f $work/runs/r/final.h5 ]] || { bad "the first run: exit $rc"; tail -5 "$work/first.log"; }
snapshot >"$work/before"

# 1. The same name again: refused, nothing of the old run changed.
run again
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "run directory '$work/runs/r' already exists" "$work/again.log" \
   && grep -q -- "--checkpoint.resume auto" "$work/again.log" && grep -q -- "--log.overwrite true" "$work/again.log"; then
  ok "an existing run directory is refused (exit $rc): $(grep -m1 'already exists' "$work/again.log" | cut -c1-160)"
else
  bad "the same log.name again: exit $rc"; tail -3 "$work/again.log"
fi
if snapshot | cmp -s - "$work/before"; then
  ok "the refused run left every file of the old one as it was ($(wc -l <"$work/before") files)"
else
  bad "the old run changed"; diff <(snapshot) "$work/before"
fi
grep -q "MPI_ABORT" "$work/again.log" && bad "the refusal went through MPI_Abort"

# 2. Resuming the run is allowed.
run resume --checkpoint.resume auto --train.epochs 3
if [[ $rc -eq 0 && $(epochs) -eq 3 ]] && grep -q "resume .*ckpt-" "$work/resume.log"; then
  ok "--checkpoint.resume auto continues the existing run (3 epoch records)"
else
  bad "resume: exit $rc, $(epochs) epoch records"; tail -3 "$work/resume.log"
fi

# 3. --log.overwrite true: the old run is replaced, nothing stale remains.
run overwrite --log.overwrite true
ckpts=$(ls "$work/runs/r/checkpoints" | grep -c '^ckpt-')
events=$(ls "$work/runs/r" | grep -c tfevents)
latest=$(cat "$work/runs/r/checkpoints/latest" 2>/dev/null)
if [[ $rc -eq 0 && $(epochs) -eq 2 && $ckpts -eq 1 && $events -eq 1 ]] \
   && [[ -f $work/runs/r/checkpoints/$(basename "$latest") ]] && grep -q "deleted the previous run directory" "$work/overwrite.log"; then
  ok "--log.overwrite true replaces the run: 2 epoch records, 1 events file, 1 checkpoint ($latest)"
else
  bad "overwrite: exit $rc, $(epochs) epoch records, $ckpts checkpoints, $events events files, latest '$latest'"
  tail -3 "$work/overwrite.log"
fi
run after --checkpoint.resume auto --train.epochs 3
[[ $rc -eq 0 ]] && ok "resume auto after the overwrite finds the new run's checkpoint" ||
  { bad "resume after overwrite: exit $rc"; tail -3 "$work/after.log"; }

# 4. Overwrite and resume together contradict each other.
run both --log.overwrite true --checkpoint.resume auto
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "log.overwrite = true: expected at most one of them" "$work/both.log"; then
  ok "log.overwrite with checkpoint.resume is an error"
else
  bad "overwrite + resume: exit $rc"; tail -3 "$work/both.log"
fi

# 5. log.name is one plain name (overwrite deletes log.dir/log.name), and
# overwrite with a checkpoint.dir of its own is refused (its old checkpoints
# would outlive the deleted run).
for name in . .. a/b /tmp; do
  run "name_$(echo "$name" | tr -c 'a-z' '_')" --log.name "$name" --log.overwrite true
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "log.name: expected a plain directory name" \
    "$work/name_$(echo "$name" | tr -c 'a-z' '_').log"; then
    ok "log.name '$name' is refused"
  else
    bad "log.name '$name': exit $rc"
  fi
done
[[ -d $work/runs/r ]] || bad "a refused log.name deleted the previous run"
run ckdir --log.overwrite true --checkpoint.dir "$work/elsewhere"
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "checkpoint.dir = .* and log.overwrite = true" "$work/ckdir.log"; then
  ok "log.overwrite with a checkpoint.dir of its own is an error"
else
  bad "overwrite + checkpoint.dir: exit $rc"; tail -3 "$work/ckdir.log"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
