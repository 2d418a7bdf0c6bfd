#!/bin/sh
# tm_grow under TRACEMEM_INTERVAL: a list grows by one 1000-byte node every
# 10 ms while a 50000-byte table stays put. tracemem trend names exactly
# the list's malloc line (SITE_GROW), with the growth the snapshots show,
# and never the table (SITE_FLAT); the exit snapshot is left out unless
# --keep-exit; --min-growth above the growth hides the list; snapshots of
# another process are refused (exit 2, naming the file).
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
SRC=tests/progs/tm_grow.c
line() { grep -n "SITE_$1 " "$top_srcdir/$SRC" | cut -d: -f1; }

cd "$WORK" || fail "no $WORK"
"$TM" run -q --interval 0.05 -o "$WORK/grow.%n.json" "$PROGS/tm_grow" 60 10 ||
    fail "run exited $?"
n=$(ls grow.*.json | wc -l)
[ "$n" -ge 5 ] || fail "expected a series of snapshots, got $n"
# the series: interval snapshots 0..n-2, then the exit snapshot
exit_file=grow.$((n - 1)).json
assert_eq "exit snapshot" exit "$(json $exit_file 's["snapshot"]["reason"]')"

"$TM" trend grow.*.json --format json -n 0 > trend.json || fail "trend exited $?"
assert_eq "snapshots" "$((n - 1))" "$(json trend.json 'len(s["snapshots"])')"
assert_eq "in seq order" "$(seq 0 $((n - 2)) | tr '\n' ' ')" \
    "$(json trend.json '" ".join(str(x["seq"]) for x in s["snapshots"]) + " "')"
assert_eq "left out" "[\"$exit_file\"]" "$(json trend.json 's["left_out"]')"
assert_eq "steady stacks" 1 "$(json trend.json 'len(s["stacks"])')"
assert_eq "innermost frame" "$SRC:$(line GROW)" \
    "$(json trend.json '"%s:%d" % (s["stacks"][0]["frames"][0]["file"], s["stacks"][0]["frames"][0]["line"])' |
       sed 's|.*/\(tests/progs/\)|\1|')"
assert_eq "function" grow_list "$(json trend.json 's["stacks"][0]["frames"][0]["function"]')"

# the growth is what the first and last snapshots hold for that line
first=$(json "$(ls grow.*.json | sort -t. -k2 -n | head -n 1)" \
    'sum(t["size"] for t in s["traces"] if s["frames"][s["stacks"][t["stack"]]["frames"][0]].get("line") == '"$(line GROW)"')')
last=$(json "$(ls grow.*.json | sort -t. -k2 -n | tail -n 2 | head -n 1)" \
    'sum(t["size"] for t in s["traces"] if s["frames"][s["stacks"][t["stack"]]["frames"][0]].get("line") == '"$(line GROW)"')')
assert_eq "first" "$first" "$(json trend.json 's["stacks"][0]["first"]')"
assert_eq "last" "$last" "$(json trend.json 's["stacks"][0]["last"]')"
assert_eq "growth" "$((last - first))" "$(json trend.json 's["stacks"][0]["growth"]')"
[ "$((last - first))" -ge 10000 ] || fail "grew only $((last - first)) bytes"
# whole nodes per snapshot, and per second at most about 1000 B / 10 ms
# (less under load, when the sleeps run long; the upper margin absorbs the
# jitter of the snapshot times)
assert_eq "slope" true "$(json trend.json '1000 <= s["stacks"][0]["slope_per_snapshot"] <= 20000')"
assert_eq "per second" true \
    "$(json trend.json '20000 <= s["stacks"][0]["slope_per_second"] <= 150000')"
assert_eq "r2" true "$(json trend.json 's["stacks"][0]["r2"] >= 0.8')"
# the flat table is in every snapshot but is not reported
assert_eq "table live" 50000 \
    "$(json grow.1.json 'sum(t["size"] for t in s["traces"] if s["frames"][s["stacks"][t["stack"]]["frames"][0]].get("line") == '"$(line FLAT)"')')"
assert_eq "table not growing" false \
    "$(json trend.json 'any("tm_grow.c:'"$(line FLAT)"'" in x["key"] for x in s["stacks"])')"

