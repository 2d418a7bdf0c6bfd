#!/bin/sh
# shim_nothread.sh - TRACEMEM_SIGNAL and TRACEMEM_INTERVAL start no thread:
# a traced single-threaded program stays single-threaded, so what only
# such a program may do still works (unshare -Ur: EINVAL with two threads),
# and snapshots still come:
#  * a signal to a program blocked in a system call is answered at once;
#  * signals that land inside the shim's own hooks (SIGALRM every 500 us
#    on a program that does nothing but allocate) are answered when the
#    hook has left its locks, each snapshot valid;
#  * interval snapshots of a busy program (shim_snapshots.sh has the count).
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"

export TRACEMEM_SIGNAL=USR1 TRACEMEM_INTERVAL=0.01 TRACEMEM_AT_EXIT=snapshot
mkdir "$WORK/t"
got=$(TRACEMEM_OUTPUT="$WORK/t/%p.%n.json" timeout 60 env LD_PRELOAD="$SHIM" grep '^Threads:' /proc/self/status)
assert_eq "threads of a traced grep" "$(printf 'Threads:\t1')" "$got"

if command -v unshare >/dev/null && unshare -Ur true 2>/dev/null; then
    TRACEMEM_OUTPUT="$WORK/t/u.%p.%n.json" timeout 60 env LD_PRELOAD="$SHIM" unshare -Ur sh -c 'id -u' \
        >"$WORK/u.out" 2>"$WORK/u.err"
    assert_eq "unshare -Ur under the shim: status" 0 "$?"
    assert_eq "unshare -Ur under the shim: uid" 0 "$(cat "$WORK/u.out")"
    [ -s "$WORK/u.err" ] && fail "unshare: stderr: $(cat "$WORK/u.err")"
else
    note "unshare -Ur does not work here untraced; not tried"
fi

# a program asleep in nanosleep: the snapshot is written by the handler
mkdir "$WORK/sl"
TRACEMEM_INTERVAL=0 TRACEMEM_OUTPUT="$WORK/sl/s.%n.json" env LD_PRELOAD="$SHIM" sleep 30 &
pid=$!
# SIGUSR1 kills until the shim has installed its handler (SigCgt bit 9)
i=0
while :; do
    cgt=$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$pid/status 2>/dev/null)
    [ -n "$cgt" ] && [ $(( 0x$cgt & 0x200 )) -ne 0 ] && break
    [ $i -lt 1200 ] || fail "the shim's SIGUSR1 handler did not appear in 60 s"
    sleep 0.05
    i=$((i + 1))
done
i=0
while [ ! -e "$WORK/sl/s.0.json" ] && [ $i -lt 100 ]; do
    kill -USR1 $pid 2>/dev/null
    sleep 0.2
    i=$((i + 1))
done
kill -TERM $pid
wait $pid
[ -e "$WORK/sl/s.0.json" ] || fail "no snapshot from a sleeping program after 20 s of SIGUSR1"
$CHECK valid "$WORK/sl/s.0.json" || fail "sleeping program: snapshot invalid"
assert_eq "sleeping program: reason" signal "$(json "$WORK/sl/s.0.json" 's["snapshot"]["reason"]')"

# signals that interrupt the hooks
mkdir "$WORK/al"
TRACEMEM_SIGNAL=ALRM TRACEMEM_INTERVAL=0 TRACEMEM_OUTPUT="$WORK/al/s.%n.json" timeout 60 env LD_PRELOAD="$SHIM" \
    "$PROGS/shim_sigexit" snap 500 >"$WORK/al.out" 2>"$WORK/al.err"
assert_eq "SIGALRM every 500 us: status" 0 "$?"
[ -s "$WORK/al.err" ] && fail "SIGALRM: stderr: $(cat "$WORK/al.err")"
n=$(ls "$WORK/al" | wc -l)
[ "$n" -ge 20 ] || fail "SIGALRM every 500 us for 300 ms: only $n snapshots"
for f in "$WORK"/al/*.json; do
    $CHECK valid "$f" || fail "SIGALRM: $f invalid"
done
exit 0
