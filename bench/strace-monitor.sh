#!/usr/bin/env bash
# System calls of exitwatch's monitor thread alone while it handles N foreign exits
# (bench/foreign-cost.mjs), counted by `strace -c` attached to that thread.
#   bash bench/strace-monitor.sh [n=2000] [owner=prompt|never]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
out=$(mktemp)
node bench/foreign-cost.mjs "$n" 1500 "${2:-prompt}" --no-floor 2> >(tee "$out.err" >&2) > "$out" &
node_pid=$!
tid=
for _ in $(seq 200); do
  tid=$(sed -n 's/^monitor tid //p' "$out.err" 2>/dev/null || true)
  [ -n "$tid" ] && break
  sleep 0.05
done
[ -n "$tid" ] || { echo "no monitor tid reported" >&2; exit 1; }
strace -c -p "$tid" -o "$out.strace" &
strace_pid=$!
wait "$node_pid"
kill -INT "$strace_pid" 2>/dev/null || true
wait "$strace_pid" 2>/dev/null || true
cat "$out"
cat "$out.strace"
rm -f "$out" "$out.err" "$out.strace"
