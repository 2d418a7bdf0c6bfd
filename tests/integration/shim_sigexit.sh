#!/bin/sh
# shim_sigexit.sh - exit() and _exit() from a signal handler that
# interrupted an allocation (tests/progs/shim_sigexit.c): the process ends
# with the handler's status and writes its at-exit snapshot with the leak
# check, every time. Before the fix the scan waited forever, in 1 to 2 runs
# of 30, on a lock the interrupted hook held.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_sigexit
RUNS=${SIGEXIT_RUNS:-40}

for how in exit:7 _exit:8; do
    m=${how%%:*} want=${how#*:}
    i=0
    while [ $i -lt "$RUNS" ]; do
        i=$((i + 1))
        out=$WORK/$m.$i.json
        # a few microseconds to 30 ms into the loop
        usec=$(( (i * 7919) % 30000 + 50 ))
        TRACEMEM_OUTPUT="$out" timeout 30 env LD_PRELOAD="$SHIM" "$PROG" "$m" $usec 2>"$WORK/err"
        rc=$?
        [ "$rc" = 124 ] && fail "$m, run $i ($usec us): hung at exit"
        assert_eq "$m, run $i: status" "$want" "$rc"
        [ -s "$WORK/err" ] && fail "$m, run $i: unexpected stderr: $(cat "$WORK/err")"
        $CHECK valid "$out" || fail "$m, run $i: snapshot invalid"
    done
    assert_eq "$m: every run checked its leaks" "$RUNS" \
        "$(for f in "$WORK"/$m.*.json; do json "$f" 's["leaks"]["checked"]'; done | grep -c true)"
done
exit 0
