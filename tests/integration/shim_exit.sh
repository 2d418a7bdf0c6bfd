#!/bin/sh
# shim_exit.sh - leaving the program: exit, _exit and _Exit still write the
# at-exit snapshot (once; after exit's atexit handlers and destructors); a program killed by a signal (TERM, KILL, abort)
# neither hangs nor changes its exit status.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_exit

for mode in exit:5 _exit:3 _Exit:4 term:143 kill:137 abort:134; do
    m=${mode%%:*} want=${mode#*:}
    mkdir "$WORK/$m"
    # subshell: the shell's own "Aborted" notice stays out of the comparison
    (exec "$PROG" "$m") >"$WORK/$m.plain" 2>/dev/null
    assert_eq "$m: untraced status" "$want" "$?"
    (TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/$m/s.json" exec timeout 60 \
        env LD_PRELOAD="$SHIM" "$PROG" "$m") >"$WORK/$m.out" 2>"$WORK/$m.err"
    assert_eq "$m: status under the shim" "$want" "$?"
    diff "$WORK/$m.plain" "$WORK/$m.out" >&2 || fail "$m: output differs"
    [ -s "$WORK/$m.err" ] && { cat "$WORK/$m.err" >&2; fail "$m: unexpected stderr"; }
    case $m in
    *exit | _Exit)
        assert_eq "$m: snapshots" "s.json" "$(ls "$WORK/$m")"
        $CHECK valid "$WORK/$m/s.json" || fail "$m: snapshot invalid"
        assert_eq "$m: reason" exit "$(json "$WORK/$m/s.json" 's["snapshot"]["reason"]')"
        if [ "$m" = exit ]; then
            want_live="1234 1" # after the atexit handler and the destructor
        else
            want_live=$(printf '888 1\n999 1\n1234 1')
        fi
        assert_eq "$m: live blocks" "$want_live" "$($CHECK exe "$WORK/$m/s.json")"
        ;;
    *)
        assert_eq "$m: no snapshot from a killed program" "" "$(ls "$WORK/$m")"
        ;;
    esac
done
exit 0
