#!/usr/bin/env bash
# The GPU check of facelens-server (CUDA execution provider), in three steps.
#
#   bash bench/gpu.sh prepare   # here (Rust toolchain, registry access): build and pack into .gpu/
#   bash bench/gpu.sh stash N   # on the GPU machine, once per part: .gpu/part-N -> /tmp/facelens-gpu
#   bash bench/gpu.sh run       # on the GPU machine: unpack, compare CUDA with CPU, load test
#
# Why parts: the GPU machine has no Rust toolchain and no network and takes at most 64 MiB per
# transfer, while ONNX Runtime's CUDA provider (onnxruntime-gpu 1.31.1, built for CUDA 13 +
# cuDNN 9) is 284 MB (about 190 MB with xz). `prepare` splits everything into parts under 60 MiB;
# each is carried to the machine in its own call (`carry: [".gpu/part-N"]`) and moved to /tmp by
# `stash`, which outlives the call while the machine stays warm. CUDA 13 with cuBLAS, cuRAND,
# cudart and cuDNN comes from the Python packages already installed there.
#
# `run` writes $OUT/gpu-results.md (or ./gpu-results.md): the CPU-vs-CUDA agreement on the shared
# photos (faces found, embedding cosine, age/gender/race/emotion differences) and the /v1/faces
# load test with 1 and 7 faces at concurrency 1-64 (requests/s, p50/p99, embeddings/s), with
# nvidia-smi utilisation sampled during each level.
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_GPU_VERSION=1.31.1
STASH=/tmp/facelens-gpu
PART_BYTES=$((60 * 1024 * 1024))

