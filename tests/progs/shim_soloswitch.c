/* shim_soloswitch.c - the switch out of solo mode while the owner is busy.
 *
 * While one thread records, it changes the live table without the shard
 * locks (trace.c "solo mode"). Here the main thread (the owner) churns
 * malloc/free and keeps a growing set of blocks (the table grows while it
 * runs); meanwhile a second thread, which has not recorded, first reads
 * (tracemem_get_traced_memory: a reader that must make the process multi
 * before it takes the locks), then frees blocks the main thread hands over
 * and allocates its own: every switch lands at some point of the owner's
 * unlocked updates. Live at exit, allocated here: KEEP blocks of 24 bytes
 * (main) and KEEP blocks of 40 bytes (the second thread); every 56-byte
 * block was freed by the second thread. Prints what it checked itself. */
#pragma GCC optimize("O0") /* every allocation stays as written */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "tracemem.h"

#define KEEP 50000
#define CHURN 400000
#define HAND 20000 /* 56-byte blocks handed to the second thread */
#define QCAP 1024

static atomic_int started;
static void *queue[QCAP];
static atomic_uint q_head, q_tail; /* one producer (main), one consumer */
static void *main_kept[KEEP], *other_kept[KEEP];
static size_t other_current;

static void put(void *p)
{
    unsigned t = atomic_load_explicit(&q_tail, memory_order_relaxed);
    while (t - atomic_load_explicit(&q_head, memory_order_acquire) == QCAP)
        ;
    queue[t % QCAP] = p;
    atomic_store_explicit(&q_tail, t + 1, memory_order_release);
}

static void *get(void)
{
    unsigned h = atomic_load_explicit(&q_head, memory_order_relaxed);
    while (atomic_load_explicit(&q_tail, memory_order_acquire) == h)
        ;
    void *p = queue[h % QCAP];
    atomic_store_explicit(&q_head, h + 1, memory_order_release);
    return p;
}

static void *other(void *arg)
{
    (void)arg;
    size_t peak;
    while (!atomic_load(&started))
        ;
    tracemem_get_traced_memory(&other_current, &peak);
    for (int i = 0; i < HAND; i++) {
        free(get()); /* SITE_HAND56, freed here */
        if (i < KEEP)
            other_kept[i] = malloc(40); /* SITE_KEEP40 */
    }
    for (int i = HAND; i < KEEP; i++)
        other_kept[i] = malloc(40);
    return NULL;
}

int main(void)
{
    size_t c0, p0, c1, p1;
    pthread_t th;
    if (pthread_create(&th, NULL, other, NULL) != 0)
        return 1;
    tracemem_get_traced_memory(&c0, &p0);
    int handed = 0;
    for (int i = 0; i < CHURN; i++) {
        if (i == 1000)
            atomic_store(&started, 1);
        void *volatile p = malloc(16 + (i & 7)); /* SITE_CHURN */
        if (i % (CHURN / KEEP) == 0 && i / (CHURN / KEEP) < KEEP)
            main_kept[i / (CHURN / KEEP)] = malloc(24); /* SITE_KEEP24 */
        if (i % (CHURN / HAND) == 0 && handed < HAND) {
            put(malloc(56)); /* SITE_HAND56 */
            handed++;
        }
        free(p);
    }
    while (handed < HAND) {
        put(malloc(56));
        handed++;
    }
    pthread_join(th, NULL);
    tracemem_get_traced_memory(&c1, &p1);
    printf("current +%zd\n", (ssize_t)(c1 - c0));
    printf("done\n");
    return 0;
}
