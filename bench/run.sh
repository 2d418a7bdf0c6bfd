#!/bin/bash
# bench/run.sh - times allocation-heavy workloads untraced, under tracemem and
# under heaptrack, side by side, and prints the ratios.
#
# Usage: bench/run.sh [BUILD_DIR]
#   BUILD_DIR   the build tree holding .libs/libtracemem.so (default: the
#               current directory, then ../build next to the sources)
# Environment:
#   BENCH_RUNS=5          timed runs per workload and tool
#   BENCH_TIMER=auto      auto (hyperfine when installed) | hyperfine | loop
#   BENCH_ONLY="a b"      only these workloads (names as in the table)
#   BENCH_SAMPLE=N        adds a column: tracemem with TRACEMEM_SAMPLE=N
#   BENCH_OUT=DIR         where binaries, raw results and the report go
#                         (default BUILD_DIR/bench-results)
#   CC, CXX, CFLAGS       compilers and flags for the workloads (cc, c++, -O2 -g)
#   HEAPTRACK, HYPERFINE, GNU_TIME   the tools' paths (default: found in PATH,
#                         /usr/bin/time); set one empty to leave that tool out
#
# For every workload the tools run back to back in one go: with hyperfine,
# one hyperfine call per workload times all of them (wall median, user and
# system means); without it, BENCH_RUNS rounds run the tools interleaved
# (round 1: untraced, tracemem, heaptrack; round 2: ...) and the medians are
# taken. Either way one further interleaved round under /usr/bin/time checks
# that each tool left the program's output unchanged and measures peak RSS.
# A missing tool (heaptrack, hyperfine, /usr/bin/time, python3, sqlite3) is
# skipped with a note. Writes only into BENCH_OUT.
set -u

srcdir=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$srcdir")

note() { printf 'bench: %s\n' "$*" >&2; }
die() { note "$*"; exit 2; }

# --- where things are ---

build=${1:-}
if [ -z "$build" ]; then
    for d in . "$top_srcdir/../build" "$top_srcdir/build"; do
        if [ -e "$d/.libs/libtracemem.so" ]; then build=$d; break; fi
    done
fi
[ -n "$build" ] || die "no build tree found; usage: $0 BUILD_DIR"
build=$(cd "$build" && pwd) || die "cannot enter $build"
shim=$build/.libs/libtracemem.so
[ -e "$shim" ] || die "$shim not found: build first (make)"

runs=${BENCH_RUNS:-5}
out=${BENCH_OUT:-$build/bench-results}
bin=$out/bin
scratch=$out/scratch
mkdir -p "$bin" "$scratch" || die "cannot create $out"
report=$out/report.txt

timer=${BENCH_TIMER:-auto}
have() { command -v "$1" >/dev/null 2>&1; }
hyperfine=${HYPERFINE-$(command -v hyperfine)}
if [ "$timer" = auto ]; then
    if [ -n "$hyperfine" ] && have jq; then timer=hyperfine; else timer=loop; fi
fi
if [ "$timer" = hyperfine ] && ! { [ -n "$hyperfine" ] && have jq; }; then
    note "hyperfine or jq missing; repeating runs myself"
    timer=loop
