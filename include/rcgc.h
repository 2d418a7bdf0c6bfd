/* rcgc.h - reference counting with CPython's generational cycle collector.
 *
 * Objects are allocated by librcgc with a hidden 24-byte header (16 bytes on
 * 32-bit systems) in front of the caller's fields; the caller holds plain
 * pointers to its fields and manages them with rcgc_incref()/rcgc_decref().
 * Objects whose type has a 'traverse' function are tracked by a
 * three-generation collector that finds and frees unreachable reference
 * cycles exactly as CPython's gc module does (see rcgc(3)).
 *
 * Thread safety: like CPython's collector under the GIL, the program calls
 * librcgc from one thread at a time (it serializes all calls itself). The
 * statistics published into tracemem snapshots are readable from any thread.
 */
#ifndef RCGC_H
#define RCGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RCGC_VERSION_MAJOR 0
#define RCGC_VERSION_MINOR 1
#define RCGC_VERSION_MICRO 0

#define RCGC_API __attribute__((visibility("default")))

/* --- types --- */

/* Called by a type's traverse function for each reference it owns; a
 * non-zero return stops the traversal and is returned by traverse. */
typedef int (*rcgc_visit_fn)(void *obj, void *arg);

/* Describes a kind of object. The struct must stay valid (and unchanged)
 * while objects of the type exist, and 'name' for the life of the process
 * (snapshots read it). */
typedef struct rcgc_type {
    const char *name;
    /* Visits every owned reference (NULL fields are skipped). NULL: the
     * object holds no references and is never tracked. */
    int (*traverse)(void *self, rcgc_visit_fn visit, void *arg);
    /* Drops owned references (decref and NULL them). Breaks cycles; also
     * runs when the refcount reaches zero, except for garbage the
     * collector has cleared already. May be NULL. */
    void (*clear)(void *self);
    /* PEP 442 finalizer: called at most once per object, before clear; may
     * resurrect the object by storing a new reference. May be NULL. */
    void (*finalize)(void *self);
    /* Old-style __del__: a cycle that contains such an object is
     * uncollectable and goes to the garbage list untouched. Runs at every
     * refcount death outside cycles. May be NULL. */
    void (*legacy_del)(void *self);
    /* Releases non-object resources just before the memory is freed. */
    void (*destroy)(void *self);
} rcgc_type;

/* --- objects --- */

/* Allocates an object of 'type' with 'size' bytes of zeroed fields and
 * returns a new reference (refcount 1), tracked when type->traverse is set.
 * May run an automatic collection first. NULL with errno ENOMEM (or EINVAL
 * for a NULL type, ENOMEM for 'size' over 1 TiB, or over half the address
 * space on 32-bit systems). */
RCGC_API void *rcgc_new(const rcgc_type *type, size_t size);

/* Adds a reference to 'obj'. NULL is ignored. */
RCGC_API void rcgc_incref(void *obj);

/* Drops a reference to 'obj'; at zero the object is finalized, its weak
 * references are cleared (callbacks run), its type's clear and destroy run
 * and its memory is freed. Deep chains are freed iteratively. NULL is
 * ignored. Dropping a reference the object does not have is reported on
 * stderr ("refcount is too small" with the type name) and ignored. */
RCGC_API void rcgc_decref(void *obj);

/* rcgc_incref() and rcgc_decref() are also defined inline below, like
 * CPython's Py_INCREF/Py_DECREF: the count is a uint32_t 8 bytes before the
 * object's fields (RCGC_REFCNT), part of the ABI. The inline
 * versions call the library only when the count drops from 1 (the object
 * dies) or is already 0 (the error above). Define RCGC_NO_INLINE before
 * including rcgc.h to call the functions instead; '(rcgc_decref)(obj)' and
 * '&rcgc_decref' always name the functions. */
#define RCGC_REFCNT(obj) (((uint32_t *)(obj))[-2])

#ifndef RCGC_NO_INLINE
static inline void rcgc__incref_inline(void *obj)
{
    if (obj)
        RCGC_REFCNT(obj)++;
}

static inline void rcgc__decref_inline(void *obj)
{
    if (obj) {
        if (RCGC_REFCNT(obj) > 1)
            RCGC_REFCNT(obj)--;
        else
            (rcgc_decref)(obj);
    }
}

#define rcgc_incref(obj) rcgc__incref_inline(obj)
#define rcgc_decref(obj) rcgc__decref_inline(obj)
#endif

