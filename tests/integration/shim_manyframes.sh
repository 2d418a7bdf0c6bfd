#!/bin/sh
# shim_manyframes.sh - a snapshot whose stacks use thousands of distinct
# frames (tests/progs/shim_manyframes.c: 5 000 functions, function i
# allocating 16 + i bytes from a call site of its own): the snapshot
# writer's frame table starts small and grows while it lists them (4 096
# slots, doubled at half load), and the stacks are written from lookups
# in it. After symbolizing, every trace's innermost frame of the program
# must be the function that made the block: f_NNNN for the block of
# 16 + NNNN bytes, each of the 5 000 once.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"

TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s.json" preload "$PROGS/shim_manyframes" >"$WORK/out" 2>"$WORK/err"
assert_eq "exit status" 0 "$?"
assert_eq "output" 5000 "$(cat "$WORK/out")"
[ -s "$WORK/err" ] && fail "stderr: $(cat "$WORK/err")"
$CHECK valid "$WORK/s.json" || fail "invalid snapshot"
"$TM" symbolize "$WORK/s.json" -o "$WORK/sym.json" 2>"$WORK/err" || fail "symbolize: $(cat "$WORK/err")"
python3 - "$WORK/sym.json" <<'PY' || fail "stacks do not name their functions"
import json, sys
d = json.load(open(sys.argv[1]))
frames, stacks = d["frames"], d["stacks"]
names = [f.get("function") or "" for f in frames]
fns = sum(1 for n in names if n.startswith("f_"))
if fns != 5000:
    sys.exit("%d frames in functions f_NNNN, not 5000" % fns)
seen = set()
for t in d["traces"]:
    inner = [names[i] for i in stacks[t["stack"]]["frames"] if names[i].startswith("f_")]
    if not inner:
        continue
    n = int(inner[0][2:])
    if t["size"] != 16 + n or t["count"] != 1:
        sys.exit("%s: %d bytes in %d blocks, not %d in 1" % (inner[0], t["size"], t["count"], 16 + n))
    if n in seen:
        sys.exit("%s in two traces" % inner[0])
    seen.add(n)
if len(seen) != 5000:
    sys.exit("%d functions in the traces, not 5000" % len(seen))
PY
exit 0