prepare() {
  local out=.gpu work=.gpu/work
  rm -rf "$out"; mkdir -p "$work/pkg/lib" "$work/pkg/models" "$work/pkg/photos"
  echo "== build facelens-server with the cuda feature (release)"
  cargo build --release -p facelens_server --features cuda --target-dir target/gpu
  cp target/gpu/release/facelens-server "$work/pkg/"
  echo "== models (provisioned, sha256-checked)"
  FACELENS_MODELS_DIR="$work/pkg/models" target/gpu/release/facelens-server fetch-models
  rm -rf "$work/pkg/models/packages"
  echo "== ONNX Runtime GPU $ORT_GPU_VERSION"
  pip3 download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$work/wheel" "onnxruntime-gpu==$ORT_GPU_VERSION"
  python3 - "$work" <<'PY'
import sys, zipfile, glob, os
work = sys.argv[1]
whl = glob.glob(os.path.join(work, "wheel", "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        base = os.path.basename(n)
        if n.startswith("onnxruntime/capi/") and ".so" in base and base.startswith("libonnxruntime"):
            with open(os.path.join(work, "pkg", "lib", base), "wb") as f:
                f.write(z.read(n))
PY
  cp testdata/faces/*.jpg "$work/pkg/photos/" 2>/dev/null || true
  cp bench/gpu.sh "$work/pkg/"
  echo "== pack"
  tar -C "$work" -cf - pkg | xz -1 -T2 > "$work/pkg.tar.xz"
  (cd "$work" && sha256sum pkg.tar.xz > pkg.tar.xz.sha256)
  split -b "$PART_BYTES" -d -a 2 "$work/pkg.tar.xz" "$work/chunk-"
  local n=0
  for c in "$work"/chunk-*; do
    mkdir -p "$out/part-$n"; mv "$c" "$out/part-$n/"; n=$((n + 1))
  done
  cp "$work/pkg.tar.xz.sha256" "$out/part-0/"
  rm -rf "$work"
  echo "prepared $n parts in $out (carry .gpu/part-K and run 'bash bench/gpu.sh stash K' for each, then 'bash bench/gpu.sh run')"
}

stash() {
  mkdir -p "$STASH"
  cp .gpu/part-"$1"/* "$STASH"/
  ls -la "$STASH"
}

cuda_library_path() {
  python3 - <<'PY'
import importlib, os
dirs = []
for mod in ["nvidia.cublas", "nvidia.curand", "nvidia.cuda_runtime", "nvidia.cudnn", "nvidia.cufft", "nvidia.nvjitlink"]:
    try:
        m = importlib.import_module(mod)
    except ImportError:
        continue
    for p in getattr(m, "__path__", []):
        lib = os.path.join(p, "lib")
        if os.path.isdir(lib):
            dirs.append(lib)
print(":".join(dirs))
PY
}

start_server() { # provider port
  local provider=$1 port=$2
  FACELENS_PROVIDER=$provider FACELENS_LISTEN=127.0.0.1:$port FACELENS_MODELS_DIR=$PKG/models \
  FACELENS_GALLERY_DIR=$(mktemp -d) FACELENS_ORT_LIB=$PKG/lib/libonnxruntime.so.$ORT_GPU_VERSION \
  FACELENS_TOKENS=gpu-check-token-0123456789 FACELENS_BATCH_MAX=64 FACELENS_MAX_INFLIGHT=128 \
  FACELENS_QUEUE_DEPTH=256 "$PKG/facelens-server" serve >"$STASH/server-$provider.log" 2>&1 &
  echo $!
}

wait_ready() { # port
  for _ in $(seq 1 240); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0
    sleep 0.5
  done
  echo "server on port $1 did not become ready"; return 1
}

run() {
  local out=${OUT:-.}
  (cd "$STASH" && cat chunk-* > pkg.tar.xz && sha256sum -c pkg.tar.xz.sha256)
  tar -C "$STASH" -xJf "$STASH/pkg.tar.xz"
  PKG=$STASH/pkg
  export LD_LIBRARY_PATH="$PKG/lib:$(cuda_library_path):${LD_LIBRARY_PATH:-}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu-info.csv"
  local cpu gpu
  cpu=$(start_server cpu 8751); gpu=$(start_server cuda 8752)
  trap 'kill $cpu $gpu 2>/dev/null || true' EXIT
  wait_ready 8751; wait_ready 8752
  {
    echo "# facelens-server on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
    echo; echo "## CUDA vs CPU on the shared photos (/v1/analyze)"; echo
    python3 - "$PKG/photos" <<'PY'
import json, sys, os, glob, math, urllib.request
H = {"Authorization": "Bearer gpu-check-token-0123456789", "Content-Type": "application/octet-stream"}
def analyze(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/analyze", data=open(path, "rb").read(), headers=H)
    return json.load(urllib.request.urlopen(req, timeout=120))
def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
worst_cos, worst_age, same_faces, photos, label_diff = 1.0, 0.0, 0, 0, 0
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.jpg"))):
    c, g = analyze(8751, p), analyze(8752, p)
    photos += 1
    if len(c["faces"]) != len(g["faces"]):
        print(f"- {os.path.basename(p)}: CPU {len(c['faces'])} faces, CUDA {len(g['faces'])}")
        continue
    same_faces += 1
    for fc, fg in zip(c["faces"], g["faces"]):
        worst_cos = min(worst_cos, cos(fc["embedding"], fg["embedding"]))
        ac, ag = fc["attributes"], fg["attributes"]
        worst_age = max(worst_age, abs(ac["age"]["years"] - ag["age"]["years"]))
        top = lambda d: max(d, key=lambda x: x["probability"])["label"]
        label_diff += ac["gender"]["label"] != ag["gender"]["label"]
        label_diff += top(ac["race"]) != top(ag["race"])
        label_diff += top(ac["emotion"]) != top(ag["emotion"])
print(f"| photos | same face count | worst embedding cosine | worst age difference (years) | label differences |")
print(f"|---|---|---|---|---|")
print(f"| {photos} | {same_faces} | {worst_cos:.6f} | {worst_age:.3f} | {label_diff} |")
print()
print("PASS" if same_faces == photos and worst_cos >= 0.999 else "FAIL: CUDA results differ from CPU")
PY
    for img in img5.jpg selfie-many-people.jpg; do
      [ -f "$PKG/photos/$img" ] || continue
      echo; echo "## /v1/faces, $img, CUDA (dynamic batching, batch_max 64)"; echo
      nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 > "$STASH/util-$img.txt" &
      local smi=$!
      FACELENS_TOKEN=gpu-check-token-0123456789 "$PKG/facelens-server" loadtest \
        --url http://127.0.0.1:8752 --image "$PKG/photos/$img" --endpoint faces \
        --concurrency 1,2,4,8,16,32,64 --seconds 8
      kill $smi 2>/dev/null || true
      echo; echo "GPU utilisation during the run (nvidia-smi, %): mean $(awk '{s+=$1;n++} END {if (n) printf "%.0f", s/n}' "$STASH/util-$img.txt"), max $(sort -n "$STASH/util-$img.txt" | tail -1)"
      echo "(embeddings/s = requests/s x faces per request)"
    done
  } | tee "$out/gpu-results.md"
}

case "${1:-}" in
  prepare) prepare ;;
  stash) stash "${2:?part number}" ;;
  run) run ;;
  *) echo "usage: bash bench/gpu.sh prepare | stash N | run"; exit 2 ;;
esac
