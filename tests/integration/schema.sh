#!/bin/sh
# schema.sh - snapshots written by the shim for a real program, and after
# symbolization, validate against doc/tracemem-snapshot.schema.json, and
# every index in them is in range (the schema cannot say that).
. "${top_srcdir}/tests/integration/lib.sh"
python3 -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed"
PROG=$(command -v sqlite3 || command -v perl) || skip "neither sqlite3 nor perl"
case $PROG in
*sqlite3) set -- "$PROG" :memory: "create table t(x); insert into t values (1),(2); select sum(x) from t;" ;;
*) set -- "$PROG" -e 'my %h = map { $_ => $_ * 2 } 1..1000; print scalar(keys %h), "\n"' ;;
esac
TRACEMEM_OUTPUT="$WORK/raw.json" TRACEMEM_AT_EXIT=snapshot preload "$@" >"$WORK/out" || fail "program failed under the shim"
validate() {
    python3 - "$top_srcdir/doc/tracemem-snapshot.schema.json" "$1" <<'PY' || fail "$1 does not validate"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
jsonschema.validate(s, schema)
nm, nf, ns = len(s["modules"]), len(s["frames"]), len(s["stacks"])
assert all(-1 <= f["module"] < nm for f in s["frames"]), "frame module index"
assert all(0 <= i < nf for st in s["stacks"] for i in st["frames"]), "stack frame index"
assert all(0 <= t["stack"] < ns for t in s["traces"]), "trace stack index"
assert all(0 <= t["stack"] < ns for t in s.get("peak", {}).get("traces", [])), "peak stack index"
assert all(0 <= t["stack"] < ns for t in s["leaks"]["stacks"]), "leak stack index"
assert all(0 <= r[1] < ns for r in s.get("timeline", {}).get("stacks", [])), "timeline stack index"
assert all(len(st["frames"]) <= st["depth"] for st in s["stacks"]), "depth below frames"
assert sum(t["size"] for t in s["traces"]) == s["memory"]["current"], "current != sum of sizes"
assert sum(t["count"] for t in s["traces"]) == s["memory"]["blocks"], "blocks != sum of counts"
assert s["memory"]["peak"] >= s["memory"]["current"]
PY
}
validate "$WORK/raw.json"
assert_eq "symbolized flag" false "$(json "$WORK/raw.json" 's["symbolized"]')"
# a librcgc program: its gc section validates too
GRAPH=$top_builddir/examples/rcgc_graph
if [ -x "$GRAPH" ]; then
    TRACEMEM_OUTPUT="$WORK/gc.json" TRACEMEM_AT_EXIT=snapshot preload "$GRAPH" >/dev/null 2>&1 ||
        fail "rcgc_graph failed under the shim"
    validate "$WORK/gc.json"
    assert_eq "gc section present" true "$(json "$WORK/gc.json" '"gc" in s')"
fi
if [ -x "$TM" ]; then
    "$TM" symbolize "$WORK/raw.json" -o "$WORK/sym.json" || fail "tracemem symbolize failed"
    validate "$WORK/sym.json"
    assert_eq "symbolized flag" true "$(json "$WORK/sym.json" 's["symbolized"]')"
fi
