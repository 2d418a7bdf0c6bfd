/* collect.c - the cycle collector, CPython's Python/gc.c design.
 *
 * A collection of generation g merges generations 0..g into 'young' and:
 *   update_refs      gc_refs = refcnt for every object of 'young' (COLLECTING set)
 *   subtract_refs    gc_refs -= references coming from inside 'young'
 *                    (both in one pass for the main collection, which also
 *                    records each member's parent, see PREV_PULL)
 *   move_unreachable objects with gc_refs > 0 are reachable from outside;
 *                    everything they reach is too; the rest goes to
 *                    'unreachable', each object held by the collector
 *   survivors move to generation g+1
 *   legacy finalizers: objects with legacy_del, and all they reach, are
 *                    uncollectable (garbage list)
 *   handle_weakrefs  weak references to unreachable objects are cleared; the
 *                    callbacks of those that are not garbage themselves run
 *   finalize_garbage PEP 442 finalizers, once per object
 *   resurrection     refs are recounted on what is left; whatever a finalizer
 *                    made reachable again survives and is not counted (only
 *                    when user code, a finalizer or a weakref callback, ran)
 *   delete_garbage   clear() breaks the cycles (or SAVEALL keeps them);
 *                    plain garbage (none of the above to handle) goes
 *                    through delete_held instead: one pass, each object
 *                    freed when its last reference goes
 *
 * In the incremental mode (the default) an automatic collection is an
 * increment: the young generation and a part of the old one collected as
 * one region by the same passes (see "the incremental mode" below).
 *
 * The per-object passes (the first pass, move_unreachable, delete_held)
 * are in passes.c, compiled twice; passes.h says why. collect() calls the
 * program's copy when one registered.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "rcgc/passes.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the pass after move_unreachable found out. */
typedef struct scan {
    int weakrefs;   /* some member is a weakref or has weak references */
    int finalizers; /* some member has a finalizer that has not run */
} scan;

/* Moves objects with a legacy_del out of 'unreachable' into 'finalizers',
 * clears NEXT_UNREACHABLE everywhere, drops the collector's references
 * (this path deletes with delete_garbage), and notes what later passes
 * need. */
static scan move_legacy_finalizers(gchead *unreachable, gchead *finalizers)
{
    scan sc = {0, 0};
    gchead *next;
    for (gchead *h = gc_next(unreachable); h != unreachable; h = next) {
        h->next &= ~NEXT_UNREACHABLE;
        h->rcbits -= RCBITS_HOLD;
        next = gc_next(h);
        const rcgc_type *type = gc_type(h);
        if (type->legacy_del) {
            h->prev &= ~PREV_COLLECTING;
            tm__gc_list_move(h, finalizers);
            continue;
        }
        if ((h->prev & PREV_WEAKREFS) || tm__gc_is_weakref(h))
            sc.weakrefs = 1;
        if (type->finalize && !(h->prev & PREV_FINALIZED))
            sc.finalizers = 1;
    }
    return sc;
}

static int visit_move(void *obj, void *arg)
{
    if (obj && gc_is_collecting(AS_HEAD(obj))) {
        gchead *h = AS_HEAD(obj);
        h->prev &= ~PREV_COLLECTING;
        tm__gc_list_move(h, arg);
    }
    return 0;
}

static void move_legacy_finalizer_reachable(gchead *finalizers)
{
    for (gchead *h = gc_next(finalizers); h != finalizers; h = gc_next(h))
        gc_type(h)->traverse(AS_OBJ(h), visit_move, finalizers);
}

/* PEP 442: each object's finalizer runs once; objects are moved to 'seen'
 * first because a finalizer may free others of the list. */
static void finalize_garbage(gchead *collectable)
{
    gchead seen;
    tm__gc_list_init(&seen);
    while (!tm__gc_list_empty(collectable)) {
        gchead *h = gc_next(collectable);
        void (*fin)(void *) = gc_type(h)->finalize;
        tm__gc_list_move(h, &seen);
        if (fin && !(h->prev & PREV_FINALIZED)) {
            h->prev |= PREV_FINALIZED;
            void *obj = AS_OBJ(h);
            rcgc_incref(obj);
            fin(obj);
            rcgc_decref(obj);
        }
    }
    tm__gc_list_merge(&seen, collectable);
}

/* Recounts refs on what the finalizers left; anything reachable again
 * (resurrected) goes to 'old' (generation 'old_gen'), the rest to
 * 'still_unreachable', whose size is returned. */
