/* passes.c - the collector's per-object passes: update_refs and
 * subtract_refs in one pass, move_unreachable and delete_held (the design
 * is CPython's, see collect.c's head comment). passes.h says why this file is
 * compiled twice: into librcgc, and with RCGC_NONSHARED into
 * librcgc_nonshared.a, whose copy runs inside the program that links it.
 *
 * Invariant of 'unreachable' during move_unreachable: every member has
 * NEXT_UNREACHABLE in 'next', its 'prev' is a real pointer; members of
 * 'young' still to be visited hold gc_refs in 'prev'.
 */
#include "config.h"

#include "rcgc/passes.h"

/* The passes walk a list in allocation order, mostly, and pools hand out
 * blocks in address order, so a pass mostly walks memory upwards. The
 * hardware prefetcher stops at each 4 KiB page; a prefetch this far ahead
 * of the object at hand keeps the lines coming (measured on the 1M-object
 * shapes of bench/rcgc: 1 KiB gains less, 8 KiB nothing). A wrong guess
 * costs one instruction: a prefetch never faults. */
#define PREFETCH_AHEAD 2048
#define prefetch_ahead(h) __builtin_prefetch((const char *)(h) + PREFETCH_AHEAD, 1)

static inline typerec *env_rec(const gcenv *env, const gchead *h)
{
    return env->type_index[h->bits & BITS_INDEX];
}

static inline const rcgc_type *env_type(const gcenv *env, const gchead *h)
{
    return &env_rec(env, h)->t;
}

/* The parent of a member whose gc_refs are 0 (see passes.h), or the member
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

static void init_refs(gchead *h, void (*too_small)(const gchead *, const char *))
{
    uintptr_t refs = h->refcnt;
    if (refs == 0) {
        too_small(h, "update_refs");
        refs = BROKEN_REFS;
    }
    h->prev = (h->prev & PREV_FLAGS) | PREV_COLLECTING | (refs << REFS_SHIFT);
}

static void decref_refs(gchead *h, void (*too_small)(const gchead *, const char *))
{
    uintptr_t refs = refs_of(h->prev);
    if (refs == 0) {
        /* more references inside 'young' than the refcount admits */
        too_small(h, "subtract_refs");
        refs = BROKEN_REFS;
    }
    gc_set_refs(h, refs - 1);
}

#ifndef RCGC_NONSHARED
/* update_refs: gc_refs = refcnt, COLLECTING set, on every member. */
void tm__gc_update_refs(gchead *young)
{
    for (gchead *h = gc_next(young); h != young; h = gc_next(h))
        init_refs(h, tm__gc_report_too_small);
}

static int visit_decref(void *obj, void *arg)
{
    (void)arg;
    if (obj && gc_is_collecting(AS_HEAD(obj)))
        decref_refs(AS_HEAD(obj), tm__gc_report_too_small);
    return 0;
}

/* subtract_refs: drop the references coming from inside the list. */
void tm__gc_subtract_refs(gchead *young)
{
    for (gchead *h = gc_next(young); h != young; h = gc_next(h))
        gc_type(h)->traverse(AS_OBJ(h), visit_decref, NULL);
}
#endif

