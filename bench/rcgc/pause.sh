#!/bin/sh
# pause.sh - collector pauses and total collector time on a large live
# heap with cyclic garbage created steadily: librcgc (incremental, then
# classic) against CPython, one after the other in one run.
# Usage: bench/rcgc/pause.sh [BUILD_DIR] [LIVE] [STEADY]
#   BUILD_DIR default ., LIVE objects (default 10000000), STEADY objects
#   created while measuring (default 5000000); PYTHON=... picks the
#   interpreter (default python3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
live=${2:-10000000}
steady=${3:-5000000}
bin=$build/bench/rcgc/bench_pause
[ -x "$bin" ] || { echo "pause.sh: $bin not built (make bench/rcgc/bench_pause)" >&2; exit 2; }
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" "$live" "$steady" >"$tmp/inc"
"$bin" "$live" "$steady" classic >"$tmp/classic"
"$py" "$here/bench_pause.py" "$live" "$steady" >"$tmp/py"
echo "live objects: $live   created while measuring: $steady   machine: $(uname -m), $(nproc) cpu," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "python: $("$py" --version 2>&1) ($py)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
printf '%-22s %16s %16s %16s\n' "" "$(val impl "$tmp/inc")" "$(val impl "$tmp/classic")" "$(val impl "$tmp/py")"
for k in seconds collections collected \
    cpu_ns_per_object cpu_p50_ms cpu_p90_ms cpu_p99_ms cpu_p999_ms cpu_max_ms \
    wall_ns_per_object wall_p50_ms wall_p90_ms wall_p99_ms wall_p999_ms wall_max_ms \
    preempted wall_max_unpreempted_ms; do
    printf '%-22s %16s %16s %16s\n' "$k" "$(val $k "$tmp/inc")" "$(val $k "$tmp/classic")" "$(val $k "$tmp/py")"
done
awk -v a="$(val cpu_ns_per_object "$tmp/inc")" -v p="$(val cpu_ns_per_object "$tmp/py")" \
    'BEGIN { printf "collector CPU time per object created: CPython / rcgc-incremental = %.1fx\n", p / a }'
