#!/bin/sh
# Threads still running at exit (tests/progs/leaks_threads.c): sleeping,
# spinning, blocked in read() with all signals blocked, allocating in a
# loop, creating threads in a loop. No hang, no crash, the right kinds; a
# thread that cannot be stopped and runs leaves the result unchecked.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/leaks_common.sh"

P=$PROGS/leaks_threads
[ -x "$P" ] || fail "missing $P"

# Both ways of stopping threads: ptrace (default; threads with signals
# blocked stop too) and the signal fallback (TRACEMEM_LEAK_STOP=signal).
for stop in ptrace signal; do
    export TRACEMEM_LEAK_STOP=$stop
    for round in 1 2 3; do
        out=$WORK/$stop$round.json
        run_shim $out 60 "$P" exit 2>"$WORK/err" || fail "$stop: exit status $?"
        assert_eq "$stop: checked" true "$(json "$out" 's["leaks"]["checked"]')"
        assert_eq "$stop: definite, indirect" "2 1" "$(first_two "$(leak_counts "$out")")"
        assert_eq "$stop: definite bytes" 165 "$(leak_bytes "$out" definite)"
        assert_eq "$stop: indirect bytes" 88 "$(leak_bytes "$out" indirect)"
        # the 1000-byte block each of the five threads keeps on its stack
        assert_eq "$stop: kept by threads" 5 "$(json "$out" 'sum(x["blocks"] for x in s["leaks"]["stacks"] if x["kind"] == "reachable" and x["bytes"] == 1000 * x["blocks"])')"
        # with the signal, the reader (all signals blocked, in read()) is
        # scanned whole, its registers unread: the snapshot says the result
        # is partial (not the program's stderr)
        if [ $stop = signal ]; then
            assert_eq "$stop: partial" "true 1" \
                "$(json "$out" 'str(s["leaks"].get("partial")).lower() + " " + str(s["leaks"].get("threads_not_stopped"))')"
            "$TM" leaks "$out" >"$WORK/partial.txt" 2>&1 || fail "leaks of a partial check"
            grep -q "^   partial: 1 thread(s) could not be stopped" "$WORK/partial.txt" ||
                fail "leaks does not say the check was partial: $(cat "$WORK/partial.txt")"
        else
            assert_eq "$stop: not partial" false "$(json "$out" '"partial" in s["leaks"]')"
        fi
        [ -s "$WORK/err" ] && fail "$stop: stderr: $(cat "$WORK/err")"
    done

    run_shim $WORK/c.%n.json 60 "$P" check >"$WORK/out" 2>/dev/null || fail "$stop check: exit status $?"
    assert_eq "$stop: check results" "3 3 3 3 3" "$(sed 's/leak_check //' "$WORK/out" | tr '\n' ' ' | sed 's/ $//')"

    # with the shim's snapshot thread writing every 2 ms meanwhile (it is never
    # stopped: the scan must not read its buffers while it unmaps them)
    (export TRACEMEM_INTERVAL=0.002; run_shim "$WORK/iv.%n.json" 60 "$P" check >"$WORK/out" 2>/dev/null) ||
        fail "$stop: check with interval snapshots: exit status $?"
    assert_eq "$stop: check results with interval snapshots" "3 3 3 3 3" "$(sed 's/leak_check //' "$WORK/out" | tr '\n' ' ' | sed 's/ $//')"

    run_shim $WORK/spin.json 60 "$P" spin-blocked 2>"$WORK/err" || fail "$stop: spin-blocked: exit status $?"
    if [ $stop = signal ]; then
        assert_eq "spin-blocked: unchecked" false "$(json "$WORK/spin.json" 's["leaks"]["checked"]')"
        assert_eq "spin-blocked: message" 1 "$(grep -c 'could not be stopped and kept running; leaks left unchecked' "$WORK/err")"
    else
        assert_eq "spin-blocked: checked" true "$(json "$WORK/spin.json" 's["leaks"]["checked"]')"
        assert_eq "spin-blocked: definite, indirect" "2 1" "$(first_two "$(leak_counts "$WORK/spin.json")")"
    fi
done

# ptrace restarts an interrupted nanosleep; a signal handler cannot
export TRACEMEM_LEAK_STOP=ptrace
run_shim "$WORK/e.%n.json" 60 "$P" eintr >"$WORK/out" 2>/dev/null || fail "eintr: exit status $?"
assert_eq "ptrace: sleeping thread not woken" "eintr 0" "$(cat "$WORK/out")"
unset TRACEMEM_LEAK_STOP

if have_valgrind; then
    vg=$(vg_counts "$P" exit)
    note "valgrind: $vg; tracemem: $(leak_counts "$WORK/ptrace1.json")"
    assert_eq "valgrind agrees (definite, indirect)" "$(first_two "$vg")" "$(first_two "$(leak_counts "$WORK/ptrace1.json")")"
fi
exit 0
