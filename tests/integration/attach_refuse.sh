#!/bin/sh
# attach_refuse.sh - tracemem attach refuses, with one line and exit 2,
# what it cannot or must not attach to: no such process, a statically
# linked program, a process already running with the shim preloaded, one
# another tracemem attach is tracing, one traced by a debugger, and (as an
# unprivileged user) another user's process; and bad options. The process
# refused runs on untouched.
. "$top_srcdir/tests/integration/lib.sh"
# the programs started in the background go with the test, whatever happens
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
[ "$(uname -m)" = x86_64 ] || skip "attach is implemented for x86-64 only"
LOOP=$PROGS/attach_loop

# refused WHAT PATTERN ARGS...: exit 2, one line on stderr matching PATTERN
# (a time limit and a file in $WORK should it attach after all)
refused() {
    what=$1 pat=$2
    shift 2
    status 2 attach --duration 1 -o "$WORK/refused.json" "$@"
    [ "$(wc -l < "$WORK/err")" = 1 ] || fail "$what: not one line: $(cat "$WORK/err")"
    grep -q "$pat" "$WORK/err" || fail "$what: '$(cat "$WORK/err")' does not say '$pat'"
}

wait_ready() {
    i=0
    while ! grep -q ready "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "$1 never showed ready"
        sleep 0.05
    done
}

# usage errors
refused "no pid" "expected the PID"
refused "bad pid" "'12x' is not a process id" 12x
refused "two pids" "unexpected argument" 1 2
refused "bad duration" "duration" --duration -1 1
refused "bad interval" "interval" --interval 0.0001 1
refused "bad nframes" "frames" -n 0 1

# no such process: a pid that was just reaped
sh -c 'exit 0' &
gone=$!
wait $gone
refused "no such process" "^tracemem: $gone: no such process$" $gone

# a statically linked program
if printf 'int main(void){for(;;);}\n' > "$WORK/static.c" &&
    ${CC:-cc} -static -o "$WORK/static" "$WORK/static.c" 2>/dev/null; then
    "$WORK/static" &
    pid=$!
    sleep 0.1
    refused "static" "statically linked" $pid
    kill -0 $pid || fail "the static program died"
    kill $pid
else
    note "no static C library: that part is skipped"
fi

# already preloaded
LD_PRELOAD=$SHIM TRACEMEM_AT_EXIT=none "$LOOP" > "$WORK/pre.out" &
pid=$!
wait_ready "$WORK/pre.out"
refused "preloaded" "already runs with libtracemem.so preloaded" $pid
kill -TERM $pid
wait $pid
assert_eq "the preloaded loop's status" 0 $?

# attached by another tracemem attach
"$LOOP" > "$WORK/loop.out" &
pid=$!
wait_ready "$WORK/loop.out"
"$TM" attach --duration 5 -o "$WORK/first.json" $pid 2> "$WORK/first.err" &
apid=$!
i=0
until grep -q "attached to" "$WORK/first.err" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 200 ] || ! kill -0 $apid 2>/dev/null; then
        grep -q "not allowed to trace" "$WORK/first.err" && skip "ptrace is not permitted here"
        fail "the first attach did not start: $(cat "$WORK/first.err")"
    fi
    sleep 0.05
done
refused "attached twice" "another tracemem attach is tracing" $pid
kill -INT $apid # Ctrl-C ends the first one early, cleanly
wait $apid
assert_eq "the first attach, stopped by SIGINT" 0 $?
[ -f "$WORK/first.json" ] || fail "no snapshot after SIGINT"
kill -0 $pid || fail "the loop died"

# traced by a debugger (strace)
if command -v strace >/dev/null 2>&1; then
    strace -o /dev/null -p $pid 2>/dev/null &
    spid=$!
    i=0
    until grep -q "^TracerPid:[[:space:]]*[1-9]" /proc/$pid/status; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "strace did not attach"
        sleep 0.05
    done
    status 2 attach --duration 1 -o "$WORK/refused.json" $pid
    [ "$(wc -l < "$WORK/err")" = 1 ] || fail "traced: not one line: $(cat "$WORK/err")"
    grep -q "stopped (or traced by a debugger)\|cannot attach\|not allowed" "$WORK/err" ||
        fail "traced: $(cat "$WORK/err")"
    kill $spid
    wait $spid
fi

# another user's process, as nobody
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$TM" attach --duration 1 -o /tmp/refused.json $pid > "$WORK/out" 2> "$WORK/err"
    assert_eq "as nobody: exit status" 2 $?
    [ "$(wc -l < "$WORK/err")" = 1 ] || fail "as nobody: not one line: $(cat "$WORK/err")"
    grep -q "not allowed to trace it.*CAP_SYS_PTRACE" "$WORK/err" || fail "as nobody: $(cat "$WORK/err")"
fi

kill -TERM $pid
wait $pid
assert_eq "the loop's status" 0 $?
exit 0
