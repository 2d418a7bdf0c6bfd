#!/bin/sh
# Control characters from the input (file names on the command line,
# function, file and module names in snapshots) never reach the terminal
# raw: error messages and text output write them as C escapes (ESC as
# \x1b, a newline as \n), so an error stays one line. --gen-suppressions
# writes names with control characters so that the file reads back and
# suppresses the very leaks it was generated from (before: a newline in a
# name split a fun: line and the file did not read back).
. "$top_srcdir/tests/integration/lib.sh"

cd "$WORK" || fail "cd"
ESC=$(printf '\033')
BEL=$(printf '\007')

# raw ESC or BEL in a file: fail
no_raw() {
    if grep -q "[$ESC$BEL]" "$1"; then
        fail "$2: raw control characters in the output"
    fi
}

# 1. names with control characters, leading spaces, glob characters
python3 - "$DATA/leaks.json" evil.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
f = s["frames"]
f[0]["function"] = "evil\x1b[31mred\nline"
f[0]["file"] = "src/\x07bell.c"
f[1]["function"] = " lead*star?\\back\tx "
s["modules"][0]["path"] = "/build/app/bin/\x1bapp"
json.dump(s, open(sys.argv[2], "w"))
PY

for cmd in "top --by function evil.json" "top --by traceback evil.json" \
           "top --by filename evil.json" "top --by module evil.json" \
           "leaks evil.json" "leaks --kinds all evil.json" \
           "diff --by traceback $DATA/leaks.json evil.json" \
           "trend --min-growth 1 evil.json evil.json"; do
    rc=0
    $TM $cmd > out 2> err || rc=$?
    assert_eq "tracemem $cmd: exit status" 0 "$rc"
    no_raw out "tracemem $cmd"
    no_raw err "tracemem $cmd (stderr)"
done
$TM top --by function evil.json > out
grep -qF 'evil\x1b[31mred\nline: size=' out || fail "top: the escaped name is not shown: $(cat out)"
$TM leaks evil.json > out
grep -qF 'at evil\x1b[31mred\nline (src/\x07bell.c:12)' out ||
    fail "leaks: the escaped frame is not shown: $(cat out)"

# flame graphs stay well-formed XML
status 0 flamegraph evil.json -o evil.svg
no_raw evil.svg "flamegraph"
python3 -c "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" evil.svg ||
    fail "evil.svg is not well-formed XML"
grep -qF 'evil [31mred line' evil.svg || fail "flamegraph: the escaped name is not shown"

# 2. error messages: one line, escaped
rc=0
"$TM" top "no${ESC}[2Jsuch" > out 2> err || rc=$?
assert_eq "missing file with ESC: exit status" 2 "$rc"
assert_eq "missing file with ESC: stderr" 'tracemem: no\x1b[2Jsuch: No such file or directory' "$(cat err)"
rc=0
"$TM" leaks "$DATA/leaks.json" --suppressions "a
b" > out 2> err || rc=$?
assert_eq "suppressions with a newline in the name: exit status" 2 "$rc"
assert_eq "suppressions with a newline in the name: stderr" \
    'tracemem: a\nb: No such file or directory' "$(cat err)"
rc=0
"$TM" top --by "x${ESC}y" evil.json > out 2> err || rc=$?
assert_eq "usage error with ESC: exit status" 2 "$rc"
assert_eq "usage error with ESC: stderr lines" 1 "$(wc -l < err)"
no_raw err "usage error with ESC"
# a module the symbolizer cannot read: the warning names it escaped
python3 - evil.json raw.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["symbolized"] = False
for f in s["frames"]:
    for k in ("function", "file", "line", "inlined"):
        f.pop(k, None)
s["modules"][0]["path"] = "/nonexistent/\x1b]0;title\x07app\n"
json.dump(s, open(sys.argv[2], "w"))
PY
status 0 symbolize raw.json -o sym.json
no_raw "$WORK/err" "symbolize warning"
grep -qF 'module /nonexistent/\x1b]0;title\x07app\n: cannot read it' "$WORK/err" ||
    fail "symbolize warning: $(cat "$WORK/err")"
assert_eq "symbolize warning: lines about the module" 1 "$(grep -c 'nonexistent' "$WORK/err")"

# 3. --gen-suppressions round trip: Valgrind blocks and LSan lines each
# suppress every leak they were generated from
status 0 leaks --kinds all --gen-suppressions evil.json
cp "$WORK/out" gen.supp
no_raw gen.supp "--gen-suppressions"
grep -qF '   fun:?lead\*star\?\\back?x?' gen.supp || fail "gen.supp: $(cat gen.supp)"
grep -qF '   fun:evil?[31mred?line' gen.supp || fail "gen.supp: $(cat gen.supp)"
status 0 leaks --kinds all --format json --suppressions gen.supp evil.json
cp "$WORK/out" supp.json
assert_eq "records left unsuppressed by the generated blocks" 0 \
    "$(json supp.json 'len([r for r in s["records"] if r["suppressed_by"] is None])')"
[ "$(json supp.json 'len(s["records"])')" -gt 0 ] || fail "no records at all"
grep '^leak:' gen.supp > lsan.supp
grep -qF 'leak:^evil*[31mred*line$' lsan.supp || fail "lsan.supp: $(cat lsan.supp)"
status 0 leaks --kinds all --format json --suppressions lsan.supp evil.json
cp "$WORK/out" lsan.json
assert_eq "evil records left unsuppressed by the LSan lines" 0 \
    "$(json lsan.json 'len([r for r in s["records"] if r["suppressed_by"] is None and "evil" in r["key"]])')"
exit 0
