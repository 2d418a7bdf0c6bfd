#!/bin/sh
# attach.sh - tracemem attach on programs of our own: a loop that keeps
# some blocks (attached twice: attach, detach, attach again), a threaded
# server answering on a local socket before, while and after it is
# attached (every request answered, the same answers), and a process that
# exits while attached. The snapshots count what was allocated since the
# attach, at the right function and line, and say when the attach was.
. "$top_srcdir/tests/integration/lib.sh"
# the programs started in the background go with the test, whatever happens
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
[ "$(uname -m)" = x86_64 ] || skip "attach is implemented for x86-64 only"

LOOP=$PROGS/attach_loop
SERVER=$PROGS/attach_server
SRC=$top_srcdir/tests/progs
line_of() { grep -n "$1" "$2" | cut -d: -f1; }
GROW_LINE=$(line_of LINE-GROW "$SRC/attach_loop.c")
REMEMBER_LINE=$(line_of LINE-REMEMBER "$SRC/attach_server.c")

# wait_for FILE TEXT: until FILE holds TEXT (10 s at most)
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "$1 never showed '$2'"
        sleep 0.05
    done
}

# has_site FILE FUNCTION LINE: a trace live now whose stack has FUNCTION
# at LINE (the snapshot is symbolized)
has_site() {
    json "$1" "any(t['count'] > 0 and any(s['frames'][f].get('function') == '$2' and s['frames'][f].get('line') == $3
                                          for f in s['stacks'][t['stack']]['frames'])
               for t in s['traces'])"
}

# --- the loop: attach, detach, attach again ---
"$LOOP" > "$WORK/loop.out" &
pid=$!
wait_for "$WORK/loop.out" ready
before=$(date +%s)
"$TM" attach --duration 1 -o "$WORK/one.%p.json" $pid > "$WORK/out" 2> "$WORK/err"
rc=$?
if [ $rc = 2 ] && grep -q "not allowed to trace" "$WORK/err"; then
    kill $pid
    skip "ptrace is not permitted here: $(cat "$WORK/err")"
fi
[ $rc = 0 ] || fail "attach exited $rc: $(cat "$WORK/err")"
kill -0 $pid 2>/dev/null || fail "the loop did not survive the attach"
grep -q "detached from attach_loop (pid $pid)" "$WORK/err" || fail "no detach line: $(cat "$WORK/err")"
grep -q "leak classification covers only the blocks allocated since the attach" "$WORK/err" ||
    fail "the summary does not say what the leak check covers"
[ -s "$WORK/out" ] && fail "attach wrote on stdout: $(cat "$WORK/out")"
S1=$WORK/one.$pid.json
[ -f "$S1" ] || fail "no snapshot $S1: $(ls "$WORK")"
at=$(json "$S1" "s['snapshot']['attached_at']")
[ "$at" -ge "$before" ] && [ "$at" -le "$(date +%s)" ] || fail "attached_at $at is not the time of the attach"
assert_eq "symbolized" true "$(json "$S1" "s['symbolized']")"
assert_eq "leaks checked" true "$(json "$S1" "s['leaks']['checked']")"
assert_eq "pid" "$pid" "$(json "$S1" "s['process']['pid']")"
assert_eq "attach_grow's blocks at line $GROW_LINE" true "$(has_site "$S1" attach_grow "$GROW_LINE")"
# the loop keeps at most 64 blocks of 1000 bytes at a time: since the
# attach (about 200 iterations) the live set is its own, under 64 KB
cur=$(json "$S1" "s['memory']['current']")
[ "$cur" -gt 0 ] && [ "$cur" -le 64000 ] || fail "memory.current $cur: not only the blocks since the attach"
# the snapshot validates, and its figures add up
if python3 -c 'import jsonschema' 2>/dev/null; then
    python3 - "$top_srcdir/doc/tracemem-snapshot.schema.json" "$S1" <<'PY' || fail "$S1 does not validate"
import json, sys, jsonschema
s = json.load(open(sys.argv[2]))
jsonschema.validate(s, json.load(open(sys.argv[1])))
assert sum(t["size"] for t in s["traces"] if t["domain"] == 0) == s["memory"]["current"], "current"
PY
fi
# blocks it keeps are pointed to from a block allocated before the attach
# (its array): reachable, not leaked
assert_eq "definite leaks" 0 "$(json "$S1" "s['leaks']['summary']['definite']['blocks']")"

# real-time signals (queued, so none may be lost) arrive all along the
# second attach: while threads are borrowed and while traced
python3 -c "
import os, signal, sys, time
for i in range(300):
    os.kill(int(sys.argv[1]), signal.SIGRTMIN)
    time.sleep(0.004)" $pid &
