#!/usr/bin/env bash
# Installing: `cmake --install BUILD --prefix DIR` puts the executable in
# DIR/bin and the examples, cluster scripts and plot_run.py in
# DIR/share/lockstep (scripts executable), the README in DIR/share/doc/lockstep;
# the installed lockstep runs (--help, --version) from there.
# Usage: install_test.sh BUILD_DIR
set -uo pipefail
build=$1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  fail "cmake --install: $(tail -n 5 "$work/install.log")"
for f in bin/lockstep share/lockstep/cluster/mpirun/train_mpirun.sh share/lockstep/cluster/slurm/train.sbatch \
         share/lockstep/plot_run.py share/lockstep/cluster/scaling/scaling.sh \
         share/lockstep/cluster/scaling/scale_model.py share/lockstep/cluster/scaling/calibrate_hosts.sh \
         share/lockstep/cluster/multihost/rsh.sh; do
  [[ -x $prefix/$f ]] || fail "$f is not installed as an executable: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"
done
for f in share/lockstep/examples/fashion_mnist_mlp.ini share/lockstep/examples/fashion_mnist_cnn.ini \
         share/lockstep/cluster/README.md share/lockstep/cluster/mpirun/hostfile.example share/doc/lockstep/README.md; do
  [[ -f $prefix/$f ]] || fail "$f is not installed"
done
echo "ok   installed: $(cd "$prefix" && find . -type f | wc -l) files in bin/, share/lockstep/, share/doc/lockstep/"
out=$(cd / && "$prefix/bin/lockstep" --help 2>&1) || fail "installed lockstep --help: exit $?: $out"
grep -q "Usage: lockstep <command>" <<<"$out" || fail "installed lockstep --help: $out"
version=$("$prefix/bin/lockstep" --version) || fail "installed lockstep --version"
echo "ok   the installed lockstep runs: $version"
# the installed scaling model finds its modules beside it
table=$(cd / && python3 "$prefix/share/lockstep/cluster/scaling/scale_model.py" --gpu-table 2>&1) ||
  fail "installed scale_model.py --gpu-table: $table"
grep -q "512 GPUs" <<<"$table" || fail "installed scale_model.py --gpu-table: $table"
echo "ok   the installed scale_model.py runs"
# DESTDIR staging (packaging) puts the same tree under DESTDIR.
DESTDIR=$work/stage cmake --install "$build" --prefix /opt/lockstep >/dev/null 2>&1 ||
  fail "cmake --install with DESTDIR"
[[ -x $work/stage/opt/lockstep/bin/lockstep ]] || fail "DESTDIR install: no bin/lockstep"
echo "ok   DESTDIR=... cmake --install --prefix /opt/lockstep stages under DESTDIR"
echo "4 passed, 0 failed"
