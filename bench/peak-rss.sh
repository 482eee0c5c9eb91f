#!/usr/bin/env bash
# Runs a command and prints its peak resident set (VmHWM, kB), sampled from /proc every 20 ms.
set -uo pipefail
"$@" >/dev/null 2>&1 &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "${v:-}" ] && [ "$v" -gt "$peak" ] && peak=$v
  sleep 0.02
done
wait "$pid"
echo "$peak"
