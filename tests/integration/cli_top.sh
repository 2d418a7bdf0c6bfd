#!/bin/sh
# tracemem run + top on tests/progs/tm_allocs, whose allocation sites are
# marked SITE_* in its source: each site at the right file:line with the
# right sizes and counts, live, peak, churn and cumulative.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
SRC=tests/progs/tm_allocs.c
line() { grep -n "SITE_$1 " "$top_srcdir/$SRC" | cut -d: -f1; }
key() { echo "$SRC:$(line "$1")"; }

cd "$WORK" || fail "no $WORK"
"$TM" run -q -o "$WORK/allocs.%p.json" "$PROGS/tm_allocs" 3 > out 2> err ||
    fail "run exited $?: $(cat err)"
[ -s err ] && fail "-q printed: $(cat err)"
snap=$(only_file "$WORK/allocs.*.json")
assert_eq "symbolized in place" true "$(json "$snap" 's["symbolized"]')"

"$TM" top -n 0 --format json "$snap" > top.json || fail "top exited $?"
# stat KEYSUFFIX FIELD: FIELD of the stat whose key ends with KEYSUFFIX
stat() {
    json top.json "[x['$2'] for x in s['stats'] if x['key'].endswith('$1')]"
}
assert_eq "SITE_LEAK" "[12288]" "$(stat "$(key LEAK)" size)"
assert_eq "SITE_LEAK count" "[3]" "$(stat "$(key LEAK)" count)"
assert_eq "SITE_SMALL" "[1000]" "$(stat "$(key SMALL)" size)"
assert_eq "SITE_SMALL count" "[10]" "$(stat "$(key SMALL)" count)"
assert_eq "SITE_CALLOC" "[3000]" "$(stat "$(key CALLOC)" size)"
assert_eq "SITE_BUFFER" "[2000]" "$(stat "$(key BUFFER)" size)"
assert_eq "first by size" "$(key LEAK)" \
    "$(json top.json 's["stats"][0]["key"]' | sed 's|.*/\(tests/progs/\)|\1|')"
assert_eq "function of SITE_LEAK" "leak_pages" \
    "$(json top.json 's["stats"][0]["frames"][0]["function"]')"
assert_eq "total" 18288 "$(json top.json 's["total"]["size"]')"
assert_eq "stats" 4 "$(json top.json 'len(s["stats"])')"

"$TM" top "$snap" > top.txt || fail "top text"
grep -q "/$(key LEAK): size=12.0 KiB, count=3, average=4096 B\$" top.txt ||
    fail "text line for SITE_LEAK: $(cat top.txt)"

# churn: 5 x 50000 freed at once, first by allocations
"$TM" top --sort allocations --format json "$snap" > top.json
assert_eq "churn site" "[5]" "$(stat "$(key CHURN)" allocated_count)"
assert_eq "churn live" "[0]" "$(stat "$(key CHURN)" size)"

# the peak: the live set plus one 50000-byte block
"$TM" top --peak --format json "$snap" > top.json || fail "top --peak"
assert_eq "peak site" "[50000]" "$(stat "$(key CHURN)" size)"
assert_eq "peak total" 68288 "$(json top.json 's["total"]["size"]')"

# by function, cumulative: main holds everything, leak_pages its part
"$TM" top --by function --cumulative --format json "$snap" > top.json
fstat() {
    json top.json "[x['size'] for x in s['stats'] if x['key'] == '$1']"
}
assert_eq "cumulative main" "[18288]" "$(fstat main)"
assert_eq "cumulative leak_pages" "[12288]" "$(fstat leak_pages)"
assert_eq "cumulative make_buffer" "[2000]" "$(fstat make_buffer)"

# filters: only stacks through leak_pages / everything but them
"$TM" top --include leak_pages --all-frames --format json "$snap" > top.json
assert_eq "include" 12288 "$(json top.json 's["total"]["size"]')"
"$TM" top --exclude '*/tm_allocs.c' --format json "$snap" > top.json
assert_eq "exclude innermost" 0 "$(json top.json 's["total"]["size"]')"

# totals do not depend on --sort: a stack whose blocks were all freed still
# counts in total.allocated_* (it is only left out of the live groups)
for sort in size count allocations; do
    "$TM" top --sort $sort --format json "$snap" > top.json || fail "top --sort $sort"
    json top.json '[s["total"][k] for k in ("size", "count", "allocated_size", "allocated_count")]' > "total.$sort"
done
cmp -s total.size total.count && cmp -s total.size total.allocations ||
    fail "totals differ by sort: $(cat total.size total.count total.allocations)"
assert_eq "allocated total" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(t["allocated_size"] for t in d["traces"]))' "$snap")" \
    "$(json top.json 's["total"]["allocated_size"]')"
# cumulative groups overlap: the lines left out are not summed into one
"$TM" top --by function --cumulative -n 1 "$snap" > top.txt || fail "top --cumulative"
grep -q "^[0-9]* other (cumulative groups overlap: not summed)$" top.txt ||
    fail "cumulative other line: $(cat top.txt)"
grep "other:" top.txt && fail "a summed other line for cumulative groups"

# the same program linked without PIE: load bias 0, same answers
if [ -x "$PROGS/tm_allocs_nopie" ]; then
    "$TM" run -q -o "$WORK/nopie.json" "$PROGS/tm_allocs_nopie" 3 || fail "nopie"
    assert_eq "non-PIE base" 0 "$(json nopie.json 's["modules"][0]["base"]')"
    "$TM" top -n 0 --format json nopie.json > top.json || fail "top nopie"
    assert_eq "non-PIE SITE_LEAK" "[12288]" "$(stat "$(key LEAK)" size)"
    assert_eq "non-PIE SITE_BUFFER" "[2000]" "$(stat "$(key BUFFER)" size)"
fi
exit 0
