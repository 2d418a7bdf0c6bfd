# leaks_common.sh - helpers for tests/integration/leaks_*.sh (after lib.sh).

# The leak scan's own knobs (stopthreads.c, leakscan.c) are not inherited.
unset TRACEMEM_LEAK_STOP TRACEMEM_LEAK_DEBUG

# run_shim OUT SECONDS CMD...: CMD alone under the shim (not the timeout
# command around it), snapshots to the template OUT.
run_shim() {
    _out=$1
    _secs=$2
    shift 2
    timeout "$_secs" env LD_PRELOAD="$SHIM" TRACEMEM_OUTPUT="$_out" "$@"
}

# leak_counts FILE: block counts "definite indirect possible reachable".
leak_counts() {
    json "$1" '" ".join(str(s["leaks"]["summary"][k]["blocks"]) for k in ("definite", "indirect", "possible", "reachable"))'
}

# leak_bytes FILE KIND
leak_bytes() {
    json "$1" "s['leaks']['summary']['$2']['bytes']"
}

# leak_stack_bytes FILE KIND: sorted bytes of the leak stacks of KIND.
leak_stack_bytes() {
    json "$1" "sorted(x['bytes'] for x in s['leaks']['stacks'] if x['kind'] == '$2')"
}

have_valgrind() {
    command -v valgrind >/dev/null 2>&1
}

# vg_counts CMD...: Valgrind's block counts "definite indirect possible
# reachable" for CMD (all 0 when it says every block was freed).
vg_counts() {
    valgrind --leak-check=full --log-file="$WORK/vg.log" "$@" >/dev/null 2>&1 </dev/null
    grep -q "LEAK SUMMARY\|All heap blocks were freed" "$WORK/vg.log" || fail "valgrind gave no summary for $*"
    awk '/definitely lost:/ {d = $(NF-1)} /indirectly lost:/ {i = $(NF-1)}
         /possibly lost:/ {p = $(NF-1)} /still reachable:/ {r = $(NF-1)}
         END {gsub(",", "", d); gsub(",", "", i); gsub(",", "", p); gsub(",", "", r);
              printf "%d %d %d %d\n", d, i, p, r}' "$WORK/vg.log"
}

# first_two "A B C D": "A B" (definite and indirect).
first_two() {
    set -- $1
    echo "$1 $2"
}
