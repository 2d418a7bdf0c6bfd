#!/bin/sh
# Every kind of malformed snapshot (tests/data/bad-*.json), for top, diff
# and symbolize: exit status 2, exactly one line "tracemem: FILE: ..." on
# stderr, nothing on stdout, no crash. Also usage errors exit 2.
. "$top_srcdir/tests/integration/lib.sh"

n=0
mkdir "$WORK/dir"
for f in "$DATA"/bad-*.json "$WORK/missing.json" "$WORK/dir"; do
    for cmd in "top $f" "diff $DATA/cli-a.json $f" "symbolize $f -o $WORK/out.json"; do
        rc=0
        $TM $cmd > "$WORK/out" 2> "$WORK/err" || rc=$?
        assert_eq "exit status of tracemem $cmd" 2 "$rc"
        assert_eq "stderr lines of tracemem $cmd" 1 "$(wc -l < "$WORK/err")"
        grep -q "^tracemem: $f: ." "$WORK/err" ||
            fail "tracemem $cmd: bad message: $(cat "$WORK/err")"
        [ -s "$WORK/out" ] && fail "tracemem $cmd: wrote to stdout"
        [ -e "$WORK/out.json" ] && fail "symbolize wrote output for $f"
        n=$((n + 1))
    done
done
[ "$n" -ge 60 ] || fail "only $n cases ran"

# usage errors: one line, exit 2
for args in "" "nosuchcmd" "top" "top --by nothing $DATA/cli-a.json" \
            "top --sort nothing $DATA/cli-a.json" "top -n x $DATA/cli-a.json" \
            "top --cumulative --by traceback $DATA/cli-a.json" \
            "top --bogus $DATA/cli-a.json" "diff $DATA/cli-a.json" \
            "top --peak --sort allocations $DATA/cli-a.json" "run" "run -n 0 true"; do
    rc=0
    $TM $args > "$WORK/out" 2> "$WORK/err" || rc=$?
    assert_eq "exit status of tracemem $args" 2 "$rc"
    [ "$args" = "" ] || assert_eq "stderr lines of tracemem $args" 1 "$(wc -l < "$WORK/err")"
done
# a PROGRAM that cannot be executed is one error: one line, the shell's
# status (before: run added its summary, check a second line)
: > "$WORK/noexec"
chmod 644 "$WORK/noexec"
for c in "run:$WORK/missing-prog:127:cannot execute: No such file or directory" \
         "run:$WORK/noexec:126:cannot execute: Permission denied" \
         "check:$WORK/missing-prog:127:cannot execute: No such file or directory" \
         "check:$WORK/noexec:126:cannot execute: Permission denied"; do
    cmd=${c%%:*} rest=${c#*:}
    prog=${rest%%:*} rest=${rest#*:}
    want=${rest%%:*} why=${rest#*:}
    rc=0
    "$TM" $cmd -- "$prog" > "$WORK/out" 2> "$WORK/err" || rc=$?
    assert_eq "tracemem $cmd -- $prog: exit status" "$want" "$rc"
    assert_eq "tracemem $cmd -- $prog: stderr" "tracemem: $prog: $why" "$(cat "$WORK/err")"
done
"$TM" --version | grep -q '^tracemem [0-9]' || fail "--version"
"$TM" --help | grep -q '^  diff ' || fail "--help lists diff"
exit 0
