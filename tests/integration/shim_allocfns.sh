#!/bin/sh
# shim_allocfns.sh - every allocation function keeps glibc's semantics under
# the shim (same observations as an untraced run: NULL/errno results,
# alignment, realloc/pvalloc/usable-size behaviour, errno kept by free), and
# the snapshot holds exactly the blocks the program left live, each with its
# size (pvalloc rounded to pages; a failed realloc keeps its block; realloc
# to 0 frees).
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_allocfns

"$PROG" >"$WORK/plain.out" 2>"$WORK/plain.err"
plain_rc=$?
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/snap.json" \
    preload "$PROG" >"$WORK/shim.out" 2>"$WORK/shim.err"
shim_rc=$?
assert_eq "exit status" "$plain_rc" "$shim_rc"
assert_eq "exit status" 0 "$shim_rc"
diff -u "$WORK/plain.out" "$WORK/shim.out" >&2 || fail "output differs under the shim"
[ -s "$WORK/shim.err" ] && { cat "$WORK/shim.err" >&2; fail "the shim wrote to stderr"; }
grep -q '^blocks kept: 13$' "$WORK/shim.out" || fail "program did not run to the end"

[ -f "$WORK/snap.json" ] || fail "no snapshot written"
$CHECK valid "$WORK/snap.json" || fail "snapshot invalid"
page=$(getconf PAGESIZE)
expected=$(printf '%s\n' 1111 2107 1313 1414 1616 1700 1750 1818 1920 2020 2121 \
    "$page" $((2 * page)) | sort -n | sed 's/$/ 1/')
actual=$($CHECK exe "$WORK/snap.json")
[ "$expected" = "$actual" ] || {
    printf 'expected:\n%s\nactual:\n%s\n' "$expected" "$actual" >&2
    fail "live blocks allocated by main() differ from what it kept"
}
# realloc(p, 0) freed the 1515-byte block; failed calls recorded nothing.
n=$($CHECK get "$WORK/snap.json" 'len([t for t in s["traces"] if t["count"] and t["size"] in (1515, 100, 50, 20)])')
assert_eq "traces of freed blocks still live" 0 "$n"
assert_eq "lost records" 0 "$(json "$WORK/snap.json" 's["memory"]["lost_records"]')"
exit 0
