#!/bin/sh
# tracemem top/diff on the hand-made snapshots tests/data/cli-{a,b}.json:
# text and JSON output byte for byte equal to tests/data/golden/*.
. "$top_srcdir/tests/integration/lib.sh"

cd "$DATA" || fail "no $DATA"
check() {
    name=$1; shift
    "$TM" "$@" > "$WORK/$name" 2> "$WORK/$name.err" ||
        fail "$name: tracemem $* exited $?: $(cat "$WORK/$name.err")"
    [ -s "$WORK/$name.err" ] && fail "$name: unexpected stderr: $(cat "$WORK/$name.err")"
    diff -u "golden/$name" "$WORK/$name" || fail "$name differs from golden/$name"
}
check top-lineno.txt top cli-a.json
check top-traceback.txt top cli-a.json --by traceback -n 0
check top-function-cumulative.txt top cli-a.json --cumulative --by function
check top-allocations.txt top cli-a.json --sort allocations -n 3
check top-lineno.json top cli-a.json --format json -n 3
check top-traceback.json top cli-a.json --by traceback --format json -n 2
check diff-lineno.txt diff cli-a.json cli-b.json
check diff-lineno.json diff cli-a.json cli-b.json --format json
check diff-traceback.txt diff cli-a.json cli-b.json --by traceback -n 3

# librcgc's gc sections in both: growth by object type after the stacks
"$TM" diff cli-gc-a.json cli-gc-b.json -n 2 > "$WORK/gc.txt" || fail "diff gc"
head -n 1 "$WORK/gc.txt" | grep -q '^/src/app/node.c:12: size=3000 B (+1500 B)' ||
    fail "diff gc: stacks first: $(cat "$WORK/gc.txt")"
grep -q '^Growth of live objects by type (gc):$' "$WORK/gc.txt" || fail "no gc growth: $(cat "$WORK/gc.txt")"
grep -q '^Node  *30  *+20  *1440  *+960$' "$WORK/gc.txt" || fail "gc growth of Node: $(cat "$WORK/gc.txt")"
"$TM" diff cli-gc-a.json cli-gc-b.json --format json > "$WORK/gc.json" || fail "diff gc json"
assert_eq "gc json" '[["Node", 30, 20, 960]]' \
    "$(json "$WORK/gc.json" '[[t["type"], t["count"], t["count_diff"], t["bytes_diff"]] for t in s["gc"]["types"]]')"
assert_eq "stacks still there" 1500 "$(json "$WORK/gc.json" 's["stats"][0]["size_diff"]')"
# only one side with a gc section: no gc part
"$TM" diff cli-a.json cli-gc-b.json --format json > "$WORK/gc.json" || fail "diff one gc"
assert_eq "one-sided gc" false "$(json "$WORK/gc.json" '"gc" in s')"
exit 0
