/* shim_peakrec.c - the per-stack peak record against the truth.
 *
 * Usage: shim_peakrec N. N = 0: everything on the main thread (the shim's
 * solo mode); N > 0: N worker threads do the allocating, the main thread
 * the peak's big block (the shim's per-thread figures).
 *
 * SITES call stacks (LEAVES malloc call sites under DEPTHS recursion
 * depths: more than a thread's 512-entry figure cache), each allocating
 * blocks of its own size SIZE(k) only, so a record row's size / count
 * names its site. The heap grows from nothing to ~20 MB in small steps
 * with frees in between, so the record (re-taken at every 1 % of growth)
 * is re-taken hundreds of times while every site changes up and down:
 *   pre     blocks of PRE_SIZE, then tracemem_clear_traces(); blocks of
 *           PRE2_SIZE, then tracemem_stop() and tracemem_start(): neither
 *           may appear in any record
 *   grow 1  half the steps; then 30 % of every site's blocks freed and
 *           tracemem_reset_peak() (the record is hidden until re-taken)
 *   grow 2  the other half of the steps
 *   peak    (the workers wait) domain 5 gets DOM_N blocks of DOM_SIZE
 *           (tracemem_track), 16 MiB are mmap'ed (the mapping domain is
 *           not the heap's), and one block of 'big' bytes (a quarter of
 *           the heap, odd) is allocated: the heap's peak, and a take of the
 *           record exactly there
 *   after   big freed, domain 5 untracked, munmap; half of every site's
 *           blocks freed and more allocated: below the peak from now on
 *   child   forked while the workers wait: it allocates 'cbig' bytes (more
 *           than the parent's peak), which is its own peak, and exits
 * Output: "child pid PID", "child site K COUNT" for each site with blocks
 * at the child's peak, "child big CBIG", "child total BYTES" (the sites'
 * bytes and cbig), then the parent's "pid PID", "site K COUNT", "big BIG",
 * "domain BYTES COUNT", "total BYTES" (sites, big and domain 5), "done".
 * The per-site figures are exact at both peaks; see shim_peakrec.sh. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracemem.h"

#define LEAVES 16
#define DEPTHS 40
#define SITES (LEAVES * DEPTHS)
#define SIZE(k) ((size_t)1024 + 8 * (size_t)(k))
#define CAP 64
#define STEPS 12000
#define MAXT 4
#define PRE_SIZE 1003
#define PRE2_SIZE 1005
#define DOM_SIZE 777
#define DOM_N 40

struct worker {
    uint64_t rng;
    int steps;
    int n[SITES];
    void *blk[SITES][CAP];
};

static struct worker W[MAXT];
static int nworkers, threaded;
static pthread_barrier_t bar;

static __attribute__((noinline)) void *leaf(int l, size_t size)
{
    switch (l) { /* one call site each */
    case 0: return malloc(size);
    case 1: return malloc(size);
    case 2: return malloc(size);
    case 3: return malloc(size);
    case 4: return malloc(size);
    case 5: return malloc(size);
    case 6: return malloc(size);
    case 7: return malloc(size);
    case 8: return malloc(size);
    case 9: return malloc(size);
    case 10: return malloc(size);
    case 11: return malloc(size);
    case 12: return malloc(size);
    case 13: return malloc(size);
    case 14: return malloc(size);
    default: return malloc(size);
    }
}

static __attribute__((noinline)) void *chain(int d, int l, size_t size)
{
    if (d == 0)
        return leaf(l, size);
    void *p = chain(d - 1, l, size);
    __asm__ volatile("" ::: "memory");
    return p;
}

