#!/bin/bash
# bench/floor.sh - sampled mode against the floor of interposition: rounds
# interleaved of the untraced run, a preload shim that only forwards
# (workloads/fwd_shim.c), the same with a thread-local countdown of
# allocated bytes (-DCOUNTDOWN: the least a sampling profiler does) and
# NEW_SHIM with TRACEMEM_SAMPLE (bench/interleave.sh: base = forwarding,
# extra = countdown, sampled = NEW_SHIM sampled).
#
# Usage: bench/floor.sh NEW_SHIM [ROUNDS]
# Environment: as bench/interleave.sh (BIN, SCRATCH, ONLY, SAMPLE); TIMER
#   defaults to perf (task-clock, 1 ms steps); CC (default cc).
set -u
new=${1:?usage: $0 NEW_SHIM [ROUNDS]} rounds=${2:-5}
srcdir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -O2 -shared -fPIC -o "$tmp/fwd.so" "$srcdir/workloads/fwd_shim.c" || exit 2
${CC:-cc} -O2 -DCOUNTDOWN -shared -fPIC -o "$tmp/fwdc.so" "$srcdir/workloads/fwd_shim.c" || exit 2
EXTRA="$tmp/fwdc.so" TIMER=${TIMER:-perf} TOOLS="untraced base extra sampled" \
    "$srcdir/interleave.sh" "$tmp/fwd.so" "$new" "$rounds"
