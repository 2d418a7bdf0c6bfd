#!/bin/sh
# tracemem export on a tm_allocs snapshot: folded lines sum to the live
# bytes, with leak_pages under main; speedscope's fields, frames and
# weights; the pprof profile decoded back by a protobuf-free reader (gzip,
# profile.proto) with its totals equal to the snapshot's and its mapping,
# locations and functions right; standard output without -o (pprof only
# when it is not a terminal); bad input and usage -> exit 2, one line.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
cd "$WORK" || fail "no $WORK"
"$TM" run -q -o "$WORK/a.json" "$PROGS/tm_allocs" 2 || fail "run"
total() { json a.json "sum(t[\"$1\"] for t in s[\"traces\"])"; }

# --- folded
"$TM" export a.json --to folded -o a.folded || fail "folded exited $?"
assert_eq "folded total" "$(total size)" "$(awk '{ s += $NF } END { print s }' a.folded)"
grep -q '^\(.*;\)\?main;leak_pages 8192$' a.folded || fail "folded: $(cat a.folded)"
grep -q '^\(.*;\)\?main;make_buffer 2000$' a.folded || fail "folded: $(cat a.folded)"
assert_eq "one line per path" "$(wc -l < a.folded)" "$(cut -d' ' -f1 a.folded | sort -u | wc -l)"
"$TM" export a.json --to folded --metric allocations -o - > alloc.folded || fail "folded -"
assert_eq "allocations total" "$(total allocated_size)" \
    "$(awk '{ s += $NF } END { print s }' alloc.folded)"

# without -o, as with -o -: standard output
"$TM" export a.json --to folded > stdout.folded || fail "folded to stdout exited $?"
cmp a.folded stdout.folded || fail "folded without -o differs from -o FILE"

# --- speedscope
"$TM" export a.json --to speedscope -o a.speedscope.json || fail "speedscope exited $?"
j() { json a.speedscope.json "$1"; }
assert_eq "schema" "https://www.speedscope.app/file-format-schema.json" "$(j 's["$schema"]')"
assert_eq "profiles" 1 "$(j 'len(s["profiles"])')"
assert_eq "type" sampled "$(j 's["profiles"][0]["type"]')"
assert_eq "unit" bytes "$(j 's["profiles"][0]["unit"]')"
assert_eq "startValue" 0 "$(j 's["profiles"][0]["startValue"]')"
assert_eq "endValue" "$(total size)" "$(j 's["profiles"][0]["endValue"]')"
assert_eq "weights" "$(total size)" "$(j 'sum(s["profiles"][0]["weights"])')"
assert_eq "samples = weights" "$(j 'len(s["profiles"][0]["weights"])')" \
    "$(j 'len(s["profiles"][0]["samples"])')"
assert_eq "indexes in range" true \
    "$(j 'all(0 <= i < len(s["shared"]["frames"]) for x in s["profiles"][0]["samples"] for i in x)')"
assert_eq "frames unique" true \
    "$(j 'len(set(str(sorted(f.items())) for f in s["shared"]["frames"])) == len(s["shared"]["frames"])')"
# the leak_pages sample: 8192 bytes, leak_pages innermost, main just outside
assert_eq "leak sample" "[8192, \"main\"]" "$(j '[[w, s["shared"]["frames"][x[-2]]["name"]] for x, w in zip(s["profiles"][0]["samples"], s["profiles"][0]["weights"]) if s["shared"]["frames"][x[-1]]["name"] == "leak_pages"][0]')"
assert_eq "leak line" true "$(j 'any(f["name"] == "leak_pages" and f["file"].endswith("tests/progs/tm_allocs.c") and f["line"] > 0 for f in s["shared"]["frames"])')"

# --- pprof
"$TM" export a.json --to pprof -o a.pb.gz || fail "pprof exited $?"
decode() {   # decode FILE.pb.gz: the profile as JSON on stdout
python3 - "$1" <<'PY'
# profile.proto reader without the protobuf package: varints and
# length-delimited fields only, which is all profile.proto uses.
import gzip, json, sys

def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
            assert len(v) == n, "truncated"
        else:
            raise ValueError("wire type %d" % wire)
        yield num, v

def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]; i += 1
        v |= (b & 0x7f) << shift; shift += 7
        if not b & 0x80:
            return v, i

