#!/usr/bin/env bash
# bash fuzz/run.sh SECONDS [TARGET...]
# Builds the libFuzzer targets (cargo fuzz; its nightly flags through RUSTC_BOOTSTRAP=1 on the
# pinned stable toolchain) and runs each for SECONDS, two at a time, starting from the committed
# seeds (fuzz/seeds/T) plus real inputs: small shared photos (image) and the provisioned TFJS
# models (tfjs). A crash is copied to fuzz/crashes/T/ (replayed by the ordinary tests from then
# on) and the run fails. Targets: image wire tfjs manifest config.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: bash fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(image wire tfjs manifest config)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
RUSTC_BOOTSTRAP=1 cargo fuzz build -O
photos=../testdata/faces
# The provisioned models folder, resolved as facelens does (without building it).
models=${FACELENS_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/facelens/models}
mkdir -p work
run() {
  local t=$1 corpus=work/$1
  mkdir -p "$corpus" "crashes/$t"
  cp -n "seeds/$t/"* "$corpus/" 2>/dev/null || true
  case $t in
    image) find "$photos" -name '*.jpg' -size -120k -exec cp -n {} "$corpus/" \; 2>/dev/null || true ;;
    tfjs) if [ -n "$models" ] && [ -f "$models/sources/emotion.json" ]; then
            { cat "$models/sources/emotion.json"; printf '\0'; cat "$models/sources/emotion.bin"; } \
              > "$corpus/emotion-real"
          fi ;;
  esac
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=4096 \
    -print_final_stats=1 > "work/$t.log" 2>&1 || true
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "work/$t.log" | tail -1)
  echo "$t: ${execs:-?} execs in ${secs} s, corpus $(ls "$corpus" | wc -l) inputs"
  local found
  found=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) 2>/dev/null)
  if [ -n "$found" ]; then
    cp -n $found "crashes/$t/"
    echo "$t: FINDINGS copied to fuzz/crashes/$t (see work/$t.log)"
  fi
}
before=$(find crashes -type f ! -name .keep | wc -l)
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  [ $((i + 1)) -lt ${#targets[@]} ] && run "${targets[i + 1]}" &
  wait
done
after=$(find crashes -type f ! -name .keep | wc -l)
[ "$after" -eq "$before" ] || { echo "new findings in fuzz/crashes: $((after - before))"; exit 1; }
