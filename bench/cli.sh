#!/bin/bash
# bench/cli.sh - what a user waits for, end to end: `tracemem run` of gcc's
# cc1 compiling a large preprocessed file (record, symbolize, summary)
# against `heaptrack` plus `heaptrack_print` and against cc1 untraced; and
# `tracemem symbolize` of the raw cc1 snapshot on its own. The same for
# python3 importing its standard library (bench/workloads/py_stdlib.py,
# PYTHONMALLOC=malloc for every tool; a ~35 MB snapshot), and `top`,
# `leaks` and `diff` on that snapshot, and the peak memory of every
# command that reads it.
#
# Usage: bench/cli.sh [BUILD_DIR]
#   BUILD_DIR   the build tree holding ./tracemem and .libs/libtracemem.so
#               (default: the current directory)
# Environment:
#   BENCH_RUNS=5      rounds; each round runs every tool once, interleaved
#                     (untraced, tracemem, heaptrack, symbolize, then again)
#   BENCH_OUT=DIR     scratch files and report.txt (default BUILD_DIR/bench-cli)
#   CC1               the compiler proper (default: gcc -print-prog-name=cc1)
#   HEAPTRACK, HEAPTRACK_PRINT   paths; empty leaves heaptrack out
#
# The input is generated (bench/workloads/cc1_input.py: 280 functions of
# structs, loops and switches over 20 system headers, preprocessed with
# gcc -E: 340 KB) and compiled with -O2. Wall time (EPOCHREALTIME) and
# CPU time (user+sys of the command and its children, from bash's times
# builtin); medians over the rounds;
# the load average is printed before and after, since the machine may be
# shared. Writes only into BENCH_OUT.
set -u

srcdir=$(cd "$(dirname "$0")" && pwd)
note() { printf 'bench: %s\n' "$*" >&2; }
die() { note "$*"; exit 2; }

build=$(cd "${1:-.}" && pwd) || die "no build tree"
tm=$build/tracemem
[ -x "$tm" ] || die "$tm not found: build first (make)"
runs=${BENCH_RUNS:-5}
out=${BENCH_OUT:-$build/bench-cli}
mkdir -p "$out/scratch" || die "cannot create $out"
cc1=${CC1:-$(gcc -print-prog-name=cc1 2>/dev/null)}
[ -x "$cc1" ] || die "no cc1 (set CC1)"
heaptrack=${HEAPTRACK-$(command -v heaptrack)}
hprint=${HEAPTRACK_PRINT-$(command -v heaptrack_print)}
[ -n "$heaptrack" ] && [ -n "$hprint" ] || { heaptrack=; note "no heaptrack: its column is left out"; }
command -v python3 > /dev/null || die "python3 is needed to generate the input"
gnutime=${GNU_TIME:-/usr/bin/time}
[ -x "$gnutime" ] || die "GNU time is needed for the peak memory ($gnutime; Debian: apt-get install time)"

