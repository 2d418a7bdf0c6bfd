#!/bin/sh
# shim_exit.sh - leaving the program: exit, _exit and _Exit still write the
# at-exit snapshot (once; after exit's atexit handlers and destructors). A
# program that dies of a signal (TERM, abort, a crash) writes it too, with
# the leak check and the signal in snapshot.exit_signal, then dies of that
# signal as before (status, core dump); SIGKILL leaves nothing. The program
# sees SIG_DFL where it left SIG_DFL, and its own dispositions work.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_exit

for mode in exit:5 _exit:3 _Exit:4 term:143 kill:137 abort:134 segv:139 ignore:6 handle:7; do
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
    term | abort | segv)
        assert_eq "$m: snapshots" "s.json" "$(ls "$WORK/$m")"
        $CHECK valid "$WORK/$m/s.json" || fail "$m: snapshot invalid"
        sig=$((want - 128))
        assert_eq "$m: reason, signal" "exit $sig" \
            "$(json "$WORK/$m/s.json" 's["snapshot"]["reason"] + " " + str(s["snapshot"]["exit_signal"])')"
        assert_eq "$m: live blocks" "$(printf '888 1\n999 1\n1234 1')" "$($CHECK exe "$WORK/$m/s.json")"
        ;;
    kill)
        assert_eq "$m: no snapshot after SIGKILL" "" "$(ls "$WORK/$m")"
        ;;
    *)
        assert_eq "$m: snapshots" "s.json" "$(ls "$WORK/$m")"
        assert_eq "$m: no exit_signal" false "$(json "$WORK/$m/s.json" '"exit_signal" in s["snapshot"]')"
        ;;
    esac
done
# with the default leak check: done before the default action
for mode in term:143 segv:139; do
    m=${mode%%:*} want=${mode#*:}
    (TRACEMEM_OUTPUT="$WORK/leaks-$m.json" exec timeout 60 env LD_PRELOAD="$SHIM" "$PROG" "$m") >/dev/null 2>&1
    assert_eq "$m with leak check: status" "$want" "$?"
    assert_eq "$m: leaks checked" true "$(json "$WORK/leaks-$m.json" 's["leaks"]["checked"]')"
done
exit 0