static size_t handle_resurrected_objects(gchead *unreachable, gchead *still_unreachable,
                                         gchead *old, unsigned old_gen)
{
    for (gchead *h = gc_next(unreachable); h != unreachable; h = gc_next(h))
        h->prev &= ~PREV_COLLECTING;
    tm__gc_update_refs(unreachable);
    tm__gc_subtract_refs(unreachable);
    unsigned kinds;
    size_t n = tm__gc_builtin_passes.unreachable(&tm__gc.env, unreachable, still_unreachable,
                                                 old_gen, &kinds, 0);
    for (gchead *h = gc_next(still_unreachable); h != still_unreachable; h = gc_next(h))
        h->next &= ~NEXT_UNREACHABLE;
    tm__gc_list_merge(unreachable, old);
    return n;
}

/* Moves 'h' (COLLECTING cleared) into 'old' of generation 'old_gen'. */
static void survive(gchead *h, gchead *old, unsigned old_gen)
{
    h->prev &= ~PREV_COLLECTING;
    gc_set_gen(h, old_gen);
    tm__gc_list_move(h, old);
}

static void delete_garbage(gchead *collectable, gchead *old, unsigned old_gen)
{
    while (!tm__gc_list_empty(collectable)) {
        gchead *h = gc_next(collectable);
        void *obj = AS_OBJ(h);
        void (*clear)(void *) = gc_type(h)->clear;
        if (tm__gc.debug & RCGC_DEBUG_SAVEALL) {
            tm__gc_garbage_append(obj);
        } else if (clear) {
            gc_incref(h);
            clear(obj);
            gc_decref(h);
        }
        if (gc_next(collectable) == h)
            survive(h, old, old_gen); /* still alive: it may die later */
    }
}

void tm__gc_sub_gen0(long dead)
{
    /* count[0] -= 1 per death, never below zero, as deallocation does */
    long c = tm__gc.gens[0].count - dead;
    PUB_SET(tm__gc.gens[0].count, c > 0 ? c : 0);
}

/* A held object that delete_held cannot free on its fast path: it was
 * untracked, got weak references, is still referenced (resurrected by a
 * clear, or a type that keeps references) or lost the collector's
 * reference to an extra decref (reported then; it is left alone). */
void tm__gc_release_held(gchead *h, gchead *old, unsigned old_gen)
{
    uint32_t dropped = h->bits & BITS_DROPPED;
    h->bits &= ~(BITS_HELD | BITS_DROPPED);
    h->prev &= ~PREV_COLLECTING;
    if (h->refcnt > 1 && !dropped) {
        h->refcnt--;
        gc_set_gen(h, old_gen);
        tm__gc_list_append(h, old);
        return;
    }
    /* untracked from here: by the program, or dying */
    h->next = 0;
    gc_set_gen(h, GEN_PERMANENT);
    if (h->refcnt > 1) {
        h->refcnt--;
    } else if (h->refcnt == 1) {
        h->refcnt = 0;
        tm__gc_dealloc(h); /* untracked: dealloc does not unlink it */
    }
}

static void handle_legacy_finalizers(gchead *finalizers, gchead *old, unsigned old_gen)
{
    while (!tm__gc_list_empty(finalizers)) {
        gchead *h = gc_next(finalizers);
        if ((tm__gc.debug & RCGC_DEBUG_SAVEALL) || gc_type(h)->legacy_del)
            tm__gc_garbage_append(AS_OBJ(h));
        survive(h, old, old_gen);
    }
}

static void debug_start(int generation)
{
    fprintf(stderr, "gc: collecting generation %d...\n", generation);
    fprintf(stderr, "gc: objects in each generation: %zu %zu %zu\n",
            tm__gc_list_size(&tm__gc.gens[0].head), tm__gc_list_size(&tm__gc.gens[1].head),
            tm__gc_list_size(&tm__gc.gens[2].head));
    fprintf(stderr, "gc: objects in permanent generation: %zu\n",
            tm__gc_list_size(&tm__gc.permanent));
}

/* What one collection found. */
typedef struct result {
    long collected, uncollectable;
    size_t survivors;
} result;

/* Collects the list 'young' (every member tracked with a generation <=
 * 'member_gen', no other object so): survivors go to 'old', generation
 * 'old_gen'. */