rm -f "$out"/*.times
python3 "$srcdir/workloads/cc1_input.py" > "$out/input.c" || die "cannot generate the input"
gcc -E "$out/input.c" -o "$out/input.i" || die "gcc -E failed"
args=(-quiet -O2 "$out/input.i" -o /dev/null)

# cpu_of FILE: user+sys seconds of the finished children in the output of
# bash's times builtin (run in this shell, not in $(...): a subshell counts
# children of its own)
cpu_of() {
    tail -1 "$1" | awk '{split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2]}'
}
# time_of CMD...: runs CMD (output thrown away), prints its wall and CPU
# (user+sys) seconds
time_of() {
    local t0=$EPOCHREALTIME t1
    times > "$out/times0.out"
    "$@" > /dev/null 2>&1 || note "$1 exited $?"
    t1=$EPOCHREALTIME
    times > "$out/times1.out"
    awk -v a="$t0" -v b="$t1" -v c="$(cpu_of "$out/times0.out")" -v d="$(cpu_of "$out/times1.out")" \
        'BEGIN {printf "%.3f %.3f", b - a, d - c}'
}
# median [COLUMN] < lines: of column 1 (wall) or 2 (CPU)
median() {
    awk -v c="${1:-1}" 'NF {print $c}' | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

s=$out/scratch
run_untraced() { "$cc1" "${args[@]}"; }
run_tracemem() { rm -f "$s"/tm.*; "$tm" run -o "$s/tm.%p.json.gz" -- "$cc1" "${args[@]}"; }
run_heaptrack() { rm -f "$s"/ht.*; "$heaptrack" -o "$s/ht" "$cc1" "${args[@]}" && "$hprint" -f "$s"/ht.* > "$s/ht.txt"; }
# the raw snapshot symbolize starts from (copied fresh each round)
LD_PRELOAD=$build/.libs/libtracemem.so TRACEMEM_OUTPUT=$s/raw.json "$cc1" "${args[@]}" ||
    die "cc1 under the shim failed"
run_symbolize() { cp "$s/raw.json" "$s/sym.json" && "$tm" symbolize "$s/sym.json"; }
# python3 importing its standard library
py=${PYTHON:-/usr/bin/python3}
pyw=$srcdir/workloads/py_stdlib.py
run_py_untraced() { PYTHONMALLOC=malloc "$py" "$pyw"; }
run_py_tracemem() { rm -f "$s"/pt.*; "$tm" run --python -o "$s/pt.%p.json.gz" -- "$py" "$pyw"; }
run_py_heaptrack() { rm -f "$s"/ph.*; PYTHONMALLOC=malloc "$heaptrack" -o "$s/ph" "$py" "$pyw" && "$hprint" -f "$s"/ph.* > "$s/ph.txt"; }
PYTHONMALLOC=malloc LD_PRELOAD=$build/.libs/libtracemem.so TRACEMEM_OUTPUT=$s/py.json "$py" "$pyw" > /dev/null ||
    die "python3 under the shim failed"
"$tm" symbolize "$s/py.json" || die "symbolize of the python snapshot failed"
run_py_top() { "$tm" top "$s/py.json"; }
run_py_leaks() { "$tm" leaks "$s/py.json"; }
run_py_diff() { "$tm" diff "$s/py.json" "$s/py.json"; }

tools="untraced tracemem"
[ -n "$heaptrack" ] && tools="$tools heaptrack"
tools="$tools symbolize py_untraced py_tracemem"
[ -n "$heaptrack" ] && tools="$tools py_heaptrack"
tools="$tools py_top py_leaks py_diff"
load_before=$(load)
for ((r = 1; r <= runs; r++)); do
    for t in $tools; do
        time_of "run_$t" >> "$out/$t.times"
        echo >> "$out/$t.times"
    done
done
load_after=$(load)

{
    echo "tracemem CLI bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $runs interleaved rounds"
    echo "tracemem: $tm ($(cd "$srcdir/.." && git describe --always --dirty 2>/dev/null || echo '?'))"
    echo "cc1: $cc1 -O2 on $(wc -c < "$out/input.i") bytes of preprocessed C"
    echo "load average (1 5 15 min): $load_before -> $load_after"
    echo
    printf '%-42s %8s %8s %9s %9s\n' "what (median)" "wall s" "CPU s" "x untr." "CPU x u."
    u=$(median 1 < "$out/untraced.times")
    uc=$(median 2 < "$out/untraced.times")
    for t in $tools; do
        m=$(median 1 < "$out/$t.times")
        mc=$(median 2 < "$out/$t.times")
        case $t in
            untraced) what="cc1 untraced" ;;
            tracemem) what="tracemem run (record+symbolize+summary)" ;;
            heaptrack) what="heaptrack + heaptrack_print" ;;
            symbolize) what="tracemem symbolize (cc1 snapshot)" ;;
            py_untraced) what="python3 stdlib untraced"; u=$m; uc=$mc ;;
            py_tracemem) what="tracemem run --python" ;;
            py_heaptrack) what="heaptrack + heaptrack_print (python3)" ;;
            py_top) what="tracemem top (python3 snapshot)" ;;
            py_leaks) what="tracemem leaks (python3 snapshot)" ;;
            py_diff) what="tracemem diff (python3 snapshot, twice)" ;;
        esac
        printf '%-42s %8s %8s %9s %9s\n' "$what" "$m" "$mc" "$(awk -v a="$m" -v b="$u" 'BEGIN {printf "%.2f", a / b}')" \
            "$(awk -v a="$mc" -v b="$uc" 'BEGIN {printf "%.2f", a / b}')"
        eval "med_$t=$m; cpu_$t=$mc"
    done
    if [ -n "$heaptrack" ]; then
        echo
        echo "tracemem run / (heaptrack + heaptrack_print), wall and CPU:" \
            "$(awk -v a="$med_tracemem" -v b="$med_heaptrack" -v c="$cpu_tracemem" -v d="$cpu_heaptrack" 'BEGIN {printf "%.2f, %.2f", a / b, c / d}')"
        echo "python3: tracemem run / (heaptrack + heaptrack_print), wall and CPU:" \
            "$(awk -v a="$med_py_tracemem" -v b="$med_py_heaptrack" -v c="$cpu_py_tracemem" -v d="$cpu_py_heaptrack" 'BEGIN {printf "%.2f, %.2f", a / b, c / d}')"
    fi
    # peak memory of every command that reads the python3 snapshot
    peak() { "$gnutime" -f %M -o "$out/rss.out" "$@" > /dev/null 2>&1; tail -1 "$out/rss.out"; }
    cp "$s/raw.json" "$s/sym2.json"
    echo "python3 snapshot: $(wc -c < "$s/py.json") bytes symbolized; peak memory (KB):" \
        "top $(peak "$tm" top "$s/py.json"), leaks $(peak "$tm" leaks "$s/py.json")," \
        "diff (twice) $(peak "$tm" diff "$s/py.json" "$s/py.json"), trend (twice) $(peak "$tm" trend "$s/py.json" "$s/py.json")," \
        "flamegraph $(peak "$tm" flamegraph "$s/py.json" -o "$s/fg.svg"), export pprof $(peak "$tm" export "$s/py.json" --to pprof -o "$s/ex.pprof")," \
        "report $(peak "$tm" report "$s/py.json" -o "$s/rep.html"), symbolize (cc1, raw) $(peak "$tm" symbolize "$s/sym2.json")"
    echo "raw snapshot: $(wc -c < "$s/raw.json") bytes; symbolized: $(wc -c < "$s/sym.json") bytes;" \
        "run's .json.gz: $(cat "$s"/tm.*.json.gz | wc -c) bytes"
    echo "all times (wall/CPU s): "
    for t in $tools; do echo "  $t: $(grep . "$out/$t.times" | tr ' \n' '/ ')"; done
} | tee "$out/report.txt"
rm -f "$out"/*.times
