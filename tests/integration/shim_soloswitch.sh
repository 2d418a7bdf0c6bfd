#!/bin/sh
# shim_soloswitch.sh - the owner changes the live table without locks while
# it records alone; a second thread that reads, frees the owner's blocks
# and allocates switches the process to locks at any point of the owner's
# updates. Five runs: every figure at exit is exact, nothing is lost.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_soloswitch

for run in 1 2 3 4 5; do
    mkdir "$WORK/s$run"
    TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s$run/t.json" \
        preload "$PROG" >"$WORK/out" 2>"$WORK/err"
    assert_eq "exit status (run $run)" 0 "$?"
    # 50000 x 24 + 50000 x 40 bytes kept, the handed blocks all freed
    assert_eq "output (run $run)" "$(printf 'current +3200000\ndone')" "$(cat "$WORK/out")"
    [ -s "$WORK/err" ] && { cat "$WORK/err" >&2; fail "unexpected stderr"; }
    f=$WORK/s$run/t.json
    $CHECK valid "$f" || fail "snapshot invalid (run $run)"
    rows=$(exe_sites "$f" | grep -E '^(24|40|56) ')
    assert_eq "kept and handed blocks (run $run)" \
        "$(printf '24 1200000 50000 1200000 50000\n40 2000000 50000 2000000 50000\n56 0 0 1120000 20000')" "$rows"
    assert_eq "memory.current is the sum of the traces (run $run)" true \
        "$($CHECK get "$f" 's["memory"]["current"] == sum(t["size"] for t in s["traces"] if t["domain"] != 65535)')"
    assert_eq "blocks (run $run)" true \
        "$($CHECK get "$f" 's["memory"]["blocks"] == sum(t["count"] for t in s["traces"] if t["domain"] != 65535)')"
    assert_eq "lost records (run $run)" 0 "$(json "$f" 's["memory"]["lost_records"]')"
done
exit 0
