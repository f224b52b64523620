# Sourced by the CLI test scripts, after their `set` line: what they share.
#   $work        a temporary folder, removed when the script exits (a script
#                that starts processes of its own sets a trap that also ends them)
#   "${mpi[@]}"  mpirun --oversubscribe (and --allow-run-as-root as root)
#   ok / bad     print a passed / failed check and count it ($passed, $failed)
#   fail         print "FAIL: ..." and the closing "0 passed, 1 failed", exit 1
#   error_ranks  the distinct ranks named in error lines (error_ranks.sh)
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
