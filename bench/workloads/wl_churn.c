/* wl_churn.c - malloc/free churn from stacks ~20 frames deep, in 1 or more
 * threads, each with its own keep-ring (issue 12's churn).
 *
 * Each thread runs ITERATIONS rounds: a call chain of 18 distinct-depth
 * frames ends in malloc of 16..136 bytes; the block replaces the oldest of
 * the thread's ring of 256 live blocks, which is freed. Stacks repeat (4
 * allocation sites, depth varying with the iteration), the live set stays
 * small, so the cost measured is per call.
 *
 * Usage: wl_churn [ITERATIONS [THREADS]]   (default 1000000 1)
 * Prints a checksum of what was written into the blocks. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define RING 256

struct worker {
    long iterations;
    uint64_t sum;
    void *ring[RING];
};

static NOINLINE void *site(int k, size_t n)
{
    void *p;
    switch (k & 3) {
    case 0: p = malloc(n); break;
    case 1: p = malloc(n + 8); break;
    case 2: p = calloc(1, n); break;
    default: p = malloc(n + 24); break;
    }
    if (!p)
        abort();
    memset(p, k, 8);
    return p;
}

static NOINLINE void *down(int d, int k, size_t n)
{
    void *p = d ? down(d - 1, k, n) : site(k, n);
    __asm__ __volatile__("" ::: "memory");
    return p;
}

static NOINLINE void step(struct worker *w, long i)
{
    int slot = (int)(i % RING);
    free(w->ring[slot]);
    unsigned char *p = down(14 + (int)(i & 3), (int)(i >> 2), 16 + (size_t)(i % 121));
    w->sum += p[0];
    w->ring[slot] = p;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < w->iterations; i++)
        step(w, i);
    for (int i = 0; i < RING; i++)
        free(w->ring[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1 || threads > 64)
        return 2;
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t t[64];
    for (int i = 0; i < threads; i++) {
        w[i].iterations = iterations;
        if (threads > 1)
            pthread_create(&t[i], NULL, run, &w[i]);
    }
    if (threads == 1)
        run(&w[0]);
    uint64_t sum = 0;
    for (int i = 0; i < threads; i++) {
        if (threads > 1)
            pthread_join(t[i], NULL);
        sum += w[i].sum;
    }
    printf("%llu\n", (unsigned long long)sum);
    free(w);
    return 0;
}
