#!/bin/sh
# TRACEMEM_GZIP_LEVEL and what tracemem run leaves behind: the level
# selects zlib's work on a .gz snapshot (0: stored blocks only, a valid
# gzip file as large as the JSON; a bad value is one warning line and
# level 3); tracemem run has the program write level 0 and writes the
# symbolized snapshot back compressed; a snapshot written by a process
# run stopped waiting for stays stored, valid and complete; and the
# symbols run adds (its thread opens the program's files while it runs)
# are those tracemem symbolize gives the raw snapshot.
. "$top_srcdir/tests/integration/lib.sh"

[ -r "$SHIM" ] || fail "no $SHIM"
PROG=$PROGS/gate_leaks
[ -x "$PROG" ] || fail "no $PROG"
command -v gzip > /dev/null || skip "no gzip"
cd "$WORK" || fail "no $WORK"

# blocks FILE: "stored" when every deflate block of the gzip file FILE is
# a stored one and the file ends with its trailer right after the last,
# else "compressed"; fails when it is not one gzip member with the CRC
# and size of what it inflates to
blocks() {
    python3 - "$1" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:3] == b"\x1f\x8b\x08", "not gzip"
flg = d[3]
pos = 10
assert flg & ~0x08 == 0, "header flags %#x" % flg
if flg & 0x08:  # a name
    pos = d.index(b"\0", pos) + 1
text = zlib.decompressobj(-15)
data = text.decompress(d[pos:])
assert text.eof, "truncated"
crc, size = struct.unpack("<II", text.unused_data[:8])
assert crc == zlib.crc32(data) and size == len(data) % 2**32, "bad trailer"
assert len(text.unused_data) == 8, "%d bytes after the member" % (len(text.unused_data) - 8)
stored = True
while True:
    b = d[pos]
    if (b >> 1) & 3 != 0:
        stored = False
        break
    n, nn = struct.unpack("<HH", d[pos + 1:pos + 5])
    assert n ^ nn == 0xffff, "bad stored block length"
    pos += 5 + n
    if b & 1:
        break
if stored:
    assert pos + 8 == len(d), "data after the last block"
print("stored" if stored else "compressed")
PY
}

# the shim: 0 stores, 9 and the default compress; the content is the same
TRACEMEM_GZIP_LEVEL=0 TRACEMEM_OUTPUT="$WORK/l0.json.gz" preload "$PROG" leak 2> err0 || fail "level 0 run"
TRACEMEM_GZIP_LEVEL=9 TRACEMEM_OUTPUT="$WORK/l9.json.gz" preload "$PROG" leak || fail "level 9 run"
TRACEMEM_OUTPUT="$WORK/l3.json.gz" preload "$PROG" leak || fail "default run"
assert_eq "level 0: no warning" "" "$(cat err0)"
assert_eq "level 0" stored "$(blocks l0.json.gz)"
assert_eq "level 9" compressed "$(blocks l9.json.gz)"
assert_eq "default level" compressed "$(blocks l3.json.gz)"
gzip -t l0.json.gz || fail "gzip -t: level 0 is not valid gzip"
plain=$(gzip -dc l0.json.gz | wc -c)
[ "$(wc -c < l0.json.gz)" -gt "$plain" ] || fail "level 0: $(wc -c < l0.json.gz) bytes for $plain of JSON"
[ "$(wc -c < l9.json.gz)" -lt $((plain / 2)) ] || fail "level 9: $(wc -c < l9.json.gz) bytes for $plain of JSON"
for f in l0 l9 l3; do
    assert_eq "$f: leaks" 136 \
        "$(json $f.json.gz 's["leaks"]["summary"]["definite"]["bytes"] + s["leaks"]["summary"]["indirect"]["bytes"]')"
done
"$TM" leaks l0.json.gz > leaks0 2>&1 || true
"$TM" leaks l9.json.gz > leaks9 2>&1 || true
sed 's/l9\.json\.gz/l0.json.gz/g' leaks9 | cmp -s - leaks0 || fail "leaks: level 0 and 9 differ: $(diff leaks0 leaks9 | head)"

# a bad value: one warning line naming it, and the default level
for v in 10 -1 x ""; do
    rm -f bad.json.gz
    TRACEMEM_GZIP_LEVEL=$v TRACEMEM_OUTPUT="$WORK/bad.json.gz" preload "$PROG" leak 2> err || fail "run with '$v'"
    assert_eq "bad value '$v'" "tracemem: TRACEMEM_GZIP_LEVEL=$v is not a zlib level from 0 to 9; using 3" "$(cat err)"
    assert_eq "bad value '$v': level 3" compressed "$(blocks bad.json.gz)"
