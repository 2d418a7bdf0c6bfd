#!/bin/sh
# shim_sigsafe.sh - the shim's own signal handling (fatal signals, the
# sigaction()/signal() it interposes, snapshots and leak checks written
# from handlers) changes nothing the program sees (tests/progs/
# shim_sigsafe.c): same output and status as untraced, no hang, and the
# final snapshot where the process dies of a signal. Each case failed (or
# hung) in a review of the first version of that code.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
P=$PROGS/shim_sigsafe

# case MODE RUNS [VAR=VALUE...]: untraced and traced RUNS times, compared
case_() {
    m=$1 runs=$2
    shift 2
    (exec timeout 60 "$P" "$m") >"$WORK/$m.plain" 2>/dev/null
    want=$?
    [ "$want" = 124 ] && fail "$m: the untraced run hung"
    i=0
    while [ $i -lt "$runs" ]; do
        i=$((i + 1))
        # a directory and files of each run's own: a child forked just
        # before exit(7) outlives its parent (forkexit) and writes its
        # snapshot and any message meanwhile; removing the directory under
        # it made the next run's stderr say "cannot write snapshot"
        rm -rf "$WORK/$m.s"
        mkdir "$WORK/$m.s.$i" && ln -s "$m.s.$i" "$WORK/$m.s"
        (TRACEMEM_OUTPUT="$WORK/$m.s.$i/%p.%n.json" exec timeout 60 env "$@" LD_PRELOAD="$SHIM" "$P" "$m") \
            >"$WORK/$m.out.$i" 2>"$WORK/$m.err.$i"
        rc=$?
        [ "$rc" = 124 ] && fail "$m, run $i: hung"
        assert_eq "$m, run $i: status" "$want" "$rc"
        diff "$WORK/$m.plain" "$WORK/$m.out.$i" >&2 || fail "$m, run $i: output differs"
        [ -s "$WORK/$m.err.$i" ] && fail "$m, run $i: stderr: $(cat "$WORK/$m.err.$i")"
    done
}

case_ alarm 1
case_ prof 1
case_ sigset 1
case_ forkexit 8
case_ sbrkexit 8
case_ sigintr 1
case_ smallstack 1 TRACEMEM_INTERVAL=0.001
case_ threads 3
# the process's final snapshot is written once, by the first thread
assert_eq "threads: one snapshot" 1 "$(ls "$WORK/threads.s" | wc -l)"
f=$(ls "$WORK"/threads.s/*.json)
$CHECK valid "$f" || fail "threads: snapshot invalid"
assert_eq "threads: exit_signal" 11 "$(json "$f" 's["snapshot"]["exit_signal"]')"
case_ vfork 1
# the parent's own death still writes its snapshot (the vfork child's did
# not take it)
assert_eq "vfork: exit_signal" 15 \
    "$(for f in "$WORK"/vfork.s/*.json; do json "$f" 's["snapshot"].get("exit_signal")'; done | sort -u | paste -sd' ')"
exit 0
