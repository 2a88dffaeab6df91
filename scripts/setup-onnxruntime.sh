#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that cdssd loads at run time (through
# the `ort` crate's `load-dynamic` feature) from the pinned PyPI wheel into a
# project-local cache, and prints the absolute path of the library.
#
#   scripts/setup-onnxruntime.sh          # CPU: .cache/onnxruntime/1.31.1/
#   scripts/setup-onnxruntime.sh --gpu    # CUDA: .cache/onnxruntime-gpu/1.31.1/ (onnxruntime-gpu
#                                         # wheel plus the CUDA 13 / cuDNN 9 libraries from PyPI)
#
# Idempotent: when the library is already there it only prints the path.
# Nothing is downloaded except from PyPI, through pip.
# cdssd finds the library at the printed default location by itself; elsewhere
# set `risk.onnxruntime_library` in the configuration or ORT_DYLIB_PATH.
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.31.1}"
PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

package=onnxruntime
dir=onnxruntime
if [[ "${1:-}" == "--gpu" ]]; then
  package=onnxruntime-gpu
  dir=onnxruntime-gpu
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--gpu]" >&2
  exit 64
fi

dest="$ROOT/.cache/$dir/$ORT_VERSION"
lib="$dest/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"

if [[ ! -f "$lib" ]]; then
  tmp="$dest.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$dest")"
  if [[ "$package" == onnxruntime ]]; then
    # Only the shared library is needed: skip numpy & co.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
      --target "$tmp" "onnxruntime==$ORT_VERSION" >&2
  else
    # The CUDA provider needs the CUDA runtime, cuBLAS, cuFFT, cuRAND and cuDNN
    # libraries, which onnxruntime-gpu's extras bring as nvidia-* wheels.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --target "$tmp" "onnxruntime-gpu[cuda,cudnn]==$ORT_VERSION" >&2
  fi
  if [[ ! -f "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" ]]; then
    echo "error: the $package $ORT_VERSION wheel has no libonnxruntime.so.$ORT_VERSION" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$dest"
  mv "$tmp" "$dest"
fi

if [[ "$package" == onnxruntime-gpu ]]; then
  # Tell the caller where the CUDA libraries are (the dynamic loader must find them).
  libs=$(find "$dest/nvidia" -maxdepth 2 -type d -name lib 2>/dev/null | sort | paste -sd: -)
  echo "note: for the CUDA provider run cdssd with LD_LIBRARY_PATH=$dest/onnxruntime/capi${libs:+:$libs}" >&2
fi
echo "$lib"