def packed(v):
    if isinstance(v, int):
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i); out.append(x)
    return out

def signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x

def message(buf, spec):
    m = {}
    for num, v in fields(buf):
        name, kind = spec.get(num, (None, None))
        if name is None:
            continue
        if kind == "packed":
            m.setdefault(name, []).extend(packed(v))
        elif kind == "int":
            m[name] = signed(v)
        elif isinstance(kind, dict):
            m.setdefault(name, []).append(message(v, kind))
        elif kind == "str":
            m.setdefault(name, []).append(v.decode())
    return m

VT = {1: ("type", "int"), 2: ("unit", "int")}
LINE = {1: ("function_id", "int"), 2: ("line", "int")}
LABEL = {1: ("key", "int"), 2: ("str", "int"), 3: ("num", "int")}
PROFILE = {
    1: ("sample_type", VT),
    2: ("sample", {1: ("location_id", "packed"), 2: ("value", "packed"),
                   3: ("label", LABEL)}),
    3: ("mapping", {1: ("id", "int"), 2: ("memory_start", "int"),
                    3: ("memory_limit", "int"), 4: ("file_offset", "int"),
                    5: ("filename", "int"), 6: ("build_id", "int"),
                    7: ("has_functions", "int")}),
    4: ("location", {1: ("id", "int"), 2: ("mapping_id", "int"),
                     3: ("address", "int"), 4: ("line", LINE)}),
    5: ("function", {1: ("id", "int"), 2: ("name", "int"),
                     3: ("system_name", "int"), 4: ("filename", "int")}),
    6: ("string_table", "str"),
    9: ("time_nanos", "int"),
    11: ("period_type", VT),
    12: ("period", "int"),
    14: ("default_sample_type", "int"),
}
data = open(sys.argv[1], "rb").read()
assert data[:2] == b"\x1f\x8b", "not gzip"
p = message(gzip.decompress(data), PROFILE)
st = p["string_table"]
assert st[0] == "", "string_table[0] is not empty"
funcs = {f["id"]: f for f in p["function"]}
locs = {l["id"]: l for l in p["location"]}
maps = {m["id"]: m for m in p["mapping"]}
def names(loc_ids):   # innermost first, inlined frames expanded
    return [st[funcs[ln["function_id"]]["name"]]
            for i in loc_ids for ln in locs[i].get("line", [])]
print(json.dumps({
    "sample_type": ["%s/%s" % (st[v["type"]], st[v["unit"]]) for v in p["sample_type"]],
    "default_sample_type": st[p.get("default_sample_type", 0)],
    "totals": [sum(s["value"][k] for s in p["sample"]) for k in range(4)],
    "nvalues": sorted(set(len(s["value"]) for s in p["sample"])),
    "samples": [{"value": s["value"], "names": names(s["location_id"])}
                for s in p["sample"]],
    "mappings": [{"filename": st[m["filename"]], "build_id": st[m["build_id"]],
                  "start": m["memory_start"], "limit": m["memory_limit"]}
                 for m in p["mapping"]],
    "locations_ok": all(l["mapping_id"] == 0 or l["mapping_id"] in maps
                        for l in p["location"]) and
                    all(i in locs for s in p["sample"] for i in s["location_id"]),
    "in_mapping": all(l["mapping_id"] == 0 or
                      maps[l["mapping_id"]]["memory_start"] <= l["address"] <
                      maps[l["mapping_id"]]["memory_limit"] for l in p["location"]),
    "time_nanos": p.get("time_nanos", 0),
}))
PY
}
decode a.pb.gz > pprof.json || fail "pprof does not decode"
# to a pipe without -o, and with -o -: the same bytes
"$TM" export a.json --to pprof | cat > stdout.pb.gz || fail "pprof to a pipe"
cmp a.pb.gz stdout.pb.gz || fail "pprof without -o differs from -o FILE"
"$TM" export a.json --to pprof -o - > dash.pb.gz || fail "pprof -o - exited $?"
cmp a.pb.gz dash.pb.gz || fail "pprof -o - differs from -o FILE"
pj() { json pprof.json "$1"; }
assert_eq "sample types" '["inuse_space/bytes", "inuse_objects/count", "alloc_space/bytes", "alloc_objects/count"]' \
    "$(pj 's["sample_type"]')"
