/* shim_solo.c - the counters' switch from one recording thread to many.
 *
 * The main thread records alone first (the shim updates its counters
 * without lock-prefixed instructions then), checks tracemem_get_traced_memory
 * and the peak, then starts THREADS threads that keep KEEP blocks of 40
 * bytes each and churn malloc/free of 16 bytes while the main thread churns
 * 17-byte blocks and raises SIGUSR1 (a snapshot taken while they all run).
 * Live at exit, allocated directly here: KEEP blocks of 24 bytes and
 * THREADS*KEEP blocks of 40 bytes. Prints what it checked itself. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "tracemem.h"

#define THREADS 3
#define KEEP 1000
#define CHURN 200000
#define WCHURN 500000 /* enough for unlocked updates from several threads to collide */

static pthread_barrier_t go;
static void *kept[THREADS][KEEP];
static void *main_kept[KEEP];

static void *worker(void *arg)
{
    int t = (int)(long)arg;
    for (int k = 0; k < KEEP; k++)
        kept[t][k] = malloc(40); /* SITE_KEEP40 */
    pthread_barrier_wait(&go);
    for (int i = 0; i < WCHURN; i++) {
        void *volatile p = malloc(16); /* SITE_CHURN16 */
        free(p);
    }
    return NULL;
}

int main(void)
{
    size_t c0, p0, c1, p1;
    tracemem_get_traced_memory(&c0, &p0);
    for (int i = 0; i < CHURN; i++) {
        void *volatile p = malloc(8); /* SITE_SOLO8 */
        free(p);
    }
    for (int k = 0; k < KEEP; k++)
        main_kept[k] = malloc(24); /* SITE_KEEP24 */
    void *volatile big = malloc(1000000);
    free(big);
    tracemem_get_traced_memory(&c1, &p1);
    printf("solo current +%zu\n", c1 - c0);
    printf("solo peak %s\n", p0 <= c0 + 24000 + 1000000 && p1 == c0 + 24000 + 1000000 ? "exact" : "wrong");

    pthread_t th[THREADS];
    pthread_barrier_init(&go, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)(long)t);
    pthread_barrier_wait(&go);
    for (int i = 0; i < CHURN; i++) {
        void *volatile p = malloc(17); /* SITE_CHURN17 */
        free(p);
        if (i == CHURN / 4)
            raise(SIGUSR1);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    printf("done\n");
    return 0;
}
