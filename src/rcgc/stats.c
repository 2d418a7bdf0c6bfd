/* stats.c - the gc module's knobs and views: enable, thresholds, counts,
 * statistics, debug flags, the garbage list, callbacks, get_objects /
 * referrers / referents, freeze.
 *
 * Statistics are published for the tracemem section: counters with relaxed
 * atomic stores, the per-generation totals and the event ring under the
 * seqlock 'tm__gc.seq' (odd while a write is in progress).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcgc/internal.h"

int rcgc_enable(void)
{
    gc_ensure_init();
    int old = tm__gc.enabled;
    PUB_SET(tm__gc.enabled, 1);
    return old;
}

int rcgc_disable(void)
{
    gc_ensure_init();
    int old = tm__gc.enabled;
    PUB_SET(tm__gc.enabled, 0);
    return old;
}

int rcgc_isenabled(void)
{
    gc_ensure_init();
    return tm__gc.enabled;
}

void rcgc_get_threshold(long t[3])
{
    gc_ensure_init();
    for (int i = 0; i < NUM_GENERATIONS; i++)
        t[i] = tm__gc.gens[i].threshold;
}

int rcgc_set_threshold(long t0, long t1, long t2)
{
    if (t0 < 0 || t1 < 0 || t2 < 0)
        return -EINVAL;
    gc_ensure_init();
    PUB_SET(tm__gc.gens[0].threshold, t0);
    PUB_SET(tm__gc.gens[1].threshold, t1);
    PUB_SET(tm__gc.gens[2].threshold, t2);
    return 0;
}

void rcgc_get_count(long c[3])
{
    gc_ensure_init();
    for (int i = 0; i < NUM_GENERATIONS; i++)
        c[i] = tm__gc.gens[i].count;
}

void rcgc_get_stats(rcgc_gen_stats s[3])
{
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        s[i].collections = tm__gc.collections[i];
        s[i].collected = tm__gc.collected[i];
        s[i].uncollectable = tm__gc.uncollectable[i];
        s[i].seconds = tm__gc.ns[i] / 1e9;
    }
}

void rcgc_set_debug(unsigned flags)
{
    tm__gc.debug = flags;
}

unsigned rcgc_get_debug(void)
{
    return tm__gc.debug;
}

/* --- pause figures --- */

/* The upper bound (exclusive) of bucket 'b' in ns: 2^(b / PAUSE_SUB) times
 * 1, 1.19, 1.41 or 1.68. */
uint64_t tm__gc_pause_bound(unsigned b)
{
    static const double sub[PAUSE_SUB] = {1.189207115, 1.414213562, 1.681792831, 2.0};
    return (uint64_t)((double)((uint64_t)1 << (b / PAUSE_SUB)) * sub[b % PAUSE_SUB]);
}

static unsigned pause_bucket(uint64_t ns)
{
    unsigned b = 0;
    if (ns > 0)
        b = (unsigned)(63 - __builtin_clzll(ns)) * PAUSE_SUB;
    while (b < PAUSE_BUCKETS - 1 && ns >= tm__gc_pause_bound(b))
        b++;
    return b;
}

/* The 'q' quantile (0..1) of the pauses in 'p', in seconds: the upper
 * bound of the bucket where it falls, never above the maximum. */
double tm__gc_pause_percentile(const pause_hist *p, double q)
{
    if (!p->count)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)p->count + 0.5), seen = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned b = 0; b < PAUSE_BUCKETS; b++) {
        seen += p->bucket[b];
        if (seen >= rank) {
            uint64_t bound = tm__gc_pause_bound(b);
            return (bound < p->max_ns ? bound : p->max_ns) / 1e9;
        }
    }
    return p->max_ns / 1e9;
}

void rcgc_get_pause_stats(rcgc_pause_stats s[3])
{
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        const pause_hist *p = &tm__gc.pauses[i];
        s[i].count = p->count;
        s[i].seconds = p->total_ns / 1e9;
        s[i].p50 = tm__gc_pause_percentile(p, 0.50);
        s[i].p90 = tm__gc_pause_percentile(p, 0.90);
        s[i].p99 = tm__gc_pause_percentile(p, 0.99);
        s[i].max = p->max_ns / 1e9;
    }
}

void rcgc_reset_pause_stats(void)
{
    unsigned seq = tm__gc.seq;
    __atomic_store_n(&tm__gc.seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        pause_hist *p = &tm__gc.pauses[i];
        PUB_SET(p->count, 0);
        PUB_SET(p->total_ns, 0);
        PUB_SET(p->max_ns, 0);
        for (unsigned b = 0; b < PAUSE_BUCKETS; b++)
            PUB_SET(p->bucket[b], 0);
    }
    __atomic_store_n(&tm__gc.seq, seq + 2, __ATOMIC_RELEASE);
}

