/* leakscan.c - how long the shim's leak scan takes on a large heap.
 *
 * Usage: leakscan [MEGABYTES [BLOCK_BYTES [CHECKS]]]   (default 1024 256 3)
 * Allocates MEGABYTES of heap in blocks of BLOCK_BYTES. Half the blocks are
 * reachable (a global array points to every 64th, and each block starts a
 * chain to the next), half form one leaked chain (1 definite, the rest
 * indirect). Each block also holds three pointers to random blocks of its
 * own half (one of them interior), so the scan follows real pointer words
 * the way it would in a linked data structure. Then tracemem_leak_check()
 * runs CHECKS times and the time of each is printed, each followed by a
 * tracemem_take_snapshot() (the part of a check that is not the scan: the
 * same snapshot without the leak section); run under the shim:
 *
 *   LD_PRELOAD=.libs/libtracemem.so TRACEMEM_LEAK_DEBUG=1 TRACEMEM_OUTPUT=/tmp/ls.%n.json \
 *       bench/leakscan 1024 256 3
 *
 * (TRACEMEM_LEAK_DEBUG=1 adds the time of each phase of the scan.) */
#include "tracemem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void **keep; /* every 64th reachable block */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Links blocks [lo, hi) of 'all' into a chain with random cross pointers. */
static void link_half(void ***all, size_t lo, size_t hi, size_t words)
{
    size_t n = hi - lo;
    for (size_t i = lo; i < hi; i++) {
        void **b = all[i];
        b[0] = i + 1 < hi ? all[i + 1] : NULL;
        for (size_t w = 1; w < 4 && w < words; w++)
            b[w] = (char *)all[lo + next_random() % n] + (w == 3 ? 8 : 0);
        for (size_t w = 4; w < words; w++)
            b[w] = (void *)(uintptr_t)(w * 1000003u); /* numbers, not pointers */
    }
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
    int checks = argc > 3 ? atoi(argv[3]) : 3;
    if (size < 32)
        size = 32;
    size_t n = (mb << 20) / size;
    void ***all = malloc(n * sizeof(*all));
    if (!all)
        return 1;
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        if (!(all[i] = malloc(size)))
            return 1;
    size_t half = n / 2;
    link_half(all, 0, half, size / sizeof(void *));
    link_half(all, half, n, size / sizeof(void *));
    keep = malloc((half / 64 + 1) * sizeof(*keep));
    for (size_t i = 0; i < half; i += 64)
        keep[i / 64] = all[i];
    memset(all, 0, n * sizeof(*all));
    free(all);
    printf("heap: %zu blocks of %zu bytes (%zu MB), built in %.2f s\n", n, size, mb, now() - t0);
    for (int c = 0; c < checks; c++) {
        double t = now();
        int r = tracemem_leak_check(NULL);
        printf("tracemem_leak_check: %d leaked blocks, %.3f s (scan and snapshot)\n", r, now() - t);
        t = now();
        r = tracemem_take_snapshot(NULL);
        printf("tracemem_take_snapshot: %d, %.3f s (the snapshot alone)\n", r, now() - t);
        fflush(stdout);
    }
    return 0;
}
