#!/bin/sh
# The leak scan on two threads gives the single-threaded answer, block for
# block: tests/progs/leaks_graph.c builds a random graph (crowded pages,
# cycles, interior pointers, many cliques, one large) and is checked with
# TRACEMEM_LEAK_THREADS=1 and =2 (three runs, a race would show as a
# difference), comparing kind, bytes and blocks of every leak stack (keyed
# by its frames, which do not depend on where the program was loaded).
# The program itself checks that the scan left errno, its thread list and
# its children as they were.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/leaks_common.sh"

P=$PROGS/leaks_graph
[ -x "$P" ] || fail "missing $P"

# leak_table FILE: one line per leak stack: frames, kind, bytes, blocks
leak_table() {
    python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
mods = s["modules"]
def key(st):
    return " ".join("%s+%x" % (mods[s["frames"][f]["module"]]["path"].rsplit("/", 1)[-1],
                               s["frames"][f]["offset"]) for f in s["stacks"][st]["frames"])
rows = sorted("%s | %s %d %d" % (key(x["stack"]), x["kind"], x["bytes"], x["blocks"])
              for x in s["leaks"]["stacks"])
print("\n".join(rows))
PY
}

# under a seccomp filter the scan never clones its helper (the filter might
# kill the process for it): then both runs are single-threaded
filtered=$(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status)
[ "${filtered:-0}" = 0 ] || note "a seccomp filter is installed: no helper expected"

for seed in 1 2; do
    for run in t1 t2a t2b t2c; do
        case $run in t1) threads=1 ;; *) threads=2 ;; esac
        TRACEMEM_LEAK_THREADS=$threads TRACEMEM_LEAK_DEBUG=1 \
            run_shim "$WORK/$seed$run.%n.json" 120 "$P" 150000 $seed >"$WORK/out" 2>"$WORK/err" ||
            fail "seed $seed, $threads thread(s): exit status $?"
        assert_eq "seed $seed, $threads thread(s): program's own checks" ok "$(cat "$WORK/out")"
        if [ $threads = 2 ] && grep -q "leak debug: no helper" "$WORK/err"; then
            note "seed $seed $run: the helper could not be created: $(grep 'no helper' "$WORK/err" | head -1)"
        elif [ $threads = 2 ] && [ "${filtered:-0}" = 0 ]; then
            grep -q "leak debug: helper done" "$WORK/err" || fail "seed $seed: no helper ran: $(grep 'helper' "$WORK/err")"
            note "seed $seed $run: $(grep 'helper done' "$WORK/err" | sed 's/.*(\([0-9]*\))/\1/' | tr '\n' ' ')blocks scanned by the helper"
        else
            grep -q "leak debug: helper" "$WORK/err" && fail "seed $seed: a helper ran with TRACEMEM_LEAK_THREADS=1"
        fi
        for n in 0 1; do
            f=$(only_file "$WORK/$seed$run.$n.json")
            assert_eq "seed $seed $run.$n: checked" true "$(json "$f" 's["leaks"]["checked"]')"
            leak_table "$f" >"$WORK/$seed$run.$n.txt"
        done
    done
    for n in 0 1; do
        # a graph with every kind, or the comparison proves little
        for kind in definite indirect possible reachable; do
            grep -q " | $kind " "$WORK/${seed}t1.$n.txt" || fail "seed $seed: no $kind leaks in $n"
        done
        for run in t2a t2b t2c; do
            cmp -s "$WORK/${seed}t1.$n.txt" "$WORK/$seed$run.$n.txt" ||
                fail "seed $seed, check $n: two threads ($run) differ from one: $(diff "$WORK/${seed}t1.$n.txt" "$WORK/$seed$run.$n.txt" | head -5)"
        done
    done
    note "seed $seed: $(leak_counts "$WORK/${seed}t1.1.json") (definite indirect possible reachable)"
done

# under a seccomp filter (allow-all, installed by the program): no helper,
# the same answer
TRACEMEM_LEAK_THREADS=2 TRACEMEM_LEAK_DEBUG=1 \
    run_shim "$WORK/sc.%n.json" 120 "$P" 150000 1 seccomp >"$WORK/out" 2>"$WORK/err" ||
    fail "seccomp: exit status $?"
if grep -q "^no seccomp filter" "$WORK/out"; then
    note "seccomp filters cannot be installed here: $(cat "$WORK/out")"
else
    assert_eq "seccomp: program's own checks" ok "$(cat "$WORK/out")"
    grep -q "leak debug: helper" "$WORK/err" && fail "seccomp: a helper ran under a seccomp filter"
    leak_table "$(only_file "$WORK/sc.1.json")" >"$WORK/sc.1.txt"
    cmp -s "$WORK/1t1.1.txt" "$WORK/sc.1.txt" || fail "seccomp: the answer differs from one thread's"
fi

# a bad value: one warning, the default used, the program unchanged
TRACEMEM_LEAK_THREADS=three run_shim "$WORK/bad.%n.json" 60 "$P" 2000 >"$WORK/out" 2>"$WORK/err" ||
    fail "TRACEMEM_LEAK_THREADS=three: exit status $?"
assert_eq "bad value: program" ok "$(cat "$WORK/out")"
assert_eq "bad value: one warning" 1 "$(grep -c 'TRACEMEM_LEAK_THREADS=three is not 1 or 2; using [12]' "$WORK/err")"
exit 0
