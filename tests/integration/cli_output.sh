#!/bin/sh
# Output files of symbolize, export, flamegraph, check -o and
# --update-baseline: a regular file is replaced atomically, a symlink is
# followed (the link stays a link), a FIFO, a character device or
# /dev/stdout is written through (never replaced), and a write error
# (ENOSPC from /dev/full, EPIPE) is one line "tracemem: FILE: write
# error: ..." with exit status 2. Commands printing on stdout (top, leaks,
# diff, trend, gc) report a full stdout the same way. The real /dev/null
# is only written to, and must stay a character device.
. "$top_srcdir/tests/integration/lib.sh"

A=$DATA/cli-a.json
L=$DATA/leaks.json
cd "$WORK" || fail "cd"

# one_line WHAT EXPECTED: stderr ($WORK/err) is exactly the line EXPECTED
one_line() {
    assert_eq "$1: stderr" "$2" "$(cat "$WORK/err")"
}

# every command that writes OUT, as "command args" with OUT at the end
writers() {
    echo "symbolize $A -o"
    echo "export $A --to folded -o"
    echo "export $A --to pprof -o"
    echo "flamegraph $A -o"
    echo "check $L --max-leaked-bytes 1000000000 --max-leaked-blocks 1000000 -o"
    echo "check $L --max-leaked-bytes 1000000000 --max-leaked-blocks 1000000 --update-baseline"
}

# A tracemem that renames over its output would replace /dev/full and
# /dev/null as root: as root, private device nodes in the work dir are
# tried first (same devices, 1:7 and 1:3), and the real ones only when
# those are written through.
full=/dev/full null=/dev/null
if [ "$(id -u)" = 0 ] && mknod full c 1 7 2> /dev/null && mknod null c 1 3; then
    full=$WORK/full null=$WORK/null
fi

# 1. a full device: the write error, exit 2 (before: exit 0, or a rename
# error, and the device replaced by a regular file)
for dev in "$full" /dev/full; do
    writers | while read -r cmd; do
        rc=0
        $TM $cmd "$dev" > out 2> err || rc=$?
        [ -c "$dev" ] || fail "tracemem $cmd $dev replaced $dev (by a $(stat -c %F "$dev"))"
        assert_eq "tracemem $cmd $dev: exit status" 2 "$rc"
        one_line "tracemem $cmd $dev" \
            "tracemem: $dev: write error: No space left on device"
    done || exit 1
done

# ... also when the output is larger than any buffer (before: a crash in
# glibc for a failing write of pprof's gzip blocks)
python3 - "$A" wide.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n = 6000
s["frames"] = [{"module": 0, "offset": 4096 + i, "function": "function_number_%d" % i,
                "file": "/src/wide.c", "line": i + 1} for i in range(n)]
s["stacks"] = [{"frames": [i, (i + 1) % n], "depth": 2} for i in range(n)]
s["traces"] = [{"stack": i, "domain": 0, "size": 4096, "count": 1,
                "allocated_size": 4096, "allocated_count": 1} for i in range(n)]
s.pop("peak", None)
s.pop("leaks", None)
json.dump(s, open(sys.argv[2], "w"))
PY
for cmd in "symbolize wide.json -o" "flamegraph wide.json -o" "export wide.json --to folded -o" \
           "export wide.json --to speedscope -o" "export wide.json --to pprof -o"; do
    rc=0
    $TM $cmd "$full" > out 2> err || rc=$?
    [ -c "$full" ] || fail "tracemem $cmd $full replaced $full"
    assert_eq "tracemem $cmd $full (large): exit status" 2 "$rc"
    one_line "tracemem $cmd $full (large)" "tracemem: $full: write error: No space left on device"
done
# a FIFO whose reader goes away: EPIPE, one line
rm -f fifo
mkfifo fifo
head -c 10 fifo > /dev/null &
rc=0
$TM export wide.json --to folded -o fifo > out 2> err || rc=$?
wait
assert_eq "export to a FIFO closed early: exit status" 2 "$rc"
one_line "export to a FIFO closed early" "tracemem: fifo: write error: Broken pipe"
rm -f fifo

# 2. /dev/null is written to, not replaced (as root it used to become a
# regular file: run last of all, nothing else in this test needs it)
null_before=$(stat -c '%F %t:%T' /dev/null)

# 3. a FIFO gets the bytes, and stays a FIFO; compare with a regular file
writers | while read -r cmd; do
    case $cmd in flamegraph*) ext=.svg ;; *) ext= ;; esac
    rm -f reg$ext fifo$ext got
    $TM $cmd reg$ext > out 2> err || fail "tracemem $cmd reg$ext: $(cat err)"
    [ -f reg$ext ] && [ ! -L reg$ext ] || fail "tracemem $cmd: reg$ext is not a regular file"
    mkfifo fifo$ext
    cat fifo$ext > got &
    rc=0
    $TM $cmd fifo$ext > out 2> err || rc=$?
    wait
    assert_eq "tracemem $cmd FIFO: exit status" 0 "$rc"
    [ -p fifo$ext ] || fail "tracemem $cmd replaced the FIFO: $(stat -c %F fifo$ext)"
    case $cmd in
    *pprof*) ;;   # gzip has a time stamp: compare the sizes only
    flamegraph*) ;;
    *) cmp -s got reg$ext || fail "tracemem $cmd: the FIFO got other bytes than the file" ;;
    esac
    [ -s got ] || fail "tracemem $cmd: nothing reached the FIFO"
