/* tm_allocs.c - allocations at known source lines, for the tracemem CLI
 * tests (top, diff, run). The integration tests find the lines by their
 * SITE_* markers, so keep one allocation call per marked line.
 *
 * usage: tm_allocs [LEAKS]   LEAKS blocks of 4096 bytes are leaked (1).
 */
#include <stdlib.h>

/* make's CFLAGS (-O2 by default) come after the per-target -O0: force it,
 * so that every call stays a call at its own line. */
#pragma GCC optimize("O0")

/* Not static, so the compiler keeps the stores: these blocks stay
 * reachable; only SITE_LEAK's are lost. */
void *tm_allocs_keep[64];

/* Not inlined: the site below must be its own frame. */
__attribute__((noinline, noipa)) static void *make_buffer(size_t n)
{
    return malloc(n); /* SITE_BUFFER */
}

__attribute__((noinline, noipa)) static void leak_pages(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(4096); /* SITE_LEAK */
        (void)p;
    }
}

int main(int argc, char **argv)
{
    int leaks = argc > 1 ? atoi(argv[1]) : 1;

    for (int i = 0; i < 10; i++)
        tm_allocs_keep[i] = malloc(100); /* SITE_SMALL */
    for (int i = 0; i < 3; i++)
        tm_allocs_keep[10 + i] = calloc(1, 1000); /* SITE_CALLOC */
    tm_allocs_keep[20] = make_buffer(2000);
    leak_pages(leaks);
    for (int i = 0; i < 5; i++)
        free(malloc(50000)); /* SITE_CHURN */
    return 0;
}
