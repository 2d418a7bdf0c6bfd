#!/bin/sh
# rcgc_valgrind.sh - the librcgc Check suite under valgrind: no invalid
# access, no definite or indirect leak (CK_FORK=no keeps every test in the
# one process valgrind watches).
. "$top_srcdir/tests/integration/lib.sh"

command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed"
BIN=$top_builddir/tests/unit/check_rcgc
[ -x "$BIN" ] || fail "$BIN is not built"
# a libtool wrapper script would put valgrind on the shell, not the test
if head -c 2 "$BIN" | grep -q '#!'; then
    RUN="$top_builddir/libtool --mode=execute valgrind"
else
    RUN=valgrind
fi
# RCGC_MALLOC=malloc: one malloc block per object, so that valgrind sees
# every object (pools would hide a leaked object inside a live pool)
RCGC_MALLOC=malloc CK_FORK=no CK_DEFAULT_TIMEOUT=600 $RUN --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --log-file="$WORK/vg.log" \
    "$BIN" >"$WORK/out.txt" 2>&1
rc=$?
cat "$WORK/out.txt"
if [ $rc -ne 0 ]; then
    cat "$WORK/vg.log"
    fail "valgrind or the suite reported errors (status $rc)"
fi
# the suite runs twice: in the incremental mode and in the classic one
[ "$(grep -c '100%: Checks: [0-9]*, Failures: 0, Errors: 0' "$WORK/out.txt")" -eq 2 ] ||
    fail "suite did not pass in both modes"
grep -q 'ERROR SUMMARY: 0 errors' "$WORK/vg.log" || fail "valgrind found errors"
exit 0
