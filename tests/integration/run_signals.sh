#!/bin/sh
# tracemem run and check forward SIGTERM, SIGHUP and SIGUSR1 to the
# program (once), finish normally (symbolize, summarize, clean up) and
# exit with its status; a terminal's ^C reaches the program once; a
# signal from the program itself is not sent back to it; a second SIGTERM
# makes tracemem exit at once, still removing check's temporary directory.
. "$top_srcdir/tests/integration/lib.sh"

PROG=$PROGS/tm_signals
[ -x "$PROG" ] || fail "no $PROG"
[ -r "$SHIM" ] || fail "no $SHIM"
cd "$WORK" || fail "no $WORK"
mkdir tmp
export TMPDIR=$WORK/tmp

# wait_for FILE: until FILE exists (at most 20 s)
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ $i -le 400 ] || fail "$1 never appeared"
        sleep 0.05
    done
}
# alive PID: whether PID still runs (a zombie does not count)
alive() {
    kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# run: SIGTERM to tracemem reaches the program once; its exit snapshot is
# written, symbolized and summarized; tracemem exits with its status
"$TM" run -o "$WORK/r.%p.json" "$PROG" ready1 counts1 > out 2> err &
tm=$!
wait_for ready1
pid=$(cat ready1)
kill -TERM "$tm"
rc=0; wait "$tm" || rc=$?
assert_eq "run's status after SIGTERM" 3 "$rc"
assert_eq "signals the program got" "HUP=0 INT=0 QUIT=0 TERM=1" "$(cat counts1)"
alive "$pid" && fail "program $pid still running"
f=$(only_file "$WORK/r.*.json")
assert_eq "snapshot of the program" "$WORK/r.$pid.json" "$f"
assert_eq "symbolized" true "$(json "$f" 's["symbolized"]')"
grep -q "^tracemem: $PROG exited with status 3\$" err || fail "summary: $(cat err)"
grep -q "^  snapshots: $f\$" err || fail "snapshot not listed: $(cat err)"

# check: SIGHUP forwarded, the leak still judged, the status kept, the
# temporary directory removed
"$TM" check --format json -o report.json -- "$PROG" ready2 counts2 > out 2> err &
tm=$!
wait_for ready2
pid=$(cat ready2)
kill -HUP "$tm"
rc=0; wait "$tm" || rc=$?
assert_eq "check's status after SIGHUP" 3 "$rc"
assert_eq "signals the program got" "HUP=1 INT=0 QUIT=0 TERM=0" "$(cat counts2)"
alive "$pid" && fail "program $pid still running"
assert_eq "leak judged" "fail 100" "$(json report.json '"%s %d" % (s["result"], s["summary"]["definite"]["bytes"])')"
assert_eq "temporary directory" "" "$(ls tmp)"

# --signal USR1: a USR1 sent to tracemem reaches the program's shim, which
# writes a snapshot; both snapshots are symbolized
"$TM" run -q --signal USR1 -o "$WORK/u.%p.%n.json" "$PROG" ready3 counts3 2> err &
tm=$!
wait_for ready3
pid=$(cat ready3)
kill -USR1 "$tm"
i=0
until [ -e "$WORK/u.$pid.0.json" ]; do
    i=$((i + 1)); [ $i -le 400 ] || fail "no signal snapshot"; sleep 0.05
done
kill -TERM "$tm"
rc=0; wait "$tm" || rc=$?
assert_eq "run's status after USR1 and TERM" 3 "$rc"
assert_eq "signal snapshot" signal "$(json "$WORK/u.$pid.0.json" 's["snapshot"]["reason"]')"
assert_eq "exit snapshot" exit "$(json "$WORK/u.$pid.1.json" 's["snapshot"]["reason"]')"
for f in "$WORK/u.$pid.0.json" "$WORK/u.$pid.1.json"; do
    assert_eq "$f symbolized" true "$(json "$f" 's["symbolized"]')"
done

# a signal the program's own processes send to tracemem is not sent back
# (here it would kill sh with SIGUSR1: status 138)
rc=0; "$TM" run -q -o "$WORK/b.%p.json" sh -c 'kill -USR1 $PPID; sleep 0.3; exit 5' || rc=$?
assert_eq "status when the program signals tracemem" 5 "$rc"

# a second SIGTERM: forwarded too, then tracemem exits of it at once, and
# check's temporary directory is removed all the same
"$TM" check -- "$PROG" ready4 counts4 stubborn > out 2> err &
tm=$!
wait_for ready4
pid=$(cat ready4)
kill -TERM "$tm"
wait_for counts4
kill -TERM "$tm"
rc=0; wait "$tm" || rc=$?
assert_eq "check's status after a second SIGTERM" 143 "$rc"
grep -q "^tracemem: check: second SIGTERM: exiting without waiting for pid $pid any longer\$" err ||
    fail "second SIGTERM: $(cat err)"
i=0
until grep -q "TERM=2" counts4; do
    i=$((i + 1)); [ $i -le 100 ] || fail "second SIGTERM not forwarded: $(cat counts4)"; sleep 0.05
done
alive "$pid" || fail "the stubborn program died"
kill -KILL "$pid"
assert_eq "temporary directory after a second SIGTERM" "" "$(ls tmp)"

# ^C on a terminal goes to the whole foreground process group: the
# program gets it once, not a second time from tracemem
python3 - "$TM" "$PROG" "$WORK" <<'PY' > ctrlc || fail "terminal test: $(cat ctrlc)"
import os, pty, sys, time
tm, prog, work = sys.argv[1:4]
ready, counts = work + "/ready5", work + "/counts5"
pid, fd = pty.fork()
if pid == 0:
    os.execv(tm, [tm, "run", "-q", "-o", work + "/c.%p.json", prog, ready, counts])
deadline = time.time() + 20
while not os.path.exists(ready):
    if time.time() > deadline:
        sys.exit("program not ready")
    time.sleep(0.05)
os.write(fd, b"\x03")
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, st = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(st))
print(open(counts).read().strip())
PY
assert_eq "^C on a terminal" "3
HUP=0 INT=1 QUIT=0 TERM=0" "$(cat ctrlc)"
exit 0
