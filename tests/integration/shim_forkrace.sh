#!/bin/sh
# shim_forkrace.sh - a child forked while other threads were inside the
# hooks writes a snapshot that adds up (tests/progs/shim_forkrace.c): no
# negative live size or count, live never above allocated, and the traces'
# live bytes equal memory.current. Before the fix, children forked between
# a block's insertion into the live table and its accounting freed it and
# wrote "size": -200 and the like, which the CLI refuses.
. "$top_srcdir/tests/integration/lib.sh"
PROG=$PROGS/shim_forkrace
N=300

mkdir "$WORK/s"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s/%p.json" timeout 300 env LD_PRELOAD="$SHIM" \
    "$PROG" $N >"$WORK/out" 2>"$WORK/err" || fail "traced run failed: $(cat "$WORK/out" "$WORK/err")"
assert_eq "output" "$N forks, 0 failed" "$(cat "$WORK/out")"
[ -s "$WORK/err" ] && fail "unexpected stderr: $(cat "$WORK/err")"
python3 - "$WORK/s" "$N" <<'PY' || fail "inconsistent child snapshots"
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
files = sorted(os.listdir(d))
if len(files) != n + 1:
    sys.exit("%d snapshots, want %d" % (len(files), n + 1))
bad = 0
for f in files:
    s = json.load(open(os.path.join(d, f)))
    heap = [t for t in s["traces"] if t["domain"] == 0]
    live = sum(t["size"] for t in heap)
    problems = [t for t in heap if t["size"] < 0 or t["count"] < 0 or
                t["size"] > t["allocated_size"] or t["count"] > t["allocated_count"]]
    if problems or live != s["memory"]["current"] or s["memory"]["current"] > s["memory"]["peak"]:
        bad += 1
        if bad <= 3:
            print("%s: current %d, traces add up to %d, bad rows %s" %
                  (f, s["memory"]["current"], live, problems[:2]), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
for f in "$WORK"/s/*.json; do
    "$TM" top "$f" -n 1 >/dev/null 2>"$WORK/terr" || fail "tracemem top refuses $f: $(cat "$WORK/terr")"
done
exit 0
