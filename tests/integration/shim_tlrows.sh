#!/bin/sh
# The timeline stays valid when every snapshot's stack walk fills most of
# its rows (tm_manystacks: 32768 stacks changing between 70 snapshots):
# each snapshot is read by the CLI, its resolution is positive and no
# coarser than the run so far allows, and its samples keep their order.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
TRACEMEM_TIMELINE=0.01 TRACEMEM_AT_EXIT=none preload "$PROGS/tm_manystacks" 70 "$WORK" >"$WORK/out" ||
    fail "tm_manystacks exited $?"
# one 16-byte block per stack and round, its first byte the low byte of s
assert_eq "output" "$((70 * 128 * 32640))" "$(cat "$WORK/out")"
python3 - "$WORK" <<'PY' || fail "timelines"
import json, sys
for r in range(70):
    f = f"{sys.argv[1]}/ms.{r}.json"
    t = json.load(open(f))["timeline"]
    res, smp = t["resolution_ns"], t["samples"]
    span = smp[-1][0]
    assert res > 0, (f, res)
    # the spacing of the samples never exceeds the time they span (or the
    # 10 ms it started at)
    assert res <= max(10_000_000, span), (f, res, span)
    assert all(a[0] < b[0] for a, b in zip(smp, smp[1:])), f
    assert len(t["stacks"]) > 0, f
PY
"$TM" stats "$WORK/ms.69.json" >"$WORK/stats" 2>"$WORK/stats.err" || { cat "$WORK/stats.err" >&2; fail "stats of the last snapshot exited $?"; }
