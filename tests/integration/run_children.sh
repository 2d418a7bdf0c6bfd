#!/bin/sh
# tracemem run and check wait for the descendants that outlive the
# program (tracemem is their subreaper): check judges their leaks, run
# symbolizes and lists their snapshots; a process still running after
# --wait-children is reported in one line and does not make tracemem
# hang; the program's own status is kept.
. "$top_srcdir/tests/integration/lib.sh"

PROG=$PROGS/gate_leaks
[ -x "$PROG" ] || fail "no $PROG"
[ -r "$SHIM" ] || fail "no $SHIM"
cd "$WORK" || fail "no $WORK"
mkdir tmp
export TMPDIR=$WORK/tmp

# alive PID: whether PID still runs (a zombie does not count)
alive() {
    kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# an orphan that leaks after its parent has exited: the gate sees it
late="( sleep 1; exec \"$PROG\" leak ) & exit 0"
status 1 check -- sh -c "$late"
grep -q "FAILED: 136 bytes in 4 blocks leaked" out || fail "the orphan's leaks: $(cat out)"
grep -q "still running" err && fail "waited too little: $(cat err)"
assert_eq "temporary directory" "" "$(ls tmp)"
status 0 check -- sh -c "( sleep 1; exec \"$PROG\" none ) & exit 0"

# run: the orphan's snapshot is there when run returns, symbolized and
# summarized
"$TM" run -o "$WORK/o.%p.json" sh -c "$late" > out 2> err || fail "run exited $?: $(cat err)"
sleep 1.5   # what came later would be here now
n=0
for f in "$WORK"/o.*.json; do
    assert_eq "$f symbolized" true "$(json "$f" 's["symbolized"]')"
    grep -q "^ *\(snapshots: \)\?$f\$" err || fail "$f not listed: $(cat err)"
    case $(json "$f" 's["process"]["exe"]') in
        "$PROG") orphan=$f ;;
    esac
    n=$((n + 1))
done
[ -n "${orphan:-}" ] || fail "no snapshot of the orphan among $n"
grep -q "^    pid [0-9]* ($PROG): .*; definitely lost 88 B in 2 blocks\$" err ||
    fail "the orphan is not summarized: $(cat err)"

# a process that stays (a daemon): one line, no hang, status kept
start=$(date +%s)
rc=0; "$TM" run -o "$WORK/d.%p.json" --wait-children 0.5 -- \
    sh -c 'sleep 30 & echo $! > daemon.pid; exit 4' > out 2> err || rc=$?
assert_eq "status with a daemon left" 4 "$rc"
d=$(cat daemon.pid)
alive "$d" || fail "the daemon was killed"
kill "$d"
[ $(($(date +%s) - start)) -lt 10 ] || fail "run waited for the daemon"
assert_eq "not waited for" \
    "tracemem: run: 1 process started by sh was still running after 0.5 s and was not waited for (what they write from now on is not summarized; see --wait-children)" \
    "$(grep 'not waited for' err)"
grep -q "^tracemem: sh exited with status 4\$" err || fail "summary: $(cat err)"

# the same with check, and in run's JSON summary
rc=0; "$TM" check --wait-children 0 -- sh -c 'sleep 30 & echo $! > daemon.pid' > out 2> err || rc=$?
assert_eq "check's status with a daemon left" 0 "$rc"
kill "$(cat daemon.pid)"
grep -q "^tracemem: check: 1 process started by sh was still running after 0 s and was not waited for (what they write from now on is not checked; see --wait-children)\$" err ||
    fail "check: $(cat err)"
assert_eq "temporary directory" "" "$(ls tmp)"
"$TM" run --format json --wait-children 0.2 -o "$WORK/j.%p.json" \
    sh -c 'sleep 30 & echo $! > daemon.pid; sleep 30 & echo $! >> daemon.pid' 2> out.json ||
    fail "run --format json"
kill $(cat daemon.pid)
assert_eq "json not_waited_for" 2 "$(json out.json 's["not_waited_for"]')"

# after the program has exited, a SIGTERM to tracemem goes to the
# descendants it waits for (re-parented to it), and it finishes at once
"$TM" run -o "$WORK/t.%p.json" --wait-children 60 -- \
    sh -c 'sleep 30 & echo $! > term.pid' > out 2> err &
tm=$!
i=0
until [ -s term.pid ] && [ "$(sed 's/.*) . \([0-9]*\) .*/\1/' "/proc/$(cat term.pid)/stat" 2>/dev/null)" = "$tm" ]; do
    i=$((i + 1)); [ $i -le 400 ] || fail "the sleep was never re-parented to tracemem"; sleep 0.05
done
start=$(date +%s)
kill -TERM "$tm"
rc=0; wait "$tm" || rc=$?
assert_eq "status after SIGTERM to the waiting tracemem" 0 "$rc"
[ $(($(date +%s) - start)) -lt 10 ] || fail "tracemem went on waiting"
alive "$(cat term.pid)" && fail "the descendant did not get the SIGTERM"
grep -q "not waited for" err && fail "descendant reported as not waited for: $(cat err)"

# a snapshot of an earlier run with the same template is not taken for
# one of this run's processes, even when its file looks recent
status 0 run -q -o "$WORK/same.%p.json" true
old=$(only_file "$WORK/same.*.json")
touch -d '+1 hour' "$old"
status 0 run -o "$WORK/same.%p.json" true
grep -q "other processes" "$WORK/err" && fail "earlier run's snapshot summarized: $(cat "$WORK/err")"
grep -q "^ *\(snapshots: \)\?$old\$" "$WORK/err" && fail "earlier run's snapshot listed: $(cat "$WORK/err")"
assert_eq "snapshots listed" 1 "$(grep -c "$WORK/same\." "$WORK/err")"

# killed by a signal while an orphan still runs: 128+N, the orphan waited for
rc=0; "$TM" run -q -o "$WORK/k.%p.json" sh -c '(sleep 0.5; touch orphan.done) & kill -KILL $$' || rc=$?
assert_eq "status when killed" 137 "$rc"
[ -e orphan.done ] || fail "the orphan was not waited for"
exit 0
