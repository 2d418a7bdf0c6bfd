#!/bin/sh
# shim_dlopen.sh - allocations made inside a dlopen()ed library stay
# attributed to that library (its path and build-id, and an offset that
# symbolizes to the allocating function) after it is dlclose()d and another
# library is loaded at the same address.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_dlopen
A=$top_builddir/tests/progs/.libs/libshimplug_a.so
B=$top_builddir/tests/progs/.libs/libshimplug_b.so
[ -f "$A" ] && [ -f "$B" ] || fail "test libraries are not built"
command -v readelf >/dev/null 2>&1 || skip "readelf (binutils) is needed"
command -v addr2line >/dev/null 2>&1 || skip "addr2line (binutils) is needed"

build_id() { readelf -n "$1" | sed -n 's/.*Build ID: *//p'; }
id_a=$(build_id "$A")
id_b=$(build_id "$B")
[ -n "$id_a" ] && [ "$id_a" != "$id_b" ] || fail "the two libraries need distinct build-ids"

"$PROG" "$A" "$B" >"$WORK/plain.out" 2>/dev/null
assert_eq "untraced status" 0 "$?"
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/s.json" \
    preload "$PROG" "$A" "$B" >"$WORK/out" 2>"$WORK/err"
assert_eq "exit status" 0 "$?"
diff -u "$WORK/plain.out" "$WORK/out" >&2 || fail "output differs under the shim"
# Both libraries span 8 MiB, so B normally loads inside A's old range: the
# case where only the module epochs tell which object held a PC.
note "$(grep 'same base' "$WORK/err") (1: B was loaded where A had been)"
grep -qx "B inside A's old range: 1" "$WORK/err" ||
    note "WARNING: B did not load inside A's old range; the overlap case is not exercised"
grep -v "^same base\|^B inside" "$WORK/err" >&2 && fail "unexpected stderr"
S=$WORK/s.json
$CHECK valid "$S" || fail "snapshot invalid"

for which in a:4444 b:5555; do
    lib=${which%%:*} size=${which#*:}
    if [ "$lib" = a ]; then path=$A id=$id_a; else path=$B id=$id_b; fi
    set -- $($CHECK where "$S" "$size")
    [ $# -eq 3 ] || fail "$lib: expected one live trace of $size bytes, got: $*"
    assert_eq "$lib: module path" "$(readlink -f "$path")" "$(readlink -f "$1")"
    assert_eq "$lib: build-id" "$id" "$2"
    fn=$(addr2line -f -e "$path" "$(printf '%#x' $(($3 - 1)))" | head -n 1)
    assert_eq "$lib: function at the innermost frame" plugin_alloc "$fn"
done
# the unloaded module is still listed, and no two listed modules share a path
# and build-id at the same base
assert_eq "modules of A" 1 "$(json "$S" "len([m for m in s['modules'] if m['build_id'] == '$id_a'])")"
exit 0