assert_eq "default" inuse_space "$(pj 's["default_sample_type"]')"
assert_eq "values per sample" "[4]" "$(pj 's["nvalues"]')"
assert_eq "totals" "[$(total size), $(total count), $(total allocated_size), $(total allocated_count)]" \
    "$(pj 's["totals"]')"
assert_eq "leak sample" "[8192, 2]" \
    "$(pj '[x["value"][:2] for x in s["samples"] if x["names"][:2] == ["leak_pages", "main"]][0]')"
assert_eq "mappings" "$(json a.json 'len(s["modules"])')" "$(pj 'len(s["mappings"])')"
assert_eq "exe mapping" \
    "$(json a.json '[s["modules"][0]["path"], s["modules"][0]["build_id"], s["modules"][0]["base"]]')" \
    "$(pj '[s["mappings"][0]["filename"], s["mappings"][0]["build_id"], s["mappings"][0]["start"]]')"
assert_eq "locations" true "$(pj 's["locations_ok"]')"
assert_eq "addresses in mappings" true "$(pj 's["in_mapping"]')"
assert_eq "time" true "$(pj 's["time_nanos"] > 1700000000 * 10**9')"

# a non-PIE executable (load bias 0, code at 0x400000): still inside
# its mapping
if [ -x "$PROGS/tm_allocs_nopie" ]; then
    "$TM" run -q -o "$WORK/nopie.json" "$PROGS/tm_allocs_nopie" 2 || fail "run nopie"
    "$TM" export nopie.json --to pprof -o nopie.pb.gz || fail "pprof nopie"
    decode nopie.pb.gz > nopie.pprof.json || fail "nopie pprof does not decode"
    assert_eq "nopie in mappings" true "$(json nopie.pprof.json 's["in_mapping"]')"
    assert_eq "nopie leak sample" "[8192, 2]" \
        "$(json nopie.pprof.json '[x["value"][:2] for x in s["samples"] if x["names"][:2] == ["leak_pages", "main"]][0]')"
fi

# --- errors
expect_error() {   # expect_error PATTERN ARGS...
    pat=$1; shift
    "$TM" export "$@" > out.txt 2> err.txt
    assert_eq "exit of $*" 2 $?
    assert_eq "lines of $*" 1 "$(wc -l < err.txt)"
    grep -q "$pat" err.txt || fail "message of $*: $(cat err.txt)"
    [ ! -e bad.out ] || fail "bad.out written for $*"
    :
}
expect_error "^tracemem: $DATA/bad-truncated.json: " "$DATA/bad-truncated.json" --to pprof -o bad.out
expect_error "^tracemem: $DATA/bad-version.json: " "$DATA/bad-version.json" --to folded -o bad.out
expect_error "^tracemem export: --to: unknown format 'svg'" a.json --to svg -o bad.out
expect_error "^tracemem export: --to FORMAT is required" a.json -o bad.out
# pprof on a terminal: refused before anything is written (a pty from
# python3's pty module stands for the terminal)
python3 - "$TM" a.json > tty.txt <<'PY' || fail "pprof on a terminal: $(cat tty.txt)"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "export", sys.argv[2], "--to", "pprof"])
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, st = os.waitpid(pid, 0)
lines = out.decode("utf-8", "replace").splitlines()
print(os.waitstatus_to_exitcode(st), len(lines), lines[0] if lines else "")
PY
assert_eq "pprof on a terminal" "2 1 tracemem export: pprof output is binary: not writing it to a terminal; use -o FILE or a pipe (see 'tracemem export --help')" \
    "$(cat tty.txt)"
expect_error "^tracemem export: --metric does not apply to pprof" a.json --to pprof --metric peak -o bad.out
expect_error "^tracemem export: --kinds applies to --metric leaked only" a.json --to folded --kinds all -o bad.out
python3 -c "
import json; s = json.load(open('a.json')); s['leaks']['checked'] = False
json.dump(s, open('unchecked.json', 'w'))"
expect_error "^tracemem: unchecked.json: no leak check in this snapshot" unchecked.json \
    --to speedscope --metric leaked -o bad.out
exit 0
