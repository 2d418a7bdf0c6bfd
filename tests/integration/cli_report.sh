#!/bin/sh
# tracemem report without a browser: the page is self-contained (no
# network) and its embedded data says what the snapshots say: the
# timeline's samples as they are, its sparse rows mapped to folded stacks,
# the sites and leaks; snapshots of two processes give two; a malformed
# "timeline" (time going back, a stack out of range) is one error line,
# exit 2 and no page; a name with "</script>" in it cannot end the script;
# usage errors exit 2; run --report writes the page of the run's snapshots
# and prints its path.
. "$top_srcdir/tests/integration/lib.sh"

cd "$WORK" || fail "no $WORK"
# data FILE.html EXPR: EXPR on the page's data 'd'
data() {
    python3 - "$1" "$2" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
a = t.index('<script type="application/json" id="data">') + len('<script type="application/json" id="data">')
d = json.loads(t[a:t.index("</script>", a)])
print(eval(sys.argv[2]))
PY
}
"$TM" report "$DATA/report-timeline.json" -o t.html || fail "report exited $?"
grep -q '^<!DOCTYPE html>' t.html || fail "not an HTML page"
! grep -q 'src=\|href=\|https\?://[^w]' t.html || fail "external resource in t.html"
assert_eq "one process" 1 "$(data t.html 'len(d["procs"])')"
assert_eq "samples as recorded" "$(json "$DATA/report-timeline.json" 's["timeline"]["samples"]')" \
    "$(data t.html 'd["procs"][0]["timeline"]["samples"]')"
# rows: [sample, key, live, allocated], keys -> folded stacks
assert_eq "rows" "[(1, 'main;foo_alloc', 4096, 4096), (2, 'main;build_tree;alloc_node', 5000, 5000), (3, 'main;build_tree;alloc_node', 1000, 5000), (3, 'main;build_tree;alloc_node', 500, 500), (4, 'main;read_config', 300, 300), (4, 'main;build_tree;build_tree', 200, 200), (5, 'main;big_table', 4194304, 4194304)]" \
    "$(data t.html '[(r[0], d["paths"][d["procs"][0]["timeline"]["keys"][r[1]]], r[2], r[3]) for r in d["procs"][0]["timeline"]["rows"]]')"
# stacks 0 and 1 fold to the same path but stay two keys (their rows hold separately)
assert_eq "two keys for one path" 2 "$(data t.html 'len(set(r[1] for r in d["procs"][0]["timeline"]["rows"] if r[0] == 3))')"
assert_eq "events" "[[50000000, 'peak', '4200400 bytes'], [60000000, 'snapshot', 'seq 0 (exit)']]" \
    "$(data t.html 'd["procs"][0]["timeline"]["events"]')"
assert_eq "locations" "/src/app/main.c:7;/src/app/main.c:30" \
    "$(data t.html 'd["locs"][d["paths"].index("main;big_table")]')"
assert_eq "top site" "['big_table', '/src/app/main.c:30', 4194304, 1, 4194304, 1, 4194304]" \
    "$(data t.html 'd["procs"][0]["sites"][0]')"
assert_eq "leaks" "[('definite', 300, 3, 'main;read_config'), ('indirect', 200, 2, 'main;build_tree;build_tree'), ('reachable', 4194304, 1, 'main;big_table')]" \
    "$(data t.html '[(l[0], l[1], l[2], d["paths"][l[3]]) for l in d["procs"][0]["leaks"]]')"
assert_eq "gc" 8 "$(data t.html 'len(d["procs"][0]["gc"]["events"])')"

