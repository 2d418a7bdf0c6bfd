#!/bin/sh
# run.sh - librcgc against CPython's gc.collect() on the same graph shapes.
# Usage: bench/rcgc/run.sh [BUILD_DIR] [N] [ROUNDS]
#   BUILD_DIR default ., N objects (default 1000000), ROUNDS (default 3).
# Each program measures best-of-5 per shape; the two programs run in
# alternation ROUNDS times and the best figure of each is kept, which
# filters out the noise of a shared machine. Prints ns per object for both
# and the speed-up (CPython / librcgc).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
n=${2:-1000000}
rounds=${3:-3}
bin=$build/bench/rcgc/bench_rcgc
[ -x "$bin" ] || { echo "run.sh: $bin not built (make bench/rcgc/bench_rcgc)" >&2; exit 2; }
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ $i -lt "$rounds" ]; do
    "$bin" "$n" >>"$tmp/c"
    "$py" "$here/bench_gc.py" "$n" >>"$tmp/py"
    i=$((i + 1))
done
echo "objects: $n   rounds: $rounds   machine: $(uname -m), $(nproc) cpu," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "python: $($py --version 2>&1)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %15s %15s %8s\n' shape "librcgc ns/obj" "CPython ns/obj" ratio
for shape in cycles2 ring live; do
    best() { awk -v s="$shape" '$1 == s && (b == "" || $2 < b) { b = $2; f = $4 } END { print b, f }' "$1"; }
    set -- $(best "$tmp/c") $(best "$tmp/py")
    ratio=$(awk -v c="$1" -v p="$3" 'BEGIN { printf "%.1fx", p / c }')
    printf '%-8s %15s %15s %8s   (unreachable found: %s / %s)\n' "$shape" "$1" "$3" "$ratio" "$2" "$4"
done
