#!/bin/sh
# tracemem_leak_check() on demand, three times in one run: each returns the
# definite+indirect block count, writes a "leak-check" snapshot with the
# same classification, and the program goes on to a normal exit snapshot.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/leaks_common.sh"

P=$PROGS/leaks_kinds
[ -x "$P" ] || fail "missing $P"

run_shim $WORK/snap.%n.json 60 "$P" check >"$WORK/out" 2>"$WORK/err" ||
    fail "exit status $?"
assert_eq "return values" "leak_check 15 leak_check 15 leak_check 15" "$(cat "$WORK/out" | tr '\n' ' ' | sed 's/ $//')"
[ -s "$WORK/err" ] && fail "unexpected messages: $(cat "$WORK/err")"
n=0
for f in "$WORK"/snap.*.json; do
    n=$((n + 1))
    reason=$(json "$f" 's["snapshot"]["reason"]')
    counts=$(leak_counts "$f")
    # stdout's buffer (allocated by the first printf) is reachable from the
    # second check on: only the first three kinds are fixed.
    assert_eq "$f: definite indirect possible" "3 12 2" "$(echo $counts | cut -d' ' -f1-3)"
    case $reason in
    leak-check|exit) ;;
    *) fail "$f: reason $reason" ;;
    esac
done
assert_eq "snapshots" 4 "$n"
assert_eq "leak-check snapshots" 3 "$(grep -l '"reason":"leak-check"' "$WORK"/snap.*.json | wc -l | tr -d ' ')"

# A process killed in the middle of a scan (SIGPIPE on the debug output
# here) must not hang: the tracer task holding its threads goes with it.
start=$(date +%s)
(export TRACEMEM_LEAK_DEBUG=1; run_shim "$WORK/k.%n.json" 30 "$P" check 2>&1 >/dev/null | head -n 2 >/dev/null)
[ $(($(date +%s) - start)) -lt 20 ] || fail "a process killed during the scan hung"
exit 0
