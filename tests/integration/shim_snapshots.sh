#!/bin/sh
# shim_snapshots.sh - where and when snapshots are written:
#  * TRACEMEM_OUTPUT %p %e %n %t %% expand (an unknown %x is kept);
#  * TRACEMEM_SIGNAL=USR1 (and a number) gives numbered snapshots with
#    reason "signal", TRACEMEM_INTERVAL=0.2 numbered ones with reason
#    "interval", the exit one last;
#  * atomic writes: an unwritable directory or a file size limit (a full
#    disk) leaves no file and one stderr line, output/status unchanged; a symlink planted at the output path is
#    replaced, not followed; no temporary file is left behind.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_env

# %p %e %n %t %% and an unknown %x
mkdir "$WORK/tpl"
t0=$(date +%s)
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/tpl/%e-%p-%n-%t-%%-%x.json" \
    preload "$PROG" plain >"$WORK/tpl.out" 2>"$WORK/tpl.err"
assert_eq "template: status" 0 "$?"
t1=$(date +%s)
[ -s "$WORK/tpl.err" ] && fail "template: stderr: $(cat "$WORK/tpl.err")"
pid=$(sed -n 's/^hello from shim_env //p' "$WORK/tpl.out")
f=$(ls "$WORK/tpl")
t=$(echo "$f" | sed -n "s/^shim_env-$pid-0-\([0-9]*\)-%-%x\.json\$/\1/p")
[ -n "$t" ] || fail "template: file name '$f' (pid $pid)"
[ "$t" -ge "$t0" ] && [ "$t" -le "$t1" ] || fail "template: %t=$t not within [$t0, $t1]"
assert_eq "template: pid in the file" "$pid" "$(json "$WORK/tpl/$f" 's["process"]["pid"]')"

# signals: by name and by number; the program waits for each file
for sig in USR1 12; do
    mkdir "$WORK/sig$sig"
    case $sig in [0-9]*) num=$sig ;; *) num=$(python3 -c "import signal; print(int(signal.SIG$sig))") ;; esac
    TRACEMEM_SIGNAL=$sig TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/sig$sig/s.json" \
        timeout 60 env LD_PRELOAD="$SHIM" "$PROG" signal "$num" 3 "$WORK/sig$sig" >"$WORK/sig.out" 2>"$WORK/sig.err"
    assert_eq "signal $sig: status" 0 "$?"
    assert_eq "signal $sig: output" "signals 3" "$(cat "$WORK/sig.out")"
    [ -s "$WORK/sig.err" ] && fail "signal $sig: stderr: $(cat "$WORK/sig.err")"
    assert_eq "signal $sig: files" "$(printf 's.0.json\ns.1.json\ns.2.json\ns.3.json')" "$(ls "$WORK/sig$sig")"
    for n in 0 1 2 3; do
        g=$WORK/sig$sig/s.$n.json
        $CHECK valid "$g" || fail "signal $sig: s.$n.json invalid"
        want=signal
        [ $n -eq 3 ] && want=exit
        assert_eq "signal $sig: s.$n.json reason, seq" "$want $n" \
            "$(json "$g" 's["snapshot"]["reason"] + " " + str(s["snapshot"]["seq"])')"
        assert_eq "signal $sig: s.$n.json live" "4321 1" "$($CHECK exe "$g")"
    done
done
# without TRACEMEM_SIGNAL the signal keeps its default action
(exec "$PROG" signal 10 1 "$WORK") >/dev/null 2>&1
plain=$?
(TRACEMEM_AT_EXIT=none exec env LD_PRELOAD="$SHIM" "$PROG" signal 10 1 "$WORK") >/dev/null 2>&1
assert_eq "SIGUSR1 not taken over by default" "$plain" "$?"

# interval
mkdir "$WORK/iv"
TRACEMEM_INTERVAL=0.2 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/iv/s-%n.json" \
    preload "$PROG" busy 1.1 >"$WORK/iv.out" 2>"$WORK/iv.err"
assert_eq "interval: status" 0 "$?"
assert_eq "interval: output" "busy done" "$(cat "$WORK/iv.out")"
[ -s "$WORK/iv.err" ] && fail "interval: stderr: $(cat "$WORK/iv.err")"
n=$(ls "$WORK/iv" | wc -l)
[ "$n" -ge 4 ] && [ "$n" -le 7 ] || fail "interval: $n files in 1.1 s at 0.2 s: $(ls "$WORK/iv")"
last=$((n - 1))
i=0
prev=
while [ $i -lt $n ]; do
    g=$WORK/iv/s-$i.json
    [ -f "$g" ] || fail "interval: s-$i.json missing: $(ls "$WORK/iv")"
    $CHECK valid "$g" || fail "interval: s-$i.json invalid"
    want=interval
    [ $i -eq $last ] && want=exit
    assert_eq "interval: s-$i.json reason, seq" "$want $i" \
        "$(json "$g" 's["snapshot"]["reason"] + " " + str(s["snapshot"]["seq"])')"
    tm=$(json "$g" 's["snapshot"]["time"]')
    [ -z "$prev" ] || [ "$prev" \< "$tm" ] || fail "interval: times not increasing: $prev, $tm"
    prev=$tm
    i=$((i + 1))
done

# atomic writes: an unwritable place
: >"$WORK/file"
for out in "$WORK/file/s.json" "$WORK/missing/s.json"; do
    TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT=$out preload "$PROG" plain >"$WORK/uw.out" 2>"$WORK/uw.err"
    assert_eq "unwritable: status" 0 "$?"
    sed 's/ [0-9]*$//' "$WORK/uw.out" | grep -qx 'hello from shim_env' || fail "unwritable: stdout changed"
    assert_eq "unwritable: stderr lines" 1 "$(wc -l <"$WORK/uw.err")"
    grep -q "^tracemem: cannot write snapshot $out: " "$WORK/uw.err" || fail "unwritable: $(cat "$WORK/uw.err")"
