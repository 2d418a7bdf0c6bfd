#!/bin/sh
# tracemem run of a script that starts many processes: every snapshot
# symbolized, the other processes listed up to 10 (the largest peaks),
# and the leaks and peak stacks summed across all processes by stack,
# with the number of processes (text and --format json).
. "$top_srcdir/tests/integration/lib.sh"

PROG=$PROGS/gate_leaks
[ -x "$PROG" ] || fail "no $PROG"
[ -r "$SHIM" ] || fail "no $SHIM"
cd "$WORK" || fail "no $WORK"

# 12 children leak 64 B (definite) and 3 x 24 B (1 definite, 2 indirect)
# each, from the same stacks; one more leaks also 32 B from leak_more
script="for i in 1 2 3 4 5 6 7 8 9 10 11 12; do \"$PROG\" leak; done; \"$PROG\" more"
"$TM" run -o "$WORK/m.%p.json" sh -c "$script" > out 2> err || fail "run exited $?: $(cat err)"
n=0
for f in "$WORK"/m.*.json; do
    assert_eq "$f symbolized" true "$(json "$f" 's["symbolized"]')"
    n=$((n + 1))
done
assert_eq "snapshots" 14 "$n"
grep -q "^  other processes (13):\$" err || fail "no other-processes header: $(cat err)"
assert_eq "process lines" 10 "$(grep -c "^    pid [0-9]* ($PROG): peak " err)"
grep -q "^    \.\.\. and 3 more (the 10 with the largest peaks are shown" err ||
    fail "no '... and 3 more': $(cat err)"
# 13 x (64 + 24) + 32 definitely lost in 13 x 2 + 1 blocks
grep -q "^  all 14 processes: peaks add up to .*; definitely lost 1176 B in 27 blocks\$" err ||
    fail "no all-processes line: $(cat err)"
grep -q "^  top leaks across processes:\$" err || fail "no top leaks: $(cat err)"
# the biggest: 64 B from leak_block in each of the 13 gate_leaks
grep -A 2 "^  top leaks across processes:" err | sed -n 2p |
    grep -q "^    832 B in 13 blocks definitely lost in 13 processes\$" ||
    fail "leak_block across processes: $(cat err)"
grep -A 2 "^  top leaks across processes:" err | sed -n 3p | grep -q "^      leak_block at .*gate_leaks.c:[0-9]* (gate_leaks)\$" ||
    fail "leak_block frame: $(cat err)"
grep -q "^  top stacks at the processes' peaks:\$" err || fail "no peak stacks: $(cat err)"
assert_eq "snapshot paths listed" 14 "$(grep -c "$WORK/m\.[0-9]*\.json\$" err)"

# the same as JSON
rm -f "$WORK"/m.*.json
"$TM" run --format json -o "$WORK/m.%p.json" sh -c "$script" > out 2> summary.json ||
    fail "run --format json exited $?: $(cat summary.json)"
assert_eq "json processes" 13 "$(json summary.json 'len(s["processes"])')"
assert_eq "json across processes" 14 "$(json summary.json 's["across"]["processes"]')"
assert_eq "json top leak bytes" 832 "$(json summary.json 's["across"]["leaks"][0]["bytes"]')"
assert_eq "json top leak processes" 13 "$(json summary.json 's["across"]["leaks"][0]["processes"]')"
assert_eq "json top leak kind" definite "$(json summary.json 's["across"]["leaks"][0]["kind"]')"
assert_eq "json top leak function" leak_block \
    "$(json summary.json 's["across"]["leaks"][0]["frames"][0]["function"]')"
exit 0
