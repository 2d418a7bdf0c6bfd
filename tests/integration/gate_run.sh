#!/bin/sh
# tracemem check -- PROGRAM: real runs of tests/progs/gate_leaks under the
# shim. Exit status 0/1 from the gate, PROGRAM's own failure kept, both
# suppression formats, GitHub annotations at the leaking lines, and, where
# Valgrind is installed, the same per-kind block counts as Valgrind and
# Valgrind's own generated suppressions accepted.
. "$top_srcdir/tests/integration/lib.sh"

PROG=$PROGS/gate_leaks
SRC=$top_srcdir/tests/progs/gate_leaks.c
[ -x "$PROG" ] || fail "no $PROG"
[ -r "$SHIM" ] || fail "no $SHIM"
cd "$WORK" || fail "no $WORK"
site() { grep -n "SITE_$1 " "$SRC" | cut -d: -f1; }

# the gate: leak mode leaks 64 (definite) + 24 (definite) + 48 (2 indirect)
status 0 check -- "$PROG" none
status 1 check -- "$PROG" leak
status 1 check --format json -o report.json -- "$PROG" leak
assert_eq "result" fail "$(json report.json 's["result"]')"
assert_eq "program status" 0 "$(json report.json 's["program"]["status"]')"
assert_eq "definite" "88 2" "$(json report.json '"%d %d" % (s["summary"]["definite"]["bytes"], s["summary"]["definite"]["blocks"])')"
assert_eq "indirect" "48 2" "$(json report.json '"%d %d" % (s["summary"]["indirect"]["bytes"], s["summary"]["indirect"]["blocks"])')"
assert_eq "reachable" "100 1" "$(json report.json '"%d %d" % (s["summary"]["reachable"]["bytes"], s["summary"]["reachable"]["blocks"])')"
assert_eq "counted" "136 4" "$(json report.json '"%d %d" % (s["counted"]["bytes"], s["counted"]["blocks"])')"
assert_eq "first frame of the biggest" "leak_block $(site BLOCK)" \
    "$(json report.json '"%s %d" % (s["records"][0]["frames"][0]["function"], s["records"][0]["frames"][0]["line"])')"
status 0 check --max-leaked-bytes 136 -- "$PROG" leak
status 1 check --max-leaked-bytes 135 -- "$PROG" leak
# what a child process leaks counts too (sh forks for the first command)
status 1 check -- sh -c "\"$PROG\" leak; true"
grep -q "FAILED: 136 bytes in 4 blocks leaked" out || fail "child's leaks: $(cat out)"
# reachable blocks count only when asked for
status 1 check --kinds reachable -- "$PROG" none

# PROGRAM's failure is kept, whatever the gate says; the report is written
status 3 check -- "$PROG" none 3
status 3 check --format json -o failed.json -- "$PROG" leak 3
assert_eq "result when the program failed" fail "$(json failed.json 's["result"]')"
assert_eq "status in the report" 3 "$(json failed.json 's["program"]["status"]')"
status 127 check -- "$WORK/no-such-program"
status 137 check -- sh -c 'kill -9 $$'

# a process whose exit snapshot has no leak check: no result, no report
status 2 check -o none.json -- sh -c "TRACEMEM_AT_EXIT=snapshot exec \"$PROG\" leak"
grep -q "^tracemem: sh: the leak check of process [0-9]* (.*gate_leaks) failed, nothing to gate on$" err ||
    fail "unchecked process: $(cat err)"
[ -e none.json ] && fail "a report was written without a leak check"
status 5 check -o none.json -- sh -c "TRACEMEM_AT_EXIT=snapshot exec \"$PROG\" leak 5"
[ -e none.json ] && fail "a report was written without a leak check"

# LeakSanitizer and Valgrind suppressions
printf 'leak:leak_block\nleak:^new_node$\n' > lsan.supp
status 0 check --suppressions lsan.supp -- "$PROG" leak
grep -q "leak:leak_block (lsan.supp:1)" out || fail "suppressions used: $(cat out)"
cat > vg.supp <<'VG'
{
   block
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:leak_block
   ...
   fun:main
}
{
   list
   Memcheck:Leak
   match-leak-kinds: definite,indirect
   fun:malloc
   fun:new_node
   fun:make_list
}
VG
status 0 check --suppressions vg.supp -- "$PROG" leak
status 1 check --suppressions vg.supp -- "$PROG" more
grep -q "leak_more" out || fail "the unsuppressed leak is not shown: $(cat out)"

# GitHub annotations point at the leaking lines, relative to the workspace
GITHUB_WORKSPACE=$top_srcdir status 1 check --format github -- "$PROG" more
sed 's/%0A.*//' out > lines
cat > want <<EOF2
::error file=tests/progs/gate_leaks.c,line=$(site BLOCK),title=Memory leak (definite)::64 bytes in 1 blocks are definitely lost in loss record 1 of 4
::error file=tests/progs/gate_leaks.c,line=$(site NODE),title=Memory leak (indirect)::48 bytes in 2 blocks are indirectly lost in loss record 2 of 4
::error file=tests/progs/gate_leaks.c,line=$(site MORE),title=Memory leak (definite)::32 bytes in 1 blocks are definitely lost in loss record 3 of 4
::error file=tests/progs/gate_leaks.c,line=$(site NODE),title=Memory leak (definite)::24 bytes in 1 blocks are definitely lost in loss record 4 of 4
EOF2
diff -u want lines || fail "GitHub annotations differ"

# Valgrind: same blocks per kind, and its suppressions work here
if command -v valgrind >/dev/null 2>&1; then
    valgrind --leak-check=full --show-leak-kinds=all --gen-suppressions=all \
        --log-file=vg.log "$PROG" more || fail "valgrind failed"
    for k in "definitely lost" "indirectly lost" "possibly lost" "still reachable"; do
        grep -q "$k:" vg.log || fail "no '$k' in Valgrind's summary"
    done
    vgn() { sed -n "s/.*$1: [0-9,]* bytes in \([0-9,]*\) blocks.*/\1/p" vg.log | tr -d ,; }
    status 1 check --kinds all --format json -o all.json -- "$PROG" more
    for k in definite:"definitely lost" indirect:"indirectly lost" \
             possible:"possibly lost" reachable:"still reachable"; do
        assert_eq "${k%%:*} blocks as Valgrind" "$(vgn "${k#*:}")" \
            "$(json all.json "s['summary']['${k%%:*}']['blocks']")"
    done
    grep -v '^==' vg.log > valgrind.supp
    status 0 check --kinds all --suppressions valgrind.supp -- "$PROG" more
else
    note "valgrind not installed: comparison skipped"
fi
exit 0
