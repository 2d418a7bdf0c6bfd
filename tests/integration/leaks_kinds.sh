#!/bin/sh
# Leak kinds with known answers (tests/progs/leaks_kinds.c), at exit and
# through _exit, and the same per-kind block counts as Valgrind.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/leaks_common.sh"

P=$PROGS/leaks_kinds
[ -x "$P" ] || fail "missing $P"

for how in exit _exit; do
    out=$WORK/$how.json
    run_shim $out 60 "$P" $how || fail "$how: exit status $?"
    assert_eq "$how: checked" true "$(json "$out" 's["leaks"]["checked"]')"
    assert_eq "$how: reason" exit "$(json "$out" 's["snapshot"]["reason"]')"
    # 3 leaked structures: list 1+4 x 32, tree 1+6 x 40, cycle 1+2 x 56;
    # possible: the 400-byte block and the running thread's DTV (glibc
    # keeps a pointer one word into it, as Valgrind reports too);
    # reachable: global 100, main's stack 200, __thread 300, thread 500.
    assert_eq "$how: blocks per kind" "3 12 2 4" "$(leak_counts "$out")"
    assert_eq "$how: definite bytes" 128 "$(leak_bytes "$out" definite)"
    assert_eq "$how: indirect bytes" 480 "$(leak_bytes "$out" indirect)"
    assert_eq "$how: reachable bytes" 1100 "$(leak_bytes "$out" reachable)"
    assert_eq "$how: definite stacks" "[32, 40, 56]" "$(leak_stack_bytes "$out" definite)"
    assert_eq "$how: reachable stacks" "[100, 200, 300, 500]" "$(leak_stack_bytes "$out" reachable)"
    assert_eq "$how: interior pointer" true "$(json "$out" '400 in [x["bytes"] for x in s["leaks"]["stacks"] if x["kind"] == "possible"]')"
    assert_eq "$how: freed blocks" false "$(json "$out" 'any(x["bytes"] % 64 == 0 and x["bytes"] >= 640 for x in s["leaks"]["stacks"])')"
done

# A block whose only other record is the shim's table of tracked domains
run_shim "$WORK/track.json" 60 "$P" track || fail "track: exit status $?"
assert_eq "track: blocks per kind" "4 12 2 4" "$(leak_counts "$WORK/track.json")"
assert_eq "track: definite bytes" 1362 "$(leak_bytes "$WORK/track.json" definite)"

# Sampling every byte (TRACEMEM_SAMPLE=1) records every block with weight 1:
# the scan, which then takes extents from malloc_usable_size, must agree.
(export TRACEMEM_SAMPLE=1; run_shim "$WORK/sampled.json" 60 "$P" exit) || fail "sampled: exit status $?"
assert_eq "sampled: blocks per kind" "3 12 2 4" "$(leak_counts "$WORK/sampled.json")"

if have_valgrind; then
    vg=$(vg_counts "$P" exit)
    note "valgrind: $vg; tracemem: $(leak_counts "$WORK/exit.json")"
    assert_eq "valgrind agrees" "$vg" "$(leak_counts "$WORK/exit.json")"
else
    note "valgrind not installed: no comparison"
fi
exit 0
