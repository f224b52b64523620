#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds,
# imports Fashion-MNIST into HDF5, trains examples/fashion_mnist_mlp.ini on
# 2 MPI ranks, and evaluates the saved model on the 10,000 test images.
# Usage: launch/quickstart.sh [ranks]   (default 2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ranks=${1:-2}
"$root/launch/install_deps.sh"
"$root/launch/build.sh"
cd "$root"
bin=build/launch/lockstep
src=/usr/share/datasets/fashion-mnist
mkdir -p data
for split in train:train t10k:test; do
  in=${split%%:*} out=${split##*:}
  [[ -f data/fashion_$out.h5 ]] || $bin import idx --images "$src/$in-images-idx3-ubyte.gz" \
      --labels "$src/$in-labels-idx1-ubyte.gz" --out "data/fashion_$out.h5"
done
mpi=(mpirun -np "$ranks" --oversubscribe)
if [[ $(id -u) -eq 0 ]]; then mpi+=(--allow-run-as-root); fi
run=quickstart-$(date +%Y%m%d-%H%M%S)
"${mpi[@]}" $bin train --config examples/fashion_mnist_mlp.ini --log.name "$run"
echo
echo "== evaluating runs/$run/final.h5 on the test set =="
"${mpi[@]}" $bin eval --model "runs/$run/final.h5" --data data/fashion_test.h5
