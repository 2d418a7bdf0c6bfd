#!/bin/sh
# Two runs of tm_allocs, the second leaking 3 more pages: tracemem diff
# shows exactly +12288 B / +3 blocks at SITE_LEAK and nothing else grew,
# although the two processes were loaded at different addresses.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
SRC=tests/progs/tm_allocs.c
line() { grep -n "SITE_$1 " "$top_srcdir/$SRC" | cut -d: -f1; }

cd "$WORK" || fail "no $WORK"
"$TM" run -q -o "$WORK/old.json" "$PROGS/tm_allocs" 2 || fail "run 1"
"$TM" run -q -o "$WORK/new.json" "$PROGS/tm_allocs" 5 || fail "run 2"
b1=$(json old.json 's["modules"][0]["base"]')
b2=$(json new.json 's["modules"][0]["base"]')
[ "$b1" != "$b2" ] || note "same load address twice (no ASLR?)"

"$TM" diff old.json new.json --format json -n 0 > diff.json || fail "diff exited $?"
assert_eq "first key" "$SRC:$(line LEAK)" \
    "$(json diff.json 's["stats"][0]["key"]' | sed 's|.*/\(tests/progs/\)|\1|')"
assert_eq "size_diff" 12288 "$(json diff.json 's["stats"][0]["size_diff"]')"
assert_eq "count_diff" 3 "$(json diff.json 's["stats"][0]["count_diff"]')"
assert_eq "size" 20480 "$(json diff.json 's["stats"][0]["size"]')"
assert_eq "others unchanged" "[0, 0, 0]" \
    "$(json diff.json '[x["size_diff"] for x in s["stats"][1:]]')"
assert_eq "total" 12288 "$(json diff.json 's["total"]["size_diff"]')"

"$TM" diff old.json new.json > diff.txt || fail "diff text"
head -n 1 diff.txt | grep -q "/$SRC:$(line LEAK): size=20.0 KiB (+12.0 KiB), count=5 (+3), average=4096 B\$" ||
    fail "diff text: $(head -n 1 diff.txt)"

# a rebuilt program (the same source linked without PIE: other code
# layout, other build-id) still diffs by file:line and by function
if [ -x "$PROGS/tm_allocs_nopie" ]; then
    "$TM" run -q -o "$WORK/rebuilt.json" "$PROGS/tm_allocs_nopie" 5 || fail "run 3"
    "$TM" diff old.json rebuilt.json --format json -n 0 > diff.json || fail "diff rebuilt"
    assert_eq "rebuilt: growth" "[12288, 0, 0, 0]" \
        "$(json diff.json '[x["size_diff"] for x in s["stats"]]')"
    "$TM" diff old.json rebuilt.json --by function --format json -n 0 > diff.json
    assert_eq "rebuilt: by function" '[["leak_pages", 12288], ["main", 0], ["make_buffer", 0]]' \
        "$(json diff.json '[[x["key"], x["size_diff"]] for x in s["stats"]]')"
fi

# by traceback: one stack grew, found by symbolic key across both runs
"$TM" diff old.json new.json --by traceback --format json > diff.json
assert_eq "traceback diffs" "[12288, 0, 0, 0]" \
    "$(json diff.json '[x["size_diff"] for x in s["stats"]]')"
exit 0
