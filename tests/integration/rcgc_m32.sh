#!/bin/sh
# rcgc_m32.sh - librcgc built for 32-bit x86 (gcc -m32) passes its Check
# suite. The 32-bit path differs: a 16-byte header placed at 0 mod 16, no
# parent record (PREV_PULL), half the address space as the size limit.
# Skipped without a 32-bit toolchain and Check/jansson for it (Debian:
# dpkg --add-architecture i386; gcc-multilib check:i386 libjansson-dev:i386
# libsubunit-dev:i386, which .ci/run installs).
#
# The sources are compiled here, outside the build system: the build
# tree's config.h only sets feature macros (_GNU_SOURCE and the like),
# which hold for both.
. "$top_srcdir/tests/integration/lib.sh"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler"
printf 'int main(void) { return sizeof(void *) != 4; }\n' >"$WORK/t.c"
"$CC" -m32 -o "$WORK/t" "$WORK/t.c" 2>/dev/null && "$WORK/t" ||
    skip "no 32-bit toolchain (gcc-multilib)"
arch=$("$CC" -m32 -print-multiarch 2>/dev/null)
libs=$(PKG_CONFIG_LIBDIR=/usr/lib/$arch/pkgconfig pkg-config --cflags --libs check jansson 2>/dev/null) ||
    skip "no 32-bit check and jansson (check:i386 libjansson-dev:i386)"

src=$top_srcdir/src/rcgc
set -- -m32 -O2 -g -Wall -Wextra -Werror -fvisibility=hidden \
    -I"$top_builddir" -I"$top_srcdir/include" -I"$top_srcdir/src"
objs=
for f in object collect weakref stats section pool passes; do
    "$CC" "$@" -c "$src/$f.c" -o "$WORK/$f.o" || fail "cannot compile $f.c for 32-bit"
    objs="$objs $WORK/$f.o"
done
"$CC" "$@" -fPIC -DRCGC_NONSHARED -c "$src/passes.c" -o "$WORK/nonshared.o" ||
    fail "cannot compile passes.c (RCGC_NONSHARED) for 32-bit"
# shellcheck disable=SC2086 # word splitting intended: objects and flags
"$CC" -m32 -O0 -g -I"$top_builddir" -I"$top_srcdir/include" -I"$top_srcdir/src" \
    -o "$WORK/check_rcgc" "$top_srcdir/tests/unit/check_rcgc.c" $objs "$WORK/nonshared.o" \
    -Wl,-u,rcgc__nonshared_passes $libs || fail "cannot link check_rcgc for 32-bit"
file "$WORK/check_rcgc" | grep -q '32-bit' || fail "check_rcgc is not a 32-bit program"

"$WORK/check_rcgc" >"$WORK/out.txt" 2>&1
rc=$?
cat "$WORK/out.txt"
[ $rc -eq 0 ] || fail "the 32-bit suite failed (status $rc)"
grep -q '100%: Checks: [0-9]*, Failures: 0, Errors: 0' "$WORK/out.txt" || fail "suite did not pass"
RCGC_MALLOC=malloc "$WORK/check_rcgc" >"$WORK/out2.txt" 2>&1 ||
    { cat "$WORK/out2.txt"; fail "the 32-bit suite failed with RCGC_MALLOC=malloc"; }
grep -q '100%: Checks: [0-9]*, Failures: 0, Errors: 0' "$WORK/out2.txt" ||
    fail "suite did not pass with RCGC_MALLOC=malloc"
