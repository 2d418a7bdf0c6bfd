#!/bin/sh
# shim_sampled.sh - sampled mode's hooks count in the hook what they do
# not sample (shim.h, tm__sample_pass); this checks that against exact
# mode on real threads (tests/progs/shim_sampled.c):
#  * sizes.allocated is the same, bucket by bucket, in exact mode and at
#    two sampling distances: every allocation of 4 threads through malloc,
#    calloc, realloc and posix_memalign is counted once, none twice;
#  * the estimates stay near the truth: nothing is left live at the
#    program's own sites (it frees every block: a sampled block whose
#    free went unseen would be), and the estimated allocations are within
#    10 % of the exact count;
#  * the timeline still samples a program that allocates steadily (the
#    hooks read the clock every 4 to 64 KiB a thread allocates);
#  * every thread's errno survives its allocations and frees, exact and
#    sampled, in threads that replace threads that exited (the hooks keep
#    each thread's errno address: tm__errno).
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_sampled

run() { # NAME SAMPLE ARGS...
    name=$1 sample=$2; shift 2
    TRACEMEM_SAMPLE=$sample TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/$name.json" \
        preload "$PROG" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    assert_eq "$name: status" 0 "$?"
    [ -s "$WORK/$name.err" ] && fail "$name: stderr: $(cat "$WORK/$name.err")"
    $CHECK valid "$WORK/$name.json" || fail "$name: invalid snapshot"
}

# the program frees every block it makes: nothing live at its own sites
live_at_exe() {
    exe_sites "$1" | awk '$2 != 0 || $3 != 0'
}

run exact 0 hist
assert_eq "exact: output" "hist 800000" "$(cat "$WORK/exact.out")"
assert_eq "exact: allocations at the program's sites" 800000 \
    "$(exe_sites "$WORK/exact.json" | awk '{n += $5} END {print n}')"
assert_eq "exact: live at the program's sites" "" "$(live_at_exe "$WORK/exact.json")"
hist=$(json "$WORK/exact.json" 's["sizes"]["allocated"]')
total=$(json "$WORK/exact.json" 'sum(n for m, n, b in s["sizes"]["allocated"])')
[ "$total" -ge 800000 ] && [ "$total" -le 800100 ] || fail "exact: $total allocations counted, not 800000 and the C library's few"
for sample in 4096 524288; do
    run "s$sample" $sample hist
    assert_eq "sampled $sample: sampling_bytes" $sample "$(json "$WORK/s$sample.json" 's["snapshot"]["sampling_bytes"]')"
    assert_eq "sampled $sample: sizes.allocated" "$hist" "$(json "$WORK/s$sample.json" 's["sizes"]["allocated"]')"
    assert_eq "sampled $sample: live at the program's sites" "" "$(live_at_exe "$WORK/s$sample.json")"
done
# 4096 bytes apart: about 2700 samples of ~11 GB; the allocations estimated
# from them (sum of the traces' weights) within 10 %
json "$WORK/s4096.json" 'sum(t["allocated_count"] for t in s["traces"])' | python3 -c '
import sys
est, total = int(sys.stdin.read()), int(sys.argv[1])
if abs(est - total) > total / 10:
    sys.exit("estimated allocations %d, exact %d" % (est, total))
print("# estimated allocations %d, exact %d" % (est, total))' "$total" || fail "sampled 4096: estimate"

run steady 65536 steady 400
assert_eq "steady: output" steady "$(cat "$WORK/steady.out")"
python3 - "$WORK/steady.json" <<'PY' || fail "steady: timeline"
import json, sys
s = json.load(open(sys.argv[1]))
smp = s["timeline"]["samples"]
t = [x[0] for x in smp]
if len(smp) < 20 or t != sorted(set(t)):
    sys.exit("%d samples over 400 ms at %d ns: %r" % (len(smp), s["timeline"]["resolution_ns"], t))
print("# %d timeline samples" % len(smp))
PY

for sample in 0 4096; do
    run "errno$sample" $sample errno
    assert_eq "errno, sample $sample" "errno 0 threads changed" "$(cat "$WORK/errno$sample.out")"
done
