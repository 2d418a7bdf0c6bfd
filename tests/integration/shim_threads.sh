#!/bin/sh
# shim_threads.sh - four threads allocating and freeing/reallocating each
# other's blocks: at exit the figures add up exactly (live bytes and blocks
# per call site, allocated totals, memory.current == sum of traces), and
# snapshots taken every 10 ms while the threads run are each consistent.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_threads

TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/t.json" preload "$PROG" >"$WORK/out" 2>"$WORK/err"
assert_eq "exit status" 0 "$?"
assert_eq "output" "live blocks: 10000" "$(cat "$WORK/out")"
[ -s "$WORK/err" ] && { cat "$WORK/err" >&2; fail "unexpected stderr"; }
S=$WORK/t.json
$CHECK valid "$S" || fail "snapshot invalid"
# Live: 4 x 2500 realloc'd blocks of 32, 48, 64 and 80 bytes.
assert_eq "live blocks of the program" "560000 10000" "$($CHECK exe "$S")"
exe=$(json "$S" 's["process"]["exe"]')
# Every block ever allocated by the program's two sites (malloc, realloc).
rows=$(python3 - "$S" "$exe" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
out = []
for t in s["traces"]:
    f = s["frames"][s["stacks"][t["stack"]]["frames"][0]]
    if s["modules"][f["module"]]["path"] == sys.argv[2] and t["allocated_count"] >= 10000:
        out.append("%d %d %d %d" % (t["size"], t["count"], t["allocated_size"], t["allocated_count"]))
print("\n".join(sorted(out)))
PY
)
assert_eq "per-site figures (live, allocated)" "$(printf '0 0 960000 20000\n560000 10000 560000 10000')" "$rows"
assert_eq "lost records" 0 "$(json "$S" 's["memory"]["lost_records"]')"

# Snapshots written by the helper thread while four threads allocate.
mkdir "$WORK/iv"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_INTERVAL=0.01 TRACEMEM_OUTPUT="$WORK/iv/t.json" \
    preload "$PROG" 30 >"$WORK/out" 2>"$WORK/err"
assert_eq "exit status" 0 "$?"
assert_eq "output" "live blocks: 10000" "$(cat "$WORK/out")"
[ -s "$WORK/err" ] && { cat "$WORK/err" >&2; fail "unexpected stderr"; }
n=$(ls "$WORK/iv" | wc -l)
[ "$n" -ge 3 ] || fail "expected several interval snapshots, got $n"
$CHECK valid "$WORK"/iv/*.json || fail "a snapshot taken while threads run is invalid"
last=$WORK/iv/$(cd "$WORK/iv" && ls | sort -t. -k2 -n | tail -n 1)
assert_eq "last is the exit snapshot" exit "$(json "$last" 's["snapshot"]["reason"]')"
assert_eq "live blocks at exit after 30 rounds" "560000 10000" "$($CHECK exe "$last")"
note "$n snapshots while running"
exit 0
