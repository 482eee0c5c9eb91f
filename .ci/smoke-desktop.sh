#!/usr/bin/env bash
# Smoke check: the real `facelens` binary opens its window under Xvfb (software GL), analyses a
# group photo, and renders it. Writes a screenshot; fails if the process dies or the screen is blank.
set -euo pipefail
bin=${1:?usage: smoke-desktop.sh BINARY PHOTO OUT.png}
photo=${2:?photo}
out=${3:?screenshot path}
export LIBGL_ALWAYS_SOFTWARE=1
gallery=$(mktemp -d)
Xvfb :91 -screen 0 1280x820x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$gallery"' EXIT
sleep 2
DISPLAY=:91 "$bin" --gallery "$gallery" --open "$photo" >/tmp/facelens-smoke.log 2>&1 &
app=$!
# Wait for the analysis to be drawn (models load, then the photo is analysed).
for _ in $(seq 1 60); do
  sleep 1
  kill -0 $app 2>/dev/null || { echo "facelens exited early:"; cat /tmp/facelens-smoke.log; exit 1; }
done
DISPLAY=:91 import -window root "$out"
kill -0 $app 2>/dev/null || { echo "facelens died:"; cat /tmp/facelens-smoke.log; exit 1; }
grep -E "VmHWM|VmRSS" /proc/$app/status | tr -s ' \t' ' ' | sed 's/^/memory: /'
kill $app; wait $app 2>/dev/null || true
sd=$(convert "$out" -format '%[fx:standard_deviation]' info:)
echo "screenshot $out: standard deviation $sd"
awk -v sd="$sd" 'BEGIN { exit !(sd > 0.05) }' || { echo "the screen is blank"; exit 1; }
