#!/bin/sh
# shim_stackcache.sh - the stack cache is never wrong: the shim's test
# programs, a C++ program throwing through cached frames, a torture program
# (alloca, realigned frames, longjmp, signal handlers that allocate, also on
# an alternate stack, swapcontext stacks unmapped and mapped again, threads,
# fork, hundreds of stacks at one stack pointer), dlopen/dlclose, python3, sqlite3 and gcc run with
# TRACEMEM_VERIFY_STACKS=1: every cache hit (and every stack the shim
# unwound itself, partial hits included) is unwound again by libunwind and
# compared. Every snapshot must report zero mismatches, the programs
# must behave as untraced, and the cache must have been used (hits > 0).
# shim_allocfns run without the cache gives the same stacks and figures.
. "$top_srcdir/tests/integration/lib.sh"

export TRACEMEM_VERIFY_STACKS=1 TRACEMEM_AT_EXIT=snapshot

# run NAME CMD...: runs CMD untraced and traced (snapshots $WORK/NAME.*.json),
# same exit status and output
run() {
    name=$1
    shift
    "$@" >"$WORK/$name.plain" 2>&1
    prc=$?
    TRACEMEM_OUTPUT="$WORK/$name.%p.json" preload "$@" >"$WORK/$name.out" 2>&1
    rc=$?
    assert_eq "$name: exit status" "$prc" "$rc"
    diff -u "$WORK/$name.plain" "$WORK/$name.out" >&2 || fail "$name: output differs under the shim"
}

# hits NAME: checks NAME's snapshots; prints the hits of all of them
hits() {
    python3 - "$WORK" "$1" <<'PY' || fail "$1: stack cache mismatches (see above)"
import glob, json, sys
files = glob.glob(f"{sys.argv[1]}/{sys.argv[2]}.*.json")
assert files, "no snapshot"
hits = 0
for f in files:
    c = json.load(open(f))["stack_cache"]
    assert c["verified"] is True, (f, c)
    assert c["mismatches"] == 0, (f, c)
    assert c["hits"] + c["misses"] > 0, (f, c)
    hits += c["hits"]
print(hits)
PY
}

need_hits() {
    h=$(hits "$1") || exit 1
    [ "$h" -gt 0 ] || fail "$1: the stack cache was never used (hits $h)"
}

run torture "$PROGS/shim_stackcache"
need_hits torture
# its tails() takes outer frames from earlier stacks (partial hits)
python3 - "$WORK" <<'PY' || fail "torture: no partial hit"
import glob, json, sys
n = sum(json.load(open(f))["stack_cache"]["partial"] for f in glob.glob(sys.argv[1] + "/torture.*.json"))
assert n > 0, n
PY
grep -q '^done child 0$' "$WORK/torture.out" || fail "torture: the child failed"
# fans: 512 stacks at one stack pointer through one malloc call, eight
# times over; a set keeps four, the stack memo finds the others again
run fans "$PROGS/shim_stackcache" fans
python3 - "$WORK" <<'PY' || fail "fans: the stacks were not found again"
import glob, json, sys
f, = glob.glob(sys.argv[1] + "/fans.*.json")
c = json.load(open(f))["stack_cache"]
assert c["verified"] is True and c["mismatches"] == 0, c
assert c["hits"] >= 6 * 512 and c["misses"] < 1024, c
PY
if [ -x "$PROGS/shim_stackcache_cxx" ]; then
    run cxx "$PROGS/shim_stackcache_cxx"
    grep -q '^caught 3600 1200 1200$' "$WORK/cxx.out" || fail "cxx: exceptions misbehaved"
    need_hits cxx
fi
run allocfns "$PROGS/shim_allocfns"
hits allocfns >/dev/null # every allocation from its own stack: no hit to expect
run threads "$PROGS/shim_threads"
need_hits threads
run fork "$PROGS/shim_fork"
hits fork >/dev/null
[ -x "$PROGS/shim_cxx" ] && { run shimcxx "$PROGS/shim_cxx"; need_hits shimcxx; }
A=$top_builddir/tests/progs/.libs/libshimplug_a.so
B=$top_builddir/tests/progs/.libs/libshimplug_b.so
if [ -f "$A" ] && [ -f "$B" ]; then
    run dlopen "$PROGS/shim_dlopen" "$A" "$B"
    hits dlopen >/dev/null
fi

# The cache changes nothing in the figures: shim_allocfns's stacks and
# traces without the cache are the same.
TRACEMEM_OUTPUT="$WORK/nocache.%p.json" TRACEMEM_STACK_CACHE=0 preload "$PROGS/shim_allocfns" >/dev/null 2>&1
python3 - "$WORK" <<'PY' || fail "figures differ without the stack cache"
import glob, json, sys
def rows(pattern):
    f, = glob.glob(pattern)
    s = json.load(open(f))
    frames = s["frames"]
    def key(t):
        st = s["stacks"][t["stack"]]
        return tuple((frames[i]["module"], frames[i]["offset"]) for i in st["frames"])
    return sorted((key(t), t["size"], t["count"], t["allocated_size"], t["allocated_count"]) for t in s["traces"])
a = rows(sys.argv[1] + "/allocfns.*.json")
b = rows(sys.argv[1] + "/nocache.*.json")
assert a == b, "\n".join(map(str, set(a) ^ set(b)))
c = json.load(open(glob.glob(sys.argv[1] + "/nocache.*.json")[0]))["stack_cache"]
assert c["hits"] == 0, c
PY

# Real programs.
PY=/usr/bin/python3
if [ -x "$PY" ]; then
    cat >"$WORK/churn.py" <<'PYEOF'
d = {}
for i in range(20000):
    d[str(i)] = [i, str(i) * 3, {"k": i}]
    if i % 3 == 0:
        del d[str(i // 2)]
print(len(d), sum(len(v[1]) for v in d.values()))
PYEOF
    PYTHONMALLOC=malloc run python "$PY" "$WORK/churn.py"
    need_hits python
fi
if command -v sqlite3 >/dev/null 2>&1; then
    printf 'create table t(a integer primary key, b text);\nwith recursive c(x) as (select 1 union all select x+1 from c where x<3000) insert into t select x, printf("%%08d-%%s", x, x * 31) from c;\ncreate index tb on t(b);\nselect count(*), sum(length(b)) from t where a %% 7 = 3;\n' >"$WORK/q.sql"
    run sqlite sqlite3 :memory: ".read $WORK/q.sql"
    need_hits sqlite
fi
if command -v gcc >/dev/null 2>&1; then
    {
        echo '#include <stdio.h>'
        i=0
        while [ $i -lt 60 ]; do
            echo "static int f$i(int x) { int a[8]; for (int j = 0; j < 8; j++) a[j] = x * j + $i; return a[x & 7] + (x > 3 ? f$((i > 0 ? i - 1 : 0))(x - 1) : 0); }"
            i=$((i + 1))
        done
        echo 'int main(void) { printf("%d\n", f59(9)); return 0; }'
    } >"$WORK/big.c"
    run gcc gcc -O2 -c -o "$WORK/big.o" "$WORK/big.c"
    need_hits gcc
fi
exit 0
