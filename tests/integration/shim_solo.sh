#!/bin/sh
# shim_solo.sh - the counters stay exact across the switch from one
# recording thread (plain updates) to several (atomics): the solo phase's
# current and peak from tracemem_get_traced_memory, per-site figures in a
# signal snapshot taken while four threads churn, and everything at exit.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_solo

mkdir "$WORK/s"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_SIGNAL=USR1 TRACEMEM_OUTPUT="$WORK/s/t.json" \
    preload "$PROG" >"$WORK/out" 2>"$WORK/err"
assert_eq "exit status" 0 "$?"
assert_eq "output" "$(printf 'solo current +24000\nsolo peak exact\ndone')" "$(cat "$WORK/out")"
[ -s "$WORK/err" ] && { cat "$WORK/err" >&2; fail "unexpected stderr"; }
$CHECK valid "$WORK"/s/*.json || fail "snapshot invalid"
sig=""
for f in "$WORK"/s/*.json; do
    case $(json "$f" 's["snapshot"]["reason"]') in
    signal) sig=$f ;;
    exit) fin=$f ;;
    esac
done
[ -n "$sig" ] || fail "no signal snapshot"
[ -n "$fin" ] || fail "no exit snapshot"

# While running: the kept blocks are exact; the churn sites have at most
# one live block per thread.
exe_sites "$sig" >"$WORK/sig"
assert_eq "kept 24-byte blocks (signal)" "24 24000 1000 24000 1000" "$(grep '^24 ' "$WORK/sig")"
assert_eq "kept 40-byte blocks (signal)" "40 120000 3000 120000 3000" "$(grep '^40 ' "$WORK/sig")"
live16=$(awk '$1 == 16 {print $3}' "$WORK/sig")
[ "${live16:-0}" -le 3 ] || fail "16-byte churn: $live16 live blocks while running"
assert_eq "solo churn (signal)" "8 0 0 1600000 200000" "$(grep '^8 ' "$WORK/sig")"
# memory.current against the traces: within the blocks in flight.
d=$($CHECK get "$sig" 'abs(s["memory"]["current"] - sum(t["size"] for t in s["traces"] if t["domain"] != 65535))')
[ "$d" -le 64 ] || fail "signal snapshot: memory.current differs from the traces by $d"

exe_sites "$fin" >"$WORK/fin"
assert_eq "sites at exit" "$(printf '8 0 0 1600000 200000\n16 0 0 24000000 1500000\n17 0 0 3400000 200000\n24 24000 1000 24000 1000\n40 120000 3000 120000 3000')" \
    "$(grep -v '^1000000 ' "$WORK/fin")"
assert_eq "memory.current is the sum of the traces at exit" true \
    "$($CHECK get "$fin" 's["memory"]["current"] == sum(t["size"] for t in s["traces"] if t["domain"] != 65535)')"
assert_eq "lost records" 0 "$(json "$fin" 's["memory"]["lost_records"]')"
exit 0