# two processes: two; no timeline and one snapshot: none
"$TM" report "$DATA/report-timeline.json" "$DATA/cli-a.json" -o two.html || fail "two exited $?"
assert_eq "two processes" "[4242, 100]" "$(data two.html '[p["summary"]["pid"] for p in d["procs"]]')"
assert_eq "no timeline" False "$(data two.html '"timeline" in d["procs"][1]')"
# several snapshots of one process without a timeline: one sample each, at their times
"$TM" report "$DATA"/trend-1.json "$DATA"/trend-2.json "$DATA"/trend-3.json -o trend.html || fail "trend exited $?"
assert_eq "from snapshots" "snapshots [0, 500000000, 1000000000]" \
    "$(data trend.html '" ".join([d["procs"][0]["timeline"]["source"], str([s[0] for s in d["procs"][0]["timeline"]["samples"]])])')"
assert_eq "their heaps" "$(json "$DATA/trend-1.json" 's["memory"]["current"]'),$(json "$DATA/trend-3.json" 's["memory"]["current"]')" \
    "$(data trend.html '",".join(str(s[1]) for s in d["procs"][0]["timeline"]["samples"][::2])')"

# malformed timelines: one line naming the file, exit 2, no page
bad() {  # bad NAME PYTHON-EDIT MESSAGE
    python3 -c "
import json; s = json.load(open('$DATA/report-timeline.json')); t = s['timeline']
$2
json.dump(s, open('$1', 'w'))" || fail "cannot write $1"
    "$TM" report "$1" -o bad.html 2> err.txt
    assert_eq "exit for $1" 2 $?
    assert_eq "lines for $1" 1 "$(wc -l < err.txt)"
    assert_eq "message for $1" "tracemem: $1: $3" "$(cat err.txt)"
    [ ! -e bad.html ] || fail "bad.html written for $1"
}
# (the snapshot loader validates the timeline: report/timeline.c's words)
bad back.json "t['samples'][3][0] = 5" "timeline.samples[3]: t_ns 5 is not after the previous sample's"
bad range.json "t['stacks'][2][1] = 99" "timeline.stacks[2]: stack_index 99 out of range (9 stacks)"
bad sample.json "t['stacks'][0][0] = 7" "timeline.stacks[0]: sample_index 7 out of range (7 samples)"
bad neg.json "t['samples'][1][1] = -4" "timeline.samples[1]: heap is not a non-negative integer"
bad obj.json "s['timeline'] = [1]" "timeline: not an object"
bad ev.json "t['events'].append([1, 2, 3])" "timeline.events[2]: kind and label are not strings"

# a function named like the end of a script stays in the data
python3 -c "
import json; s = json.load(open('$DATA/report-timeline.json'))
s['frames'][3]['function'] = '</script><script>alert(1)</script>'
json.dump(s, open('script.json', 'w'))"
"$TM" report script.json -o script.html || fail "script.json exited $?"
! grep -q '</script><script>alert' script.html || fail "the name closed the script element"
assert_eq "name kept" True "$(data script.html '"main;</script><script>alert(1)</script>" in d["paths"]')"

# usage
status 2 report "$DATA/cli-a.json"
status 2 report "$DATA/cli-a.json" -o x.png
status 2 report -o x.html
status 2 report "$DATA/bad-notjson.json" -o x.html
[ ! -e x.html ] || fail "x.html written"
status 0 report "$DATA/cli-a.json" --keep-alloc-frames --alloc-fn 'foo_*' -o view.html
status 0 report --help

# run --report
if [ -e "$SHIM" ]; then
    "$TM" run --report "$WORK/run.html" -o "$WORK/run.json" "$PROGS/tm_allocs" 2 2> run.err || fail "run exited $?"
    grep -q "^  report:    $WORK/run.html\$" run.err || fail "run does not print the page: $(cat run.err)"
    assert_eq "run's page" "$(json run.json 's["memory"]["peak"]')" "$(data run.html 'd["procs"][0]["summary"]["peak"]')"
    "$TM" run -q --report "$WORK/runq.html" -o "$WORK/runq.json" "$PROGS/tm_allocs" 2 2> runq.err || fail "run -q exited $?"
    [ -s runq.html ] && [ ! -s runq.err ] || fail "run -q --report: $(cat runq.err)"
fi
exit 0