/* The reference count of 'obj'. */
RCGC_API size_t rcgc_refcount(const void *obj);

/* The type 'obj' was created with (borrowed). */
RCGC_API const rcgc_type *rcgc_typeof(const void *obj);

/* Starts tracking 'obj' in generation 0 (no effect when already tracked or
 * when its type has no traverse). */
RCGC_API void rcgc_track(void *obj);

/* Stops tracking 'obj': the collector no longer sees it (no effect when it
 * is not tracked). */
RCGC_API void rcgc_untrack(void *obj);

/* 1 when 'obj' is tracked by the collector, else 0. */
RCGC_API int rcgc_is_tracked(const void *obj);

/* 1 when the finalizer of 'obj' has already run, else 0. */
RCGC_API int rcgc_is_finalized(const void *obj);

/* --- collection --- */

/* Collects generations 0..'generation' (0..2) and returns the number of
 * unreachable objects found (collected plus uncollectable); survivors move
 * to the next generation. -1 with errno EINVAL for a bad generation; 0 when
 * a collection is already running (a nested call from a finalizer). */
RCGC_API long rcgc_collect(int generation);

/* Turn automatic collection on/off; both return the previous state (1 on). */
RCGC_API int rcgc_enable(void);
RCGC_API int rcgc_disable(void);

/* 1 when automatic collection is enabled. */
RCGC_API int rcgc_isenabled(void);

/* Stores the three collection thresholds in 't'. */
RCGC_API void rcgc_get_threshold(long t[3]);

/* Sets the thresholds (default 700, 10, 10); 't0' == 0 disables automatic
 * collection. 0, or -EINVAL for a negative value. */
RCGC_API int rcgc_set_threshold(long t0, long t1, long t2);

/* Stores the current counts: count[0] is tracked allocations minus
 * deallocations since the last collection, count[g] (g > 0) the collections
 * of generation g-1 since the last collection of generation g. */
RCGC_API void rcgc_get_count(long c[3]);

/* Per-generation statistics since the start of the process. */
typedef struct {
    uint64_t collections, collected, uncollectable;
    double seconds;
} rcgc_gen_stats;

/* Stores the statistics of the three generations in 's'. */
RCGC_API void rcgc_get_stats(rcgc_gen_stats s[3]);

/* Pause figures of one kind of collection since the start of the process
 * (or rcgc_reset_pause_stats): how many, their total, the 50th, 90th and
 * 99th percentiles (from a histogram with 4 buckets per doubling, so
 * within 19 %, never above 'max') and the longest, in seconds. */
typedef struct {
    uint64_t count;
    double seconds, p50, p90, p99, max;
} rcgc_pause_stats;

/* Stores the pause figures of the collections of generation 0, 1 and 2
 * in 's' (in the incremental mode: collections of the young generation
 * alone, increments, full collections). Each collection is one pause,
 * timed with CLOCK_MONOTONIC from the start to the end of the collection,
 * callbacks excluded. */
RCGC_API void rcgc_get_pause_stats(rcgc_pause_stats s[3]);

/* Forgets the pause figures (not the statistics of rcgc_get_stats). */
RCGC_API void rcgc_reset_pause_stats(void);

/* --- incremental collection --- */

/* Turns the incremental mode on ('on' non-zero, the default) or off and
 * returns the previous setting; no change while a collection runs. In the
 * incremental mode (CPython 3.14's collector) each automatic collection
 * collects the young generation and an increment of the old generation
 * (generations 1 and 2 are then the two halves of the old generation:
 * one scanned already in the current pass over it, the other not): the
 * objects reached from a bounded number of objects not scanned yet, at
 * most 16000 old objects, so that the pause stays short whatever the
 * size of the heap. Every garbage cycle is still found: by the end of
 * the second pass over the old generation after the one in which it
 * became garbage, or, when a cycle is larger than an increment, by a
 * full collection once the old generation has doubled (see
 * rcgc_collect(3)). Callbacks and statistics see an increment as a
 * collection of generation 1; rcgc_collect(1) runs one,
 * rcgc_collect(0) collects the young generation alone and rcgc_collect(2)
 * is a full collection as in the classic mode. Off, the collector is the
 * classic generational one (CPython 3.11-3.13). */
RCGC_API int rcgc_set_incremental(int on);

/* 1 when the incremental mode is on. */
RCGC_API int rcgc_is_incremental(void);

/* --- debugging --- */

