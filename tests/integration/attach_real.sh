#!/bin/sh
# attach_real.sh - tracemem attach on real programs: a python3 process in a
# loop, and a sqlite3 shell fed through a pipe. Each runs on after the
# detach and produces the output it would have without the attach.
. "$top_srcdir/tests/integration/lib.sh"
# the programs started in the background go with the test, whatever happens
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
[ "$(uname -m)" = x86_64 ] || skip "attach is implemented for x86-64 only"

wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "$1 never showed '$2'"
        sleep 0.05
    done
}

attach() { # attach PID OUT SECONDS
    "$TM" attach --duration "$3" -o "$2" "$1" > "$WORK/out" 2> "$WORK/err"
    rc=$?
    if [ $rc = 2 ] && grep -q "not allowed to trace" "$WORK/err"; then
        kill "$1"
        skip "ptrace is not permitted here: $(cat "$WORK/err")"
    fi
    [ $rc = 0 ] || fail "attach to pid $1 exited $rc: $(cat "$WORK/err")"
}

# --- python3 in a loop: strings of 2000 bytes go to malloc even with
# pymalloc (it serves requests up to 512 bytes) ---
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
cat > "$WORK/loop.py" <<'PY'
import sys, time
keep = []
def grow(i):
    keep.append("x" * 2000 + str(i))   # LINE-PYGROW
print("ready", flush=True)
i = 0
while not sys.stdin.closed:
    grow(i)
    i += 1
    if len(keep) > 2000:
        del keep[:1000]
    time.sleep(0.001)
    if i == 3000:
        break
print("done", i, len(keep), flush=True)
PY
"$PY" "$WORK/loop.py" > "$WORK/py.out" &
pid=$!
wait_for "$WORK/py.out" ready
attach $pid "$WORK/py.json" 1
kill -0 $pid 2>/dev/null || fail "python3 did not survive the attach"
S=$WORK/py.json
json "$S" "s['snapshot']['attached_at']" > /dev/null || fail "no attached_at"
# the strings come from PyUnicode_New (inlined into PyUnicode_Concat)
assert_eq "python3: strings traced" true \
    "$(json "$S" "any(t['count'] > 0 and any((s['frames'][f].get('function') or '').startswith('PyUnicode') for f in s['stacks'][t['stack']]['frames']) for t in s['traces'])")"
[ "$(json "$S" "s['memory']['current']")" -gt 100000 ] || fail "python3: too little traced"
# ... and, when this CPython's layout is known, under the Python frame of
# the line that made them (the shim was loaded late: detection, its
# per-thread tables and its TLS must all work then)
pyline=$(grep -n 'LINE-PYGROW' "$WORK/loop.py" | cut -d: -f1)
case $("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])') in
    3.11 | 3.12) assert_eq "python3: Python frames shown" true "$(json "$S" "bool(s.get('python', {}).get('frames'))")" ;;
esac
if [ "$(json "$S" "bool(s.get('python', {}).get('frames'))")" = true ]; then
    assert_eq "python3: the line that grows" true \
        "$(json "$S" "any(t['count'] > 0 and any(s['frames'][f].get('kind') == 'python' and s['frames'][f].get('function') == 'grow' and s['frames'][f].get('line') == $pyline for f in s['stacks'][t['stack']]['frames']) for t in s['traces'])")"
fi
wait $pid
assert_eq "python3's exit status" 0 $?
assert_eq "python3's output" "ready
done 3000 2000" "$(cat "$WORK/py.out")"

# --- sqlite3 fed through a pipe ---
command -v sqlite3 >/dev/null 2>&1 || { note "no sqlite3: its part is skipped"; exit 0; }
mkfifo "$WORK/fifo" || fail "mkfifo"
sqlite3 "$WORK/db" < "$WORK/fifo" > "$WORK/sql.out" 2>&1 &
pid=$!
exec 3> "$WORK/fifo"
echo "create table t(a integer, b text); select 'ready';" >&3
wait_for "$WORK/sql.out" ready
# statements arrive while tracemem attaches, traces and detaches
(
    i=0
    while [ $i -lt 40 ]; do
        echo "insert into t select value, printf('%.*c', 500, 'y') from generate_series($((i * 100 + 1)), $((i * 100 + 100)));"
        i=$((i + 1))
        sleep 0.05
    done
) >&3 &
fpid=$!
attach $pid "$WORK/sql.json" 1
wait $fpid
echo "select count(*), sum(a), sum(length(b)) from t;" >&3
exec 3>&-
wait $pid
assert_eq "sqlite3's exit status" 0 $?
assert_eq "sqlite3's output" "ready
4000|8002000|2000000" "$(grep -v '^Error\|^Parse error' "$WORK/sql.out")"
S=$WORK/sql.json
# sqlite3's allocator wrapper (sqlite3MemMalloc) calls malloc through
# libsqlite3's slots: its blocks are traced in that module
assert_eq "sqlite3: blocks in libsqlite3" true \
    "$(json "$S" "any(t['allocated_count'] > 0 and any('sqlite3' in (s['modules'][s['frames'][f]['module']]['path']) for f in s['stacks'][t['stack']]['frames']) for t in s['traces'])")"
exit 0