static uint64_t rnd(struct worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void put(struct worker *w, int k)
{
    if (w->n[k] == CAP)
        return;
    void *p = chain(k / LEAVES, k % LEAVES, SIZE(k));
    if (!p)
        abort();
    memset(p, k, 16);
    w->blk[k][w->n[k]++] = p;
}

static void drop(struct worker *w, int k)
{
    if (w->n[k] > 0)
        free(w->blk[k][--w->n[k]]);
}

static void grow(struct worker *w, int steps)
{
    for (int i = 0; i < steps; i++) {
        put(w, (int)(rnd(w) % SITES));
        if (i % 3 == 2)
            drop(w, (int)(rnd(w) % SITES));
    }
}

/* Keeps 'keep' of every 'of' blocks of each site. */
static void thin(struct worker *w, int keep, int of)
{
    for (int k = 0; k < SITES; k++) {
        int target = w->n[k] * keep / of;
        while (w->n[k] > target)
            drop(w, k);
    }
}

static void sync_all(void)
{
    if (threaded)
        pthread_barrier_wait(&bar);
}

/* The workers' part; with N = 0 the main thread runs it between its own. */
static void phase(struct worker *w, int which)
{
    switch (which) {
    case 0:
        grow(w, w->steps / 2);
        thin(w, 7, 10);
        break;
    case 1:
        grow(w, w->steps - w->steps / 2);
        break;
    case 2:
        thin(w, 1, 2);
        grow(w, w->steps / 4);
        break;
    case 3:
        for (int k = 0; k < SITES; k++)
            while (w->n[k])
                drop(w, k);
        break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int which = 0; which < 4; which++) {
        phase(w, which);
        sync_all(); /* the main thread's part comes after each */
        sync_all();
    }
    return NULL;
}

static void run_phase(int which)
{
    if (!threaded)
        phase(&W[0], which);
    sync_all();
}

static size_t site_total(const int *count)
{
    size_t t = 0;
    for (int k = 0; k < SITES; k++)
        t += (size_t)count[k] * SIZE(k);
    return t;
}

static void counts(int *count)
{
    memset(count, 0, SITES * sizeof(*count));
    for (int t = 0; t < nworkers; t++)
        for (int k = 0; k < SITES; k++)
            count[k] += W[t].n[k];
}

static __attribute__((noinline)) void *big_alloc(size_t n)
{
    return malloc(n);
}

static void child(size_t parent_total)
{
    static int count[SITES];
    counts(count);
    size_t cbig = parent_total + 13;
    void *p = big_alloc(cbig);
    memset(p, 1, 64);
    free(p); /* before stdout's buffer */
    printf("child pid %d\n", (int)getpid());
    for (int k = 0; k < SITES; k++)
        if (count[k])
            printf("child site %d %d\n", k, count[k]);
    printf("child big %zu\n", cbig);
    printf("child total %zu\n", site_total(count) + cbig);
    fflush(stdout);
    exit(0);
}

static void pre(void)
{
    void *a[100];
    for (int i = 0; i < 100; i++)
        a[i] = malloc(PRE_SIZE);
    tracemem_clear_traces();
    for (int i = 0; i < 100; i++)
        free(a[i]);
    for (int i = 0; i < 100; i++)
        a[i] = malloc(PRE2_SIZE);
    int nframes = tracemem_get_traceback_limit();
    tracemem_stop();
    for (int i = 0; i < 100; i++)
        free(a[i]);
    if (nframes > 0 && tracemem_start(nframes) != 0)
        printf("tracemem_start failed\n");
}

int main(int argc, char **argv)
{
    int n = argc == 2 ? atoi(argv[1]) : -1;
    if (n < 0 || n > MAXT) {
        fprintf(stderr, "usage: shim_peakrec N (0..%d)\n", MAXT);
        return 2;
    }
    threaded = n > 0;
    nworkers = threaded ? n : 1;
    pre();
    for (int t = 0; t < nworkers; t++) {
        W[t].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
        W[t].steps = STEPS / nworkers;
    }
    pthread_t th[MAXT];
    if (threaded) {
        pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
        for (int t = 0; t < n; t++)
            pthread_create(&th[t], NULL, worker_main, &W[t]);
    }
    run_phase(0);
    tracemem_reset_peak();
    sync_all();
    run_phase(1);

    /* the peak */
    static int count[SITES];
    counts(count);
    for (int i = 0; i < DOM_N; i++)
        tracemem_track(5, (uintptr_t)0x5000000 + (uintptr_t)i * 4096, DOM_SIZE);
    size_t mlen = (size_t)16 << 20;
    void *m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    size_t sites = site_total(count);
    size_t big = (sites / 4) | 1;
    void *b = big_alloc(big);
    memset(b, 1, 64);
    size_t total = sites + big + (size_t)DOM_N * DOM_SIZE;
    free(b);
    munmap(m, mlen);
    for (int i = 0; i < DOM_N; i++)
        tracemem_untrack(5, (uintptr_t)0x5000000 + (uintptr_t)i * 4096);
    sync_all();

    run_phase(2);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        child(total);
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("child failed\n");
    sync_all();
    run_phase(3);
    sync_all();
    for (int t = 0; threaded && t < n; t++)
        pthread_join(th[t], NULL);

    printf("pid %d\n", (int)getpid());
    for (int k = 0; k < SITES; k++)
        if (count[k])
            printf("site %d %d\n", k, count[k]);
    printf("big %zu\n", big);
    printf("domain %zu %d\n", (size_t)DOM_N * DOM_SIZE, DOM_N);
    printf("total %zu\n", total);
    printf("done\n");
    return 0;
}