#define RCGC_DEBUG_STATS 1u         /* "gc: collecting generation ..." lines */
#define RCGC_DEBUG_COLLECTABLE 2u   /* one line per collectable object */
#define RCGC_DEBUG_UNCOLLECTABLE 4u /* one line per uncollectable object */
#define RCGC_DEBUG_SAVEALL 32u      /* keep all garbage in the garbage list */
#define RCGC_DEBUG_LEAK \
    (RCGC_DEBUG_COLLECTABLE | RCGC_DEBUG_UNCOLLECTABLE | RCGC_DEBUG_SAVEALL)

/* Sets/gets the debug flags; messages go to stderr as CPython's "gc: ..."
 * lines. */
RCGC_API void rcgc_set_debug(unsigned flags);
RCGC_API unsigned rcgc_get_debug(void);

/* --- the garbage list (gc.garbage) --- */

/* Number of objects in the garbage list: uncollectable objects (cycles with
 * a legacy_del) and, with RCGC_DEBUG_SAVEALL, all garbage found. */
RCGC_API size_t rcgc_garbage_count(void);

/* Item 'i' of the garbage list (borrowed), NULL when out of range. */
RCGC_API void *rcgc_garbage_get(size_t i);

/* Empties the garbage list, dropping its references. */
RCGC_API void rcgc_garbage_clear(void);

/* --- callbacks (gc.callbacks) --- */

typedef enum { RCGC_START, RCGC_STOP } rcgc_phase;
typedef struct {
    int generation;
    long collected, uncollectable; /* 0 at RCGC_START */
    double seconds;                /* 0 at RCGC_START */
} rcgc_info;
typedef void (*rcgc_callback_fn)(rcgc_phase phase, const rcgc_info *info, void *arg);

/* Adds 'fn' with 'arg', called before and after every collection. 0, or
 * -ENOMEM. */
RCGC_API int rcgc_callback_add(rcgc_callback_fn fn, void *arg);

/* Removes the first registration of ('fn', 'arg'). 0, or -ENOENT. */
RCGC_API int rcgc_callback_remove(rcgc_callback_fn fn, void *arg);

/* --- introspection --- */

/* Calls 'fn'(obj, 'arg') for each object tracked in 'generation' (0..2, or
 * -1 for all three; frozen objects excluded) and returns how many, or -1
 * with errno EINVAL (bad generation) or ENOMEM. The objects are held alive
 * during the calls. */
RCGC_API long rcgc_get_objects(int generation, void (*fn)(void *obj, void *arg), void *arg);

/* Calls 'fn' for each tracked (not frozen) object that refers to 'obj';
 * returns how many, or -1 with errno ENOMEM. */
RCGC_API long rcgc_get_referrers(void *obj, void (*fn)(void *referrer, void *arg), void *arg);

/* Calls 'fn' for each object 'obj' refers to (its traverse's visits);
 * returns how many, or -1 with errno ENOMEM. */
RCGC_API long rcgc_get_referents(void *obj, void (*fn)(void *referent, void *arg), void *arg);

/* --- freezing (gc.freeze) --- */

/* Moves every tracked object into the permanent generation, which is never
 * collected, and zeroes count[0]. */
RCGC_API void rcgc_freeze(void);

/* Moves the permanent generation back into the oldest generation. */
RCGC_API void rcgc_unfreeze(void);

/* Number of objects in the permanent generation. */
RCGC_API size_t rcgc_get_freeze_count(void);

/* --- weak references --- */

/* A weak reference is itself an rcgc object: rcgc_decref() it when done. */
typedef struct rcgc_weakref rcgc_weakref;
typedef void (*rcgc_weakref_fn)(rcgc_weakref *ref, void *arg);

/* Returns a new weak reference to 'obj'. When 'obj' dies, the reference is
 * cleared and then 'callback'('ref', 'arg') runs, unless the weak
 * reference itself is garbage found in the same collection. 'callback' may
 * be NULL. NULL with errno EINVAL ('obj' NULL) or ENOMEM. */
RCGC_API rcgc_weakref *rcgc_weakref_new(void *obj, rcgc_weakref_fn callback, void *arg);

/* A new reference to the referent of 'ref', or NULL once it is gone. */
RCGC_API void *rcgc_weakref_get(rcgc_weakref *ref);

/* Number of live weak references to 'obj'. */
RCGC_API size_t rcgc_weakref_count(const void *obj);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_H */
