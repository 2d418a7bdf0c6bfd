#!/bin/sh
# Inputs that are not regular files, or too large: snapshots, suppressions
# files and baselines that are a FIFO or a device are refused with one
# line and exit 2 (before: a hang, or /dev/zero read without end); files
# over the documented limits (snapshot 1 GiB, suppressions 64 MiB,
# baseline 256 MiB) too; "-" still reads a snapshot from a pipe. A module
# path in a snapshot that is a FIFO, a device or a link to one is left
# unsymbolized, and symbolize finishes (before: it hung in libelf).
. "$top_srcdir/tests/integration/lib.sh"

A=$DATA/cli-a.json
L=$DATA/leaks.json
cd "$WORK" || fail "cd"
mkfifo fifo
ln -s fifo linkfifo

# expect STATUS LINE ARGS...: tracemem ARGS exits STATUS within 20 s and
# prints exactly LINE on stderr
expect() {
    want=$1 line=$2
    shift 2
    rc=0
    timeout 20 "$TM" "$@" > out 2> err < /dev/null || rc=$?
    assert_eq "tracemem $*: exit status" "$want" "$rc"
    assert_eq "tracemem $*: stderr" "$line" "$(cat err)"
}

expect 2 "tracemem: fifo: not a regular file (a FIFO)" top fifo
expect 2 "tracemem: linkfifo: not a regular file (a FIFO)" symbolize linkfifo -o out.json
expect 2 "tracemem: /dev/zero: not a regular file (a character device)" \
    leaks "$L" --suppressions /dev/zero
expect 2 "tracemem: fifo: not a regular file (a FIFO)" check "$L" --suppressions fifo
expect 2 "tracemem: /dev/zero: not a regular file (a character device)" \
    check "$L" --baseline /dev/zero
expect 2 "tracemem: fifo: not a regular file (a FIFO)" check "$L" --baseline fifo
expect 2 "tracemem: fifo: not a regular file (a FIFO)" diff "$A" fifo
expect 2 "tracemem: fifo: not a regular file (a FIFO)" trend "$A" fifo

# size limits, with sparse files (nothing is read: the size is enough)
truncate -s $((64 * 1024 * 1024 + 1)) big.supp
expect 2 "tracemem: big.supp: too large: more than 64 MiB" leaks "$L" --suppressions big.supp
truncate -s $((256 * 1024 * 1024 + 1)) big.baseline
expect 2 "tracemem: big.baseline: too large: more than 256 MiB" check "$L" --baseline big.baseline
truncate -s $((1024 * 1024 * 1024 + 1)) big.json
expect 2 "tracemem: big.json: too large: more than 1 GiB" top big.json
# ... and a file at the limit is read (it is not valid, that is all)
truncate -s $((64 * 1024 * 1024)) limit.supp
rc=0
"$TM" leaks "$L" --suppressions limit.supp > out 2> err || rc=$?
grep -q "too large" err && fail "a suppressions file of exactly 64 MiB was refused"

# a snapshot from a pipe through "-"
cat "$A" | "$TM" top - > out 2> err || fail "top - from a pipe: $(cat err)"
"$TM" top "$A" > want
cmp -s out want || fail "top - from a pipe: other output than top FILE"

# modules that are a FIFO, a device, a link to a FIFO: left unsymbolized
python3 - "$A" raw.json "$WORK" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
w = sys.argv[3]
s["symbolized"] = False
for f in s["frames"]:
    for k in ("function", "file", "line", "inlined"):
        f.pop(k, None)
paths = [w + "/fifo", "/dev/zero", w + "/linkfifo"]
for i, m in enumerate(s["modules"]):
    m["path"] = paths[i % len(paths)]
json.dump(s, open(sys.argv[2], "w"))
PY
rc=0
timeout 20 "$TM" symbolize raw.json -o sym.json > out 2> err || rc=$?
assert_eq "symbolize with FIFO modules: exit status" 0 "$rc"
assert_eq "symbolize with FIFO modules: symbolized" true "$(json sym.json 's["symbolized"]')"
assert_eq "symbolize with FIFO modules: functions found" 0 \
    "$(json sym.json 'len([f for f in s["frames"] if "function" in f])')"
[ -p fifo ] || fail "the FIFO module was replaced"
rc=0
timeout 20 "$TM" top raw.json > out 2> err || rc=$?
assert_eq "top with FIFO modules: exit status" 0 "$rc"
exit 0