fi
gnutime=${GNU_TIME-/usr/bin/time}
[ -n "$gnutime" ] && [ -x "$gnutime" ] && "$gnutime" -f %M true >/dev/null 2>&1 || gnutime=
[ -n "$gnutime" ] || note "/usr/bin/time (GNU time) missing: no peak RSS, CPU time from bash (apt-get install -y time)"
heaptrack=${HEAPTRACK-$(command -v heaptrack)}
[ -n "$heaptrack" ] || note "heaptrack not installed: no heaptrack column (apt-get install -y heaptrack)"
python=$(command -v python3 || true)
case $python in */.pyenv/shims/*) python=/usr/bin/python3 ;; esac # a shell script, not python
[ -x "$python" ] || python=
sqlite=$(command -v sqlite3 || true)

# --- the workloads: name, then the command (words; no shell) ---

cc=${CC:-cc}
cxx=${CXX:-c++}
cflags=${CFLAGS:--O2 -g}

# Uses the build tree's binary (make bench) when it is newer than its source,
# else compiles it into BENCH_OUT.
workload_bin() { # name source compiler extra-flags...
    local name=$1 src=$srcdir/workloads/$2 comp=$3
    shift 3
    if [ -x "$build/bench/$name" ] && [ "$build/bench/$name" -nt "$src" ]; then
        echo "$build/bench/$name"
        return 0
    fi
    if [ ! -x "$bin/$name" ] || [ "$src" -nt "$bin/$name" ]; then
        # shellcheck disable=SC2086
        $comp $cflags -o "$bin/$name" "$src" "$@" || return 1
    fi
    echo "$bin/$name"
}

names=()
declare -A cmd wlenv
add() { # name env command...
    local name=$1 e=$2
    shift 2
    if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $name "* ]]; then return; fi
    names+=("$name")
    wlenv[$name]=$e
    cmd[$name]="$*"
}

if p=$(workload_bin wl_chain wl_chain.c "$cc"); then add chain "" "$p"; else note "wl_chain did not build"; fi
if p=$(workload_bin wl_threads wl_threads.c "$cc" -pthread); then add threads "" "$p"; else note "wl_threads did not build"; fi
# issue 12's workloads: churn with ~20-deep stacks, 1 and 2 threads (one
# keep-ring each); 4M live 32-byte blocks; a big compile (cc1 directly)
if p=$(workload_bin wl_churn wl_churn.c "$cc" -pthread); then
    add churn1 "" "$p" 1000000 1
    add churn2 "" "$p" 1000000 2
else
    note "wl_churn did not build"
fi
if p=$(workload_bin wl_live wl_live.c "$cc"); then add live4m "" "$p"; else note "wl_live did not build"; fi
cc1=$("${CC:-gcc}" -print-prog-name=cc1 2>/dev/null)
if [ -x "$cc1" ] && [ -n "$(command -v python3)" ]; then
    if [ ! -s "$scratch/cc1_input.i" ] || [ "$srcdir/workloads/cc1_input.py" -nt "$scratch/cc1_input.i" ]; then
        python3 "$srcdir/workloads/cc1_input.py" >"$scratch/cc1_input.c" &&
            "${CC:-gcc}" -E -o "$scratch/cc1_input.i" "$scratch/cc1_input.c"
    fi
    [ -s "$scratch/cc1_input.i" ] && add cc1 "" "$cc1 -quiet -O2 $scratch/cc1_input.i -o /dev/null"
else
    note "gcc's cc1 not found: skipping the cc1 workload"
fi
if p=$(workload_bin wl_realloc wl_realloc.c "$cc"); then add realloc "" "$p"; else note "wl_realloc did not build"; fi
if p=$(workload_bin wl_cxx wl_cxx.cc "$cxx"); then add cxx "" "$p"; else note "wl_cxx did not build"; fi
if [ -n "$python" ]; then
    add python3 "PYTHONMALLOC=malloc" "$python $srcdir/workloads/py_churn.py"
else
    note "python3 not installed: skipping the python3 workload"
fi
if [ -n "$sqlite" ]; then
    add sqlite3 "" "$sqlite :memory: .read\\ $srcdir/workloads/sqlite_build.sql"
else
    note "sqlite3 not installed: skipping the sqlite3 workload"
fi
[ ${#names[@]} -gt 0 ] || die "no workload to run"

# --- the tools: each turns a workload into an argv (hyperfine -N syntax) ---

tools=(untraced tracemem)

# The default at-exit mode (leaks) gets its own column once the leak check
# exists, i.e. once a snapshot written with it says "checked": true.
probe=$scratch/probe.json
rm -f "$probe"
env LD_PRELOAD="$shim" TRACEMEM_OUTPUT="$probe" true
if have jq && [ -e "$probe" ] && [ "$(jq -r '.leaks.checked' "$probe" 2>/dev/null)" = true ]; then
    tools+=(tm-leaks)
elif have jq; then
    note "TRACEMEM_AT_EXIT=leaks does not run a leak check yet (leaks.checked false): no tm-leaks column"
else
    note "jq missing: cannot tell whether the shim has a leak check; no tm-leaks column"
fi
rm -f "$probe"
[ -n "${BENCH_SAMPLE:-}" ] && tools+=(tm-sample)
[ -n "$heaptrack" ] && tools+=(heaptrack)

tool_argv() { # tool workload -> one line, words separated by spaces
    local t=$1 w=$2 e=${wlenv[$2]}
    case $t in
    untraced) echo "env $e ${cmd[$w]}" ;;
    tracemem) echo "env $e LD_PRELOAD=$shim TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT=$scratch/tm.%e.%p.json ${cmd[$w]}" ;;
    tm-sample) echo "env $e LD_PRELOAD=$shim TRACEMEM_AT_EXIT=snapshot TRACEMEM_SAMPLE=$BENCH_SAMPLE TRACEMEM_OUTPUT=$scratch/tm.%e.%p.json ${cmd[$w]}" ;;
    tm-leaks) echo "env $e LD_PRELOAD=$shim TRACEMEM_OUTPUT=$scratch/tm.%e.%p.json ${cmd[$w]}" ;;
    heaptrack) echo "env $e $heaptrack -o $scratch/heaptrack ${cmd[$w]}" ;;
    esac
}

# Runs an argv line without a shell (backslash-space joins words).
run_argv() { # line
    local -a argv
    read -a argv <<<"$1"
    "${argv[@]}"
}

# One run under GNU time: prints "wall user sys rss_kb".
timed_run() { # tool workload stdout-file
    local line tf=$scratch/time.out
    line=$(tool_argv "$1" "$2")
    if [ -n "$gnutime" ]; then
        local -a argv
        read -a argv <<<"$line"
        $gnutime -f '%e %U %S %M' -o "$tf" "${argv[@]}" >"$3" 2>"$scratch/stderr" ||
            note "$1 $2: exit status $? (stderr in $scratch/stderr)"
        tail -n 1 "$tf"
    else
        local TIMEFORMAT='%R %U %S -'
        { time run_argv "$line" >"$3" 2>"$scratch/stderr"; } 2>"$tf"
        tail -n 1 "$tf"
    fi
    rm -f "$scratch"/tm.*.json "$scratch"/heaptrack.*
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.4f\n", (v[NR/2]+v[NR/2+1])/2}'; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The shim's source tree (from the build's config.status) and its git state.
shim_sources() {
    local src
    src=$(sed -n "s/^srcdir='\(.*\)'$/\1/p" "$build/config.status" 2>/dev/null)
    src=$(cd "$build" && cd "${src:-.}" 2>/dev/null && pwd) || src=unknown
    printf '%s (%s)' "$src" "$(git -C "$src" describe --always --dirty 2>/dev/null || echo 'not a git checkout')"
}

# --- measuring ---

declare -A wall cpu rss ok load
{
    echo "tracemem bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "shim: $shim, built $(date -u -r "$shim" '+%Y-%m-%d %H:%M UTC') from $(shim_sources)"
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"\
        "kernel $(uname -r), $(ldd --version 2>/dev/null | head -n 1)"
    echo "timer: $timer, $runs runs; tools: ${tools[*]}"
} | tee "$report"

for w in "${names[@]}"; do
    load_before=$(loadavg)
    note "$w: ${wlenv[$w]:+${wlenv[$w]} }${cmd[$w]}"
    # correctness and memory: one interleaved round under GNU time
    : >"$scratch/$w.untraced.out"
    for t in "${tools[@]}"; do
        # shellcheck disable=SC2046 # four numbers, split on purpose
        set -- $(timed_run "$t" "$w" "$scratch/$w.$t.out")
        rss[$w.$t]=${4:-"-"}
        wall[$w.$t]=$1
        cpu[$w.$t]=$(awk -v u="$2" -v s="$3" 'BEGIN {printf "%.3f", u + s}')
        if grep -q -v -x -F -f "$scratch/$w.$t.out" "$scratch/$w.untraced.out"; then
            ok[$w.$t]="OUTPUT DIFFERS"
            note "$w under $t: output differs from the untraced run"
        fi
    done
    if [ "$timer" = hyperfine ]; then
        hargs=()
        for t in "${tools[@]}"; do hargs+=(-n "$t" "$(tool_argv "$t" "$w")"); done
        "$hyperfine" -N --style basic --warmup 1 --runs "$runs" --export-json "$out/$w.json" \
            "${hargs[@]}" >"$out/$w.hyperfine.txt" 2>&1 || note "$w: hyperfine failed, see $out/$w.hyperfine.txt"
        rm -f "$scratch"/tm.*.json "$scratch"/heaptrack.*
        for t in "${tools[@]}"; do
            wall[$w.$t]=$(jq -r --arg t "$t" '.results[] | select(.command == $t) | .median' "$out/$w.json")
            cpu[$w.$t]=$(jq -r --arg t "$t" '.results[] | select(.command == $t) | .user + .system' "$out/$w.json")
        done
    else
        : >"$out/$w.runs.txt"
        for ((r = 1; r <= runs; r++)); do
            for t in "${tools[@]}"; do
                echo "$t $(timed_run "$t" "$w" /dev/null)" >>"$out/$w.runs.txt"
            done
        done
        for t in "${tools[@]}"; do
            wall[$w.$t]=$(awk -v t="$t" '$1 == t {print $2}' "$out/$w.runs.txt" | median)
            cpu[$w.$t]=$(awk -v t="$t" '$1 == t {print $3 + $4}' "$out/$w.runs.txt" | median)
        done
    fi
    load[$w]="$load_before -> $(loadavg)"
done

# --- the report ---

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || a == "" || b == "" || b == 0) print "-"; else printf "%.1f", a / b}'; }
mb() { awk -v k="$1" 'BEGIN {if (k == "-" || k == "") print "-"; else printf "%.1f", k / 1024}'; }
cell() { # value ratio -> "1.234 (x5.6)"
    if [ -z "$1" ] || [ "$1" = - ]; then echo "-"; else printf '%.3f (x%s)' "$1" "$2"; fi
}

{
    echo
    echo "Wall time, median of $runs ($timer); ratio to untraced:"
    printf '%-9s %9s' workload untraced
    for t in "${tools[@]:1}"; do printf ' %17s' "$t"; done
    printf '  %s\n' "load avg (1 5 15 min) before -> after"
    for w in "${names[@]}"; do
        printf '%-9s %9.3f' "$w" "${wall[$w.untraced]}"
        for t in "${tools[@]:1}"; do
            printf ' %17s' "$(cell "${wall[$w.$t]}" "$(ratio "${wall[$w.$t]}" "${wall[$w.untraced]}")")"
        done
        printf '  %s\n' "${load[$w]}"
    done
    echo
    echo "CPU time user+sys ($([ "$timer" = hyperfine ] && echo 'hyperfine mean' || echo median)); ratio to untraced:"
    printf '%-9s %9s' workload untraced
    for t in "${tools[@]:1}"; do printf ' %17s' "$t"; done
    echo
    for w in "${names[@]}"; do
        printf '%-9s %9.3f' "$w" "${cpu[$w.untraced]}"
        for t in "${tools[@]:1}"; do
            printf ' %17s' "$(cell "${cpu[$w.$t]}" "$(ratio "${cpu[$w.$t]}" "${cpu[$w.untraced]}")")"
        done
        echo
    done
    echo
    echo "Peak RSS MB (GNU time %M, one run; heaptrack: its largest process); output check:"
    printf '%-9s %9s' workload untraced
    for t in "${tools[@]:1}"; do printf ' %17s' "$t"; done
    echo
    for w in "${names[@]}"; do
        printf '%-9s %9s' "$w" "$(mb "${rss[$w.untraced]}")"
        for t in "${tools[@]:1}"; do
            r=$(mb "${rss[$w.$t]}")
            [ "$r" = - ] || r="$r (x$(ratio "$r" "$(mb "${rss[$w.untraced]}")"))"
            printf ' %17s' "$r"
        done
        status=
        for t in "${tools[@]:1}"; do [ -n "${ok[$w.$t]:-}" ] && status="$status $t: ${ok[$w.$t]}"; done
        echo "${status:-  same output}"
    done
} | tee -a "$report"
note "report: $report"
exit 0
