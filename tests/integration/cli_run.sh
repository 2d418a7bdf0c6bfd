#!/bin/sh
# tracemem run: exit status kept, 128+N for a signal, 127 for a missing
# program, options turned into TRACEMEM_* variables, LD_PRELOAD set first,
# -q silent, the summary names the snapshots.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
cd "$WORK" || fail "no $WORK"

rc=0; "$TM" run -q -o "$WORK/s.%p.json" sh -c 'exit 7' || rc=$?
assert_eq "exit status" 7 "$rc"
rc=0; "$TM" run -q -o "$WORK/k.%p.json" sh -c 'kill -TERM $$' || rc=$?
assert_eq "killed by SIGTERM" 143 "$rc"
rc=0; "$TM" run -q -o "$WORK/m.%p.json" ./no-such-program 2> err || rc=$?
assert_eq "missing program" 127 "$rc"

LD_PRELOAD= "$TM" run -q -o "$WORK/e.%p.json" -n 7 --no-leak-check --python \
    --no-follow-fork --sample 0 --interval 0 -- \
    sh -c 'echo "$LD_PRELOAD|$TRACEMEM_NFRAMES|$TRACEMEM_AT_EXIT|$PYTHONMALLOC|$TRACEMEM_FOLLOW_FORK|$TRACEMEM_OUTPUT"' > env.out ||
    fail "run exited $?"
IFS='|' read -r pre nf atexit pym ff out < env.out
case $pre in /*/libtracemem.so) ;; *) fail "LD_PRELOAD=$pre" ;; esac
assert_eq "TRACEMEM_NFRAMES" 7 "$nf"
assert_eq "TRACEMEM_AT_EXIT" snapshot "$atexit"
assert_eq "PYTHONMALLOC" malloc "$pym"
assert_eq "TRACEMEM_FOLLOW_FORK" 0 "$ff"
assert_eq "TRACEMEM_OUTPUT" "$WORK/e.%p.json" "$out"
f=$(only_file "$WORK/e.*.json")
assert_eq "nframes in the snapshot" 7 "$(json "$f" 's["snapshot"]["nframes"]')"

LD_PRELOAD=/nonexistent-preload.so "$TM" run -q -o "$WORK/p.%p.json" \
    sh -c 'echo "$LD_PRELOAD"' > pre.out 2>/dev/null
case $(cat pre.out) in */libtracemem.so:/nonexistent-preload.so) ;;
    *) fail "existing LD_PRELOAD not kept after the shim: $(cat pre.out)" ;; esac

"$TM" run -o "$WORK/t.%p.json" "$PROGS/tm_allocs" > out 2> summary || fail "run"
f=$(only_file "$WORK/t.*.json")
grep -q "exited with status 0" summary || fail "summary: $(cat summary)"
grep -q "peak heap memory: " summary || fail "no peak in summary"
grep -q "snapshots: $f" summary || fail "snapshot path not in summary: $(cat summary)"
[ -s out ] && fail "summary went to stdout"
if [ "$(json "$f" 's["leaks"]["checked"]')" = true ]; then
    # one page leaked at SITE_LEAK, 14 blocks held by a global (as Valgrind says)
    grep -q "^  leaked: definite 4096 B in 1 blocks, indirect 0 B in 0 blocks, possible 0 B in 0 blocks, reachable 6000 B in 14 blocks\$" summary ||
        fail "leak line: $(cat summary)"
    leak=$(grep -n "SITE_LEAK " "$top_srcdir/tests/progs/tm_allocs.c" | cut -d: -f1)
    grep -A1 "^    4096 B in 1 blocks definitely lost\$" summary |
        grep -q "^      leak_pages at .*/tests/progs/tm_allocs.c:$leak (tm_allocs)\$" ||
        fail "top leak: $(cat summary)"
else
    grep -q "^  leaks: not checked\$" summary || fail "leaks line: $(cat summary)"
fi

# the summary as JSON, on stderr
"$TM" run --format json -o "$WORK/j.%p.json" "$PROGS/tm_allocs" 2 > out 2> summary.json ||
    fail "run --format json"
f=$(only_file "$WORK/j.*.json")
assert_eq "json format" tracemem-run "$(json summary.json 's["format"]')"
assert_eq "json status" 0 "$(json summary.json 's["status"]')"
assert_eq "json signal" null "$(json summary.json 's["signal"]')"
assert_eq "json snapshots" "[\"$f\"]" "$(json summary.json 's["snapshots"]')"
assert_eq "json memory" "$(json "$f" 's["memory"]["peak"]')" \
    "$(json summary.json 's["memory"]["peak"]')"
assert_eq "json peak record" true "$(json summary.json 's["peak"]["record"]')"
assert_eq "json peak top" 50000 "$(json summary.json 's["peak"]["top"][0]["size"]')"
assert_eq "json leaks checked" "$(json "$f" 's["leaks"]["checked"]')" \
    "$(json summary.json 's["leaks"]["checked"]')"
rc=0; "$TM" run --format json -q -o "$WORK/k2.%p.json" sh -c 'kill -KILL $$' 2> summary.json || rc=$?
assert_eq "quiet json" 137 "$rc"
[ -s summary.json ] && fail "-q printed with --format json"

# other processes: one line each after the main summary, and in the JSON
"$TM" run -o "$WORK/c.%p.json" sh -c "\"$PROGS/tm_allocs\"; true" > out 2> summary ||
    fail "run with a child"
grep -q "^  other processes (1):\$" summary || fail "no other-processes line: $(cat summary)"
line=$(grep "^    pid [0-9]* ($PROGS/tm_allocs): peak " summary) ||
    fail "no line for the child: $(cat summary)"
cpid=$(echo "$line" | sed 's/^    pid \([0-9]*\) .*/\1/')
cf="$WORK/c.$cpid.json"
[ -f "$cf" ] || fail "child snapshot $cf missing"
if [ "$(json "$cf" 's["leaks"]["checked"]')" = true ]; then
    case $line in *"; definitely lost 4096 B in 1 blocks") ;;
        *) fail "child leak: $line" ;; esac
else
    case $line in *"; leaks not checked") ;; *) fail "child leaks: $line" ;; esac
fi
"$TM" run --format json -o "$WORK/cj.%p.json" sh -c "\"$PROGS/tm_allocs\"; true" > out 2> summary.json ||
    fail "run --format json with a child"
assert_eq "json processes" 1 "$(json summary.json 'len(s["processes"])')"
assert_eq "json process exe" "$PROGS/tm_allocs" "$(json summary.json 's["processes"][0]["exe"]')"
cf=$(json summary.json 's["processes"][0]["snapshot"]')
assert_eq "json process memory" "$(json "$cf" 's["memory"]["peak"]')" \
    "$(json summary.json 's["processes"][0]["memory"]["peak"]')"
case $(json summary.json 's["snapshot"]') in "$cf") fail "child summarized as the main process" ;; esac

# periodic snapshots: every one symbolized and listed (of a program that
# allocates all along: a process that does not allocate writes none)
"$TM" run --interval 0.2 -o "$WORK/iv.%p.json" "$PROGS/shim_env" busy 1 > /dev/null 2> summary ||
    fail "run --interval"
n=0
for f in "$WORK"/iv.*.json; do
    assert_eq "$f symbolized" true "$(json "$f" 's["symbolized"]')"
    grep -q " $f\$" summary || fail "$f not listed: $(cat summary)"
    n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "only $n periodic snapshots"
exit 0
