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
 * Invariant of 'unreachable' during move_unreachable: every member has
 * NEXT_UNREACHABLE in 'next', its 'prev' is a real pointer; members of
 * 'young' still to be visited hold gc_refs in 'prev'.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "rcgc/internal.h"

/* 'prev' of a member of the list being collected (COLLECTING set) holds,
 * above the flags, gc_refs (REFS_MASK) and, on 64-bit, what lets
 * move_unreachable skip traversals: PREV_PULL on an object each of whose
 * references to members is the first reference the first pass found to
 * that member, made from that object, and, in each member, the distance
 * back to the object that made that first reference (its "parent"; 0 for
 * none). A member that move_unreachable reaches with gc_refs 0 is
 * reachable when its parent was found reachable before it: the parent,
 * whose references all lead to such members, is not traversed. So a
 * list or tree built in allocation order is walked once instead of twice
 * when it is alive. */
#if UINTPTR_MAX > 0xffffffffu
#define REFS_MASK ((uintptr_t)0xffffffffu)
#define PREV_PULL ((uintptr_t)1 << (REFS_SHIFT - 1))
#define PARENT_SHIFT (REFS_SHIFT + 32)
#else
#define REFS_MASK (UINTPTR_MAX >> REFS_SHIFT)
#define PREV_PULL ((uintptr_t)0)
#endif
/* gc_refs of an object whose refcount is too small: never 0 */
#define BROKEN_REFS ((REFS_MASK >> 1) + 1)

/* gc_refs of a member, from its 'prev' */
static inline uintptr_t refs_of(uintptr_t prev)
{
    return (prev >> REFS_SHIFT) & REFS_MASK;
}

static uintptr_t gc_get_refs(const gchead *h)
{
    return refs_of(h->prev);
}

/* The parent of a member whose gc_refs are 0 (see above), or the member
 * itself when it has none (COLLECTING is set on it: "not reachable"). */
static inline gchead *gc_parent(gchead *h, uintptr_t prev)
{
#if UINTPTR_MAX > 0xffffffffu
    /* gc_refs 0: the bits below PARENT_SHIFT that the shift keeps are
     * clear, so this is the distance in bytes */
    return (gchead *)((char *)h - ((intptr_t)prev >> (PARENT_SHIFT - 4)));
#else
    (void)prev;
    return h;
#endif
}

static void gc_set_refs(gchead *h, uintptr_t refs)
{
    h->prev = (h->prev & PREV_FLAGS) | (refs << REFS_SHIFT);
}

