#!/bin/sh
# rcgc_section.sh - a librcgc program (examples/rcgc_graph) under the shim:
# its snapshots carry the gc section with the right figures, and
# `tracemem gc` / `tracemem diff` show them.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "the shim is not built"
[ -x "$TM" ] || skip "the tracemem command is not built"
PROG=$top_builddir/examples/rcgc_graph
[ -x "$PROG" ] || fail "$PROG is not built"

# The example snapshots after phase 1 and phase 2, then at exit: three files.
TRACEMEM_OUTPUT=$WORK/x.json preload "$PROG" >"$WORK/out.txt" || fail "rcgc_graph failed"
P1=$WORK/x.json P2=$WORK/x.1.json P3=$WORK/x.2.json
for f in "$P1" "$P2" "$P3"; do [ -s "$f" ] || fail "missing snapshot $f"; done

# Node: 6 pointers and an int = 56 bytes + 24-byte header = 80 bytes each.
# phase 1: 40 documents of 341 nodes; automatic collections only, in the
# incremental mode (the default): 13640 allocations, one increment each
# 701 (generation 1); count[1] is the increments since the last pass over
# the old generation was completed, count[2] the passes (old_scans)
assert_eq "p1 enabled" true "$(json "$P1" "s['gc']['enabled']")"
assert_eq "p1 incremental" true "$(json "$P1" "s['gc']['incremental']")"
assert_eq "p1 thresholds" "[700, 10, 10]" "$(json "$P1" "s['gc']['thresholds']")"
assert_eq "p1 counts" "[321, 2, 8]" "$(json "$P1" "s['gc']['counts']")"
assert_eq "p1 old scans" 8 "$(json "$P1" "s['gc']['old_scans']")"
assert_eq "p1 types" '[["Node", 13640, 1091200]]' \
    "$(json "$P1" "[[t['name'], t['count'], t['bytes']] for t in s['gc']['types']]")"
assert_eq "p1 gen0 collections" 0 "$(json "$P1" "s['gc']['generations'][0]['collections']")"
assert_eq "p1 increments" 19 "$(json "$P1" "s['gc']['generations'][1]['collections']")"
assert_eq "p1 full collections" 0 "$(json "$P1" "s['gc']['generations'][2]['collections']")"
# pause figures: one per collection, the histogram adds up, percentiles in order
assert_eq "p1 pause counts" "[0, 19, 0]" "$(json "$P1" "[p['count'] for p in s['gc']['pauses']]")"
assert_eq "p1 histogram sums" "[0, 19, 0]" \
    "$(json "$P1" "[sum(b['count'] for b in p['histogram']) for p in s['gc']['pauses']]")"
assert_eq "p1 percentiles in order" true \
    "$(json "$P1" "all(0 < p['p50'] <= p['p90'] <= p['p99'] <= p['max'] <= p['seconds'] for p in s['gc']['pauses'][1:2])")"
assert_eq "p1 pause total = increments' seconds" true \
    "$(json "$P1" "abs(s['gc']['pauses'][1]['seconds'] - s['gc']['generations'][1]['seconds']) < 1e-6")"
assert_eq "p1 last event is an increment" 1 "$(json "$P1" "s['gc']['events'][-1]['generation']")"
assert_eq "p1 events (ring of 16)" 16 "$(json "$P1" "len(s['gc']['events'])")"
assert_eq "p1 garbage, frozen" "0 0" "$(json "$P1" "'%d %d' % (s['gc']['garbage'], s['gc']['frozen'])")"

# phase 2: half the documents (6820 nodes) plus a node/resource cycle collected
assert_eq "p2 full collection" "[1, 6822, 0]" \
    "$(json "$P2" "[s['gc']['generations'][2][k] for k in ('collections', 'collected', 'uncollectable')]")"
assert_eq "p2 last event" "[2, 6822, 0]" \
    "$(json "$P2" "[s['gc']['events'][-1][k] for k in ('generation', 'collected', 'uncollectable')]")"
assert_eq "p2 types" '[["Node", 6820, 545600], ["weakref", 8, 640]]' \
    "$(json "$P2" "sorted([t['name'], t['count'], t['bytes']] for t in s['gc']['types'])")"