static result collect_region(gchead *young, unsigned member_gen, gchead *old, unsigned old_gen)
{
    result r = {0, 0, 0};
    long m = 0, n = 0;
    gchead unreachable, finalizers, final_unreachable;
    tm__gc_list_init(&unreachable);
    tm__gc_list_init(&finalizers);
    tm__gc_list_init(&final_unreachable);

    /* the program's copy of the passes when it linked one (passes.h) */
    const gcpasses *passes = tm__gc.passes ? tm__gc.passes : &tm__gc_builtin_passes;
    size_t nyoung = passes->refs(&tm__gc.env, young, member_gen);
    unsigned unreachable_kinds;
    size_t nunreachable = passes->unreachable(&tm__gc.env, young, &unreachable, old_gen,
                                              &unreachable_kinds, RCBITS_HOLD);
    r.survivors = nyoung - nunreachable;
    if (young != old)
        tm__gc_list_merge(young, old);

    if (unreachable_kinds == 0 && !(tm__gc.debug & RCGC_DEBUG_SAVEALL)) {
        /* plain garbage: no legacy_del, weakref or finalizer to handle, so
         * no user code runs before clear; NEXT_UNREACHABLE bits left on
         * the nodes are masked by gc_next() */
        if (tm__gc.debug & RCGC_DEBUG_COLLECTABLE)
            for (gchead *h = gc_next(&unreachable); h != &unreachable; h = gc_next(h))
                tm__gc_debug_object("collectable", h);
        m = (long)nunreachable;
        passes->delete(&tm__gc.env, &unreachable, old, old_gen);
    } else {
        scan sc = move_legacy_finalizers(&unreachable, &finalizers);
        if (!tm__gc_list_empty(&finalizers))
            move_legacy_finalizer_reachable(&finalizers);
        for (gchead *h = gc_next(&finalizers); h != &finalizers; h = gc_next(h))
            n++;
        if (tm__gc.debug & RCGC_DEBUG_COLLECTABLE)
            for (gchead *h = gc_next(&unreachable); h != &unreachable; h = gc_next(h))
                tm__gc_debug_object("collectable", h);
        if (sc.weakrefs)
            m += (long)tm__gc_handle_weakrefs(&unreachable);
        if (sc.finalizers || sc.weakrefs) {
            /* user code ran: what it made reachable again survives */
            if (sc.finalizers)
                finalize_garbage(&unreachable);
            m += (long)handle_resurrected_objects(&unreachable, &final_unreachable, old,
                                                  old_gen);
        } else {
            tm__gc_list_merge(&unreachable, &final_unreachable);
            m += (long)nunreachable - n;
        }
    }
    delete_garbage(&final_unreachable, old, old_gen);

    if (tm__gc.debug & RCGC_DEBUG_UNCOLLECTABLE)
        for (gchead *h = gc_next(&finalizers); h != &finalizers; h = gc_next(h))
            tm__gc_debug_object("uncollectable", h);
    handle_legacy_finalizers(&finalizers, old, old_gen);
    r.collected = m;
    r.uncollectable = n;
    return r;
}

/* A collection of 'generation' in the classic mode, or in the incremental
 * mode a collection of the young generation alone (0) or a full one (2). */
static result collect_generation(int generation)
{
    if (generation + 1 < NUM_GENERATIONS && !tm__gc.incremental)
        PUB_SET(tm__gc.gens[generation + 1].count, tm__gc.gens[generation + 1].count + 1);
    for (int i = 0; i <= generation; i++)
        PUB_SET(tm__gc.gens[i].count, 0);
    for (int i = 0; i < generation; i++)
        tm__gc_list_merge(&tm__gc.gens[i].head, &tm__gc.gens[generation].head);

    gchead *young = &tm__gc.gens[generation].head;
    unsigned old_gen = generation + 1 < NUM_GENERATIONS ? generation + 1 : generation;
    if (tm__gc.incremental) {
        /* young survivors are scanned already in this scan of the old
         * generation; after a full collection the whole old generation is */
        if (generation == NUM_GENERATIONS - 1)
            tm__gc.visited = NUM_GENERATIONS - 1;
        old_gen = tm__gc.visited;
    }
    gchead *old = &tm__gc.gens[old_gen].head;
    result r = collect_region(young, (unsigned)generation, old, old_gen);
    if (generation == 1)
        tm__gc.long_lived_pending += (long)r.survivors;
    if (generation == NUM_GENERATIONS - 1) {
        tm__gc.long_lived_pending = 0;
        tm__gc.long_lived_total = (long)r.survivors;
        tm__gc.inc_cut = 0;
        tm__gc.pass_scanned = tm__gc.last_pass = 0;
        tm__gc.base_pass = r.survivors;
    }
    return r;
}

