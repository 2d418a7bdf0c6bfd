#!/bin/sh
# shim_gdb.sh - a traced program run to completion under gdb -batch keeps
# its output and exit status: the exit-time leak check sends no signal
# when another tracer is attached (gdb stopped the program on it, SIG62,
# and -batch then killed it). A thread blocked in a system call is
# scanned whole, so the leak check still has its answer.
. "$top_srcdir/tests/integration/lib.sh"
command -v gdb >/dev/null 2>&1 || skip "gdb is not installed"
PROG=$PROGS/shim_blocked

TRACEMEM_OUTPUT="$WORK/s.json" timeout 120 gdb -nx -batch -ex 'set startup-with-shell off' \
    -ex "set environment LD_PRELOAD $SHIM" -ex run --args "$PROG" >"$WORK/out" 2>&1
cat "$WORK/out" >"$WORK/out.keep"
grep -q 'received signal' "$WORK/out" && fail "the program stopped on a signal: $(cat "$WORK/out")"
grep -q '^done$' "$WORK/out" || fail "the program's output is missing: $(cat "$WORK/out")"
grep -q 'exited with code 03' "$WORK/out" || fail "the exit status is lost: $(cat "$WORK/out")"
[ -s "$WORK/s.json" ] || fail "no snapshot"
assert_eq "leaks checked" true "$(json "$WORK/s.json" 's["leaks"]["checked"]')"
assert_eq "definite leak" "1 100" \
    "$(json "$WORK/s.json" '"%d %d" % (s["leaks"]["summary"]["definite"]["blocks"], s["leaks"]["summary"]["definite"]["bytes"])')"
exit 0