kpid=$!
"$TM" attach --duration 0.5 -o "$WORK/two.%p.json" $pid > "$WORK/out" 2> "$WORK/err" ||
    fail "second attach failed: $(cat "$WORK/err")"
wait $kpid || fail "the signal sender failed"
S2=$WORK/two.$pid.json
[ -f "$S2" ] || fail "no snapshot after the second attach"
assert_eq "second attach: attach_grow" true "$(has_site "$S2" attach_grow "$GROW_LINE")"
[ "$(json "$S2" "s['snapshot']['attached_at']")" -ge "$at" ] || fail "second attached_at is earlier"
# only one copy of the shim, loaded once
assert_eq "libtracemem.so mapped once" 1 "$(grep libtracemem.so /proc/$pid/maps | awk '{print $6}' | sort -u | wc -l)"
# a module dlopen()ed while attached is redirected too
cat > "$WORK/plugin.c" <<'C'
#include <stdlib.h>
static void *keep[100000];
static unsigned n;
void plugin_alloc(void);
void plugin_alloc(void)
{
    if (n < 100000)
        keep[n++] = malloc(777); /* line 8 */
}
C
${CC:-cc} -g -O0 -shared -fPIC -o "$WORK/plugin.so" "$WORK/plugin.c" || fail "cannot build the plugin"
kill -TERM $pid
wait $pid
assert_eq "the loop's exit status" 0 $?
grep -q "^kept [0-9]" "$WORK/loop.out" || fail "the loop's output: $(cat "$WORK/loop.out")"
assert_eq "signals received by the loop" "signals 300" "$(grep '^signals' "$WORK/loop.out")"
rm -f "$WORK/loop.out" # wait_for must not find the first loop's "ready"
ATTACH_PLUGIN=$WORK/plugin.so "$LOOP" > "$WORK/loop.out" &
pid=$!
wait_for "$WORK/loop.out" ready
"$TM" attach --duration 2 -o "$WORK/plugin.%p.json" $pid > "$WORK/out" 2> "$WORK/err" &
apid=$!
sleep 0.5
kill -USR1 $pid
wait $apid || fail "attach (plugin) failed: $(cat "$WORK/err")"
grep -q "plugin loaded" "$WORK/loop.out" || fail "the plugin was not loaded: $(cat "$WORK/loop.out")"
assert_eq "plugin_alloc's blocks at line 8" true "$(has_site "$WORK/plugin.$pid.json" plugin_alloc 8)"

# a third time, with periodic snapshots for trend
"$TM" attach --interval 0.2 --duration 1 -o "$WORK/iv.%n.json" $pid > "$WORK/out" 2> "$WORK/err" ||
    fail "attach --interval failed: $(cat "$WORK/err")"
n=$(ls "$WORK"/iv.*.json | wc -l)
[ "$n" -ge 3 ] || fail "--interval 0.2 for 1 s: $n snapshots"
for f in "$WORK"/iv.*.json; do
    json "$f" "s['snapshot']['attached_at']" > /dev/null || fail "$f: no attached_at"
done
assert_eq "first periodic snapshot" interval "$(json "$WORK/iv.0.json" "s['snapshot']['reason']")"
assert_eq "the last one" leak-check "$(json "$WORK/iv.$((n - 1)).json" "s['snapshot']['reason']")"
status 0 trend "$WORK"/iv.*.json
kill -TERM $pid
wait $pid
assert_eq "the loop's exit status" 0 $?
grep -q "^kept [0-9]" "$WORK/loop.out" || fail "the loop's output: $(cat "$WORK/loop.out")"

# --- a thread that does nothing but malloc and free: it is borrowed only
# outside the C library and the shim (inside, it may hold a lock the call
# needs: the stop's leak scan once waited forever for one) ---
cat > "$WORK/busy.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
static volatile sig_atomic_t done;
static void on_term(int sig)
{
    (void)sig;
    done = 1;
}
int main(void)
{
    signal(SIGTERM, on_term);
    void *v[64] = {0};
    unsigned long i = 0, sum = 0;
    puts("ready");
    fflush(stdout);
    while (!done) {
        for (int k = 0; k < 100000; k++, i++) {
            unsigned j = (unsigned)(i * 2654435761u) % 64;
            free(v[j]);
            v[j] = malloc(16 + i % 512);
            memset(v[j], 1, 16);
            sum += ((unsigned char *)v[j])[3];
        }
    }
    printf("%lu\n", sum == i ? 1UL : 0UL);
    return 0;
}
C
${CC:-cc} -O2 -o "$WORK/busy" "$WORK/busy.c" || fail "cannot build busy.c"
"$WORK/busy" > "$WORK/busy.out" &
pid=$!
wait_for "$WORK/busy.out" ready
for n in 1 2; do
    timeout 100 "$TM" attach -q --duration 0.3 -o "$WORK/busy$n.json" $pid 2> "$WORK/err" ||
        fail "attach $n to a malloc-bound thread: $(cat "$WORK/err")"
    [ -f "$WORK/busy$n.json" ] || fail "no snapshot of the busy loop ($n)"