# text output: the growing line under a summary line
"$TM" trend grow.*.json > trend.txt || fail "trend text exited $?"
head -n 1 trend.txt | grep -q "^$((n - 1)) snapshots of .*/tm_grow (pid [0-9]*), seq 0\.\.$((n - 2)) over " ||
    fail "summary: $(head -n 1 trend.txt)"
assert_eq "left out line" "left out the exit snapshot $exit_file (--keep-exit keeps it)" \
    "$(sed -n 2p trend.txt)"
grep -q "^1 stack grows steadily" trend.txt || fail "count: $(sed -n 3p trend.txt)"
grep -q "^    grow_list at .*/$SRC:$(line GROW) (tm_grow)\$" trend.txt ||
    fail "no grow_list frame in: $(cat trend.txt)"

# --keep-exit: the whole series (tm_grow frees nothing: still one stack)
"$TM" trend grow.*.json --keep-exit --format json > keep.json || fail "--keep-exit exited $?"
assert_eq "kept" "$n" "$(json keep.json 'len(s["snapshots"])')"
assert_eq "none left out" "[]" "$(json keep.json 's["left_out"]')"
assert_eq "kept stacks" 1 "$(json keep.json 'len(s["stacks"])')"

# --min-growth above the growth: nothing to report
"$TM" trend grow.*.json --min-growth $((last - first + 1)) --format json > none.json ||
    fail "trend --min-growth exited $?"
assert_eq "min-growth" 0 "$(json none.json 'len(s["stacks"])')"
"$TM" trend grow.*.json --min-growth 1K --format json > k.json || fail "1K"
assert_eq "min-growth 1K" 1024 "$(json k.json 's["min_growth"]')"

# another process's snapshot is refused, naming it
"$TM" run -q -o "$WORK/other.json" "$PROGS/tm_grow" 2 1 || fail "run 2"
"$TM" trend grow.0.json grow.1.json other.json > out.txt 2> err.txt
assert_eq "other process exit" 2 $?
assert_eq "one line" 1 "$(wc -l < err.txt)"
grep -q "^tracemem: other.json: not the same process as grow.0.json: pid [0-9]* " err.txt ||
    fail "message: $(cat err.txt)"
[ ! -s out.txt ] || fail "output despite the error"

# the growth gate: the steady stack grows by 20-150 KB/s (above)
"$TM" trend grow.*.json --fail-above 1M > gate.txt; assert_eq "gate within" 0 $?
grep -q "^tracemem trend: passed: the steady stacks grow by .*/s in all, within --fail-above 1024 KiB/s$" gate.txt ||
    fail "gate passed line: $(tail -n 1 gate.txt)"
"$TM" trend grow.*.json --fail-above 1K > gate.txt; assert_eq "gate above" 1 $?
grep -q "^tracemem trend: FAILED: the steady stacks grow by .*/s in all, above --fail-above 1024 B/s$" gate.txt ||
    fail "gate failed line: $(tail -n 1 gate.txt)"
"$TM" trend grow.*.json --fail-above 1K --format json > gate.json; assert_eq "gate json exit" 1 $?
assert_eq "gate json" true \
    "$(json gate.json 's["gate"]["failed"] and s["gate"]["fail_above"] == 1024 and abs(s["gate"]["rate"] - s["stacks"][0]["slope_per_second"]) < 1')"
"$TM" trend grow.0.json grow.1.json --fail-above fast 2> err.txt; assert_eq "bad --fail-above" 2 $?

# usage errors and bad input
"$TM" trend "$DATA/cli-a.json" 2> err.txt; assert_eq "one file without a timeline" 2 $?
"$TM" trend grow.0.json > /dev/null 2> err.txt; assert_eq "one file with a timeline" 0 $?
"$TM" trend grow.0.json grow.1.json --min-growth lots 2> err.txt
assert_eq "bad --min-growth" 2 $?
"$TM" trend grow.0.json "$DATA/bad-truncated.json" 2> err.txt
assert_eq "bad input exit" 2 $?
assert_eq "bad input line" 1 "$(wc -l < err.txt)"
grep -q "^tracemem: $DATA/bad-truncated.json: " err.txt || fail "message: $(cat err.txt)"
exit 0
