/* wl_live.c - a large live set: BLOCKS blocks of 32 bytes allocated from a
 * few sites, then half of them freed in a scattered order and allocated
 * again; the rest stay live at exit (the at-exit snapshot's memory.overhead
 * divided by memory.blocks is the shim's memory per live block).
 *
 * Usage: wl_live [BLOCKS]   (default 4194304)
 * Prints a checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE void *get(size_t i)
{
    uint64_t *p = malloc(32);
    if (!p)
        abort();
    p[0] = i;
    return p;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 4194304;
    uint64_t **v = malloc(n * sizeof(*v));
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        v[i] = get(i);
    for (size_t k = 0; k < n / 2; k++) {
        size_t i = (k * 2654435761u) % n;
        free(v[i]);
        v[i] = get(i + 1);
    }
    for (size_t i = 0; i < n; i++)
        sum += v[i][0];
    printf("%llu\n", (unsigned long long)sum);
    return 0; /* the blocks stay live */
}
