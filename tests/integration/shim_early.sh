#!/bin/sh
# shim_early.sh - blocks allocated before the shim's constructor runs (by the
# constructor of a library the program links, which glibc initializes before
# a preloaded library) are traced: counted in the figures, with an empty
# stack, and classified by the leak scan (kept in a global: reachable;
# dropped: definite).
. "$top_srcdir/tests/integration/lib.sh"
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler"
cat >"$WORK/early.c" <<'C'
#include <stdlib.h>
void *early_kept;
__attribute__((constructor)) static void early_init(void)
{
    early_kept = malloc(7777); /* reachable through a global */
    void *lost = malloc(5555); /* nothing points to it: definite */
    (void)lost;
}
C
cat >"$WORK/main.c" <<'C'
#include <stdio.h>
extern void *early_kept;
int main(void)
{
    printf("%d\n", early_kept != 0);
    return 0;
}
C
"$CC" -O0 -fPIC -shared -o "$WORK/libearly.so" "$WORK/early.c" || fail "cannot build libearly.so"
"$CC" -O0 -o "$WORK/early" "$WORK/main.c" -L"$WORK" -learly -Wl,-rpath,"$WORK" || fail "cannot build early"
TRACEMEM_OUTPUT="$WORK/s.json" preload "$WORK/early" >"$WORK/out" || fail "program failed under the shim"
assert_eq "output" 1 "$(cat "$WORK/out")"
# both blocks have the same (empty) stack: one trace, 2 blocks
assert_eq "traced with no frames" "[[13332, 2]]" \
    "$(json "$WORK/s.json" '[[t["size"], t["count"]] for t in s["traces"] if not s["stacks"][t["stack"]]["frames"]]')"
assert_eq "kinds" "[[5555, 1, \"definite\"], [7777, 1, \"reachable\"]]" \
    "$(json "$WORK/s.json" 'sorted([l["bytes"], l["blocks"], l["kind"]] for l in s["leaks"]["stacks"] if not s["stacks"][l["stack"]]["frames"])')"
