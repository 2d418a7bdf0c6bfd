/* shim_sampled.c - workloads for the hooks' fast paths (shim_sampled.sh).
 *
 * usage: shim_sampled hist       4 threads, each 200000 allocations of a
 *                                fixed pseudo-random mix of sizes (0 to
 *                                70000 bytes) through malloc, calloc,
 *                                realloc and posix_memalign, in a ring of
 *                                64 blocks; every block freed at the end
 *        shim_sampled steady MS  allocates and frees for MS milliseconds
 *        shim_sampled errno      16 rounds of 8 threads (threads that exit
 *                                and new ones in their place), each with
 *                                an errno of its own that malloc, calloc,
 *                                realloc and free must leave as it was
 * Each thread's sequence is the same in every run: exact and sampled
 * mode must count the same allocations in every size bucket. Prints what
 * it did, never an address or a time. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 4
#define OPS 200000
#define RING 64

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void *hist_thread(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg + 1;
    void *ring[RING] = {0};
    for (int i = 0; i < OPS; i++) {
        uint64_t r = next(&s);
        /* mostly small, some up to 70000 */
        size_t size = r % 16 == 0 ? (size_t)(next(&s) % 70000) : (size_t)(next(&s) % 200);
        int k = (int)(next(&s) % RING);
        void *p = NULL;
        switch (r % 5) {
        case 0:
        case 1:
            p = malloc(size);
            break;
        case 2:
            p = calloc(1, size);
            break;
        case 3:
            if (ring[k] && size) { /* realloc(p, 0) frees: not an allocation */
                p = realloc(ring[k], size);
                if (p)
                    ring[k] = NULL;
            } else {
                p = malloc(size);
            }
            break;
        default:
            if (posix_memalign(&p, 64, size))
                p = NULL;
        }
        if (!p)
            abort();
        free(ring[k]);
        ring[k] = p;
    }
    for (int k = 0; k < RING; k++)
        free(ring[k]);
    return NULL;
}

/* errno is set to a value of this thread's and this turn's, then must
 * survive every call (a hook that restored it into another thread's
 * errno, or that thread's into this one, would be seen) */
static void *errno_thread(void *arg)
{
    void *ring[16] = {0};
    for (int i = 0; i < 20000; i++) {
        int mine = (int)(uintptr_t)arg * 100000 + i + 1;
        errno = mine;
        int k = i % 16;
        void *p = i % 3 ? malloc((size_t)(i % 300)) : calloc(1, (size_t)(i % 300));
        if (p && i % 5 == 0)
            p = realloc(p, (size_t)(i % 700) + 1);
        free(ring[k]);
        ring[k] = p;
        if (errno != mine)
            return (void *)1;
    }
    for (int k = 0; k < 16; k++)
        free(ring[k]);
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "hist") == 0) {
        pthread_t t[THREADS];
        for (uintptr_t i = 0; i < THREADS; i++)
            if (pthread_create(&t[i], NULL, hist_thread, (void *)i))
                return 1;
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        printf("hist %d\n", THREADS * OPS);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "errno") == 0) {
        int bad = 0;
        for (uintptr_t round = 0; round < 16; round++) {
            pthread_t t[8];
            for (uintptr_t i = 0; i < 8; i++)
                if (pthread_create(&t[i], NULL, errno_thread, (void *)(round * 8 + i)))
                    return 1;
            for (int i = 0; i < 8; i++) {
                void *r;
                pthread_join(t[i], &r);
                bad += r != NULL;
            }
        }
        printf("errno %d threads changed\n", bad);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "steady") == 0) {
        double end = now() + atoi(argv[2]) / 1000.0;
        void *ring[1024] = {0};
        uint64_t s = 1, n = 0;
        while (now() < end) {
            for (int i = 0; i < 1000; i++, n++) {
                int k = (int)(next(&s) % 1024);
                free(ring[k]);
                ring[k] = malloc(next(&s) % 4096 + 1);
                if (!ring[k])
                    abort();
            }
            struct timespec pause = {0, 250000}; /* 1000 blocks, ~2 MB, every 0.25 ms or so */
            nanosleep(&pause, NULL);
        }
        for (int k = 0; k < 1024; k++)
            free(ring[k]);
        printf("steady\n");
        return 0;
    }
    fprintf(stderr, "usage: shim_sampled hist | steady MS | errno\n");
    return 2;
}
