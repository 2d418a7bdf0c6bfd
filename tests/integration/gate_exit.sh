#!/bin/sh
# tracemem check/leaks exit statuses on hand-made snapshots: 0 within the
# limits, 1 over them, 2 with exactly one "tracemem: ..." line on stderr for
# usage errors, unreadable or invalid input (snapshots, suppressions,
# baselines) and snapshots without a leak check - never a crash.
. "$top_srcdir/tests/integration/lib.sh"

cd "$DATA" || fail "no $DATA"
# usage2 ARGS...: exit 2 and one line on stderr starting with "tracemem"
usage2() {
    status 2 "$@"
    [ "$(wc -l < "$WORK/err")" -eq 1 ] ||
        fail "tracemem $*: expected one line on stderr, got: $(cat "$WORK/err")"
    grep -q '^tracemem' "$WORK/err" || fail "tracemem $*: stderr: $(cat "$WORK/err")"
}
# err_is EXPECTED: the stderr line of the last command
err_is() { assert_eq "stderr" "$1" "$(cat "$WORK/err")"; }

# leaks.json: 264 bytes in 16 blocks of definite+indirect leaks
status 1 check leaks.json
status 0 check --max-leaked-bytes 264 --max-leaked-blocks 16 leaks.json
status 1 check --max-leaked-bytes 263 --max-leaked-blocks 16 leaks.json
status 1 check --max-leaked-bytes 264 --max-leaked-blocks 15 leaks.json
# a limit alone leaves the other unlimited
status 0 check --max-leaked-bytes 264 leaks.json
status 0 check --max-leaked-blocks 16 leaks.json
# kinds: possible is 32 bytes in 1 block
status 0 check --kinds possible --max-leaked-bytes 32 leaks.json
status 1 check --kinds possible,reachable --max-leaked-bytes 32 leaks.json
status 0 leaks leaks.json
status 0 check --help
status 0 leaks --help

# snapshots without a leak check: check refuses, leaks says so
usage2 check leaks-unchecked.json
err_is "tracemem: leaks-unchecked.json: leaks were not checked in this snapshot (nothing to gate on; take it with TRACEMEM_AT_EXIT=leaks or tracemem_leak_check())"
status 0 leaks leaks-unchecked.json
grep -q '^LEAKS NOT CHECKED in leaks-unchecked.json' "$WORK/out" ||
    fail "leaks on an unchecked snapshot: $(cat "$WORK/out")"
grep -qi 'no leaks' "$WORK/out" && fail "an unchecked snapshot reads as 'no leaks'"

# usage errors
usage2 check
usage2 check --bogus leaks.json
usage2 check --format xml leaks.json
usage2 check --kinds definite,lost leaks.json
usage2 check --max-leaked-bytes -1 leaks.json
usage2 check --max-leaked-blocks lots leaks.json
usage2 check leaks.json -- /bin/true
usage2 check --
usage2 leaks
usage2 leaks leaks.json leaks.json
usage2 leaks --format sarif leaks.json

# unreadable and invalid input
usage2 check "$WORK/nonexistent.json"
usage2 leaks "$WORK/nonexistent.json"
for f in bad-*.json; do
    usage2 check "$f"
    usage2 leaks "$f"
done

# suppressions: FILE:LINE: what is wrong
printf '# comment\nleak:ok\n{\n  name\n  Memcheck:Leak\n  bogus\n}\n' > "$WORK/bad.supp"
usage2 check --suppressions "$WORK/bad.supp" leaks.json
err_is "tracemem: $WORK/bad.supp:6: expected fun:, obj:, src:, '...' or '}', got 'bogus'"
usage2 leaks --suppressions "$WORK/bad.supp" leaks.json
printf 'leak:ok\nasan:x\n' > "$WORK/bad2.supp"
usage2 check --suppressions "$WORK/bad2.supp" leaks.json
err_is "tracemem: $WORK/bad2.supp:2: unknown suppression type 'asan' (LeakSanitizer suppressions are leak:PATTERN)"
printf '{\n  open\n  Memcheck:Leak\n  fun:x\n' > "$WORK/bad3.supp"
usage2 check --suppressions "$WORK/bad3.supp" leaks.json
err_is "tracemem: $WORK/bad3.supp:1: suppression is not closed with '}'"
usage2 check --suppressions "$WORK/none.supp" leaks.json
err_is "tracemem: $WORK/none.supp: No such file or directory"

# baselines
usage2 check --baseline "$WORK/none.json" leaks.json
printf '{"format": "tracemem-baseline", "version": 1, "leaks": [\n' > "$WORK/trunc.json"
usage2 check --baseline "$WORK/trunc.json" leaks.json
printf '{"format": "tracemem-snapshot", "version": 1}\n' > "$WORK/notbase.json"
usage2 check --baseline "$WORK/notbase.json" leaks.json
err_is "tracemem: $WORK/notbase.json: not a tracemem baseline (\"format\" is not \"tracemem-baseline\")"
usage2 check --baseline leaks.json leaks.json

# output that cannot be written
usage2 check -o "$WORK/no/such/dir/report.txt" leaks.json
usage2 check --update-baseline "$WORK/no/such/dir/base.json" leaks.json
exit 0
