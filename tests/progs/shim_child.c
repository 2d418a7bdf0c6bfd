/* shim_child.c - exec'd by shim_fork: allocates 3333 bytes (kept), prints
 * the LD_PRELOAD it was started with and its argv[1]. */
#pragma GCC optimize("O0")
#include <stdio.h>
#include <stdlib.h>

static void *keep;

int main(int argc, char **argv)
{
    const char *pre = getenv("LD_PRELOAD");
    keep = malloc(3333);
    printf("child %s LD_PRELOAD=%s\n", argc > 1 ? argv[1] : "-", pre ? pre : "(unset)");
    return 0;
}
