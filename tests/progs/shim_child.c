/* shim_child.c - exec'd by shim_fork: allocates 3333 bytes (kept), prints
 * the LD_PRELOAD it was started with and its argv[1]. */
#pragma GCC optimize("O0")
#include <stdio.h>
#include <stdlib.h>

/* Not static: a static that is only written is dropped by the compiler,
 * and the blocks must stay reachable (leak scan: reachable, not definite). */
void *shim_keep;

int main(int argc, char **argv)
{
    const char *pre = getenv("LD_PRELOAD");
    shim_keep = malloc(3333);
    printf("child %s LD_PRELOAD=%s\n", argc > 1 ? argv[1] : "-", pre ? pre : "(unset)");
    return 0;
}
