/* wl_chain.c - many small malloc/free pairs from a handful of call sites,
 * each reached through a call chain 12-18 frames deep.
 *
 * Resembles an interpreter or a request handler: a fixed dispatcher chain
 * (twelve distinct functions) ends in a short recursion (0-6 levels) and one
 * of four allocation sites. Each site keeps a small ring of live blocks, so
 * every malloc is paired with the free of an older block of the same site and
 * the live set stays small (the cost measured is per call, not table size).
 *
 * Usage: wl_chain [ITERATIONS]   (default 2000000 malloc/free pairs)
 * Prints a checksum of what was written into the blocks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define RING 64

static void *ring[4][RING];
static unsigned ring_pos[4];
static uint64_t checksum;
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Replaces the oldest block of ring 'r' with a fresh one of 'size' bytes. */
NOINLINE static void churn(int r, size_t size)
{
    unsigned i = ring_pos[r]++ % RING;
    unsigned char *old = ring[r][i];
    if (old) {
        checksum += old[0] + old[1];
        free(old);
    }
    unsigned char *p = malloc(size);
    if (!p) {
        perror("malloc");
        exit(1);
    }
    p[0] = (unsigned char)size;
    p[1] = (unsigned char)r;
    memset(p + 2, 0x5a, size > 16 ? 14 : size - 2);
    ring[r][i] = p;
}

NOINLINE static void site_a(uint64_t v)
{
    churn(0, 16 + (v & 31));
    __asm__ volatile("" ::: "memory");
}
NOINLINE static void site_b(uint64_t v)
{
    churn(1, 32 + (v & 63));
    __asm__ volatile("" ::: "memory");
}
NOINLINE static void site_c(uint64_t v)
{
    churn(2, 64 + (v & 127));
    __asm__ volatile("" ::: "memory");
}
NOINLINE static void site_d(uint64_t v)
{
    churn(3, 24 + (v & 255));
    __asm__ volatile("" ::: "memory");
}

NOINLINE static void recurse(uint64_t v, int levels)
{
    if (levels > 0) {
        recurse(v >> 1, levels - 1);
        __asm__ volatile("" ::: "memory"); /* keep the call out of tail position */
        return;
    }
    switch (v & 3) {
    case 0: site_a(v); break;
    case 1: site_b(v); break;
    case 2: site_c(v); break;
    default: site_d(v); break;
    }
}

#define LINK(name, callee)                                                                         \
    NOINLINE static void name(uint64_t v)                                                          \
    {                                                                                              \
        callee(v ^ (v >> 3));                                                                      \
        __asm__ volatile("" ::: "memory");                                                         \
    }

NOINLINE static void level12(uint64_t v)
{
    recurse(v, (int)((v >> 8) % 7));
    __asm__ volatile("" ::: "memory");
}
LINK(level11, level12)
LINK(level10, level11)
LINK(level9, level10)
LINK(level8, level9)
LINK(level7, level8)
LINK(level6, level7)
LINK(level5, level6)
LINK(level4, level5)
LINK(level3, level4)
LINK(level2, level3)
LINK(level1, level2)

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    for (long i = 0; i < n; i++)
        level1(next());
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < RING; i++)
            free(ring[r][i]);
    printf("wl_chain %ld %llu\n", n, (unsigned long long)checksum);
    return 0;
}
