#!/bin/sh
# shim_real.sh - real Debian programs under the shim (python3, also with
# threads, fork, subprocess and multiprocessing; sqlite3, gcc
# with its cc1/as children by fork+exec, perl, git): output and exit status
# identical to an untraced run; every snapshot written is valid JSON with
# every SPEC 5 key, indices in range, sum(trace sizes) == memory.current,
# sum(counts) == memory.blocks, peak >= current (shim_check.py valid).
# A program that is not installed is skipped (all absent: exit 77).
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
ran=0
# the distribution's interpreter, not a version manager's wrapper script
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# real NAME CMD...: run CMD in $WORK/NAME untraced and traced, compare.
real() {
    name=$1
    shift
    if ! command -v "$1" >/dev/null 2>&1; then
        note "$1 is not installed: $name skipped"
        return 0
    fi
    mkdir -p "$WORK/$name/plain" "$WORK/$name/traced" "$WORK/$name/snaps"
    (cd "$WORK/$name/plain" && "$@") >"$WORK/$name.plain" 2>"$WORK/$name.plain.err"
    prc=$?
    (cd "$WORK/$name/traced" && TRACEMEM_OUTPUT="$WORK/$name/snaps/%e.%p.json" \
        timeout 300 env LD_PRELOAD="$SHIM" "$@") >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    assert_eq "$name: exit status" "$prc" "$rc"
    diff -u "$WORK/$name.plain" "$WORK/$name.out" >&2 || fail "$name: stdout differs"
    diff -u "$WORK/$name.plain.err" "$WORK/$name.err" >&2 || fail "$name: stderr differs"
    set -- "$WORK/$name/snaps"/*.json
    [ -f "$1" ] || fail "$name: no snapshot written"
    $CHECK valid "$@" || fail "$name: invalid snapshot"
    for s in "$@"; do
        lr=$(json "$s" 's["memory"]["lost_records"]')
        [ "$lr" = 0 ] || note "$name: $(basename "$s"): $lr lost records"
    done
    note "$name: $# snapshot(s): $(cd "$WORK/$name/snaps" && ls | sed 's/\.[0-9]*\.json$//' | sort | tr '\n' ' ')"
    note "$name: current/peak/blocks of each: $(for s in "$@"; do json "$s" '"%d/%d/%d" % (s["memory"]["current"], s["memory"]["peak"], s["memory"]["blocks"])'; done | tr '\n' ' ')"
    ran=$((ran + 1))
}

real python3 "$PY" -c '
import json, sys
d = {str(i): [i] * 3 for i in range(20000)}
s = json.dumps(d)
print(len(s), sum(map(len, d.values())), sorted(d)[:3])
sys.exit(3)'
# threads, os.fork + os._exit, subprocess and a multiprocessing pool
real python3-procs "$PY" -c '
import os, subprocess, multiprocessing, concurrent.futures as cf
def work(n):
    return sum(len(str(i) * 5) for i in range(n))
if __name__ == "__main__":
    with cf.ThreadPoolExecutor(4) as ex:
        print(sum(ex.map(work, [20000] * 8)))
    pids = []
    for i in range(5):
        pid = os.fork()
        if pid == 0:
            work(1000)
            os._exit(0)
        pids.append(pid)
    print([os.waitpid(p, 0)[1] for p in pids])
    print(subprocess.run(["echo", "sub"], capture_output=True, text=True).stdout.strip())
    with multiprocessing.Pool(2) as p:
        print(sum(p.map(work, [1000] * 4)))'
if [ -d "$WORK/python3-procs/snaps" ]; then
    n=$(ls "$WORK/python3-procs/snaps" | grep -c '^python')
    [ "$n" -ge 6 ] || fail "python3-procs: expected the parent's and 5 forked children's snapshots, got $n"
fi
PYTHONMALLOC=malloc real python3-malloc "$PY" -c 'print(sum(len(str(i) * 10) for i in range(100000)))'
real sqlite3 sqlite3 :memory: '
create table t(a integer primary key, b text);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000)
insert into t select x, printf("%08d-%s", x, hex(x * 7919)) from c;
create index tb on t(b);
select count(*), sum(a), min(b), max(b) from t;'
cat >"$WORK/small.c" <<'C'
#include <stdio.h>
struct point { int x, y; };
static int dot(struct point a, struct point b) { return a.x * b.x + a.y * b.y; }
int main(void) { struct point p = {1, 2}, q = {3, 4}; printf("%d\n", dot(p, q)); return 0; }
C
real gcc gcc -O2 -c "$WORK/small.c" -o small.o
if command -v gcc >/dev/null 2>&1; then
    set -- $(cd "$WORK/gcc/snaps" && ls | sed 's/\.[0-9]*\.json$//' | sort -u)
    case " $* " in *" cc1 "*) ;; *) fail "gcc: no snapshot from cc1 (fork+exec): $*" ;; esac
    cmp -s "$WORK/gcc/plain/small.o" "$WORK/gcc/traced/small.o" || fail "gcc: object files differ"
fi
real perl perl -e '
my %h; $h{$_} = "x" x ($_ % 100) for 1 .. 20000;
my @k = sort { $a <=> $b } keys %h;
print scalar(@k), " ", length(join("", values %h)), "\n"; exit 4;'
real git-version git --version
real git-init git init -q repo
if command -v git >/dev/null 2>&1; then
    [ -d "$WORK/git-init/traced/repo/.git" ] || fail "git init: no repository"
fi
[ "$ran" -gt 0 ] || skip "none of python3, sqlite3, gcc, perl, git is installed"
exit 0
