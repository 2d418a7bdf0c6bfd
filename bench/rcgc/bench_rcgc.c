/* bench_rcgc.c - collector benchmark: the graph shapes of bench_gc.py built
 * with librcgc; prints "shape ns_per_object objects found" per line.
 *
 *   cycles2  1M objects in 2-cycles, unreachable: one full collection frees them
 *   ring     a 1M-object ring, unreachable: one full collection frees it
 *   live     a full collection over 1M live objects, a chain held by its
 *            head (nothing to free)
 *
 * Usage: bench_rcgc [N] (default 1000000). Best of 5 runs per shape, less
 * the time of an empty collection; the time is the process's CPU time, so
 * that a shared machine's other jobs do not count (bench_gc.py measures
 * the same way). Built twice: bench_rcgc links what -lrcgc links once
 * installed (librcgc.so.0, and librcgc_nonshared.a's copy of the
 * collector's passes), bench_rcgc_static links librcgc.a (see README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rcgc.h"

typedef struct node {
    void *other;
} node;

static int node_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    node *n = self;
    return n->other ? visit(n->other, arg) : 0;
}

static void node_clear(void *self)
{
    node *n = self;
    void *o = n->other;
    n->other = NULL;
    rcgc_decref(o);
}

static const rcgc_type node_type = {.name = "Node", .traverse = node_traverse, .clear = node_clear};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static node *mk(void)
{
    node *n = rcgc_new(&node_type, sizeof *n);
    if (!n) {
        perror("rcgc_new");
        exit(1);
    }
    return n;
}

static double cycles2(long n, long *found)
{
    for (long i = 0; i < n / 2; i++) {
        node *a = mk(), *b = mk();
        a->other = b; /* steals b's reference */
        rcgc_incref(a);
        b->other = a;
        rcgc_decref(a);
    }
    double t = now();
    *found = rcgc_collect(2);
    return now() - t;
}

/* n nodes, each owning the next; returns the head (the caller's
 * reference) and stores the last node in '*last' */
static node *chain(long n, node **last)
{
    node *head = mk(), *tail = head;
    for (long i = 1; i < n; i++) {
        node *x = mk();
        tail->other = x;
        tail = x;
    }
    *last = tail;
    return head;
}

static double ring(long n, long *found)
{
    node *last, *first = chain(n, &last);
    last->other = first; /* the ring now owns 'first' */
    double t = now();
    *found = rcgc_collect(2);
    return now() - t;
}

static double live(long n, long *found)
{
    /* a chain held by its head only: the same graph as bench_gc.py, where
     * a list holding every node would add a million references to scan */
    node *last, *head = chain(n, &last);
    double t = now();
    *found = rcgc_collect(2);
    t = now() - t;
    rcgc_decref(head);
    return t;
}

/* The CPU time of an empty full collection (best of 20), subtracted from
 * the shapes' times, as bench_gc.py does for the interpreter's own objects. */
static double empty_collection(void)
{
    double best = 1e9;
    for (int i = 0; i < 20; i++) {
        double t = now();
        rcgc_collect(2);
        t = now() - t;
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    static const struct {
        const char *name;
        double (*fn)(long, long *);
    } shapes[] = {{"cycles2", cycles2}, {"ring", ring}, {"live", live}};
    rcgc_disable();
    double base = empty_collection();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        double best = 1e9;
        long found = 0;
        for (int run = 0; run < 5; run++) {
            rcgc_collect(2);
            double t = shapes[s].fn(n, &found);
            if (t < best)
                best = t;
        }
        printf("%s %.1f %ld %ld\n", shapes[s].name, (best - base) * 1e9 / n, n, found);
    }
    return 0;
}