static int gc_is_collecting(const gchead *h)
{
    return (h->prev & PREV_COLLECTING) != 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void init_refs(gchead *h)
{
    uintptr_t refs = h->refcnt;
    if (refs == 0) {
        tm__gc_report_too_small(h, "update_refs");
        refs = BROKEN_REFS;
    }
    h->prev = (h->prev & PREV_FLAGS) | PREV_COLLECTING | (refs << REFS_SHIFT);
}

static void decref_refs(gchead *h)
{
    uintptr_t refs = gc_get_refs(h);
    if (refs == 0) {
        /* more references inside 'young' than the refcount admits */
        tm__gc_report_too_small(h, "subtract_refs");
        refs = BROKEN_REFS;
    }
    gc_set_refs(h, refs - 1);
}

/* update_refs: gc_refs = refcnt, COLLECTING set, on every member. */
static void update_refs(gchead *young)
{
    for (gchead *h = gc_next(young); h != young; h = gc_next(h))
        init_refs(h);
}

static int visit_decref(void *obj, void *arg)
{
    (void)arg;
    if (obj && gc_is_collecting(AS_HEAD(obj)))
        decref_refs(AS_HEAD(obj));
    return 0;
}

/* subtract_refs: drop the references coming from inside the list. */
static void subtract_refs(gchead *young)
{
    for (gchead *h = gc_next(young); h != young; h = gc_next(h))
        gc_type(h)->traverse(AS_OBJ(h), visit_decref, NULL);
}

/* The first pass's state that visit_decref_gen sees. */
typedef struct pass1 {
    uintptr_t generation;
    char *cur; /* the fields of the member being traversed (AS_OBJ) */
} pass1;

/* The member being traversed made a reference that is not a recorded
 * first one: move_unreachable must traverse it again. */
static inline void no_pull(pass1 *p)
{
    AS_HEAD(p->cur)->prev &= ~PREV_PULL;
}

/* The rare cases of visit_decref_gen: a refcount too small; returns 0
 * for a tail call */
static __attribute__((noinline, cold)) int decref_gen_slow(gchead *h, pass1 *p)
{
    if (!gc_is_collecting(h))
        init_refs(h);
    decref_refs(h);
    no_pull(p);
    return 0;
}

/* The main collection's update_refs and subtract_refs in one pass: an
 * object belongs to 'young' when it is tracked with a generation <= g, so
 * its gc_refs can be set up on first touch, either as a member or as the
 * target of a reference (saves a pass over memory). Runs once per
 * reference: the common cases are written out so that they compile to a
 * leaf function (no register saved, no frame). */
static int visit_decref_gen(void *obj, void *arg)
{
    if (!obj)
        return 0;
    pass1 *p = arg;
    gchead *h = AS_HEAD(obj);
    uintptr_t prev = h->prev;
    if (prev & PREV_COLLECTING) {
        if (__builtin_expect(refs_of(prev) == 0, 0))
            return decref_gen_slow(h, p);
        h->prev = prev - ((uintptr_t)1 << REFS_SHIFT);
        no_pull(p); /* not a first reference */
        return 0;
    }
    /* COLLECTING is set only on members of 'young': this is the first
     * touch, or 'h' is not a member (an untracked object has generation
     * GEN_PERMANENT, see internal.h) */
    if (gc_gen(h) > p->generation)
        return 0;
    uintptr_t refs = h->refcnt;
    if (__builtin_expect(refs == 0, 0))
        return decref_gen_slow(h, p);
    /* init_refs and decref_refs in one store, with the parent */
    uintptr_t parent = 0;
#if UINTPTR_MAX > 0xffffffffu
    /* a multiple of 16 (both 8 mod 16): shifted left by 32, that is the
     * distance in 16-byte units at PARENT_SHIFT, low bits clear */
    intptr_t d = (char *)obj - p->cur;
    if (__builtin_expect(d == (int32_t)d, 1))
        parent = (uintptr_t)d << (PARENT_SHIFT - 4);
    else
        no_pull(p); /* too far to record */
#endif
    h->prev = (prev & PREV_FLAGS) |
              ((parent | (refs << REFS_SHIFT)) +
               (PREV_COLLECTING + PREV_PULL - ((uintptr_t)1 << REFS_SHIFT)));
    return 0;
}

static size_t update_and_subtract_refs(gchead *young, unsigned generation)
{
    size_t n = 0;
    pass1 p = {generation, NULL};
    for (gchead *h = gc_next(young); h != young; h = gc_next(h)) {
        /* PREV_PULL is set until a reference proves otherwise (on the
         * first touch of a member, by visit_decref_gen, else here) */
        if (!gc_is_collecting(h)) {
            init_refs(h);
            h->prev |= PREV_PULL;
        }
        p.cur = AS_OBJ(h);
        gc_type(h)->traverse(p.cur, visit_decref_gen, &p);
        n++;
    }
    return n;
}

/* From the OR of the 'prev' flags and the BITS_KIND bits of a set of
 * objects: some may have a legacy_del, a weak reference (to it, or it is
 * one), or a finalizer. Conservative: a finalizer that already ran counts
 * too (the passes after move_unreachable look at each object and find
 * nothing to run). */
static unsigned kinds_of(uintptr_t k)
{
    unsigned kinds = ((unsigned)k & BITS_KIND) >> BITS_KIND_SHIFT;
    if (k & PREV_WEAKREFS)
        kinds |= KIND_WEAK;
    return kinds;
}

/* move_unreachable's state that visit_reachable sees: 'young', how many
 * members it took back from 'unreachable', how many were moved there, and
 * what a move to 'unreachable' added to 'rcbits' (RCBITS_HOLD or 0). */
typedef struct reach {
    gchead *young;
    size_t taken_back, moved;
    uint64_t hold;
} reach;

/* 'h' was moved to 'unreachable' too early: take it back to 'young'. */
static __attribute__((noinline)) void take_back(gchead *h, reach *r)
{
    gchead *young = r->young;
    gchead *prev = gc_prev(h);
    gchead *next = gc_next(h);
    prev->next = h->next;
    gc_set_prev(next, prev);
    gchead *last = gc_prev(young);
    last->next = (uintptr_t)h;
    h->next = (uintptr_t)young;
    gc_set_prev(young, h);
    gc_set_refs(h, 1);
    h->rcbits -= r->hold;
    r->taken_back++;
}

static int visit_reachable(void *obj, void *arg)
{
    if (!obj)
        return 0;
    gchead *h = AS_HEAD(obj);
    uintptr_t prev = h->prev;
    if (!(prev & PREV_COLLECTING))
        return 0;
    if (__builtin_expect(h->next & NEXT_UNREACHABLE, 0))
        take_back(h, arg);
    else if (refs_of(prev) == 0)
        h->prev = prev | ((uintptr_t)1 << REFS_SHIFT); /* gc_refs 1, parent kept */
    return 0;
}

/* Splits 'young': what is reachable from outside stays (relinked, marked
 * generation 'to_gen', COLLECTING cleared), the rest goes to 'unreachable'
 * (NEXT_UNREACHABLE set), each member with 'hold' added to its 'rcbits'
 * (RCBITS_HOLD: the collector's reference, see delete_held). Returns the
 * size of 'unreachable' and stores in '*kinds_out' the KIND_ bits of every
 * object that entered it (a superset of what is left at the end).
 *
 * The tail of 'unreachable' is kept in a local, not in the sentinel, which
 * is brought up to date at the end (and by visit_reachable when it takes
 * the tail back). */
static inline __attribute__((always_inline)) size_t
move_unreachable(gchead *young, gchead *unreachable, unsigned to_gen, unsigned *kinds_out,
                 uint64_t hold)
{
    reach r = {young, 0, 0, hold};
    gchead *prev = young;
    gchead *h = gc_next(young);
    gchead *tail = gc_prev(unreachable);
    uintptr_t kinds = 0; /* OR of the 'prev' flags and kind bits of what moved */
    /* an empty 'unreachable' is not "taken back" below */
    unreachable->next |= NEXT_UNREACHABLE;
    while (h != young) {
        uintptr_t hprev = h->prev;
        /* referenced from outside, or its parent was found reachable */
        if (refs_of(hprev) || !(gc_parent(h, hprev)->prev & PREV_COLLECTING)) {
            /* relinked before its traverse (nothing there reads the gc_refs
             * of 'h': a reference to itself finds COLLECTING clear) */
            h->prev = (hprev & (PREV_FLAGS & ~PREV_COLLECTING)) | (uintptr_t)prev;
            gc_set_gen(h, to_gen);
            prev = h;
            /* traverse may append to 'young' and take members back from
             * 'unreachable': read 'next' afterwards, and the tail again
             * when it was taken back (its 'next' lost NEXT_UNREACHABLE;
             * then visit_reachable stored the new tail in the sentinel).
             * With PREV_PULL, what it refers to follows it and will find
             * it reachable. */
            if (!(hprev & PREV_PULL)) {
                gc_type(h)->traverse(AS_OBJ(h), visit_reachable, &r);
                if (__builtin_expect(!(tail->next & NEXT_UNREACHABLE), 0))
                    tail = gc_prev(unreachable);
            }
            h = gc_next(h);
        } else {
            /* the next node from the value loaded here, not read back
             * from prev->next just stored: a store-to-load round trip per
             * object would be the loop's critical path */
            uintptr_t next = h->next;
            uint32_t bits = h->bits;
            h->rcbits += hold;
            prev->next = next;
            tail->next = NEXT_UNREACHABLE | (uintptr_t)h;
            h->prev = (hprev & PREV_FLAGS) | (uintptr_t)tail;
            h->next = NEXT_UNREACHABLE | (uintptr_t)unreachable;
            tail = h;
            r.moved++; /* in memory: no register to save around traverse */
            kinds |= hprev | (bits & BITS_KIND); /* no overlap: refs are 0 */
            h = (gchead *)(next & ~NEXT_UNREACHABLE);
        }
    }
    gc_set_prev(unreachable, tail);
    gc_set_prev(young, prev);
    unreachable->next &= ~NEXT_UNREACHABLE;
    *kinds_out = kinds_of(kinds);
    return r.moved - r.taken_back;
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
    update_refs(unreachable);
    subtract_refs(unreachable);
    unsigned kinds;
    size_t n = move_unreachable(unreachable, still_unreachable, old_gen, &kinds, 0);
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

static __attribute__((noinline)) void sub_gen0(long dead)
{
    /* count[0] -= 1 per death, never below zero, as deallocation does */
    long c = tm__gc.gens[0].count - dead;
    PUB_SET(tm__gc.gens[0].count, c > 0 ? c : 0);
}

/* '*dead' counts the objects delete_held freed and not yet subtracted
 * from count[0]; the subtraction is applied before any user code runs and
 * at the end, so that what a destroy() or weakref callback reads is exact. */
static inline __attribute__((always_inline)) void flush_dead(long *dead)
{
    if (*dead) {
        sub_gen0(*dead);
        *dead = 0;
    }
}

/* A held object that delete_held cannot free on its fast path: it was
 * untracked, got weak references, is still referenced (resurrected by a
 * clear, or a type that keeps references) or lost the collector's
 * reference to an extra decref (reported then; it is left alone). */
static __attribute__((noinline)) void release_held(gchead *h, gchead *old, unsigned old_gen)
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

/* Frees 'h' of type record 'tr', cleared, whose only reference left is
 * the collector's. */
static inline __attribute__((always_inline)) void free_held(gchead *h, typerec *tr, long *dead,
                                                            gchead *old, unsigned old_gen)
{
    if (__builtin_expect((h->bits & BITS_DROPPED) || (h->prev & PREV_WEAKREFS), 0)) {
        flush_dead(dead);
        release_held(h, old, old_gen);
        return;
    }
    if (__builtin_expect(tr->t.destroy != NULL, 0)) {
        flush_dead(dead);
        h->refcnt = 0;
        tr->t.destroy(AS_OBJ(h));
    }
    gc_free_counted(h, tr);
    ++*dead;
}

/* Deletes plain garbage (no finalizer, legacy_del or weak reference
 * involved), every member held by the collector since move_unreachable
 * (RCBITS_HOLD), in one pass: each object's clear() runs, which frees
 * nothing, as each member keeps the collector's reference; right after,
 * an object whose only reference left is the collector's is freed: no
 * other object refers to it, so no later clear() can touch it. One that
 * is still referenced (by garbage not yet cleared) is deferred to a stack
 * linked through 'prev' (no longer needed: the walk follows 'next'); the
 * top of the stack is freed as soon as its references are gone (the other
 * half of a 2-cycle, the head of a ring), the rest at the end, and
 * whatever is still referenced then survives. Objects are freed without a
 * second clear (they hold no references: nothing but the clear() of other
 * garbage ran since their own).
 *
 * So each object dies at the moment CPython's delete_garbage would free
 * it, when its last reference goes, with one indirect call per object and
 * one pass over memory: no deep recursion or trashcan, no unlinking. While
 * members are held no member dies but those freed here, and none leaves
 * the list (untrack marks it BITS_DROPPED), so the walk reads 'next' in
 * place before the object may be freed. */
static void delete_held(gchead *collectable, gchead *old, unsigned old_gen)
{
    long dead = 0;
    gchead *deferred = NULL, *next;
    /* the type record of the last object; few registers are live across
     * clear() so that none is spilled around the call */
    typerec *tr = tm__gc_list_empty(collectable) ? NULL : gc_rec(gc_next(collectable));
    for (gchead *h = gc_next(collectable); h != collectable; h = next) {
        uint32_t index = h->bits & BITS_INDEX;
        if (index != tr->index)
            tr = tm__gc.type_index[index];
        void (*clear)(void *) = tr->t.clear;
        if (clear)
            clear(AS_OBJ(h));
        next = gc_next(h);
        if (h->refcnt != 1) {
            h->prev = (h->prev & PREV_FLAGS) | (uintptr_t)deferred;
            deferred = h;
            continue;
        }
        free_held(h, tr, &dead, old, old_gen);
        while (deferred && deferred->refcnt == 1) {
            gchead *top = deferred;
            deferred = gc_prev(top);
            free_held(top, gc_rec(top), &dead, old, old_gen);
        }
    }
    while (deferred) {
        gchead *h = deferred;
        deferred = gc_prev(h);
        if (h->refcnt == 1) {
            free_held(h, gc_rec(h), &dead, old, old_gen);
        } else {
            flush_dead(&dead);
            release_held(h, old, old_gen);
        }
    }
    flush_dead(&dead);
    tm__gc_list_init(collectable);
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

/* Survivors of 'young' go to 'old'; bookkeeping of the 25 % rule. */
static void promote(int generation, gchead *young, gchead *old, long survivors)
{
    if (generation == 1)
        tm__gc.long_lived_pending += survivors;
    if (young != old)
        tm__gc_list_merge(young, old);
    if (generation == NUM_GENERATIONS - 1) {
        tm__gc.long_lived_pending = 0;
        tm__gc.long_lived_total = survivors;
    }
}

/* The collection proper; returns collected + uncollectable and stores
 * both through the pointers. */
static long collect(int generation, long *collected_out, long *uncollectable_out,
                    uint64_t *ns_out)
{
    uint64_t t0 = now_ns();
    long m = 0, n = 0;
    if (tm__gc.debug & RCGC_DEBUG_STATS)
        debug_start(generation);

    if (generation + 1 < NUM_GENERATIONS)
        PUB_SET(tm__gc.gens[generation + 1].count, tm__gc.gens[generation + 1].count + 1);
    for (int i = 0; i <= generation; i++)
        PUB_SET(tm__gc.gens[i].count, 0);
    for (int i = 0; i < generation; i++)
        tm__gc_list_merge(&tm__gc.gens[i].head, &tm__gc.gens[generation].head);

    gchead *young = &tm__gc.gens[generation].head;
    unsigned old_gen = generation + 1 < NUM_GENERATIONS ? generation + 1 : generation;
    gchead *old = &tm__gc.gens[old_gen].head;
    gchead unreachable, finalizers, final_unreachable;
    tm__gc_list_init(&unreachable);
    tm__gc_list_init(&finalizers);
    tm__gc_list_init(&final_unreachable);

    size_t nyoung = update_and_subtract_refs(young, (unsigned)generation);
    unsigned unreachable_kinds;
    size_t nunreachable =
        move_unreachable(young, &unreachable, old_gen, &unreachable_kinds, RCBITS_HOLD);
    promote(generation, young, old, (long)(nyoung - nunreachable));

    if (unreachable_kinds == 0 && !(tm__gc.debug & RCGC_DEBUG_SAVEALL)) {
        /* plain garbage: no legacy_del, weakref or finalizer to handle, so
         * no user code runs before clear; NEXT_UNREACHABLE bits left on
         * the nodes are masked by gc_next() */
        if (tm__gc.debug & RCGC_DEBUG_COLLECTABLE)
            for (gchead *h = gc_next(&unreachable); h != &unreachable; h = gc_next(h))
                tm__gc_debug_object("collectable", h);
        m = (long)nunreachable;
        delete_held(&unreachable, old, old_gen);
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

/* Automatic collection: the oldest generation over its threshold, but a
 * full collection only when the objects that survived generation 1 since the
 * last full one exceed 25 % of the long-lived total. */
void tm__gc_collect_generations(void)
{
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
