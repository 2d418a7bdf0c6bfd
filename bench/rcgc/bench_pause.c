/* bench_pause.c - collector pauses on a large live heap with cyclic
 * garbage created steadily (bench_pause.py is the same workload in
 * CPython). Prints "key value" lines; bench/rcgc/pause.sh runs both.
 *
 * The heap: LIVE nodes in rings of RING nodes (records), held from a plain
 * C array (untracked, as a C program's roots are). Built with automatic
 * collection on, then one full collection. The steady phase: STEADY node
 * creations, one record at a time, each new record replacing a random
 * old one, which becomes a garbage cycle in the old generation. Every
 * collection of the steady phase is one pause, timed by the library
 * (rcgc_info.seconds, CLOCK_MONOTONIC) and in the thread's CPU time; the
 * percentiles printed here are exact (sorted), the library's own
 * (rcgc_get_pause_stats, wall-clock) follow. "preempted" counts the pauses
 * during which the thread was switched out (involuntary context switches,
 * getrusage), "wall_max_unpreempted_ms" is the longest of the others.
 *
 * Usage: bench_pause [LIVE [STEADY [incremental|classic [rings|chain]]]]
 * (default 10000000 5000000 incremental rings); "classic" turns the
 * incremental mode off. "chain" also links each record to the next one
 * (a record replaced is unlinked, but its garbage ring still refers to
 * the rest of the chain): the whole heap is one structure that the
 * closure of any increment follows to its limit (the incremental mode's
 * worst case, see rcgc_collect(3)).
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rcgc.h"

#define RING 10

typedef struct node {
    void *other;
    struct node *next; /* "chain": the next record's first node */
} node;

static int node_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    node *n = self;
    int r = n->other ? visit(n->other, arg) : 0;
    return r || !n->next ? r : visit(n->next, arg);
}

static void node_clear(void *self)
{
    node *n = self;
    void *o = n->other, *x = n->next;
    n->other = NULL;
    n->next = NULL;
    rcgc_decref(o);
    rcgc_decref(x);
}

static const rcgc_type node_type = {.name = "Node", .traverse = node_traverse, .clear = node_clear};

static node *mk(void)
{
    node *n = rcgc_new(&node_type, sizeof *n);
    if (!n) {
        perror("rcgc_new");
        exit(1);
    }
    return n;
}

/* a ring of RING nodes; returns the caller's reference to one of them */
static node *record(void)
{
    node *first = mk(), *last = first;
    for (int i = 1; i < RING; i++) {
        node *x = mk();
        last->other = x; /* steals x's reference */
        last = x;
    }
    rcgc_incref(first);
    last->other = first;
    return first;
}

/* each pause of the steady phase: wall-clock (the library's figure,
 * what the program waits) and the thread's CPU time (the collector's own
 * work: on a loaded machine the wall-clock figure also holds the time the
 * thread was not scheduled) */
static double *pauses, *cpus;
static size_t npauses, cap_pauses;
static int recording;
/* pauses during which the thread was switched out (involuntary context
 * switches), and the longest wall-clock pause among the others */
static size_t preempted;
static double max_unpreempted;

static long nivcsw(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nivcsw;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_collect(rcgc_phase phase, const rcgc_info *info, void *arg)
{
    (void)arg;
    static double cpu0;
    static long csw0;
    if (phase == RCGC_START) {
        csw0 = nivcsw();
        cpu0 = thread_cpu();
        return;
    }
    double cpu = thread_cpu() - cpu0;
    if (!recording)
        return;
    if (nivcsw() != csw0)
        preempted++;
    else if (info->seconds > max_unpreempted)
        max_unpreempted = info->seconds;
    if (npauses == cap_pauses) {
        cap_pauses = cap_pauses ? 2 * cap_pauses : 4096;
        pauses = realloc(pauses, cap_pauses * sizeof *pauses);
        cpus = realloc(cpus, cap_pauses * sizeof *cpus);
        if (!pauses || !cpus) {
            perror("realloc");
            exit(1);
        }
    }
    cpus[npauses] = cpu;
    pauses[npauses++] = info->seconds;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* "KIND_total_s", "KIND_ns_per_object" and the percentiles of 'v' */
static void report(const char *kind, double *v, size_t n, long objects)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i];
    qsort(v, n, sizeof *v, cmp_double);
    printf("%s_total_s %.6f\n%s_ns_per_object %.1f\n", kind, total, kind, total * 1e9 / objects);
    static const double qs[] = {0.5, 0.9, 0.99, 0.999};
    static const char *names[] = {"p50", "p90", "p99", "p999"};
    for (int i = 0; i < 4; i++)
        printf("%s_%s_ms %.4f\n", kind, names[i], n ? v[(size_t)(qs[i] * (n - 1) + 0.5)] * 1e3 : 0);
    printf("%s_max_ms %.4f\n", kind, n ? v[n - 1] * 1e3 : 0);
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long rng = 88172645463325252ull;
static unsigned long long xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    long live = argc > 1 ? atol(argv[1]) : 10000000;
    long steady = argc > 2 ? atol(argv[2]) : 5000000;
    int classic = argc > 3 && strcmp(argv[3], "classic") == 0;
    int chain = argc > 4 && strcmp(argv[4], "chain") == 0;
    rcgc_set_incremental(!classic);
    long nrec = live / RING;
    node **recs = malloc(nrec * sizeof *recs);
    if (!recs) {
        perror("malloc");
        return 1;
    }
    rcgc_callback_add(on_collect, NULL);
    for (long i = 0; i < nrec; i++) {
        recs[i] = record();
        if (chain && i) {
            rcgc_incref(recs[i]);
            recs[i - 1]->next = recs[i];
        }
    }
    rcgc_collect(2);

    rcgc_gen_stats s0[3], s1[3];
    rcgc_get_stats(s0);
    rcgc_reset_pause_stats();
    recording = 1;
    double t = wall();
    for (long done = 0; done < steady; done += RING) {
        long i = (long)(xorshift() % (unsigned long long)nrec);
        node *old = recs[i];
        recs[i] = record();
        if (chain) {
            /* old's place in the chain; its ring keeps its own link */
            recs[i]->next = old->next;
            rcgc_incref(old->next);
            if (i) {
                rcgc_incref(recs[i]);
                recs[i - 1]->next = recs[i];
                rcgc_decref(old);
            }
        }
        rcgc_decref(old); /* a garbage ring */
    }
    t = wall() - t;
    recording = 0;
    rcgc_get_stats(s1);

    uint64_t collected = 0;
    for (int g = 0; g < 3; g++)
        collected += s1[g].collected - s0[g].collected;
    printf("impl rcgc-%s%s\n", classic ? "classic" : "incremental", chain ? "-chain" : "");
    printf("live %ld\nsteady %ld\nseconds %.3f\ncollections %zu\ncollected %llu\n", live,
           steady, t, npauses, (unsigned long long)collected);
    report("wall", pauses, npauses, steady);
    printf("preempted %zu\nwall_max_unpreempted_ms %.4f\n", preempted, max_unpreempted * 1e3);
    report("cpu", cpus, npauses, steady);
    rcgc_pause_stats ps[3];
    rcgc_get_pause_stats(ps);
    for (int g = 0; g < 3; g++)
        printf("library_gen%d count %llu p50_ms %.4f p99_ms %.4f max_ms %.4f\n", g,
               (unsigned long long)ps[g].count, ps[g].p50 * 1e3, ps[g].p99 * 1e3, ps[g].max * 1e3);
    return 0;
}
