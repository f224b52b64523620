#!/usr/bin/env bash
# Installs the Debian 12 packages lockstep needs to build, test and run.
# Usage: launch/install_deps.sh [--bench]   (--bench adds numpy for the reference scripts;
# PyTorch is installed in any case, for the ONNX round-trip test)
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libboost-program-options-dev
  libgtest-dev
  libopenblas-dev
  zlib1g-dev
  libpng-dev libturbojpeg0-dev  # lockstep import images: PNG and JPEG decoding
  nlohmann-json3-dev
  python3-matplotlib
  python3-h5py         # tests/cli/h5py_test.sh reads lockstep's files with h5py
  python3-pil          # tests/cli/import_images_test.sh writes its PNG and JPEG test images
  dataset-fashion-mnist
  python3-sklearn      # the diabetes data of the regression example (tests/cli/predict_test.sh)
  iproute2 util-linux  # ip netns and unshare: several hosts on one machine (tests/cli/multihost_test.sh)
  libonnx-dev libprotobuf-dev protobuf-compiler  # lockstep export / import onnx (io/onnx.hpp)
  python3-onnx         # the onnx package's checker on exported models (tests/onnx)
  python3-torch        # the PyTorch round trip of tests/onnx/onnx_torch_test.sh (~230 MB)
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches ONNX Runtime (onnxruntime-node) for tests/onnx/onnx_runtime_test.sh;
# a Node.js from elsewhere (e.g. NodeSource, which bundles npm) is fine too.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"
