#!/bin/sh
# shim_fork.sh - processes the program makes:
#  * fork: the child writes its own snapshot (its pid in the name and in
#    process.pid, ppid = the parent) with its own blocks; the parent's does
#    not hold the child's. TRACEMEM_FOLLOW_FORK=0: the child writes nothing.
#  * fork+exec: TRACEMEM_FOLLOW_EXEC=1 keeps the exec'd program preloaded (it
#    writes its snapshot); =0 drops only the shim's LD_PRELOAD entry.
#  * vfork and posix_spawn children write nothing of the parent's.
# Output and exit status are those of an untraced run every time.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_fork
CHILD=$PROGS/shim_child
OTHER=$top_builddir/tests/progs/.libs/libshimplug_a.so
[ -f "$OTHER" ] || fail "$OTHER is not built"

# run NAME ARGS...: untraced and traced runs into $WORK/NAME, compared.
run() {
    name=$1
    shift
    mkdir -p "$WORK/$name"
    LD_PRELOAD= "$PROG" "$@" >"$WORK/$name.plain" 2>&1
    prc=$?
    TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/$name/%e.%p.json" \
        preload "$PROG" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    assert_eq "$name: exit status" "$prc" "$rc"
    assert_eq "$name: exit status" 0 "$rc"
    [ -s "$WORK/$name.err" ] && { cat "$WORK/$name.err" >&2; fail "$name: unexpected stderr"; }
    if [ "$name" != noexec ]; then
        diff -u "$WORK/$name.plain" "$WORK/$name.out" | sed 's,'"$SHIM"',SHIM,g' >"$WORK/$name.diff"
        # only the child's report of LD_PRELOAD may differ (it is preloaded)
        grep '^[-+][^-+]' "$WORK/$name.diff" | grep -v 'LD_PRELOAD=' >&2 && fail "$name: output differs"
    fi
    $CHECK valid "$WORK/$name"/*.json || fail "$name: invalid snapshot"
}

# files DIR: "exe-basename pid ppid" of every snapshot, sorted
files() {
    for f in "$1"/*.json; do
        python3 - "$f" <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
p = s["process"]
name = os.path.basename(sys.argv[1])
assert name == "%s.%d.json" % (os.path.basename(p["exe"]), p["pid"]), name
print(os.path.basename(p["exe"]), p["pid"], p["ppid"])
PY
    done
}

# fork, followed
run fork fork
set -- $(files "$WORK/fork" | sort -k3 -n)
[ $# -eq 6 ] || fail "fork: expected two snapshots, got: $*"
# the one whose ppid is the other's pid is the child
if [ "$6" = "$2" ]; then parent=$2 child=$5; elif [ "$3" = "$5" ]; then parent=$5 child=$2; else fail "fork: no parent/child pair in: $*"; fi
assert_eq "fork: parent's live blocks" "1111 1" "$($CHECK exe "$WORK/fork/shim_fork.$parent.json")"
assert_eq "fork: child's live blocks" "$(printf '1111 1\n2222 1')" "$($CHECK exe "$WORK/fork/shim_fork.$child.json")"

# fork, not followed
TRACEMEM_FOLLOW_FORK=0 run nofollow fork
assert_eq "FOLLOW_FORK=0: snapshots" 1 "$(ls "$WORK/nofollow" | wc -l)"
set -- $(files "$WORK/nofollow")
assert_eq "FOLLOW_FORK=0: the snapshot is the parent's" "$(json "$WORK/nofollow"/*.json 's["process"]["ppid"]')" "$3"

# fork+exec, followed
run exec forkexec "$CHILD"
grep -qx "child exec LD_PRELOAD=$SHIM" "$WORK/exec.out" || fail "exec: child saw another LD_PRELOAD: $(cat "$WORK/exec.out")"
files "$WORK/exec" | sort >"$WORK/exec.list"
assert_eq "exec: snapshots" 2 "$(wc -l <"$WORK/exec.list")"
set -- $(cat "$WORK/exec.list")
assert_eq "exec: exe names" "shim_child shim_fork" "$1 $4"
assert_eq "exec: the exec'd child's parent" "$5" "$3"
assert_eq "exec: child's live blocks" "3333 1" "$($CHECK exe "$WORK/exec/shim_child.$2.json")"

# fork+exec, not followed; another preloaded library stays
LD_PRELOAD=$OTHER TRACEMEM_FOLLOW_EXEC=0 run noexec forkexec "$CHILD"
assert_eq "FOLLOW_EXEC=0: child's LD_PRELOAD" "child exec LD_PRELOAD=$OTHER" "$(grep '^child' "$WORK/noexec.out")"
set -- $(files "$WORK/noexec")
assert_eq "FOLLOW_EXEC=0: only the parent's snapshot" "shim_fork" "$1${4:-}"
TRACEMEM_FOLLOW_EXEC=0 run noexec2 forkexec "$CHILD"
assert_eq "FOLLOW_EXEC=0, shim alone: child's LD_PRELOAD" "child exec LD_PRELOAD=(unset)" "$(grep '^child' "$WORK/noexec2.out")"

# vfork: children leave by _exit and by a failed exec
run vfork vfork
assert_eq "vfork: output" "$(printf 'vfork child: 7\nvfork failed exec: 127')" "$(cat "$WORK/vfork.out")"
set -- $(files "$WORK/vfork")
assert_eq "vfork: only the parent's snapshot" 3 $#
assert_eq "vfork: the parent's blocks" "1111 1" "$($CHECK exe "$WORK/vfork/shim_fork.$2.json")"

# posix_spawn: the spawned program writes its own, nothing of the parent's
run spawn spawn "$CHILD"
files "$WORK/spawn" | sort >"$WORK/spawn.list"
set -- $(cat "$WORK/spawn.list")
assert_eq "spawn: snapshots" "shim_child shim_fork" "$1 ${4:-}"
assert_eq "spawn: the spawned child's parent" "$5" "$3"
assert_eq "spawn: the parent's blocks" "1111 1" "$($CHECK exe "$WORK/spawn/shim_fork.$5.json")"

# fork while other threads allocate: no deadlock, every child's snapshot
# consistent and holding the child's own block
mkdir -p "$WORK/thr"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/thr/%e.%p.json" \
    timeout 120 env LD_PRELOAD="$SHIM" "$PROG" threads >"$WORK/thr.out" 2>"$WORK/thr.err"
assert_eq "threads: status" 0 "$?"
assert_eq "threads: output" "threads: 20 children exited 0" "$(cat "$WORK/thr.out")"
[ -s "$WORK/thr.err" ] && fail "threads: stderr: $(cat "$WORK/thr.err")"
assert_eq "threads: snapshots" 21 "$(ls "$WORK/thr" | wc -l)"
$CHECK valid "$WORK/thr"/*.json || fail "threads: invalid snapshot"
n=0
for f in "$WORK/thr"/*.json; do
    $CHECK exe "$f" | grep -x '2222 1' >/dev/null && n=$((n + 1))
done
assert_eq "threads: children holding their block" 20 "$n"
exit 0