assert_eq "p2 counts" "[0, 0, 0]" "$(json "$P2" "s['gc']['counts']")"
assert_eq "p2 full pause" true \
    "$(json "$P2" "s['gc']['pauses'][2]['count'] == 1 and s['gc']['pauses'][2]['max'] == s['gc']['pauses'][2]['seconds'] > 0")"

# exit: everything collected, nothing alive
assert_eq "exit types" "[]" "$(json "$P3" "s['gc']['types']")"
assert_eq "exit collected" 13650 "$(json "$P3" "s['gc']['generations'][2]['collected']")"

# tracemem gc
"$TM" gc "$P2" >"$WORK/gc.txt" || fail "tracemem gc failed"
grep -q '^        6820         545600  Node$' "$WORK/gc.txt" || fail "gc: no Node line: $(cat "$WORK/gc.txt")"
grep -q '^           8            640  weakref$' "$WORK/gc.txt" || fail "gc: no weakref line"
grep -q '^2  *1  *6822  *0  *[0-9.]*$' "$WORK/gc.txt" || fail "gc: generation 2 line"
grep -q '^thresholds: 700 10 10   counts: 0 0 0$' "$WORK/gc.txt" || fail "gc: thresholds line"
grep -q '^mode: incremental (old generation scanned through 8 times)$' "$WORK/gc.txt" || fail "gc: mode line"
grep -q '^1 increment  *19  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9.]*$' "$WORK/gc.txt" || fail "gc: increment pauses line"
# the histogram's rows add up to the collections, per generation
assert_eq "gc histogram sums" "0 19 1" "$(awk '/^pause histogram:/ { h = 1; next } h && /^$/ { h = 0 } h && $1 != "pause" { a += substr($0, 14, 10); b += substr($0, 25, 10); c += substr($0, 36, 10) } END { print a + 0, b + 0, c + 0 }' "$WORK/gc.txt")"
"$TM" gc --format json "$P2" >"$WORK/gc.json" || fail "tracemem gc --format json failed"
assert_eq "gc json first type" "Node 6820" "$(json "$WORK/gc.json" "'%s %d' % (s['types'][0]['name'], s['types'][0]['count'])")"

# tracemem diff: growth of live objects by type next to growth by stack
"$TM" diff "$P1" "$P2" >"$WORK/diff.txt" || fail "tracemem diff failed"
grep -q '^Node  *6820  *-6820  *545600  *-545600$' "$WORK/diff.txt" || fail "diff: Node row: $(cat "$WORK/diff.txt")"
grep -q '^weakref  *8  *+8  *640  *+640$' "$WORK/diff.txt" || fail "diff: weakref row"
"$TM" diff --format json "$P1" "$P2" >"$WORK/diff.json" || fail "tracemem diff --format json failed"
assert_eq "diff json gc types" \
    '[["Node", 6820, -6820, 545600, -545600], ["weakref", 8, 8, 640, 640]]' \
    "$(json "$WORK/diff.json" "[[t[k] for k in ('type', 'count', 'count_diff', 'bytes', 'bytes_diff')] for t in s['gc']['types']]")"

# errors: no gc section, malformed gc section -> exit 2, one line
python3 - "$P2" "$WORK" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
g = dict(s); del g["gc"]
json.dump(g, open(sys.argv[2] + "/nogc.json", "w"))
s["gc"]["counts"] = [1, 2]
json.dump(s, open(sys.argv[2] + "/badgc.json", "w"))
PY
"$TM" gc "$WORK/nogc.json" 2>"$WORK/err.txt" >/dev/null
assert_eq "no gc section status" 2 $?
grep -q "nogc.json: no gc section" "$WORK/err.txt" || fail "no gc section message: $(cat "$WORK/err.txt")"
"$TM" gc "$WORK/badgc.json" 2>"$WORK/err.txt" >/dev/null
assert_eq "bad gc section status" 2 $?
grep -q "badgc.json: gc.counts is not an array of 3 numbers" "$WORK/err.txt" || fail "bad gc message: $(cat "$WORK/err.txt")"
"$TM" gc 2>/dev/null
assert_eq "usage status" 2 $?
exit 0