done
[ -d "$WORK/missing" ] && fail "unwritable: a directory was created"
if [ "$(id -u)" != 0 ]; then
    mkdir "$WORK/ro" && chmod 555 "$WORK/ro"
    TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/ro/s.json" preload "$PROG" plain >/dev/null 2>"$WORK/uw.err"
    assert_eq "read-only dir: status" 0 "$?"
    assert_eq "read-only dir: stderr lines" 1 "$(wc -l <"$WORK/uw.err")"
    assert_eq "read-only dir: files" "" "$(ls -A "$WORK/ro")"
    chmod 755 "$WORK/ro"
else
    note "running as root: a mode-555 directory is writable, not tested"
fi
# a full disk, as a file size limit (RLIMIT_FSIZE): the write fails with
# EFBIG, SIGXFSZ does not kill the program, no file is left
mkdir "$WORK/fsize"
(ulimit -f 1 && TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/fsize/s.json" \
    exec env LD_PRELOAD="$SHIM" "$PROG" plain) >"$WORK/uw.out" 2>"$WORK/uw.err"
assert_eq "file size limit: status" 0 "$?"
sed 's/ [0-9]*$//' "$WORK/uw.out" | grep -qx 'hello from shim_env' || fail "file size limit: stdout changed"
assert_eq "file size limit: stderr" "tracemem: cannot write snapshot $WORK/fsize/s.json: File too large" \
    "$(cat "$WORK/uw.err")"
assert_eq "file size limit: files" "" "$(ls -A "$WORK/fsize")"
# several failing snapshots in one process: still one line
TRACEMEM_INTERVAL=0.05 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/missing/s.json" \
    preload "$PROG" busy 0.4 >/dev/null 2>"$WORK/uw.err"
assert_eq "repeated failures: status" 0 "$?"
assert_eq "repeated failures: stderr lines" 1 "$(wc -l <"$WORK/uw.err")"

# a planted symlink is replaced, its target untouched
mkdir "$WORK/sym"
echo precious >"$WORK/sym/target"
ln -s "$WORK/sym/target" "$WORK/sym/s.json"
ln -s "$WORK/sym/nowhere" "$WORK/sym/d.json"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/sym/s.json" preload "$PROG" plain >/dev/null 2>"$WORK/sym.err"
assert_eq "symlink: status" 0 "$?"
[ -s "$WORK/sym.err" ] && fail "symlink: stderr: $(cat "$WORK/sym.err")"
[ -L "$WORK/sym/s.json" ] && fail "symlink: the output path is still a symlink"
$CHECK valid "$WORK/sym/s.json" || fail "symlink: the snapshot is not valid"
assert_eq "symlink: target untouched" precious "$(cat "$WORK/sym/target")"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/sym/d.json" preload "$PROG" plain >/dev/null 2>&1
[ -e "$WORK/sym/nowhere" ] && fail "symlink: a dangling symlink was followed"
[ -f "$WORK/sym/d.json" ] && [ ! -L "$WORK/sym/d.json" ] || fail "symlink: dangling one not replaced"

# a FIFO at the output path is a stream: written in place when a reader is
# there, one warning and nothing replaced when none is; a device stays a device
mkfifo "$WORK/fifo" || fail "mkfifo"
timeout 30 cat "$WORK/fifo" >"$WORK/fifo.out" &
reader=$!
# the reader counts once it sits in open(2) waiting for a writer; the shim
# opens without blocking, so it must not come first
for i in $(seq 100); do
    for p in $(pgrep -P "$reader") "$reader"; do
        [ "$(cat "/proc/$p/wchan" 2>/dev/null)" = wait_for_partner ] && break 2
    done
    sleep 0.1
done
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/fifo" preload "$PROG" plain >/dev/null 2>"$WORK/fifo.err"
assert_eq "fifo: status" 0 "$?"
wait $reader
[ -s "$WORK/fifo.err" ] && fail "fifo: stderr: $(cat "$WORK/fifo.err")"
[ -p "$WORK/fifo" ] || fail "fifo: the FIFO was replaced"
$CHECK valid "$WORK/fifo.out" || fail "fifo: what the reader got is not a valid snapshot"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/fifo" preload "$PROG" plain >"$WORK/fifo2.out" 2>"$WORK/fifo2.err"
assert_eq "fifo without reader: status" 0 "$?"
assert_eq "fifo without reader: stderr lines" 1 "$(wc -l <"$WORK/fifo2.err")"
[ -p "$WORK/fifo" ] || fail "fifo without reader: the FIFO was replaced"
# (a null device of our own, so that a regression cannot replace /dev/null)
if [ "$(id -u)" = 0 ] && mknod -m 666 "$WORK/null" c 1 3 2>/dev/null; then
    TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/null" preload "$PROG" plain >/dev/null 2>"$WORK/null.err"
    assert_eq "device: status" 0 "$?"
    [ -c "$WORK/null" ] || fail "device: the character device was replaced"
    [ -s "$WORK/null.err" ] && fail "device: stderr: $(cat "$WORK/null.err")"
else
    note "not root: no device node of our own to write to; device case not run"
fi

# no temporary files anywhere
left=$(find "$WORK" -name '*.tmp*')
[ -z "$left" ] || fail "temporary files left: $left"
exit 0
