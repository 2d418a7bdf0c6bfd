#!/bin/sh
# tracemem check --format junit|sarif on hand-made and real snapshots:
# JUnit well-formed with one testcase per leak stack and failures for the
# unsuppressed ones; SARIF 2.1.0 with its required fields, a result per
# leak stack located in the user's sources, full stacks and stable
# fingerprints (the same across runs at other load addresses). The whole
# log against the SARIF schema: gate_sarif_schema.sh.
. "$top_srcdir/tests/integration/lib.sh"

cd "$DATA" || fail "no $DATA"
xml_ok() {
    python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$1" ||
        fail "$1 is not well-formed XML"
}
# junit FILE: "tests failures skipped" of the testsuite
junit() {
    python3 - "$1" <<'PY'
import sys, xml.dom.minidom
d = xml.dom.minidom.parse(sys.argv[1])
ts = d.getElementsByTagName("testsuite")[0]
cases = ts.getElementsByTagName("testcase")
assert int(ts.getAttribute("tests")) == len(cases)
fails = sum(1 for c in cases if c.getElementsByTagName("failure"))
skips = sum(1 for c in cases if c.getElementsByTagName("skipped"))
assert int(ts.getAttribute("failures")) == fails
assert int(ts.getAttribute("skipped")) == skips
print(len(cases), fails, skips)
PY
}

# JUnit: 4 leak stacks, 3 suppressed by the LSan file (leak:^build_list$
# matches both stacks through build_list)
status 1 check --format junit -o "$WORK/j.xml" --suppressions leaks.lsan.supp leaks.json
xml_ok "$WORK/j.xml"
assert_eq "junit counts" "4 1 3" "$(junit "$WORK/j.xml")"
status 0 check --format junit -o "$WORK/j0.xml" --max-leaked-bytes 1000 leaks.json
xml_ok "$WORK/j0.xml"
assert_eq "junit within the limits" "4 0 0" "$(junit "$WORK/j0.xml")"

# SARIF required fields
sarif_check() {
    python3 - "$1" <<'PY' || fail "SARIF $1: $(cat "$WORK/err")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["version"] == "2.1.0"
assert s["$schema"].endswith("sarif-2.1.0.json") or "sarif-schema-2.1.0" in s["$schema"]
run = s["runs"][0]
drv = run["tool"]["driver"]
assert drv["name"] == "tracemem"
# informationUri is optional; the project publishes no page, so naming one
# would send users to somebody else's
assert "informationUri" not in drv, drv.get("informationUri")
ids = [r["id"] for r in drv["rules"]]
assert ids == ["leak/definite", "leak/indirect", "leak/possible", "leak/reachable"], ids
for r in run["results"]:
    assert r["ruleId"] in ids
    assert drv["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    assert r["message"]["text"]
    assert r["level"] in ("error", "warning", "note")
    loc = r["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"]
    assert len(r["partialFingerprints"]["tracemem/leakStack/v1"]) == 16
    assert r["stacks"][0]["frames"], "no frames"
    for f in r["stacks"][0]["frames"]:
        assert f["location"]["message"]["text"]
PY
}
status 1 check --format sarif -o "$WORK/s.sarif" leaks.json
sarif_check "$WORK/s.sarif"
# a result per leak stack, located at the first frame in the user's code:
# strdup is libc's (and an allocation function, folded away from the
# stack shown), so the third is at save_name's line
assert_eq "results" 4 "$(json "$WORK/s.sarif" 'len(s["runs"][0]["results"])')"
assert_eq "user frame" "src/we%3Aird%2Cna%25me.c:7" \
    "$(json "$WORK/s.sarif" '"%s:%d" % (s["runs"][0]["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], s["runs"][0]["results"][2]["locations"][0]["physicalLocation"]["region"]["startLine"])')"
assert_eq "folded stack" 3 "$(json "$WORK/s.sarif" 'len(s["runs"][0]["results"][2]["stacks"][0]["frames"])')"
status 1 check --format sarif -o "$WORK/raw.sarif" --keep-alloc-frames leaks.json
assert_eq "full stack" 4 "$(json "$WORK/raw.sarif" 'len(s["runs"][0]["results"][2]["stacks"][0]["frames"])')"
assert_eq "raw stack's top" "strdup" \
    "$(json "$WORK/raw.sarif" 's["runs"][0]["results"][2]["stacks"][0]["frames"][0]["location"]["message"]["text"].split()[0]')"
