#!/usr/bin/env bash
# Every package pinned in deploy/Dockerfile must exist on the registry for the platform the image
# uses, so the CUDA image cannot rot again (it once pinned onnxruntime-gpu 1.32.0, which was never
# published). pip resolves each exact pin for CPython 3.11 / manylinux_2_28_x86_64 with --dry-run
# (it fetches the wheel to read its metadata, ~7 s for the 255 MB GPU wheel; nothing is installed).
# Also checks that the ONNX Runtime library the CUDA image loads has the pinned version in its name.
set -euo pipefail
cd "$(dirname "$0")/.."
dockerfile=deploy/Dockerfile
ort=$(sed -nE 's/^ARG ORT_GPU_VERSION=([0-9.]+)$/\1/p' "$dockerfile")
[ -n "$ort" ] || { echo "$dockerfile: no ARG ORT_GPU_VERSION=<version>"; exit 1; }
grep -q "FACELENS_ORT_LIB=/opt/ort/libonnxruntime.so.$ort " "$dockerfile" \
  || { echo "$dockerfile: FACELENS_ORT_LIB does not name libonnxruntime.so.$ort"; exit 1; }
# Pins written out literally (name==version), plus the ARG-driven one above.
mapfile -t pins < <( (grep -oE '[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*' "$dockerfile" || true; echo "onnxruntime-gpu==$ort") | sort -u)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for pin in "${pins[@]}"; do
  if pip3 install --dry-run --quiet --no-deps --ignore-installed --only-binary=:all: \
       --python-version 3.11 --platform manylinux_2_28_x86_64 --target "$tmp/t" \
       --disable-pip-version-check "$pin" >"$tmp/log" 2>&1; then
    echo "exists: $pin (CPython 3.11, manylinux_2_28_x86_64)"
  else
    cat "$tmp/log"; echo "$dockerfile pins $pin, which the registry does not have for this platform"; exit 1
  fi
done