done || exit 1

# 4. a symlink in the work dir: the link stays, the file it names gets the
# bytes (atomically: a new inode); a dangling link creates its target; a
# chain of links is followed; a link to a FIFO is written through
rm -f reg target link link2 dangling
$TM export "$A" --to folded -o reg 2> err || fail "export: $(cat err)"
echo old > target
ln -s target link
ln -s link link2
ino=$(stat -c %i target)
status 0 export "$A" --to folded -o link2
[ -L link ] && [ -L link2 ] || fail "export -o link2 replaced a symlink"
[ -f target ] || fail "export -o link2: target is not a regular file"
cmp -s target reg || fail "export -o link2: target has other bytes"
[ "$(stat -c %i target)" != "$ino" ] || fail "export -o link2: target not replaced atomically"
ln -s sub/../made dangling
mkdir sub
status 0 export "$A" --to folded -o dangling
[ -L dangling ] || fail "export -o dangling replaced the link"
cmp -s made reg || fail "export -o dangling: the link's target has other bytes"
rm -f fifo
mkfifo fifo
ln -s fifo linkfifo
cat fifo > got &
status 0 export "$A" --to folded -o linkfifo
wait
[ -L linkfifo ] && [ -p fifo ] || fail "export -o linkfifo replaced something"
cmp -s got reg || fail "export -o linkfifo: the FIFO got other bytes"
# symbolize in place through a symlink keeps the link
cp "$A" snap.json
ln -s snap.json snaplink
status 0 symbolize snaplink
[ -L snaplink ] || fail "symbolize snaplink replaced the link"
[ "$(json snap.json 's["symbolized"]')" = true ] || fail "symbolize snaplink: snap.json not symbolized"
# a directory is an error, one line
mkdir adir
status 2 export "$A" --to folded -o adir
one_line "export -o adir" "tracemem: adir: cannot write: Is a directory"

# 5. /dev/stdout: the bytes reach stdout (a pipe here), no file replaced
$TM export "$A" --to folded -o /dev/stdout 2> err | cat > got ||
    fail "export -o /dev/stdout: $(cat err)"
cmp -s got reg || fail "export -o /dev/stdout: stdout got other bytes"
[ -L /dev/stdout ] || fail "/dev/stdout is no longer a symlink"
# ... and appending to a file through /dev/stdout keeps what was there
echo first > app
$TM export "$A" --to folded -o /dev/stdout >> app 2> err || fail "export >> app: $(cat err)"
assert_eq "first line kept through /dev/stdout" first "$(head -n 1 app)"
assert_eq "bytes appended through /dev/stdout" "$(($(wc -c < reg) + 6))" "$(wc -c < app)"

# 6. a full stdout: one line, exit 2 (before: exit 2 and nothing said)
for cmd in "top $A" "top --format json $A" "leaks $L" "leaks --gen-suppressions $L" \
           "diff $A $DATA/cli-b.json" "trend $DATA/trend-1.json $DATA/trend-2.json $DATA/trend-3.json" \
           "gc $DATA/cli-gc-a.json" "export $A --to folded -o -" "check $L --max-leaked-bytes 1000000000 --max-leaked-blocks 1000000" \
           "check $L" "--help" "--version" "top --help" "symbolize --help"; do
    rc=0
    $TM $cmd > /dev/full 2> err || rc=$?
    assert_eq "tracemem $cmd > /dev/full: exit status" 2 "$rc"
    # (a failed gate, exit 1, is still status 2 when the report is lost)
    one_line "tracemem $cmd > /dev/full" \
        "tracemem: <stdout>: write error: No space left on device"
done

# 7. a closed pipe: EPIPE reported, not a silent death by SIGPIPE
python3 - "$TM" "$A" > epipe.out 2>&1 <<'PY' || fail "EPIPE: $(cat epipe.out)"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], "top", "-n", "0", sys.argv[2]], stdout=w,
                   stderr=subprocess.PIPE)
err = p.stderr.decode()
assert p.returncode == 2, (p.returncode, err)
assert err == "tracemem: <stdout>: write error: Broken pipe\n", err
PY

# 8. /dev/null, last: written through and still the same character device
for dev in "$null" /dev/null; do
    writers | while read -r cmd; do
        status 0 $cmd "$dev"
        [ -c "$dev" ] || fail "tracemem $cmd $dev replaced $dev"
    done || exit 1
done
assert_eq "/dev/null after writing to it" "$null_before" "$(stat -c '%F %t:%T' /dev/null)"
[ -c /dev/null ] || fail "/dev/null is not a character device any more"
exit 0