/* The first pass's state that visit_decref_gen sees. */
typedef struct pass1 {
    uintptr_t generation;
    char *cur; /* the fields of the member being traversed (AS_OBJ) */
    const gcenv *env;
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
        init_refs(h, p->env->too_small);
    decref_refs(h, p->env->too_small);
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

static size_t update_and_subtract_refs(const gcenv *env, gchead *young, unsigned generation)
{
    size_t n = 0;
    pass1 p = {generation, NULL, env};
    /* no NEXT_UNREACHABLE bit on 'young' before move_unreachable: the
     * walk follows 'next' unmasked (one cycle less per object) */
    for (gchead *h = gc_next(young); h != young; h = (gchead *)h->next) {
        prefetch_ahead(h);
        /* PREV_PULL is set until a reference proves otherwise (on the
         * first touch of a member, by visit_decref_gen, else here) */
        if (!gc_is_collecting(h)) {
            init_refs(h, env->too_small);
            h->prev |= PREV_PULL;
        }
        p.cur = AS_OBJ(h);
        env_type(env, h)->traverse(p.cur, visit_decref_gen, &p);
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
static size_t move_unreachable(const gcenv *env, gchead *young, gchead *unreachable,
                               unsigned to_gen, unsigned *kinds_out, uint64_t hold)
{
    reach r = {young, 0, 0, hold};
    gchead *prev = young;
    gchead *h = gc_next(young);
    gchead *tail = gc_prev(unreachable);
    uintptr_t kinds = 0; /* OR of the 'prev' flags and kind bits of what moved */
    /* an empty 'unreachable' is not "taken back" below */
    unreachable->next |= NEXT_UNREACHABLE;
    while (h != young) {
        prefetch_ahead(h);
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
                env_type(env, h)->traverse(AS_OBJ(h), visit_reachable, &r);
                if (__builtin_expect(!(tail->next & NEXT_UNREACHABLE), 0))
                    tail = gc_prev(unreachable);
            }
            /* a member of 'young' never has NEXT_UNREACHABLE in 'next'
             * (members of 'unreachable' do, taken back ones lose it):
             * no mask on the walk's chain of loads, one cycle less */
            h = (gchead *)h->next;
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

/* '*dead' counts the objects delete_held freed and not yet subtracted
 * from count[0]; the subtraction is applied before any user code runs and
 * at the end, so that what a destroy() or weakref callback reads is exact. */
static inline __attribute__((always_inline)) void flush_dead(const gcenv *env, long *dead)
{
    if (*dead) {
        env->sub_gen0(*dead);
        *dead = 0;
    }
}

/* Frees 'h' of type record 'tr', cleared, whose only reference left is
 * the collector's. */
static inline __attribute__((always_inline)) void free_held(const gcenv *env, gchead *h, typerec *tr,
                                                            long *dead, gchead *old, unsigned old_gen)
{
    if (__builtin_expect((h->bits & BITS_DROPPED) || (h->prev & PREV_WEAKREFS), 0)) {
        flush_dead(env, dead);
        env->release_held(h, old, old_gen);
        return;
    }
    if (__builtin_expect(tr->t.destroy != NULL, 0)) {
        flush_dead(env, dead);
        h->refcnt = 0;
        tr->t.destroy(AS_OBJ(h));
    }
    gc_free_counted_via(h, tr, env->free_large, env->pool_settle);
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
static void delete_held(const gcenv *env, gchead *collectable, gchead *old, unsigned old_gen)
{
    long dead = 0;
    gchead *deferred = NULL, *next;
    /* the type record of the last object; few registers are live across
     * clear() so that none is spilled around the call */
    typerec *tr =
        tm__gc_list_empty(collectable) ? NULL : env_rec(env, gc_next(collectable));
    for (gchead *h = gc_next(collectable); h != collectable; h = next) {
        prefetch_ahead(h);
        uint32_t index = h->bits & BITS_INDEX;
        if (index != tr->index)
            tr = env->type_index[index];
        void (*clear)(void *) = tr->t.clear;
        if (clear)
            clear(AS_OBJ(h));
        next = gc_next(h);
        if (h->refcnt != 1) {
            h->prev = (h->prev & PREV_FLAGS) | (uintptr_t)deferred;
            deferred = h;
            continue;
        }
        free_held(env, h, tr, &dead, old, old_gen);
        while (deferred && deferred->refcnt == 1) {
            gchead *top = deferred;
            deferred = gc_prev(top);
            free_held(env, top, env_rec(env, top), &dead, old, old_gen);
        }
    }
    while (deferred) {
        gchead *h = deferred;
        deferred = gc_prev(h);
        if (h->refcnt == 1) {
            free_held(env, h, env_rec(env, h), &dead, old, old_gen);
        } else {
            flush_dead(env, &dead);
            env->release_held(h, old, old_gen);
        }
    }
    flush_dead(env, &dead);
    tm__gc_list_init(collectable);
}

#ifdef RCGC_NONSHARED
/* librcgc_nonshared.a: this copy, registered when the program (or shared
 * object) that links it is loaded, dropped when it is unloaded. Hidden:
 * each module that links the archive has its own. The linker script
 * librcgc.so names it (EXTERN) so that the archive member is linked. */
__attribute__((visibility("hidden"))) const gcpasses rcgc__nonshared_passes = {
    GC_PASSES_ABI, update_and_subtract_refs, move_unreachable, delete_held};

__attribute__((constructor)) static void passes_register(void)
{
    rcgc__passes_use(&rcgc__nonshared_passes);
}

__attribute__((destructor)) static void passes_unregister(void)
{
    rcgc__passes_drop(&rcgc__nonshared_passes);
}
#else
const gcpasses tm__gc_builtin_passes = {GC_PASSES_ABI, update_and_subtract_refs,
                                        move_unreachable, delete_held};
#endif
