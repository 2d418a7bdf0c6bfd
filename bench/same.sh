#!/bin/bash
# bench/same.sh - do two shims record the same figures? Runs each workload
# under BASE_SHIM and NEW_SHIM (setarch -R, so addresses repeat; at-exit
# snapshot) and compares the snapshots' figures: exact mode every stack,
# trace, peak record, leak and size histogram; sampled mode
# (TRACEMEM_SAMPLE=524288) the histogram of all allocations
# (sizes.allocated, which counts every block, sampled or not) -- which
# blocks are sampled depends on the process id. The stack cache's own
# counters, rss, timeline, times and memory.overhead are not compared, nor
# the peak of the 2-thread churn (exact within TRACEMEM_PEAK_INACCURACY
# only); python3 runs with PYTHONHASHSEED=0.
#
# Usage: bench/same.sh BASE_SHIM NEW_SHIM
# Environment: BIN (the workloads as bench/run.sh builds them, default
#   bench-results/bin), ONLY="churn1 ..." (default: churn1 churn2 python3
#   sqlite3 live1m).
# Prints one line per workload and mode: same, or the keys that differ.
# Exit status 1 when any differs.
set -u
base=${1:?usage: $0 BASE_SHIM NEW_SHIM} new=${2:?usage: $0 BASE_SHIM NEW_SHIM}
srcdir=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-bench-results/bin}
declare -A W
W[churn1]="$bin/wl_churn 200000 1"
W[churn2]="$bin/wl_churn 100000 2"
W[python3]="env PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 $srcdir/workloads/py_churn.py 30000"
W[sqlite3]="sqlite3 :memory: .read\\ $srcdir/workloads/sqlite_build.sql"
W[live1m]="$bin/wl_live 1048576"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$base" "$tmp/old.so" && cp "$new" "$tmp/new.so" || exit 2
rc=0
for w in ${ONLY:-churn1 churn2 python3 sqlite3 live1m}; do
    for mode in exact sampled; do
        for t in old new; do
            smp=()
            [ $mode = sampled ] && smp=(TRACEMEM_SAMPLE=524288)
            # old/new: names of one length (the environment is the program's input)
            setarch -R env LD_PRELOAD="$tmp/$t.so" ${smp[@]+"${smp[@]}"} TRACEMEM_AT_EXIT=snapshot \
                TRACEMEM_OUTPUT="$tmp/$t.json" bash -c "exec ${W[$w]}" >/dev/null 2>&1
        done
        python3 - "$tmp/old.json" "$tmp/new.json" "$mode" "$w" <<'EOF' || rc=1
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
mode, w = sys.argv[3], sys.argv[4]
if mode == "sampled":
    keys = [("sizes", "allocated")]
else:
    keys = [("memory", "current"), ("memory", "peak"), ("memory", "blocks"), ("memory", "lost_records"),
            ("frames",), ("stacks",), ("traces",), ("peak",), ("leaks",), ("sizes",)]
def get(d, k):
    for x in k:
        d = d.get(x) if isinstance(d, dict) else None
    return d
if w == "churn2":  # two threads: the peak is within TRACEMEM_PEAK_INACCURACY only
    keys = [k for k in keys if k not in (("memory", "peak"), ("peak",))]
diff = [".".join(k) for k in keys if get(a, k) != get(b, k)]
print(f"{w:8} {mode:8} " + ("same" if not diff else "DIFFERENT: " + " ".join(diff)))
sys.exit(1 if diff else 0)
EOF
    done
done
exit $rc
