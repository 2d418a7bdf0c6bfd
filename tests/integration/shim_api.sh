#!/bin/sh
# shim_api.sh - the in-program API (tracemem.h) with tracemalloc semantics:
# start/stop/is_tracing/clear_traces/get_traced_memory/reset_peak exact
# figures, get_object_traceback, domains via track/untrack, add_section,
# take_snapshot(path) and its -EINVAL/-ENOENT/-ENOTSUP cases (checked inside
# tests/progs/shim_api.c); TRACEMEM_START=0; and the same program without
# the shim (weak symbols: tracemem_available() is 0, the program runs).
# Here: what the snapshots taken through the API contain.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_api

run() { # MODE: runs the program, fails on any failed check
    mode=$1
    shift
    mkdir -p "$WORK/$mode"
    "$@" "$PROG" "$mode" "$WORK/$mode" >"$WORK/$mode.out" 2>"$WORK/$mode.err"
    rc=$?
    if [ $rc -ne 0 ] || grep -q FAIL "$WORK/$mode.out"; then
        cat "$WORK/$mode.out" "$WORK/$mode.err" >&2
        fail "$mode: shim_api reported failures (status $rc)"
    fi
    grep -q '^failures: 0$' "$WORK/$mode.out" || fail "$mode: did not run to the end"
}

# Without the shim.
run absent env
[ -s "$WORK/absent.err" ] && fail "absent: unexpected stderr"

# Traced from the start.
TRACEMEM_AT_EXIT=none run traced preload
# the one failed write (to a missing directory) is reported once
assert_eq "traced stderr" "tracemem: cannot write snapshot /nonexistent-dir/x/api.json: No such file or directory" \
    "$(cat "$WORK/traced.err")"
S=$WORK/traced/api.json
$CHECK valid "$S" || fail "api.json invalid"
assert_eq "reason" api "$(json "$S" 's["snapshot"]["reason"]')"
assert_eq "seq" 0 "$(json "$S" 's["snapshot"]["seq"]')"
assert_eq "current" 1600 "$(json "$S" 's["memory"]["current"]')"
assert_eq "blocks" 3 "$(json "$S" 's["memory"]["blocks"]')"
assert_eq "peak" 1664 "$(json "$S" 's["memory"]["peak"]')"
assert_eq "live rows (domain size count)" '[[0, 200, 1], [0, 1000, 1], [5, 400, 1]]' \
    "$(json "$S" 'sorted([t["domain"], t["size"], t["count"]] for t in s["traces"] if t["count"])')"
# domain 6 was tracked and untracked: allocated, not live
assert_eq "domain 6 row" '[[0, 50, 1]]' \
    "$(json "$S" '[[t["count"], t["allocated_size"], t["allocated_count"]] for t in s["traces"] if t["domain"] == 6]')"
assert_eq "section" 42 "$(json "$S" 's["myext"]["answer"]')"
assert_eq "section pad" 200 "$(json "$S" 'len(s["myext"]["pad"])')"
# the 1000-byte block's innermost frame is in the program
assert_eq "module of the 1000-byte block" "$(json "$S" 's["process"]["exe"]')" \
    "$($CHECK where "$S" 1000 | cut -d' ' -f1)"
S2=$WORK/traced/api2.json
$CHECK valid "$S2" || fail "api2.json invalid"
assert_eq "api2 nframes" 3 "$(json "$S2" 's["snapshot"]["nframes"]')"
# seq counts every snapshot asked for (the failed one too)
assert_eq "api2 seq" 2 "$(json "$S2" 's["snapshot"]["seq"]')"
assert_eq "api2 live" '[[2222, 1]]' "$(json "$S2" '[[t["size"], t["count"]] for t in s["traces"] if t["count"]]')"
assert_eq "api2 stacks at most 3 frames" 3 "$(json "$S2" 'max(len(t["frames"]) for t in s["stacks"])')"
assert_eq "api2 depth kept" True "$(json "$S2" 'all(t["depth"] >= 3 for t in s["stacks"])' | sed 's/true/True/')"
[ -e "$WORK/traced/api2.json.tmp-"* ] 2>/dev/null && fail "temporary file left"
[ "$(ls "$WORK/traced")" = "$(printf 'api.json\napi2.json')" ] || fail "unexpected files: $(ls "$WORK/traced")"

# Deferred start.
TRACEMEM_START=0 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/deferred/exit.json" run deferred preload
[ -s "$WORK/deferred.err" ] && { cat "$WORK/deferred.err" >&2; fail "deferred: unexpected stderr"; }
S=$WORK/deferred/api.json
$CHECK valid "$S" || fail "deferred api.json invalid"
assert_eq "deferred live" '[[3333, 1]]' "$(json "$S" '[[t["size"], t["count"]] for t in s["traces"] if t["count"]]')"
assert_eq "deferred nframes" 16 "$(json "$S" 's["snapshot"]["nframes"]')"
# the second snapshot of the process: the template gets its number
E=$WORK/deferred/exit.1.json
$CHECK valid "$E" || fail "deferred exit snapshot invalid"
assert_eq "exit reason" exit "$(json "$E" 's["snapshot"]["reason"]')"
assert_eq "exit seq" 1 "$(json "$E" 's["snapshot"]["seq"]')"
exit 0
