#!/bin/sh
# flamegraph, export and trend on hand-made snapshots: output byte for byte
# equal to tests/data/golden/*. tests/data/trend-{1..5}.json are cli-a.json
# with these live sizes, 0.5 s apart (see tests/unit/check_trend.c):
#   node.c:12 <- tree.c:40   1000 2000 3000 4000 5000  steady
#   node.c:12 <- tree.c:41    500 ...                  flat
#   foo_alloc               4096 4096 8192 8192 8192  one step
#   read_config              300 1300  800 1800 1300  sawtooth
#   0x7fff1234                64   64   32   32    0  shrinks
#   tree.c:40 <- tree.c:40   200  210  220  230  240  steady, small
. "$top_srcdir/tests/integration/lib.sh"

cd "$DATA" || fail "no $DATA"
# check NAME ARGS...: tracemem ARGS, with the version in speedscope's
# "exporter" written as VERSION, against golden/NAME
check() {
    name=$1; shift
    "$TM" "$@" 2> "$WORK/$name.err" > "$WORK/$name.raw" ||
        fail "$name: tracemem $* exited $?: $(cat "$WORK/$name.err")"
    sed 's/"exporter":"tracemem [^"]*"/"exporter":"tracemem VERSION"/' \
        "$WORK/$name.raw" > "$WORK/$name"
    [ -s "$WORK/$name.err" ] && fail "$name: unexpected stderr: $(cat "$WORK/$name.err")"
    diff -u "golden/$name" "$WORK/$name" || fail "$name differs from golden/$name"
}
check trend.txt trend trend-3.json trend-1.json trend-5.json trend-2.json trend-4.json
check trend-min-growth.txt trend trend-*.json --min-growth 100
check trend.json trend trend-*.json --format json -n 0
check export-live.folded export cli-a.json --to folded -o -
check export-allocations.folded export cli-a.json --to folded --metric allocations -o -
check export-peak.speedscope.json export cli-a.json --to speedscope --metric peak -o -
check flamegraph-a.svg flamegraph cli-a.json -o -
check flamegraph-diff.svg flamegraph cli-b.json --diff cli-a.json --title "cli-b vs cli-a" -o -
# calls of main from lines 7 and 9 (read_config inlined) are two boxes
check flamegraph-callsite.svg flamegraph cli-a.json --by-call-site -o -
exit 0
