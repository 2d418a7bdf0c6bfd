#!/bin/sh
# tracemem check --baseline / --update-baseline: a baseline written from one
# run passes the same program run again (other load addresses), fails on a
# new or grown leak stack, is written atomically and is keyed symbolically.
. "$top_srcdir/tests/integration/lib.sh"

cd "$WORK" || fail "no $WORK"
D=$DATA

# hand-made: leaks-grown.json is leaks.json run again at other addresses,
# with one stack grown, one new and one gone
status 0 check --update-baseline base.json "$D/leaks.json"
grep -q "passed" out || fail "update-baseline did not pass: $(cat out)"
assert_eq "format" tracemem-baseline "$(json base.json 's["format"]')"
assert_eq "entries" 4 "$(json base.json 'len(s["leaks"])')"
assert_eq "symbolic key" '["parse_config at config.c:44 (app)", "load_config at config.c:80 (app)", "main at main.c:25 (app)", "__libc_start_call_main (libc.so.6)"]' \
    "$(json base.json '[e["stack"] for e in s["leaks"] if e["bytes"] == 64][0]')"
# the baseline names the stacks as every command shows them: strdup, an
# allocation function, is folded away (the recorded stacks with
# --keep-alloc-frames, which is what tests/data/leaks-base.json holds: a
# baseline written before folding)
assert_eq "folded" '["save_name at we:ird,na%me.c:7 (app)", "main at main.c:20 (app)", "__libc_start_call_main (libc.so.6)"]' \
    "$(json base.json '[e["stack"] for e in s["leaks"] if e["bytes"] == 24][0]')"
status 0 check --keep-alloc-frames --update-baseline raw.json "$D/leaks.json"
cmp -s raw.json "$D/leaks-base.json" || fail "raw.json differs from tests/data/leaks-base.json"
ls base.json.tmp* >/dev/null 2>&1 && fail "temporary files left behind"
# an old baseline (recorded stacks) still matches the folded records
status 0 check --baseline "$D/leaks-base.json" "$D/leaks.json"
grep -q "(4 unchanged)" out || fail "old baseline: $(cat out)"
status 0 check --baseline raw.json --keep-alloc-frames "$D/leaks.json"
status 0 check --baseline base.json "$D/leaks.json"
status 1 check --baseline base.json "$D/leaks-grown.json"
grep -q "FAILED: 1 new and 1 grown leak stacks (2 unchanged)" out ||
    fail "verdict: $(cat out)"
# growth is what counts against the limits: 16 + 48 bytes, 1 + 1 blocks
status 0 check --baseline base.json --max-leaked-bytes 64 --max-leaked-blocks 2 \
    "$D/leaks-grown.json"
status 1 check --baseline base.json --max-leaked-bytes 63 "$D/leaks-grown.json"
# compare with the old and write the new one in one go
status 1 check --baseline base.json --update-baseline new.json "$D/leaks-grown.json"
status 0 check --baseline new.json "$D/leaks-grown.json"
# an unchanged baseline file is replaced, not edited in place
cp base.json folded.json
ln base.json hardlink.json
status 0 check --update-baseline base.json "$D/leaks-grown.json"
cmp -s hardlink.json folded.json || fail "the baseline was written in place"

# real runs: ASLR moves everything, the baseline still matches
PROG=$PROGS/gate_leaks
if [ -x "$PROG" ] && [ -r "$SHIM" ]; then
    status 0 check --update-baseline real.json -- "$PROG" leak
    assert_eq "real entries" 3 "$(json real.json 'len(s["leaks"])')"
    grep -q 0x real.json && fail "offsets in a symbolized baseline: $(cat real.json)"
    status 0 check --baseline real.json -- "$PROG" leak
    status 0 check --baseline real.json -- "$PROG" none
    status 1 check --baseline real.json -- "$PROG" more
    grep -q "FAILED: 1 new and 0 grown leak stacks" out || fail "verdict: $(cat out)"
    grep -q "leak_more" out || fail "the new leak is not shown: $(cat out)"
    # the program's failure is still kept
    status 4 check --baseline real.json -- "$PROG" leak 4
fi
exit 0
