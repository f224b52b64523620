# Sourced by the CLI test scripts, after their `set` line: what they share.
#   $work        a temporary folder, removed when the script exits (a script
#                that starts processes of its own sets a trap that also ends them)
#   "${mpi[@]}"  mpirun --oversubscribe (and --allow-run-as-root as root)
#   ok / bad     print a passed / failed check and count it ($passed, $failed)
#   fail         print "FAIL: ..." and the closing "0 passed, 1 failed", exit 1
#   error_ranks  the distinct ranks named in error lines (error_ranks.sh)
#   fashion_mnist_h5 BIN DIR  Debian's Fashion-MNIST imported with lockstep BIN
#                as DIR/train.h5 and DIR/test.h5 (fails when it is not installed)
# shellcheck shell=bash
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe)
if [[ $(id -u) -eq 0 ]]; then mpi+=(--allow-run-as-root); fi
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
fail() {
  echo "FAIL: $*"
  echo "0 passed, 1 failed"
  exit 1
}
# shellcheck source=tests/cli/error_ranks.sh
source "$(dirname "${BASH_SOURCE[0]}")/error_ranks.sh"
fashion_mnist_h5() {
  local data=/usr/share/datasets/fashion-mnist
  [[ -f $data/train-images-idx3-ubyte.gz ]] ||
    fail "dataset-fashion-mnist is not installed: cannot run (install_deps.sh installs it)"
  "$1" import idx --images $data/train-images-idx3-ubyte.gz --labels $data/train-labels-idx1-ubyte.gz \
    --out "$2/train.h5" >/dev/null || fail "import of the Fashion-MNIST training set"
  "$1" import idx --images $data/t10k-images-idx3-ubyte.gz --labels $data/t10k-labels-idx1-ubyte.gz \
    --out "$2/test.h5" >/dev/null || fail "import of the Fashion-MNIST test set"
}
