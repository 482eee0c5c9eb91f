#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/k8s against the official OpenAPI schemas with
# kubernetes-validate (from PyPI, pinned; its schemas ship inside the package, so no network
# beyond the package index). Also checks that each kustomization lists only files that exist.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="${TMPDIR:-/tmp}/facelens-kubernetes-validate"
if [ ! -d "$tool/kubernetes_validate" ]; then
  pip3 install -q --target "$tool" kubernetes-validate==1.37.0 2>&1 \
    || pip3 install -q --break-system-packages --target "$tool" kubernetes-validate==1.37.0
fi
mapfile -t files < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
PYTHONPATH="$tool" python3 -m kubernetes_validate --strict --kubernetes-version 1.31 --quiet "${files[@]}"
echo "validated ${#files[@]} manifest files (Kubernetes 1.31, strict)"
for k in $(find deploy/k8s -name kustomization.yaml); do
  d=$(dirname "$k")
  for f in $(grep -E '^\s*- (path: )?[A-Za-z0-9_./-]+\.yaml\s*$' "$k" | sed -E 's/^\s*- (path: )?//'); do
    [ -f "$d/$f" ] || { echo "$k lists missing file $f"; exit 1; }
  done
done
echo "kustomizations reference existing files"
