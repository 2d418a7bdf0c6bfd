#!/bin/sh
# Compressed snapshots: the shim writes gzip for a name ending in .gz
# (with .N before .json.gz), every command reads gzip'd and plain
# snapshots alike and gives the same output, symbolize keeps a .gz file
# compressed, tracemem run writes .json.gz by default, and corrupt or
# truncated gzip data is one error line and exit 2.
. "$top_srcdir/tests/integration/lib.sh"

[ -r "$SHIM" ] || fail "no $SHIM"
PROG=$PROGS/gate_leaks
[ -x "$PROG" ] || fail "no $PROG"
command -v gzip > /dev/null || skip "no gzip"
cd "$WORK" || fail "no $WORK"

# magic FILE: the first two bytes in hex
magic() {
    od -An -tx1 -N2 "$1" | tr -d ' \n'
}

# the shim: a .gz name is gzip, a .json name plain; the contents agree
TRACEMEM_OUTPUT="$WORK/a.json.gz" preload "$PROG" leak || fail "traced run"
TRACEMEM_OUTPUT="$WORK/a.json" preload "$PROG" leak || fail "traced run"
assert_eq "gzip magic" 1f8b "$(magic a.json.gz)"
assert_eq "plain" 7b22 "$(magic a.json)"
gzip -t a.json.gz || fail "gzip -t: not valid gzip"
assert_eq "the gzip'd snapshot's leaks" 136 \
    "$(json a.json.gz 's["leaks"]["summary"]["definite"]["bytes"] + s["leaks"]["summary"]["indirect"]["bytes"]')"
# several snapshots without %n: .N before .json.gz
TRACEMEM_OUTPUT="$WORK/seq.json.gz" TRACEMEM_INTERVAL=0.05 TRACEMEM_FOLLOW_FORK=0 \
    preload sh -c 'for i in 1 2 3 4 5 6; do sleep 0.1; x="$x$i"; done' || fail "interval run"
ls seq.0.json.gz seq.1.json.gz > /dev/null || fail "no .N before .json.gz: $(ls)"

# every command reads both alike
gzip -c "$DATA/cli-a.json" > cli-a.json.gz
gzip -c "$DATA/leaks.json" > leaks.json.gz
for cmd in "top" "top --by traceback" "leaks" "check" "trend"; do
    rc1=0; rc2=0
    "$TM" $cmd "$DATA/leaks.json" > plain.out 2>&1 || rc1=$?
    "$TM" $cmd leaks.json.gz > gz.out 2>&1 || rc2=$?
    assert_eq "$cmd: status" "$rc1" "$rc2"
    sed "s|$DATA/leaks.json|leaks.json.gz|g" plain.out | cmp -s - gz.out ||
        fail "$cmd: other output for the gzip'd snapshot: $(diff plain.out gz.out | head)"
done
"$TM" diff "$DATA/cli-a.json" leaks.json.gz > d1 || fail "diff plain gz"
"$TM" diff cli-a.json.gz "$DATA/leaks.json" > d2 || fail "diff gz plain"
cmp -s d1 d2 || fail "diff: other output with gzip'd inputs"

# symbolize keeps a .gz snapshot compressed, in place and with -o
cp a.json.gz b.json.gz
"$TM" symbolize b.json.gz || fail "symbolize in place"
assert_eq "in place: still gzip" 1f8b "$(magic b.json.gz)"
assert_eq "symbolized" true "$(json b.json.gz 's["symbolized"]')"
"$TM" symbolize a.json.gz -o c.json || fail "symbolize -o c.json"
assert_eq "-o NAME.json: plain" 7b22 "$(magic c.json)"
"$TM" symbolize a.json.gz -o d.json.gz || fail "symbolize -o d.json.gz"
assert_eq "-o NAME.json.gz: gzip" 1f8b "$(magic d.json.gz)"
gzip -dc d.json.gz | cmp -s - c.json || fail "the gzip'd and plain symbolized snapshots differ"

# a snapshot whose stacks alone are larger than the writer's buffer (they
# are written from the file's text in one piece): still compressed
python3 - "$DATA/cli-a.json" big.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n = len(s["frames"])
base = len(s["stacks"])
for i in range(20000):
    s["stacks"].append({"frames": [i % n, (i // n) % n, 0, 1], "depth": 4})
    s["traces"].append({"stack": base + i, "domain": 0, "size": 16, "count": 1,
                        "allocated_size": 16, "allocated_count": 1})
json.dump(s, open(sys.argv[2], "w"), separators=(",", ":"))
PY
"$TM" symbolize big.json -o big.json.gz || fail "symbolize -o big.json.gz"
"$TM" symbolize big.json -o big-plain.json || fail "symbolize -o big-plain.json"
assert_eq "large members: gzip" 1f8b "$(magic big.json.gz)"
gzip -dc big.json.gz | cmp -s - big-plain.json || fail "big: the gzip'd and plain snapshots differ"
plain_size=$(wc -c < big-plain.json)
gz_size=$(wc -c < big.json.gz)
[ "$gz_size" -lt $((plain_size / 4)) ] || fail "big.json.gz is $gz_size bytes for $plain_size plain: not compressed"

# tracemem run: .json.gz by default
mkdir run && cd run || fail "mkdir"
"$TM" run "$PROG" leak > out 2> err || fail "run: $(cat err)"
f=$(only_file "$WORK/run/tracemem.gate_leaks.*.json.gz")
assert_eq "run's default: gzip" 1f8b "$(magic "$f")"
assert_eq "run's snapshot symbolized" true "$(json "$f" 's["symbolized"]')"
grep -q "snapshots: $f\$" err || fail "not listed: $(cat err)"
cd "$WORK" || fail "cd"

# corrupt and truncated: one line, exit 2, for every command
head -c 300 a.json.gz > cut.json.gz
python3 - a.json.gz bad.json.gz <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[len(d) // 2] ^= 0xff
open(sys.argv[2], "wb").write(d)
PY
printf '\037\213' > magic-only.json
for cmd in top leaks symbolize check; do
    status 2 $cmd cut.json.gz
    case $(cat err) in
        "tracemem: cut.json.gz: truncated gzip data (ends after "*" bytes inflated)") ;;
        *) fail "$cmd cut.json.gz: $(cat err)" ;;
    esac
    status 2 $cmd bad.json.gz
    case $(cat err) in
        "tracemem: bad.json.gz: not valid gzip data ("*")") ;;
        *) fail "$cmd bad.json.gz: $(cat err)" ;;
    esac
    status 2 $cmd magic-only.json
    assert_eq "$cmd magic-only.json" "tracemem: magic-only.json: truncated gzip data (ends after 0 bytes inflated)" \
        "$(cat err)"
done
status 2 diff a.json.gz cut.json.gz
assert_eq "lines" 1 "$(wc -l < err)"
exit 0