/* --- the incremental mode ---
 *
 * The old generation is two lists, generations 1 and 2: 'visited', what
 * the current scan of the old generation has collected already, and
 * 'pending', what it has not. Each increment collects, as one region, the
 * young generation and a part of 'pending': seeds taken from its head and
 * everything in 'pending' they reach, transitively (CPython 3.14's
 * increment). Survivors go to 'visited'; when 'pending' is empty the scan
 * is complete and the two lists swap roles.
 *
 * Why no write barrier is needed: a collection of any set of objects
 * never frees a live one (an object referred to from outside the set
 * keeps its gc_refs above zero, and so does all it reaches). What the
 * closure adds is that the garbage is found: a garbage cycle no longer
 * changes, so when all of it is in 'pending' at the start of a scan, the
 * first increment that takes one of its members takes all of them. A
 * cycle that became garbage during scan N is all in 'pending' at the
 * start of scan N+2 at the latest (at N+1 unless some member was young
 * when N+1 began: the closure is not followed from the young generation,
 * as in CPython, whose survivors join 'visited'), so it is freed by the
 * end of scan N+2. A reference the program stores into an object already
 * scanned only delays what it makes unreachable to a later scan.
 *
 * The closure of a seed can be the whole heap (one long chain); to bound
 * the pause, an increment takes at most 'inc_limit' old objects and then
 * stops following references. That set is still collected safely, but a
 * garbage cycle cut by the limit can be missed by every scan. Most cuts
 * miss nothing (the closure of a live seed through a large live
 * structure), and what a cut misses stays in the old generation, which
 * then grows from pass to pass. So after a cut (inc_cut) a full
 * collection runs when a completed pass took more than twice as many old
 * objects as the smallest pass since the last full collection (or as
 * that collection left): a heap that is large but steady gets none. */

typedef struct expand {
    gchead *inc;
    unsigned pending;
    size_t added, limit;
    int cut;
} expand;

static int visit_expand(void *obj, void *arg)
{
    if (!obj)
        return 0;
    gchead *h = AS_HEAD(obj);
    expand *e = arg;
    if (gc_gen(h) != e->pending)
        return 0;
    if (e->added >= e->limit) {
        e->cut = 1;
        return 0;
    }
    gc_set_gen(h, 0);
    tm__gc_list_move(h, e->inc);
    e->added++;
    return 0;
}

/* Young plus one part of the old generation (generation 1 in statistics
 * and callbacks). */
static result collect_increment(void)
{
    gchead inc;
    tm__gc_list_init(&inc);
    unsigned visited = tm__gc.visited, pending = NUM_GENERATIONS - visited;
    if (tm__gc_list_empty(&tm__gc.gens[pending].head)) {
        /* the scan is complete: start the next one */
        visited = tm__gc.visited = pending;
        pending = NUM_GENERATIONS - visited;
        PUB_SET(tm__gc.old_scans, tm__gc.old_scans + 1);
        if (tm__gc.pass_scanned) {
            tm__gc.last_pass = tm__gc.pass_scanned;
            if (!tm__gc.base_pass || tm__gc.last_pass < tm__gc.base_pass)
                tm__gc.base_pass = tm__gc.last_pass;
        }
        tm__gc.pass_scanned = 0;
        PUB_SET(tm__gc.gens[1].count, 0);
        PUB_SET(tm__gc.gens[2].count, tm__gc.gens[2].count + 1);
    }
    PUB_SET(tm__gc.gens[1].count, tm__gc.gens[1].count + 1);
    PUB_SET(tm__gc.gens[0].count, 0);

    size_t nyoung = tm__gc_list_size(&tm__gc.gens[0].head);
    tm__gc_list_merge(&tm__gc.gens[0].head, &inc);
    /* twice the young generation's size (at least twice threshold 0), as
     * CPython 3.14: a scan of the old generation takes about half as many
     * allocations as the old generation holds objects */
    size_t t0 = tm__gc.gens[0].threshold > 0 ? (size_t)tm__gc.gens[0].threshold : 1;
    size_t work = 2 * (nyoung > t0 ? nyoung : t0);
    expand e = {&inc, pending, 0, tm__gc.inc_limit ? tm__gc.inc_limit : SIZE_MAX, 0};
    if (work > e.limit)
        work = e.limit;
    gchead *plist = &tm__gc.gens[pending].head;
    while (e.added < work && !e.cut && !tm__gc_list_empty(plist)) {
        gchead *seed = gc_next(plist);
        gc_set_gen(seed, 0);
        tm__gc_list_move(seed, &inc);
        e.added++;
        for (gchead *h = seed; h != &inc; h = gc_next(h))
            gc_type(h)->traverse(AS_OBJ(h), visit_expand, &e);
    }
    if (e.cut)
        tm__gc.inc_cut = 1;
    tm__gc.pass_scanned += e.added;
    return collect_region(&inc, 0, &tm__gc.gens[visited].head, visited);
}

