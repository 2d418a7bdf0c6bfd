#!/bin/sh
# tracemem run refuses the values the shim would refuse (exit 2, one line,
# nothing run); a program that cannot be found or executed gives 127 or
# 126 and one line; when nothing was written run and check say why
# (statically linked, set-user-ID).
. "$top_srcdir/tests/integration/lib.sh"

[ -r "$SHIM" ] || fail "no $SHIM"
cd "$WORK" || fail "no $WORK"

# bad OPTION VALUE: exit 2, one line naming the option, the program not run
bad() {
    rc=0; "$TM" run -o "$WORK/x.%p.json" "$1" "$2" -- sh -c 'touch ran' > out 2> err || rc=$?
    assert_eq "run $1 '$2'" 2 "$rc"
    [ -e ran ] && fail "run $1 '$2' ran the program"
    assert_eq "lines for $1 '$2'" 1 "$(wc -l < err)"
    grep -q "^tracemem run: $1: '$2' is not " err || fail "run $1 '$2': $(cat err)"
}
for v in BOGUS KILL SIGKILL STOP SIGSTOP 9 19 0 -1 65 RTMIN+99 RTMIN+ usr1 SIG ""; do
    bad --signal "$v"
done
for v in 0.0001 -1 inf nan 1x 1e10 ""; do bad --interval "$v"; done
for v in 0 257 -1 x 7x ""; do bad -n "$v"; done
for v in -1 x 1.5 ""; do bad --sample "$v"; done
for v in -1 x inf; do bad --wait-children "$v"; done

# good values: run, and no warning from the shim
for v in USR1 SIGUSR2 10 RTMIN+3 SIGRTMIN+0 HUP none; do
    status 0 run -q --signal "$v" -o "$WORK/g.%p.json" -- true
    assert_eq "stderr with --signal $v" "" "$(cat "$WORK/err")"
done
for v in 0 0.001 2.5; do
    status 0 run -q --interval "$v" -o "$WORK/i.%p.json" -- true
    assert_eq "stderr with --interval $v" "" "$(cat "$WORK/err")"
done

# a program that cannot be run: like a shell, one line
status 127 run -o "$WORK/m.%p.json" no-such-program-here
assert_eq "not found" "tracemem: no-such-program-here: command not found" "$(cat "$WORK/err")"
status 127 run -o "$WORK/m.%p.json" ./no-such-file
assert_eq "no such file" "tracemem: ./no-such-file: cannot execute: No such file or directory" "$(cat "$WORK/err")"
printf 'data\n' > plain
status 126 run -o "$WORK/m.%p.json" ./plain
assert_eq "not executable" "tracemem: ./plain: cannot execute: Permission denied" "$(cat "$WORK/err")"
status 126 run -o "$WORK/m.%p.json" /
assert_eq "a directory" "tracemem: /: cannot execute: it is a directory" "$(cat "$WORK/err")"
status 127 check -- no-such-program-here
assert_eq "check: not found" "tracemem: no-such-program-here: command not found" "$(cat "$WORK/err")"
status 126 check -- ./plain
assert_eq "check: not executable" "tracemem: ./plain: cannot execute: Permission denied" "$(cat "$WORK/err")"
ls "$WORK"/m.* > /dev/null 2>&1 && fail "snapshots from a program that did not run"

# killed by a signal the shim can catch: the leak check is done first, and
# check keeps the status (128+N) and names the signal
status 143 check -- sh -c 'kill -TERM $$'
grep -q "^tracemem check: sh was killed by signal 15 (Terminated)$" "$WORK/out" ||
    fail "check of a program killed by SIGTERM: $(cat "$WORK/out" "$WORK/err")"
grep -q "^LEAK SUMMARY:" "$WORK/out" || fail "no leak check before SIGTERM's default action: $(cat "$WORK/out")"
# killed before its leak check (SIGKILL cannot be caught): check says so
status 137 check -- sh -c 'kill -KILL $$'
assert_eq "killed before the check" "tracemem: sh: was killed by signal 9 (Killed) before its leak check" \
    "$(cat "$WORK/err")"

# a statically linked program: run and check say why nothing was written
printf '#include <stdlib.h>\nint main(void) { return malloc(10) == 0; }\n' > static.c
if ${CC:-cc} -static -o static static.c 2> /dev/null; then
    status 0 run -o "$WORK/s.%p.json" ./static
    grep -q "^tracemem: no snapshot was written: ./static is statically linked, and libtracemem.so can only be preloaded into dynamically linked programs\$" "$WORK/err" ||
        fail "static, run: $(cat "$WORK/err")"
    status 2 check -- ./static
    grep -q "^tracemem: ./static: no leak check was written: ./static is statically linked, " "$WORK/err" ||
        fail "static, check: $(cat "$WORK/err")"
    printf '#!%s/static\n' "$WORK" > script
    chmod +x script
    status 0 run -o "$WORK/s.%p.json" ./script
    grep -q "^tracemem: no snapshot was written: $WORK/static, the interpreter of ./script, is statically linked" "$WORK/err" ||
        fail "static interpreter: $(cat "$WORK/err")"
else
    note "no static C library: statically linked case skipped"
fi

# a set-user-ID program of another user (needs root to make one)
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
    cp "$PROGS/tm_allocs" suid
    chown nobody suid && chmod 4755 suid
    status 0 run -o "$WORK/u.%p.json" ./suid
    grep -q "^tracemem: no snapshot was written: ./suid is set-user-ID or set-group-ID, and the dynamic loader ignores LD_PRELOAD for such programs\$" "$WORK/err" ||
        fail "setuid: $(cat "$WORK/err")"
else
    note "not root: set-user-ID case skipped"
fi
exit 0
