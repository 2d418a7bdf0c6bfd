/* shim_threads.c - threads that allocate and free each other's blocks.
 *
 * usage: shim_threads [ROUNDS]
 * THREADS threads; in each round thread t mallocs PER blocks of size
 * 16(t+1)+8 at one call site, then (after a barrier) frees the even-numbered
 * blocks of thread t+1 and reallocs its odd-numbered ones to 8 bytes more at
 * another call site. Blocks realloc'd in the last round stay live; earlier
 * rounds free them. So at exit, for any ROUNDS (default 1), the live blocks
 * allocated directly by this program are exactly THREADS*PER/2 blocks from
 * the realloc site, of 2500 * (32+48+64+80) = 560000 bytes. */
/* configure's CFLAGS come after per-target flags: keep every call a frame. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define PER 5000

static void **blocks[THREADS];
static pthread_barrier_t barrier;
static int rounds = 1;

static void *worker(void *arg)
{
    int t = (int)(long)arg, other = (t + 1) % THREADS;
    size_t size = 16 * (size_t)(t + 1) + 8;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < PER; k++) {
            blocks[t][k] = malloc(size); /* SITE_MALLOC */
            memset(blocks[t][k], t, size);
        }
        pthread_barrier_wait(&barrier);
        size_t osize = 16 * (size_t)(other + 1) + 8;
        for (int k = 0; k < PER; k++) {
            if (k % 2 == 0) {
                free(blocks[other][k]);
                blocks[other][k] = NULL;
            } else {
                blocks[other][k] = realloc(blocks[other][k], osize + 8); /* SITE_REALLOC */
            }
        }
        pthread_barrier_wait(&barrier);
        if (r + 1 < rounds) /* not the last round: free what we realloc'd */
            for (int k = 1; k < PER; k += 2)
                free(blocks[other][k]);
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[THREADS];
    if (argc > 1)
        rounds = atoi(argv[1]);
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        blocks[t] = calloc(PER, sizeof(void *));
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)(long)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    size_t live = 0;
    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < PER; k++)
            live += blocks[t][k] != NULL;
    for (int t = 0; t < THREADS; t++)
        free(blocks[t]);
    printf("live blocks: %zu\n", live);
    return 0;
}
