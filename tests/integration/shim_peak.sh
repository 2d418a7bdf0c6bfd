#!/bin/sh
# shim_peak.sh - peak exactness on a program whose heap peak is known
# (tests/progs/shim_peak.c: 20,000,000 bytes): memory.peak equals it
# exactly, the per-stack peak record is within TRACEMEM_PEAK_INACCURACY (1 %)
# of it and its two sites hold what they held then; and, when heaptrack is
# installed, heaptrack's "peak heap memory consumption" for the same program
# is within 1 % of memory.peak (an independent check). With TRACEMEM_SAMPLE
# the peak estimate is within 5 %.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_peak
PEAK=20000000

TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s.json" preload "$PROG" >"$WORK/out" 2>"$WORK/err"
assert_eq "status" 0 "$?"
assert_eq "output" done "$(cat "$WORK/out")"
[ -s "$WORK/err" ] && fail "stderr: $(cat "$WORK/err")"
S=$WORK/s.json
$CHECK valid "$S" || fail "invalid snapshot"
assert_eq "memory.peak" "$PEAK" "$(json "$S" 's["memory"]["peak"]')"
assert_eq "memory.current at exit" 0 "$(json "$S" 's["memory"]["current"]')"
json "$S" 's["peak"]' | python3 -c '
import json, sys
p = json.load(sys.stdin)
peak = int(sys.argv[1])
cur = p["current"]
if not (peak * 0.99 <= cur <= peak):
    sys.exit("peak record %d is not within 1%% below %d" % (cur, peak))
sizes = sorted(t["size"] for t in p["traces"])
if len(sizes) != 2 or sizes[0] != 8000000 or not (cur - 8000000 == sizes[1]):
    sys.exit("peak record traces %r" % p["traces"])
print("# peak record: %d (%.2f%% below the peak)" % (cur, 100.0 * (peak - cur) / peak))
' "$PEAK" || fail "peak record"
# Exact peak record with TRACEMEM_PEAK_INACCURACY=0.001 % (200 bytes here).
TRACEMEM_PEAK_INACCURACY=0.001 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s2.json" \
    preload "$PROG" >/dev/null 2>&1
cur=$(json "$WORK/s2.json" 's["peak"]["current"]')
[ $((PEAK - cur)) -le 200 ] && [ "$cur" -le "$PEAK" ] || fail "peak record at 0.001 %: $cur"
# Sampled (about 5000 samples up to the peak): the estimate is within 5 %
# and everything freed brings current back to exactly 0.
TRACEMEM_SAMPLE=4096 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s3.json" \
    preload "$PROG" >/dev/null 2>&1
assert_eq "sampled: current at exit" 0 "$(json "$WORK/s3.json" 's["memory"]["current"]')"
est=$(json "$WORK/s3.json" 's["memory"]["peak"]')
[ "$est" -ge $((PEAK * 95 / 100)) ] && [ "$est" -le $((PEAK * 105 / 100)) ] ||
    fail "sampled peak $est not within 5 % of $PEAK"
note "sampled peak estimate: $est"

if ! command -v heaptrack >/dev/null 2>&1 || ! command -v heaptrack_print >/dev/null 2>&1; then
    note "heaptrack is not installed: the comparison with it is skipped"
    exit 0
fi
(cd "$WORK" && heaptrack -o "$WORK/ht" "$PROG") >"$WORK/ht.log" 2>&1 || fail "heaptrack failed: $(cat "$WORK/ht.log")"
data=$(ls "$WORK"/ht.zst "$WORK"/ht.gz 2>/dev/null | head -n 1)
[ -n "$data" ] || fail "heaptrack wrote no data: $(ls "$WORK")"
heaptrack_print -f "$data" >"$WORK/ht.txt" 2>&1 || fail "heaptrack_print failed"
line=$(grep '^peak heap memory consumption:' "$WORK/ht.txt")
[ -n "$line" ] || fail "no peak in heaptrack_print's output"
python3 -c '
import re, sys
line, ours = sys.argv[1], int(sys.argv[2])
m = re.search(r"consumption: ([0-9.]+)([BKMGT]?)", line)
if not m:
    sys.exit("cannot parse: " + line)
# heaptrack_print formats bytes in units of 1000 with two decimals
ht = float(m.group(1)) * {"": 1, "B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
diff = abs(ht - ours) / ours
print("# heaptrack peak %s = %.0f bytes, tracemem %d: %.2f%% apart" % (m.group(1) + m.group(2), ht, ours, 100 * diff))
if diff > 0.01:
    sys.exit("heaptrack and tracemem peaks differ by more than 1 %")
' "$line" "$(json "$S" 's["memory"]["peak"]')" || fail "peak comparison with heaptrack"
exit 0
