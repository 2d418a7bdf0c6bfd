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
exit 0
