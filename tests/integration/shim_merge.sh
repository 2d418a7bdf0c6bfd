#!/bin/sh
# shim_merge.sh - per-thread figures merged exactly (tests/progs/shim_merge.c):
# per-site live and allocated figures in snapshots taken while threads
# allocate and while they wait, with blocks freed by other threads and by
# threads started after the allocating ones exited, more stacks per thread
# than its figure cache holds, and a child forked from the threaded program;
# memory.current equals tracemem_get_traced_memory's current at each point.
# A merge that loses or double-counts a thread's figures changes a value.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_merge

mkdir "$WORK/s"
TRACEMEM_FOLLOW_FORK=1 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s/exit.%p.json" \
    preload "$PROG" "$WORK/s" >"$WORK/out" 2>"$WORK/err"
assert_eq "exit status" 0 "$?"
[ -s "$WORK/err" ] && { cat "$WORK/err" >&2; fail "unexpected stderr"; }
assert_eq "output" "$(printf 'p2\np3\nchild\np4\ndone')" "$(awk '{print $1}' "$WORK/out")"
assert_eq "child's snapshot" "child 0" "$(grep '^child' "$WORK/out")"
for p in p1 p2 p3 p4 child; do
    [ -s "$WORK/s/$p.json" ] || fail "no snapshot $p"
done
$CHECK valid "$WORK"/s/*.json || fail "snapshot invalid"
fin=""
for f in "$WORK"/s/exit.*.json; do
    [ "$(json "$f" 's["process"]["pid"]')" = "$(json "$WORK/s/p2.json" 's["process"]["pid"]')" ] && fin=$f
done
[ -n "$fin" ] || fail "no exit snapshot of the parent"

# Per site of the program's own (one size each): size live_bytes
# live_blocks allocated_bytes allocated_blocks temporary.
sites() {
    python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
exe = s["process"]["exe"]
rows = {}
for t in s["traces"]:
    st = s["stacks"][t["stack"]]
    if not st["frames"] or t["domain"] != 0 or not t["allocated_count"]:
        continue
    f = s["frames"][st["frames"][0]]
    if f["module"] < 0 or s["modules"][f["module"]]["path"] != exe:
        continue
    r = rows.setdefault(t["allocated_size"] // t["allocated_count"], [0, 0, 0, 0, 0])
    for i, k in enumerate(("size", "count", "allocated_size", "allocated_count", "temporary")):
        r[i] += t.get(k, 0)
for k in sorted(rows):
    print(k, *rows[k])
PY
}
for p in p1 p2 p3 p4 child; do
    sites "$WORK/s/$p.json" >"$WORK/$p.sites"
done
sites "$fin" >"$WORK/exit.sites"

# While four threads churn 16-byte blocks: what they kept is exact, and at
# most one churn block a thread is live.
K24="24 2400 100 2400 100 0"
K40="40 160000 4000 160000 4000 0"
V88="88 211200 2400 211200 2400 0"
assert_eq "p1 kept" "$(printf '%s\n%s\n%s' "$K24" "$K40" "$V88")" "$(grep -v '^16 ' "$WORK/p1.sites")"
python3 - "$WORK/p1.sites" <<'PY' || fail "p1: churn figures $(grep '^16 ' "$WORK/p1.sites")"
import sys
for line in open(sys.argv[1]):
    v = [int(x) for x in line.split()]
    if v[0] == 16:
        size, live, abytes, acount, temp = v[1:]
        ok = 0 <= live <= 4 and size == 16 * live and abytes == 16 * acount and acount <= 400000 and \
            acount - 4 <= temp <= acount
        sys.exit(0 if ok else 1)
PY

C16="16 0 0 6400000 400000 400000"
assert_eq "p2 sites" "$(printf '%s\n%s\n%s\n%s' "$C16" "$K24" "$K40" "$V88")" "$(cat "$WORK/p2.sites")"
K40H="40 80000 2000 160000 4000 0"
L48="48 0 0 19200 400 400"
assert_eq "p3 sites (half of each thread's blocks freed by another)" \
    "$(printf '%s\n%s\n%s\n%s\n%s' "$C16" "$K24" "$K40H" "$L48" "$V88")" "$(cat "$WORK/p3.sites")"
assert_eq "child sites (forked just before p3)" "$(cat "$WORK/p3.sites")" "$(cat "$WORK/child.sites")"
assert_eq "child memory.current" "$(json "$WORK/s/p3.json" 's["memory"]["current"]')" \
    "$(json "$WORK/s/child.json" 's["memory"]["current"]')"
K40Z="40 0 0 160000 4000 0"
V88Z="88 0 0 211200 2400 0"
assert_eq "p4 sites (after two rounds of threads exited)" \
    "$(printf '%s\n%s\n%s\n%s\n%s\n%s\n%s' "$C16" "$K24" "$K40Z" "$L48" "56 67200 1200 67200 1200 0" \
        "72 57600 800 57600 800 0" "$V88Z")" "$(cat "$WORK/p4.sites")"
assert_eq "exit sites" \
    "$(printf '%s\n%s\n%s\n%s\n%s\n%s\n%s' "$C16" "24 0 0 2400 100 0" "$K40Z" "$L48" "56 0 0 67200 1200 0" \
        "72 57600 800 57600 800 0" "$V88Z")" "$(cat "$WORK/exit.sites")"

# tracemem_get_traced_memory's current, read just before each snapshot
# while the other threads wait, is the snapshot's memory.current.
for p in p2 p3 p4; do
    assert_eq "$p: memory.current" "$(awk -v p="$p" '$1 == p {print $2}' "$WORK/out")" \
        "$(json "$WORK/s/$p.json" 's["memory"]["current"]')"
done
for f in "$WORK"/s/*.json; do
    assert_eq "$(basename "$f"): lost records" 0 "$(json "$f" 's["memory"]["lost_records"]')"
    assert_eq "$(basename "$f"): peak >= current" true \
        "$(json "$f" 's["memory"]["peak"] >= s["memory"]["current"]')"
done
exit 0
