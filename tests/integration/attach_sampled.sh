#!/bin/sh
# attach_sampled.sh - tracemem attach to one process four times, sampled,
# exact, sampled, exact (tests/progs/shim_sampled.c steady: a ring of 1024
# blocks, each malloc freeing the oldest). An exact attach after a sampled
# one must see every free again: sampled mode's free skips the live table
# where its table of sampled addresses says no sampled block starts, a
# table exact mode does not keep (attach.c clears the pointer free tests).
# A missed free would leave a block live for good: more than the ring's
# 1024 at the program's site. The sampled snapshots say they are sampled.
. "$top_srcdir/tests/integration/lib.sh"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
[ "$(uname -m)" = x86_64 ] || skip "attach is implemented for x86-64 only"

PROG=$PROGS/shim_sampled
"$PROG" steady 20000 > "$WORK/prog.out" &
pid=$!
sleep 0.3
n=0
for sample in 4096 0 65536 0; do
    n=$((n + 1))
    "$TM" attach --duration 0.6 --sample $sample -o "$WORK/a$n.%p.json" $pid > "$WORK/out" 2> "$WORK/err"
    rc=$?
    if [ $rc = 2 ] && grep -q "not allowed to trace" "$WORK/err"; then
        skip "ptrace is not permitted here: $(cat "$WORK/err")"
    fi
    [ $rc = 0 ] || fail "attach $n (sample $sample) exited $rc: $(cat "$WORK/err")"
    S=$WORK/a$n.$pid.json
    [ -f "$S" ] || fail "attach $n: no snapshot: $(ls "$WORK")"
    assert_eq "attach $n: sampling_bytes" $sample "$(json "$S" 's["snapshot"]["sampling_bytes"]')"
    kill -0 $pid 2>/dev/null || fail "the program did not survive attach $n"
    if [ $sample = 0 ]; then
        # every block the ring holds was allocated since the attach or
        # before it (not traced): at most 1024 live at the program's site,
        # and thousands allocated there meanwhile
        exe_sites "$S" > "$WORK/sites$n"
        live=$(awk '{n += $3} END {print n + 0}' "$WORK/sites$n")
        made=$(awk '{n += $5} END {print n + 0}' "$WORK/sites$n")
        [ "$live" -le 1024 ] || fail "attach $n: $live blocks live at the program's sites, the ring holds 1024"
        [ "$made" -ge 2000 ] || fail "attach $n: only $made allocations seen at the program's sites"
        note "attach $n (exact): $live live of $made allocated"
    fi
done
kill $pid
wait $pid 2>/dev/null || true