/* Records one finished collection (seqlock write side). */
void tm__gc_publish(int generation, long collected, long uncollectable, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned seq = tm__gc.seq;
    __atomic_store_n(&tm__gc.seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    PUB_SET(tm__gc.collections[generation], tm__gc.collections[generation] + 1);
    PUB_SET(tm__gc.collected[generation], tm__gc.collected[generation] + (uint64_t)collected);
    PUB_SET(tm__gc.uncollectable[generation],
            tm__gc.uncollectable[generation] + (uint64_t)uncollectable);
    PUB_SET(tm__gc.ns[generation], tm__gc.ns[generation] + ns);
    gc_event *e = &tm__gc.events[tm__gc.nevents % EVENT_RING];
    PUB_SET(e->generation, generation);
    PUB_SET(e->collected, collected);
    PUB_SET(e->uncollectable, uncollectable);
    PUB_SET(e->ns, ns);
    double t = ts.tv_sec + ts.tv_nsec / 1e9;
    __atomic_store(&e->time, &t, __ATOMIC_RELAXED);
    PUB_SET(tm__gc.nevents, tm__gc.nevents + 1);
    pause_hist *p = &tm__gc.pauses[generation];
    unsigned b = pause_bucket(ns);
    PUB_SET(p->bucket[b], p->bucket[b] + 1);
    PUB_SET(p->count, p->count + 1);
    PUB_SET(p->total_ns, p->total_ns + ns);
    if (ns > p->max_ns)
        PUB_SET(p->max_ns, ns);
    __atomic_store_n(&tm__gc.seq, seq + 2, __ATOMIC_RELEASE);
}

/* --- garbage list --- */

int tm__gc_garbage_append(void *obj)
{
    if (tm__gc.ngarbage == tm__gc.garbage_cap) {
        size_t cap = tm__gc.garbage_cap ? tm__gc.garbage_cap * 2 : 16;
        void **g = realloc(tm__gc.garbage, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        tm__gc.garbage = g;
        tm__gc.garbage_cap = cap;
    }
    rcgc_incref(obj);
    tm__gc.garbage[tm__gc.ngarbage] = obj;
    PUB_SET(tm__gc.ngarbage, tm__gc.ngarbage + 1);
    return 0;
}

size_t rcgc_garbage_count(void)
{
    return tm__gc.ngarbage;
}

void *rcgc_garbage_get(size_t i)
{
    return i < tm__gc.ngarbage ? tm__gc.garbage[i] : NULL;
}

void rcgc_garbage_clear(void)
{
    /* detach first: the decrefs may run code that appends again */
    void **g = tm__gc.garbage;
    size_t n = tm__gc.ngarbage;
    tm__gc.garbage = NULL;
    tm__gc.garbage_cap = 0;
    PUB_SET(tm__gc.ngarbage, 0);
    for (size_t i = 0; i < n; i++)
        rcgc_decref(g[i]);
    free(g);
}

/* --- callbacks --- */

int rcgc_callback_add(rcgc_callback_fn fn, void *arg)
{
    if (tm__gc.ncallbacks == tm__gc.callbacks_cap) {
        size_t cap = tm__gc.callbacks_cap ? tm__gc.callbacks_cap * 2 : 4;
        cbentry *c = realloc(tm__gc.callbacks, cap * sizeof *c);
        if (!c)
            return -ENOMEM;
        tm__gc.callbacks = c;
        tm__gc.callbacks_cap = cap;
    }
    tm__gc.callbacks[tm__gc.ncallbacks++] = (cbentry){fn, arg};
    return 0;
}

int rcgc_callback_remove(rcgc_callback_fn fn, void *arg)
{
    for (size_t i = 0; i < tm__gc.ncallbacks; i++) {
        if (tm__gc.callbacks[i].fn == fn && tm__gc.callbacks[i].arg == arg) {
            memmove(&tm__gc.callbacks[i], &tm__gc.callbacks[i + 1],
                    (tm__gc.ncallbacks - i - 1) * sizeof *tm__gc.callbacks);
            if (--tm__gc.ncallbacks == 0) {
                free(tm__gc.callbacks);
                tm__gc.callbacks = NULL;
                tm__gc.callbacks_cap = 0;
            }
            return 0;
        }
    }
    return -ENOENT;
}

/* Calls every callback registered when the phase starts (a callback may
 * add or remove callbacks). */
void tm__gc_invoke_callbacks(rcgc_phase phase, const rcgc_info *info)
{
    size_t n = tm__gc.ncallbacks;
    cbentry *copy = malloc(n * sizeof *copy);
    if (!copy)
        return;
    memcpy(copy, tm__gc.callbacks, n * sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i].fn(phase, info, copy[i].arg);
    free(copy);
}

/* --- introspection --- */

typedef struct objvec {
    void **v;
    size_t n, cap;
} objvec;

static int objvec_push(objvec *o, void *obj)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        void **v = realloc(o->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    rcgc_incref(obj);
    o->v[o->n++] = obj;
    return 0;
}

/* Calls fn on each held object, then drops the references; returns the
 * count, or -1 with ENOMEM when 'failed'. */
static long objvec_deliver(objvec *o, int failed, void (*fn)(void *, void *), void *arg)
{
    if (!failed)
        for (size_t i = 0; i < o->n; i++)
            fn(o->v[i], arg);
    for (size_t i = 0; i < o->n; i++)
        rcgc_decref(o->v[i]);
    free(o->v);
    if (failed) {
        errno = ENOMEM;
        return -1;
    }
    return (long)o->n;
}

long rcgc_get_objects(int generation, void (*fn)(void *obj, void *arg), void *arg)
{
    if (generation < -1 || generation >= NUM_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    gc_ensure_init();
    objvec o = {0};
    int failed = 0;
    for (int i = 0; i < NUM_GENERATIONS && !failed; i++) {
        if (generation != -1 && generation != i)
            continue;
        gchead *list = &tm__gc.gens[i].head;
        for (gchead *h = gc_next(list); h != list && !failed; h = gc_next(h))
            failed = objvec_push(&o, AS_OBJ(h)) < 0;
    }
    return objvec_deliver(&o, failed, fn, arg);
}

typedef struct refscan {
    void *target;
    int found;
} refscan;

static int visit_find(void *obj, void *arg)
{
    refscan *r = arg;
    if (obj == r->target) {
        r->found = 1;
        return 1;
    }
    return 0;
}

long rcgc_get_referrers(void *obj, void (*fn)(void *referrer, void *arg), void *arg)
{
    gc_ensure_init();
    objvec o = {0};
    int failed = 0;
    for (int i = 0; i < NUM_GENERATIONS && !failed; i++) {
        gchead *list = &tm__gc.gens[i].head;
        for (gchead *h = gc_next(list); h != list && !failed; h = gc_next(h)) {
            refscan r = {obj, 0};
            gc_type(h)->traverse(AS_OBJ(h), visit_find, &r);
            if (r.found)
                failed = objvec_push(&o, AS_OBJ(h)) < 0;
        }
    }
    return objvec_deliver(&o, failed, fn, arg);
}

static int visit_collect(void *obj, void *arg)
{
    return obj ? objvec_push(arg, obj) : 0;
}

long rcgc_get_referents(void *obj, void (*fn)(void *referent, void *arg), void *arg)
{
    objvec o = {0};
    int failed = 0;
    int (*traverse)(void *, rcgc_visit_fn, void *) = gc_type(AS_HEAD(obj))->traverse;
    if (traverse)
        failed = traverse(obj, visit_collect, &o) != 0;
    return objvec_deliver(&o, failed, fn, arg);
}

/* --- freezing --- */

void rcgc_freeze(void)
{
    gc_ensure_init();
    size_t n = 0;
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        gchead *list = &tm__gc.gens[i].head;
        for (gchead *h = gc_next(list); h != list; h = gc_next(h)) {
            gc_set_gen(h, GEN_PERMANENT);
            n++;
        }
        tm__gc_list_merge(list, &tm__gc.permanent);
    }
    PUB_SET(tm__gc.gens[0].count, 0);
    PUB_SET(tm__gc.frozen, tm__gc.frozen + n);
}

void rcgc_unfreeze(void)
{
    gc_ensure_init();
    gchead *list = &tm__gc.permanent;
    for (gchead *h = gc_next(list); h != list; h = gc_next(h)) {
        gc_set_gen(h, NUM_GENERATIONS - 1);
    }
    tm__gc_list_merge(list, &tm__gc.gens[NUM_GENERATIONS - 1].head);
    PUB_SET(tm__gc.frozen, 0);
}

size_t rcgc_get_freeze_count(void)
{
    return tm__gc.frozen;
}
