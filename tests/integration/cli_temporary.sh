#!/bin/sh
# Temporary allocations (heaptrack's: freed before the same thread
# allocates again): counted per stack by the shim, a top --sort key and a
# flame graph / export metric. A realloc'ed block is not temporary.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler"
cd "$WORK" || fail "no $WORK"
cat > temp.c <<'C'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
static void *keep[1000];
__attribute__((noinline)) static void scratch(int i)
{
    char *buf = malloc(256 + i); /* freed before the next malloc: temporary */
    memset(buf, i, 256);
    free(buf);
}
__attribute__((noinline)) static void kept(int i)
{
    keep[i % 1000] = realloc(keep[i % 1000], 64); /* realloc: never temporary */
}
__attribute__((noinline)) static void pair(int i)
{
    char *a = malloc(32), *b = malloc(48); /* a is freed after b came: not temporary */
    free(a);
    free(b); /* b was the last allocation: temporary */
    (void)i;
}
static void *thread(void *arg)
{
    for (int i = 0; i < 1000; i++)
        scratch(i);
    return arg;
}
int main(void)
{
    pthread_t t;
    pthread_create(&t, 0, thread, 0);
    for (int i = 0; i < 5000; i++) {
        scratch(i);
        kept(i);
        pair(i);
    }
    pthread_join(t, 0);
    return 0;
}
C
"$CC" -g -O0 -o temp temp.c -lpthread || fail "cannot build temp.c"
"$TM" run -q -o "$WORK/t.json" ./temp || fail "run exited $?"
"$TM" top --sort temporary --format json -n 0 t.json > top.json || fail "top --sort temporary"
line() { grep -n "$1" temp.c | head -1 | cut -d: -f1; }
t() { json top.json "[x['temporary'] for x in s['stats'] if x['key'].endswith('temp.c:$1')]"; }
assert_eq "scratch (both threads)" "[6000]" "$(t "$(line 'malloc(256')")"
assert_eq "pair's b only" "[5000]" "$(t "$(line 'malloc(32)')")"
assert_eq "realloc never" "[]" "$(t "$(line 'realloc(keep')")"
assert_eq "total" 11000 "$(json top.json 's["total"]["temporary"]')"
"$TM" top --sort temporary -n 1 t.json > top.txt || fail "top text"
grep -q "temporary=6000 of 6000 allocations$" top.txt || fail "text: $(cat top.txt)"
"$TM" top --sort temporary --peak t.json 2> err; assert_eq "with --peak" 2 $?
"$TM" export --to folded --metric temporary t.json > folded.txt || fail "export"
assert_eq "folded" 11000 "$(awk '{ n += $NF } END { print n }' folded.txt)"
"$TM" flamegraph --metric temporary -o flame.svg t.json || fail "flamegraph"
grep -q "temporary allocations" flame.svg || fail "the flame graph's unit"
grep -q "scratch" flame.svg || fail "scratch not drawn"
exit 0
