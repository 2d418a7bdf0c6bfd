#!/bin/sh
# gate_sarif_schema.sh - every SARIF log `tracemem check --format sarif`
# writes validates against the SARIF 2.1.0 JSON schema
# (tests/data/sarif-2.1.0.json, see its .README): leaks, suppressed
# leaks, a baseline comparison, no leak at all, and a real run.
# gate_formats.sh checks what the results say.
. "$top_srcdir/tests/integration/lib.sh"
python3 -c 'import jsonschema; jsonschema.Draft202012Validator' 2>/dev/null ||
    skip "python3-jsonschema with draft 2020-12 is not installed"

cd "$DATA" || fail "no $DATA"
# validate FILE RESULTS: FILE is valid SARIF 2.1.0 with RESULTS results
validate() {
    python3 - "$DATA/sarif-2.1.0.json" "$1" "$2" <<'PY' || fail "$1 is not valid SARIF 2.1.0"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
errors = sorted(v.iter_errors(log), key=lambda e: list(e.absolute_path))
for e in errors[:5]:
    print("%s: at %s: %s" % (sys.argv[2], "/".join(map(str, e.absolute_path)), e.message[:300]))
assert not errors, "%d schema errors" % len(errors)
n = len(log["runs"][0]["results"])
assert n == int(sys.argv[3]), "%d results, not %s" % (n, sys.argv[3])
PY
}

# the schema rejects what it should: one stray property is enough
printf '{"version": "2.1.0", "runs": [], "extra": 1}\n' >"$WORK/bad.sarif"
if python3 - "$DATA/sarif-2.1.0.json" "$WORK/bad.sarif" 2>/dev/null <<'PY'
import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))
PY
then
    fail "the schema accepts a log with an unknown property"
fi

status 1 check --format sarif -o "$WORK/s.sarif" leaks.json
validate "$WORK/s.sarif" 4
status 0 check --format sarif -o "$WORK/sup.sarif" --suppressions leaks.lsan.supp \
    --suppressions leaks.valgrind.supp leaks.json
validate "$WORK/sup.sarif" 4
status 1 check --format sarif -o "$WORK/b.sarif" --baseline leaks-base.json leaks-grown.json
validate "$WORK/b.sarif" 4
# the peak gate's result has no location in the code: still valid
status 1 check --format sarif -o "$WORK/peak.sarif" --max-peak 1K leaks.json
validate "$WORK/peak.sarif" 5
# no leak left but a reachable block: an empty "results"
python3 - leaks.json >"$WORK/clean.json" <<'PY' || fail "cannot write clean.json"
import json, sys
s = json.load(open(sys.argv[1]))
s["leaks"]["stacks"] = [x for x in s["leaks"]["stacks"] if x["kind"] == "reachable"]
for kind in ("definite", "indirect", "possible"):
    s["leaks"]["summary"][kind] = {"bytes": 0, "blocks": 0}
json.dump(s, sys.stdout)
PY
status 0 check --format sarif -o "$WORK/none.sarif" "$WORK/clean.json"
validate "$WORK/none.sarif" 0

# a real run, with symbolized frames and the program's own sources
if [ -x "$PROGS/gate_leaks" ] && [ -r "$SHIM" ]; then
    cd "$WORK" || fail "no $WORK"
    status 1 check --format sarif -o real.sarif -- "$PROGS/gate_leaks" leak
    validate real.sarif 3
fi