done
kill -TERM $pid
wait $pid
assert_eq "the busy loop's exit status" 0 $?
assert_eq "the busy loop's output" "ready
1" "$(cat "$WORK/busy.out")"

# --- a process that exits while attached: its at-exit snapshot ---
"$LOOP" 1.5 > "$WORK/short.out" &
pid=$!
wait_for "$WORK/short.out" ready
"$TM" attach --duration 60 -o "$WORK/exit.%p.json" $pid > "$WORK/out" 2> "$WORK/err"
rc=$?
wait $pid
assert_eq "exit status of the process that exited while attached" 3 $?
[ $rc = 0 ] || fail "attach exited $rc when the process exited: $(cat "$WORK/err")"
grep -q "exited while attached" "$WORK/err" || fail "the exit is not reported: $(cat "$WORK/err")"
S3=$WORK/exit.$pid.json
[ -f "$S3" ] || fail "no at-exit snapshot"
assert_eq "reason" exit "$(json "$S3" "s['snapshot']['reason']")"
json "$S3" "s['snapshot']['attached_at']" > /dev/null || fail "no attached_at in the at-exit snapshot"
grep -q "^kept [0-9]" "$WORK/short.out" || fail "the short loop's output: $(cat "$WORK/short.out")"

# --- a threaded server: every request answered, the same answers ---
SOCK=$WORK/sock
"$SERVER" "$SOCK" > "$WORK/server.out" &
spid=$!
wait_for "$WORK/server.out" listening
# client FIRST LAST OUT: requests FIRST .. LAST, one connection each;
# LAST "until:FILE": on until FILE exists, each answer flushed as it comes
client() {
    python3 - "$SOCK" "$1" "$2" > "$3" <<'PY'
import os, socket, sys
i, last = int(sys.argv[2]), sys.argv[3]
until = last[6:] if last.startswith("until:") else None
while (os.path.exists(until) is False) if until else i <= int(last):
    c = socket.socket(socket.AF_UNIX)
    c.connect(sys.argv[1])
    c.sendall(b"%d\n" % i)
    data = b""
    while True:
        b = c.recv(256)
        if not b:
            break
        data += b
    c.close()
    sys.stdout.write(data.decode())
    sys.stdout.flush()
    i += 1
PY
}
expect() { python3 -c "
import sys
for i in range(int(sys.argv[1]), int(sys.argv[2]) + 1): print('%d squared is %d' % (i, i * i))" "$1" "$2"; }
client 1 200 "$WORK/before.txt"
# requests keep coming while tracemem attaches, traces and detaches: from
# before the attach (an answer is in) until after it
client 201 "until:$WORK/stop" "$WORK/during.txt" &
cpid=$!
wait_for "$WORK/during.txt" squared
"$TM" attach --duration 1 -o "$WORK/server.%p.json" $spid > "$WORK/out" 2> "$WORK/err" ||
    fail "attach to the server failed: $(cat "$WORK/err")"
touch "$WORK/stop"
wait $cpid || fail "the client failed while attached"
last=$(tail -1 "$WORK/during.txt" | cut -d' ' -f1)
client $((last + 1)) $((last + 200)) "$WORK/after.txt"
expect 1 200 | cmp -s - "$WORK/before.txt" || fail "answers before the attach differ"
expect 201 "$last" | cmp -s - "$WORK/during.txt" || fail "answers while attached differ or are missing"
expect $((last + 1)) $((last + 200)) | cmp -s - "$WORK/after.txt" || fail "answers after the detach differ"
S4=$WORK/server.$spid.json
[ -f "$S4" ] || fail "no snapshot of the server"
assert_eq "attach_remember's nodes at line $REMEMBER_LINE" true "$(has_site "$S4" attach_remember "$REMEMBER_LINE")"
# strdup() in the C library is traced too (its slots were redirected):
# the copies are attributed to attach_remember
assert_eq "strdup's copies" true "$(json "$S4" "any(t['count'] > 0 and any('strdup' in (s['frames'][f].get('function') or '') for f in s['stacks'][t['stack']]['frames']) for t in s['traces'])")"
[ "$(ls /proc/$spid/task | wc -l)" = 5 ] || fail "the server's threads: $(ls /proc/$spid/task)"
client quit quit /dev/null 2>/dev/null || python3 -c "
import socket, sys
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.sendall(b'quit\n'); c.close()" "$SOCK"
wait $spid
assert_eq "the server's exit status" 0 $?
assert_eq "the server's output" "listening
bye" "$(cat "$WORK/server.out")"
exit 0
