#!/bin/bash
# bench/py.sh - what Python frames in the stacks cost (workloads/py_frames.py).
#
# Usage: bench/py.sh BUILD_DIR BASE_SHIM [ROUNDS]
#   BUILD_DIR   build tree holding .libs/libtracemem.so (with Python frames)
#   BASE_SHIM   a libtracemem.so built without them, the same source and
#               options otherwise: a copy of the tree built with
#               make CPPFLAGS=-DTM_NO_PYFRAMES (tm__py_stack does nothing)
#   ROUNDS      interleaved rounds (default 7): untraced, base, python, ...
# Environment: PYTHON (default /usr/bin/python3), BENCH_WORKLOAD (py_frames,
# the default: 10 Python frames deep; or py_churn: a module-level loop),
# BENCH_ARG (its size argument).
#
# Prints per round the CPU time (user+sys) and wall time of each run, then the
# medians and the ratio the issue asks about: (python - untraced) /
# (base - untraced), the cost of exact tracing with Python frames over the
# cost without them. Writes only into a temporary directory.
set -u
build=${1:?usage: bench/py.sh BUILD_DIR BASE_SHIM [ROUNDS]}
base=${2:?usage: bench/py.sh BUILD_DIR BASE_SHIM [ROUNDS]}
rounds=${3:-7}
python=${PYTHON:-/usr/bin/python3}
workload=${BENCH_WORKLOAD:-py_frames}
arg=${BENCH_ARG:-3000}
srcdir=$(cd "$(dirname "$0")" && pwd)
shim=$(cd "$build" && pwd)/.libs/libtracemem.so
[ -e "$shim" ] && [ -e "$base" ] || { echo "bench: $shim or $base missing" >&2; exit 2; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# one run: prints "cpu wall" in seconds
run() {
    local preload=$1
    /usr/bin/time -f '%U %S %e' -o "$tmp/t" env PYTHONMALLOC=malloc ${preload:+LD_PRELOAD=$preload} \
        TRACEMEM_OUTPUT="$tmp/s.%p.json" TRACEMEM_AT_EXIT=snapshot \
        "$python" "$srcdir/workloads/$workload.py" "$arg" >/dev/null || exit 1
    awk '{printf "%.2f %.2f\n", $1 + $2, $3}' "$tmp/t"
    rm -f "$tmp"/s.*.json
}

for i in $(seq "$rounds"); do
    for kind in untraced base python; do
        case $kind in
        untraced) r=$(run "") ;;
        base) r=$(run "$base") ;;
        python) r=$(run "$shim") ;;
        esac
        echo "$i $kind $r" | tee -a "$tmp/all"
    done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for kind in untraced base python; do
    c=$(awk -v k=$kind '$2 == k {print $3}' "$tmp/all" | median)
    w=$(awk -v k=$kind '$2 == k {print $4}' "$tmp/all" | median)
    echo "median $kind cpu=$c wall=$w"
    eval "cpu_$kind=$c wall_$kind=$w"
done
awk -v u="$cpu_untraced" -v b="$cpu_base" -v p="$cpu_python" -v uw="$wall_untraced" -v bw="$wall_base" \
    -v pw="$wall_python" 'BEGIN {
    printf "tracing cost, cpu: base %.2fs, with Python frames %.2fs: x%.2f (python/base run time x%.2f)\n", b - u, p - u, (p - u) / (b - u), p / b
    printf "tracing cost, wall: base %.2fs, with Python frames %.2fs: x%.2f\n", bw - uw, pw - uw, (pw - uw) / (bw - uw) }'
