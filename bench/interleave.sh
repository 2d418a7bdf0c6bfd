#!/bin/bash
# bench/interleave.sh - CPU (user+sys) and wall of issue 12's workloads,
# rounds interleaved: untraced, a base shim, this shim, this shim sampled.
#
# Usage: bench/interleave.sh BASE_SHIM NEW_SHIM [ROUNDS]
#   (build the workloads first: bench/run.sh does, into BENCH_OUT/bin)
# Environment: ONLY="churn1 ..." workloads to run (py_stdlib: python3
#   importing its standard library, not run by default); BIN (default
#   bench-results/bin), SCRATCH (default bench-results/scratch, holds
#   cc1_input.i); SAMPLE=524288; TOOLS="untraced base new sampled" the runs
#   of a round, in order (also: bsampled, the base shim sampled; extra,
#   LD_PRELOAD=$EXTRA, e.g. bench/floor.sh's forwarding-only shim;
#   esampled, $EXTRA sampled);
#   TIMER=perf: CPU from `perf stat -e task-clock` (1 ms steps) instead of
#   /usr/bin/time's user+sys (10 ms steps; too coarse for a 0.1 s run).
# Prints one line per run: workload tool round cpu_s wall_s, then the
# medians of CPU with the ratio to untraced.
set -u
base=${1:?usage: $0 BASE_SHIM NEW_SHIM [ROUNDS]} new=${2:?usage} rounds=${3:-3}
srcdir=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-bench-results/bin} scratch=${SCRATCH:-bench-results/scratch}
cc1=$(gcc -print-prog-name=cc1)
declare -A W
W[churn1]="$bin/wl_churn 4000000 1"
W[churn2]="$bin/wl_churn 4000000 2"
W[python3]="env PYTHONMALLOC=malloc /usr/bin/python3 $srcdir/workloads/py_churn.py"
W[py_stdlib]="env PYTHONMALLOC=malloc /usr/bin/python3 $srcdir/workloads/py_stdlib.py"
W[sqlite3]="sqlite3 :memory: .read\\ $srcdir/workloads/sqlite_build.sql"
W[cc1]="$cc1 -quiet -O2 $scratch/cc1_input.i -o /dev/null"
W[live4m]="$bin/wl_live"
out=$(mktemp)
trap 'rm -f "$out" "$out.t" "$out.p" "$out.json"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for w in ${ONLY:-churn1 churn2 python3 sqlite3 cc1 live4m}; do
    for r in $(seq 1 "$rounds"); do
        for t in ${TOOLS:-untraced base new sampled}; do
            case $t in
            untraced) pre=() ;;
            base) pre=("LD_PRELOAD=$base") ;;
            new) pre=("LD_PRELOAD=$new") ;;
            sampled) pre=("LD_PRELOAD=$new" "TRACEMEM_SAMPLE=${SAMPLE:-524288}") ;;
            bsampled) pre=("LD_PRELOAD=$base" "TRACEMEM_SAMPLE=${SAMPLE:-524288}") ;;
            extra) pre=("LD_PRELOAD=${EXTRA:?TOOLS has extra: set EXTRA}") ;;
            esampled) pre=("LD_PRELOAD=${EXTRA:?TOOLS has esampled: set EXTRA}" "TRACEMEM_SAMPLE=${SAMPLE:-524288}") ;;
            *) echo "$0: unknown tool $t in TOOLS" >&2; exit 2 ;;
            esac
            perf=()
            [ "${TIMER:-}" = perf ] && perf=(perf stat -x, -e task-clock -o "$out.p")
            /usr/bin/time -f "%U %S %e" -o "$out.t" ${perf[@]+"${perf[@]}"} env ${pre[@]+"${pre[@]}"} \
                TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$out.json" bash -c "exec ${W[$w]}" >/dev/null 2>&1
            read -r u s e <"$out.t"
            if [ "${TIMER:-}" = perf ]; then
                cpu=$(awk -F, '$3 == "task-clock" {printf "%.3f", $1 / 1000}' "$out.p")
            else
                cpu=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
            fi
            echo "$w $t $r $cpu $e" | tee -a "$out"
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{v[$1" "$2] = v[$1" "$2] " " $4} END {for (k in v) print k, v[k]}' "$out" | sort | while read -r w t vals; do
    med=$(tr ' ' '\n' <<<"$vals" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    echo "$w $t $med"
done | awk -v tools="${TOOLS:-untraced base new sampled}" '{m[$1" "$2]=$3; w[$1]=1}
    END {n = split(tools, t, " ")
         for (x in w) {
             line = sprintf("%-8s", x)
             for (i = 1; i <= n; i++) {
                 v = m[x" "t[i]]; u = m[x" untraced"]
                 if (t[i] == "untraced" || u == "") line = line sprintf(" %s %.3f ", t[i], v)
                 else if (t[i] ~ /sampled/) line = line sprintf(" %s %.3f (x%.2f) ", t[i], v, v / u)
                 else line = line sprintf(" %s %.3f (x%.2f) ", t[i], v, v / u)
             }
             print line
         }}'
