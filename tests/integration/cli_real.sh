#!/bin/sh
# A real program: sqlite3 under tracemem run, symbolized with function
# names from libsqlite3 (its exported symbols; DWARF when -dbgsym is there).
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
SQLITE=$(command -v sqlite3) || skip "no sqlite3"
cd "$WORK" || fail "no $WORK"
unset DEBUGINFOD_URLS
"$TM" run -o "$WORK/sq.%p.json" "$SQLITE" :memory: \
    "create table t(x); insert into t select randomblob(1000) from generate_series(1, 200); select count(*) from t;" \
    > out 2> summary || fail "run exited $?: $(cat summary)"
assert_eq "program output" 200 "$(cat out)"
grep -q "exited with status 0" summary || fail "summary: $(cat summary)"
snap=$(only_file "$WORK/sq.*.json")
# sqlite3Malloc is an allocation function: folded away in the summary and
# in top, there with --keep-alloc-frames
grep -q "sqlite3Malloc (libsqlite3.so" summary && fail "sqlite3Malloc not folded: $(cat summary)"
"$TM" top --peak --by traceback -n 1 "$snap" > folded.txt || fail "top folded"
grep -q "sqlite3Malloc" folded.txt && fail "sqlite3Malloc in the folded stack: $(cat folded.txt)"
grep -q "(libsqlite3.so" folded.txt || fail "no libsqlite3 frame: $(cat folded.txt)"
"$TM" top --peak --by traceback -n 1 --keep-alloc-frames "$snap" > raw.txt || fail "top raw"
grep -q "sqlite3Malloc (libsqlite3.so" raw.txt || fail "no sqlite3 function in the raw stack: $(cat raw.txt)"

"$TM" top --peak --by module --format json "$snap" > top.json || fail "top"
big=$(json top.json '[x["size"] for x in s["stats"] if x["key"].startswith("libsqlite3.so")][0]')
[ "$big" -ge 200000 ] || fail "libsqlite3 peak only $big bytes"

"$TM" top --peak --by function --cumulative -n 0 --format json --keep-alloc-frames "$snap" > top.json
assert_eq "sqlite3Malloc" true \
    "$(json top.json 'any(x["key"] == "sqlite3Malloc" and x["size"] >= 200000 for x in s["stats"])')"
assert_eq "sqlite3Malloc module" '["libsqlite3.so.0"]' \
    "$(json top.json '[x["frames"][0]["module"] for x in s["stats"] if x["key"] == "sqlite3Malloc"]')"
exit 0
