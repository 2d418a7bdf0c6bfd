/* shim_merge.c - per-thread figures merged exactly: snapshots while
 * threads allocate, blocks freed by other threads (and by threads that did
 * not exist when they were allocated), threads that exit, more stacks per
 * thread than its figure cache holds, fork in a threaded program.
 *
 * Usage: shim_merge DIR. Writes DIR/p1.json .. DIR/p4.json (snapshots
 * taken by the main thread) and DIR/child.json (by a child forked at p3),
 * and prints "pN CURRENT" with tracemem_get_traced_memory's current at each
 * point where every other thread waits (p2, p3, p4; the snapshot is taken
 * right after it). Per site (each allocates one size, SITE_*):
 *   main:   KEEP24  100 blocks, freed at the end
 *   round 1 (THREADS workers): KEEP40 1000 each; CHURN16 malloc/free
 *           while p1 is taken; VARY88 one block from each of 600 stacks;
 *           half of the next worker's KEEP40 freed here and LATE48
 *           malloc/free 100 times (p2 before, the fork and p3 after);
 *           GIFT56 300 each, left to main; then they exit
 *   round 2 (THREADS new workers): free the other half of KEEP40 and all
 *           of VARY88, allocate KEEP72 200 each, exit (p4 after)
 *   main at the end: frees GIFT56 and KEEP24, keeps KEEP72. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracemem.h"

#define THREADS 4
#define KEEP 1000
#define CHURN 100000
#define GIFTS 300
#define KEEP72 200
#define DEPTHS 60
#define LEAVES 10

static pthread_barrier_t bar;
static const char *dir;
static void *keep40[THREADS][KEEP];
static void *vary[THREADS][DEPTHS * LEAVES];
static void *gifts[THREADS][GIFTS];
static void *keep72[THREADS][KEEP72];
static void *main24[100];

static __attribute__((noinline)) void *leaf(int k)
{
    switch (k) { /* SITE_VARY88: ten call sites */
    case 0: return malloc(88);
    case 1: return malloc(88);
    case 2: return malloc(88);
    case 3: return malloc(88);
    case 4: return malloc(88);
    case 5: return malloc(88);
    case 6: return malloc(88);
    case 7: return malloc(88);
    case 8: return malloc(88);
    default: return malloc(88);
    }
}

static __attribute__((noinline)) void *rec(int d, int k)
{
    void *p = d ? rec(d - 1, k) : leaf(k);
    __asm__ __volatile__("" ::: "memory");
    return p;
}

static void *round1(void *arg)
{
    int t = (int)(long)arg;
    for (int k = 0; k < KEEP; k++)
        keep40[t][k] = malloc(40); /* SITE_KEEP40 */
    for (int d = 0; d < DEPTHS; d++)
        for (int k = 0; k < LEAVES; k++)
            vary[t][d * LEAVES + k] = rec(d, k);
    pthread_barrier_wait(&bar); /* A: all kept; main takes p1 while we churn */
    for (int i = 0; i < CHURN; i++) {
        void *volatile p = malloc(16); /* SITE_CHURN16 */
        free(p);
    }
    pthread_barrier_wait(&bar); /* B: main takes p2 */
    pthread_barrier_wait(&bar); /* C */
    for (int k = 0; k < KEEP / 2; k++)
        free(keep40[(t + 1) % THREADS][k]);
    for (int i = 0; i < 100; i++) {
        void *volatile p = malloc(48); /* SITE_LATE48 */
        free(p);
    }
    pthread_barrier_wait(&bar); /* D: main forks, then takes p3 */
    pthread_barrier_wait(&bar); /* E */
    for (int k = 0; k < GIFTS; k++)
        gifts[t][k] = malloc(56); /* SITE_GIFT56 */
    return NULL;
}

static void *round2(void *arg)
{
    int t = (int)(long)arg;
    for (int k = KEEP / 2; k < KEEP; k++)
        free(keep40[t][k]);
    for (int i = 0; i < DEPTHS * LEAVES; i++)
        free(vary[(t + 2) % THREADS][i]);
    for (int k = 0; k < KEEP72; k++)
        keep72[t][k] = malloc(72); /* SITE_KEEP72 */
    return NULL;
}

/* Every other thread is waiting: current, then the snapshot. */
static void point(const char *name)
{
    size_t cur, peak;
    char path[4096];
    tracemem_get_traced_memory(&cur, &peak);
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    if (tracemem_take_snapshot(path) != 0)
        printf("%s snapshot failed\n", name);
    printf("%s %zu%s\n", name, cur, peak >= cur ? "" : " peak below current");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    dir = argv[1];
    for (int k = 0; k < 100; k++)
        main24[k] = malloc(24); /* SITE_KEEP24 */
    pthread_t th[THREADS];
    pthread_barrier_init(&bar, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, round1, (void *)(long)t);
    pthread_barrier_wait(&bar); /* A */
    char path[4096];
    snprintf(path, sizeof(path), "%s/p1.json", dir);
    if (tracemem_take_snapshot(path) != 0) /* while they churn */
        printf("p1 snapshot failed\n");
    pthread_barrier_wait(&bar); /* B */
    point("p2");
    pthread_barrier_wait(&bar); /* C */
    pthread_barrier_wait(&bar); /* D */
    /* The workers' frees since p2 are in their own figures still. */
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(path, sizeof(path), "%s/child.json", dir);
        _exit(tracemem_take_snapshot(path) == 0 ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    point("p3");
    printf("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    pthread_barrier_wait(&bar); /* E */
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, round2, (void *)(long)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    point("p4");
    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < GIFTS; k++)
            free(gifts[t][k]);
    for (int k = 0; k < 100; k++)
        free(main24[k]);
    printf("done\n");
    return 0;
}
