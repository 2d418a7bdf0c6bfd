#!/bin/sh
# run.sh - librcgc against CPython's gc.collect() on the same graph shapes.
# Usage: bench/rcgc/run.sh [BUILD_DIR] [N] [ROUNDS]
#   BUILD_DIR default ., N objects (default 1000000), ROUNDS (default 3);
#   PYTHON=... picks the interpreter (default python3).
# Each program measures best-of-5 per shape; the programs run in
# alternation ROUNDS times and the best figure of each is kept, which
# filters out the noise of a shared machine. Prints ns per object for
# librcgc linked as -lrcgc links it (bench_rcgc: librcgc.so.0 and the
# passes of librcgc_nonshared.a), librcgc.a linked into the program
# (bench_rcgc_static) and CPython, and the speed-ups (CPython / librcgc).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
n=${2:-1000000}
rounds=${3:-3}
bin=$build/bench/rcgc/bench_rcgc
sbin=$build/bench/rcgc/bench_rcgc_static
for b in "$bin" "$sbin"; do
    [ -x "$b" ] || { echo "run.sh: $b not built (make bench/rcgc/bench_rcgc bench/rcgc/bench_rcgc_static)" >&2; exit 2; }
done
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ $i -lt "$rounds" ]; do
    "$bin" "$n" >>"$tmp/c"
    "$py" "$here/bench_gc.py" "$n" >>"$tmp/py"
    "$sbin" "$n" >>"$tmp/s"
    i=$((i + 1))
done
echo "objects: $n   rounds: $rounds   machine: $(uname -m), $(nproc) cpu," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "python: $("$py" --version 2>&1) ($py)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %14s %14s %14s %8s %8s\n' shape "shared ns/obj" "static ns/obj" "CPython ns/obj" shared static
best() { awk -v s="$1" '$1 == s && (b == "" || $2 < b) { b = $2; f = $4 } END { print b, f }' "$2"; }
for shape in cycles2 ring live; do
    # shellcheck disable=SC2046 # word splitting intended: "ns found" pairs
    set -- $(best $shape "$tmp/c") $(best $shape "$tmp/s") $(best $shape "$tmp/py")
    r1=$(awk -v c="$1" -v p="$5" 'BEGIN { printf "%.1fx", p / c }')
    r2=$(awk -v c="$3" -v p="$5" 'BEGIN { printf "%.1fx", p / c }')
    printf '%-8s %14s %14s %14s %8s %8s   (unreachable found: %s / %s / %s)\n' \
        "$shape" "$1" "$3" "$5" "$r1" "$r2" "$2" "$4" "$6"
done
