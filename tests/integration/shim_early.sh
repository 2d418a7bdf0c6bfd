#!/bin/sh
# shim_early.sh - blocks allocated before the shim's constructor runs (by the
# constructor of a library the program links, which glibc initializes before
# a preloaded library) are traced: counted in the figures, with the caller
# of malloc as their only frame (depth 0: nothing below it is known), and
# classified by the leak scan (kept in a global: reachable; dropped:
# definite).
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
"$CC" -g -O0 -fPIC -shared -o "$WORK/libearly.so" "$WORK/early.c" || fail "cannot build libearly.so"
"$CC" -O0 -o "$WORK/early" "$WORK/main.c" -L"$WORK" -learly -Wl,-rpath,"$WORK" || fail "cannot build early"
TRACEMEM_OUTPUT="$WORK/s.json" preload "$WORK/early" >"$WORK/out" || fail "program failed under the shim"
assert_eq "output" 1 "$(cat "$WORK/out")"
# each block has one frame, its caller in libearly.so, and depth 0
assert_eq "traced, caller only" "[[5555, 1], [7777, 1]]" \
    "$(json "$WORK/s.json" 'sorted([t["size"], t["count"]] for t in s["traces"] if s["stacks"][t["stack"]]["depth"] == 0 and len(s["stacks"][t["stack"]]["frames"]) == 1)')"
assert_eq "kinds" "[[5555, 1, \"definite\"], [7777, 1, \"reachable\"]]" \
    "$(json "$WORK/s.json" 'sorted([l["bytes"], l["blocks"], l["kind"]] for l in s["leaks"]["stacks"] if s["stacks"][l["stack"]]["depth"] == 0)')"
# and the reports name the line that made each, saying only the caller is known
"$TM" top --by traceback -n 0 "$WORK/s.json" > "$WORK/top.txt" || fail "top"
grep -q "early_init at .*early.c:5 (libearly.so)" "$WORK/top.txt" || fail "7777-byte caller: $(cat "$WORK/top.txt")"
grep -q "early_init at .*early.c:6 (libearly.so)" "$WORK/top.txt" || fail "5555-byte caller: $(cat "$WORK/top.txt")"
grep -q "only the caller is known" "$WORK/top.txt" || fail "no caller-only note: $(cat "$WORK/top.txt")"
