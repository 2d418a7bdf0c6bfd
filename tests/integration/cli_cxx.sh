#!/bin/sh
# C++: tm_cxx allocates with new from a method and a function template;
# top names them demangled and qualified, at the caller of operator new.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
[ -x "$PROGS/tm_cxx" ] || skip "no C++ test program"
SRC=tests/progs/tm_cxx.cc
line() { grep -n "SITE_$1\$" "$top_srcdir/$SRC" | cut -d: -f1; }
cd "$WORK" || fail "no $WORK"
"$TM" run -q -o "$WORK/cxx.json" "$PROGS/tm_cxx" || fail "run exited $?"

"$TM" top --by function -n 0 --format json cxx.json > top.json || fail top
f() { json top.json "[[x['size'], x['count']] for x in s['stats'] if x['key'] == '$1']"; }
# put() owns its five 48-byte Nodes and, with std::vector's internals
# folded away, the vector's last buffer: 8 pointers (64 bytes)
assert_eq "method" "[[304, 6]]" "$(f 'app::Cache::put(int)')"
"$TM" top --by function -n 0 --format json --keep-alloc-frames cxx.json > top.json || fail top
assert_eq "method, raw" "[[240, 5]]" "$(f 'app::Cache::put(int)')"
"$TM" top --by function -n 0 --format json cxx.json > top.json || fail top
assert_eq "template" "[[400, 1]]" "$(f 'int* app::make_array<int>(unsigned long)')"

"$TM" top -n 0 --format json cxx.json > top.json || fail top
l() { json top.json "[x['size'] for x in s['stats'] if x['key'].endswith('$SRC:$1')]"; }
assert_eq "SITE_NEW" "[240]" "$(l "$(line NEW)")"
assert_eq "SITE_TEMPLATE" "[400]" "$(l "$(line TEMPLATE)")"
exit 0