/* The collection proper; returns collected + uncollectable and stores
 * both through the pointers. 'generation' 1 in the incremental mode is
 * one increment. */
static long collect(int generation, long *collected_out, long *uncollectable_out,
                    uint64_t *ns_out)
{
    uint64_t t0 = now_ns();
    if (tm__gc.debug & RCGC_DEBUG_STATS)
        debug_start(generation);
    result r = generation == 1 && tm__gc.incremental ? collect_increment()
                                                     : collect_generation(generation);
    long m = r.collected, n = r.uncollectable;
    uint64_t ns = now_ns() - t0;
    if (tm__gc.debug & RCGC_DEBUG_STATS) {
        if (m + n > 0)
            fprintf(stderr, "gc: done, %ld unreachable, %ld uncollectable, %.4fs elapsed\n",
                    m + n, n, ns / 1e9);
        else
            fprintf(stderr, "gc: done, %.4fs elapsed\n", ns / 1e9);
    }
    tm__gc_publish(generation, m, n, ns);
    *collected_out = m;
    *uncollectable_out = n;
    *ns_out = ns;
    return m + n;
}

/* Collection wrapped in the start/stop callbacks; caller set 'collecting'. */
long tm__gc_collect_with_callback(int generation)
{
    rcgc_info info = {generation, 0, 0, 0.0};
    if (tm__gc.ncallbacks)
        tm__gc_invoke_callbacks(RCGC_START, &info);
    uint64_t ns;
    long r = collect(generation, &info.collected, &info.uncollectable, &ns);
    info.seconds = ns / 1e9;
    if (tm__gc.ncallbacks)
        tm__gc_invoke_callbacks(RCGC_STOP, &info);
    return r;
}

/* Automatic collection. Classic mode: the oldest generation over its
 * threshold, but a full collection only when the objects that survived
 * generation 1 since the last full one exceed 25 % of the long-lived
 * total. Incremental mode: an increment, or a full collection when an
 * increment was cut since the last one and the old generation doubled
 * (see above). */
void tm__gc_collect_generations(void)
{
    if (tm__gc.incremental) {
        int full = tm__gc.inc_cut && tm__gc.base_pass &&
                   tm__gc.last_pass > 2 * tm__gc.base_pass;
        tm__gc_collect_with_callback(full ? NUM_GENERATIONS - 1 : 1);
        return;
    }
    for (int i = NUM_GENERATIONS - 1; i >= 0; i--) {
        if (tm__gc.gens[i].count > tm__gc.gens[i].threshold) {
            if (i == NUM_GENERATIONS - 1 &&
                tm__gc.long_lived_pending < tm__gc.long_lived_total / 4)
                continue;
            tm__gc_collect_with_callback(i);
            break;
        }
    }
}

long rcgc_collect(int generation)
{
    if (generation < 0 || generation >= NUM_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    gc_ensure_init();
    if (tm__gc.collecting)
        return 0;
    tm__gc.collecting = 1;
    long n = tm__gc_collect_with_callback(generation);
    tm__gc.collecting = 0;
    return n;
}

int rcgc_set_incremental(int on)
{
    gc_ensure_init();
    int old = tm__gc.incremental;
    if (tm__gc.collecting)
        return old;
    /* the lists stay: the classic mode takes generation 1 as the middle
     * generation; the incremental mode takes it as scanned already */
    if (on && !old)
        tm__gc.visited = 1;
    PUB_SET(tm__gc.incremental, on ? 1 : 0);
    return old;
}

int rcgc_is_incremental(void)
{
    gc_ensure_init();
    return tm__gc.incremental;
}

int rcgc__passes_use(const gcpasses *p)
{
    if (p->abi != GC_PASSES_ABI || tm__gc.passes)
        return 0;
    tm__gc.passes = p;
    return 1;
}

void rcgc__passes_drop(const gcpasses *p)
{
    if (tm__gc.passes == p)
        tm__gc.passes = NULL;
}
