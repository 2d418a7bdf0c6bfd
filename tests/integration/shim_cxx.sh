#!/bin/sh
# shim_cxx.sh - C++ under the shim: new/delete, new[], aligned new, nothrow
# new, bad_alloc and thousands of exceptions thrown and caught (the host's
# unwinder is untouched) give the same output as an untraced run, and a
# block from operator new is attributed to the caller of new: the innermost
# frame of each kept block symbolizes to the function that called new.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_cxx
command -v addr2line >/dev/null 2>&1 || skip "addr2line (binutils) is needed"

"$PROG" >"$WORK/plain.out" 2>&1
prc=$?
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s.json" preload "$PROG" >"$WORK/out" 2>"$WORK/err"
rc=$?
assert_eq "exit status" "$prc" "$rc"
assert_eq "exit status" 0 "$rc"
diff -u "$WORK/plain.out" "$WORK/out" >&2 || fail "output differs under the shim"
[ -s "$WORK/err" ] && { cat "$WORK/err" >&2; fail "unexpected stderr"; }
grep -q '^caught runtime_error 1000, int 1000, sum 1500500$' "$WORK/out" || fail "exceptions misbehaved"
grep -q '^caught in threads 8000$' "$WORK/out" || fail "exceptions in threads misbehaved"
S=$WORK/s.json
$CHECK valid "$S" || fail "snapshot invalid"
exe=$(json "$S" 's["process"]["exe"]')

# innermost frame of the one live block of SIZE bytes, as a function name
fn_of() {
    set -- $($CHECK where "$S" "$1")
    [ $# -eq 3 ] || fail "expected one live trace of that size, got: $*"
    [ "$1" = "$exe" ] || fail "innermost frame in $1, not in the program"
    addr2line -C -f -e "$1" "$(printf '%#x' $(($3 - 1)))" | head -n 1
}
assert_eq "caller of new Big" "make_big()" "$(fn_of 2468)"
assert_eq "caller of new char[]" "make_array()" "$(fn_of 3579)"
assert_eq "caller of aligned new" "make_aligned()" "$(fn_of 256)"
assert_eq "caller of new vector" "make_vector()" "$(fn_of 24)"
# reserve(1000) allocates through std::allocator (libstdc++ frames inlined
# into the program at -O0 are still the program's): the stack has make_vector
python3 - "$S" "$exe" <<'PY' || fail "the 4000-byte block's stack lacks make_vector"
import json, subprocess, sys
s = json.load(open(sys.argv[1]))
t = [t for t in s["traces"] if t["size"] == 4000 and t["count"] == 1]
assert len(t) == 1, t
names = []
for i in s["stacks"][t[0]["stack"]]["frames"]:
    f = s["frames"][i]
    m = s["modules"][f["module"]]
    if m["path"] == sys.argv[2]:
        names.append(subprocess.run(["addr2line", "-C", "-f", "-e", m["path"], hex(f["offset"] - 1)],
                                    capture_output=True, text=True).stdout.split("\n")[0])
assert "make_vector()" in names, names
PY
# new Big in the loop: 1000 allocated, none live
assert_eq "loop new Big (live, allocated)" "0 1000" \
    "$(json "$S" '" ".join(str(x) for t in s["traces"] if t["allocated_size"] == 2468 * 1000 for x in (t["count"], t["allocated_count"]))')"
exit 0