# fingerprints: the same stacks in the run at other addresses
status 1 check --format sarif -o "$WORK/g.sarif" leaks-grown.json
python3 - "$WORK/s.sarif" "$WORK/g.sarif" <<'PY' || fail "fingerprints are not stable"
import json, sys
a = {r["locations"][0]["physicalLocation"]["region"]["startLine"]:
     r["partialFingerprints"]["tracemem/leakStack/v1"]
     for r in json.load(open(sys.argv[1]))["runs"][0]["results"]}
b = {r["locations"][0]["physicalLocation"]["region"]["startLine"]:
     r["partialFingerprints"]["tracemem/leakStack/v1"]
     for r in json.load(open(sys.argv[2]))["runs"][0]["results"]}
for line in (12, 44, 30):
    assert a[line] == b[line], (line, a[line], b[line])
PY
# suppressed stacks carry a suppression, baselined ones a baselineState
status 0 check --format sarif -o "$WORK/sup.sarif" --suppressions leaks.lsan.supp \
    --suppressions leaks.valgrind.supp leaks.json
sarif_check "$WORK/sup.sarif"
assert_eq "suppressed" 4 "$(json "$WORK/sup.sarif" 'sum(1 for r in s["runs"][0]["results"] if r["suppressions"][0]["kind"] == "external")')"
status 1 check --format sarif -o "$WORK/b.sarif" --baseline leaks-base.json leaks-grown.json
sarif_check "$WORK/b.sarif"
assert_eq "baseline states" '["new", "unchanged", "unchanged", "updated"]' \
    "$(json "$WORK/b.sarif" 'sorted(r["baselineState"] for r in s["runs"][0]["results"])')"

# a real run: the first user frame is in the test program
if [ -x "$PROGS/gate_leaks" ] && [ -r "$SHIM" ]; then
    cd "$WORK" || fail "no $WORK"
    status 1 check --format sarif -o real.sarif -- "$PROGS/gate_leaks" leak
    sarif_check real.sarif
    assert_eq "real locations" '["gate_leaks.c"]' \
        "$(json real.sarif 'sorted(set(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].split("/")[-1] for r in s["runs"][0]["results"]))')"
    status 1 check --format junit -o real.xml -- "$PROGS/gate_leaks" leak
    xml_ok real.xml
    assert_eq "real junit" "3 3 0" "$(junit real.xml)"
fi

# the peak gate (leaks.json: peak 5000 bytes, pid 4242); suppressions
# make the leak part pass, so only the peak decides
cd "$DATA" || fail "no $DATA"
S="--suppressions leaks.valgrind.supp --suppressions leaks.lsan.supp --kinds definite"
status 0 check $S --max-peak 5000 leaks.json
grep -q "; peak heap memory 5000 bytes (pid [0-9]*), within the --max-peak limit of 5000 bytes$" "$WORK/out" ||
    fail "peak within: $(tail -n 1 "$WORK/out")"
status 1 check $S --max-peak 4K leaks.json
grep -q "^tracemem check: FAILED: .*; peak heap memory 5000 bytes (pid [0-9]*), above the --max-peak limit of 4096 bytes$" "$WORK/out" ||
    fail "peak above: $(tail -n 1 "$WORK/out")"
status 1 check $S --max-peak 4K --format json -o "$WORK/peak.json" leaks.json
assert_eq "peak json" '[5000, 4096, true, "fail"]' \
    "$(json "$WORK/peak.json" '[s["peak"]["bytes"], s["peak"]["limit"], s["peak"]["failed"], s["result"]]')"
status 1 check $S --max-peak 4K --format junit -o "$WORK/peak.xml" leaks.json
xml_ok "$WORK/peak.xml"
assert_eq "peak junit" "1" "$(python3 -c 'import sys, xml.dom.minidom
d = xml.dom.minidom.parse(sys.argv[1])
ts = [t for t in d.getElementsByTagName("testsuite") if t.getAttribute("name") == "tracemem.peak"][0]
print(len(ts.getElementsByTagName("failure")))' "$WORK/peak.xml")"
status 1 check $S --max-peak 4K --format sarif -o "$WORK/peak.sarif" leaks.json
assert_eq "peak sarif" '[["leak/definite", "leak/indirect", "leak/possible", "leak/reachable", "peak"], [["peak", 4, "error"]]]' \
    "$(json "$WORK/peak.sarif" '[[r["id"] for r in s["runs"][0]["tool"]["driver"]["rules"]], [[r["ruleId"], r["ruleIndex"], r["level"]] for r in s["runs"][0]["results"] if r["ruleId"] == "peak"]]')"
status 1 check $S --max-peak 4K --format github leaks.json
grep -q "^::error title=Peak heap memory::peak heap memory 5000 bytes in pid" "$WORK/out" || fail "peak github: $(cat "$WORK/out")"
status 2 check --max-peak lots leaks.json
exit 0