done

# tracemem run: the program stores, run writes back compressed and
# symbolized; the program does not see the variable set when it was not
mkdir run && cd run || fail "mkdir"
"$TM" run -o "$WORK/run/r.%p.json.gz" -- "$PROG" leak > out 2> err || fail "run: $(cat err)"
f=$(only_file "$WORK/run/r.*.json.gz")
assert_eq "run's file" compressed "$(blocks "$f")"
assert_eq "run's file symbolized" true "$(json "$f" 's["symbolized"]')"
"$TM" run -o "$WORK/run/e.%p.json" -- sh -c 'echo "${TRACEMEM_GZIP_LEVEL-unset}"' > env.out 2> err ||
    fail "run sh: $(cat err)"
assert_eq "the program's TRACEMEM_GZIP_LEVEL" 0 "$(cat env.out)"
TRACEMEM_GZIP_LEVEL=6 "$TM" run -o "$WORK/run/e6.%p.json" -- sh -c 'echo "$TRACEMEM_GZIP_LEVEL"' > env6.out 2> err ||
    fail "run sh: $(cat err)"
assert_eq "the user's TRACEMEM_GZIP_LEVEL is kept" 6 "$(cat env6.out)"

# a process that outlives run's wait writes its snapshot after run has
# exited: stored, valid and complete, not symbolized
"$TM" run --wait-children 0 -o "$WORK/run/late.%e.%p.json.gz" -- \
    sh -c "(sleep 1; exec '$PROG' leak) > /dev/null &" > out 2> err || fail "run late: $(cat err)"
i=0
while ! ls late.gate_leaks.*.json.gz > /dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "the late process wrote no snapshot in 30 s"
    sleep 0.1
done
late=$(only_file "$WORK/run/late.gate_leaks.*.json.gz")
assert_eq "left behind" stored "$(blocks "$late")"
gzip -t "$late" || fail "gzip -t: the late snapshot is not valid gzip"
assert_eq "left behind: raw" false "$(json "$late" 's.get("symbolized", False)')"
assert_eq "left behind: its leaks" 136 \
    "$(json "$late" 's["leaks"]["summary"]["definite"]["bytes"] + s["leaks"]["summary"]["indirect"]["bytes"]')"
"$TM" symbolize "$late" || fail "symbolize the late snapshot"
assert_eq "symbolized in place: compressed" compressed "$(blocks "$late")"
cd "$WORK" || fail "cd"

# the symbols of a run (its files opened while the program runs, libc
# named /usr/lib/... in the maps and /lib/... in the snapshot) are those
# symbolize gives the raw snapshot of the same program: frame by frame,
# for every (module, offset) both snapshots have
PY3=/usr/bin/python3
[ -x "$PY3" ] || PY3=$(command -v python3)
cat > sleepy.py <<'PY'
import json, time
x = [json.dumps({"n": i}) for i in range(2000)]
time.sleep(0.6)
PY
"$TM" run --python -o "$WORK/py.%p.json" -- "$PY3" sleepy.py > out 2> err || fail "run python3: $(cat err)"
PYTHONMALLOC=malloc TRACEMEM_OUTPUT="$WORK/raw.json" preload "$PY3" sleepy.py || fail "python3 under the shim"
"$TM" symbolize raw.json -o sym.json 2> /dev/null || fail "symbolize raw.json"
py=$(only_file "$WORK/py.*.json")
python3 - "$py" sym.json <<'PY' || fail "run's symbols differ from symbolize's"
import json, sys
def frames(path):
    s = json.load(open(path))
    mods = s["modules"]
    out = {}
    for f in s["frames"]:
        if f.get("module", -1) < 0:
            continue
        key = (mods[f["module"]]["path"], f["offset"])
        out[key] = (f.get("function"), f.get("file"), f.get("line"), json.dumps(f.get("inlined")))
    return out
a, b = frames(sys.argv[1]), frames(sys.argv[2])
both = set(a) & set(b)
named = [k for k in both if a[k][0]]
if len(named) < 50:
    sys.exit("only %d named frames in common" % len(named))
if not any("libc.so" in k[0] for k in named) or not any("python3" in k[0] for k in named):
    sys.exit("no named frame of libc or python3 in common")
bad = [k for k in both if a[k] != b[k]]
if bad:
    sys.exit("%d of %d frames differ, e.g. %s: %s against %s" % (len(bad), len(both), bad[0], a[bad[0]], b[bad[0]]))
PY
exit 0
