/* passes.h - the collector's per-object passes (passes.c) and what they
 * share with collect.c.
 *
 * The first pass (update_refs and subtract_refs in one) and
 * move_unreachable call each object's traverse, which calls the pass's
 * visit function back: two indirect calls per object between the program
 * that defines the type and the collector. When the collector is in
 * librcgc.so and the types in a PIE program, these calls cross the
 * terabytes between the two mappings, which costs this machine's CPU about
 * 1 ns per object (bench/rcgc/README.md). So passes.c is compiled twice:
 * into the library (the built-in passes, used by every collection unless a
 * program brings its own), and into librcgc_nonshared.a, which the
 * installed librcgc.so (a linker script, like glibc's libc.so) links into
 * every program that links -lrcgc. That copy registers itself from a
 * constructor (rcgc__passes_use), so that a collection walks the objects
 * next to their traverse functions.
 *
 * The two copies may come from different releases (a program linked with
 * one librcgc_nonshared.a, run with a newer librcgc.so): the library
 * accepts a copy only if its GC_PASSES_ABI is its own. Bump it whenever
 * what the passes read or write changes: gchead and its flag bits, the
 * encoding of 'prev' below, typerec (its type, index and counts), gcpool's
 * fast path (gc_free_bytes_via), gcenv, gcpasses.
 */
#ifndef RCGC_PASSES_H
#define RCGC_PASSES_H

#include "rcgc/internal.h"

#define GC_PASSES_ABI 1u

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

static inline void gc_set_refs(gchead *h, uintptr_t refs)
{
    h->prev = (h->prev & PREV_FLAGS) | (refs << REFS_SHIFT);
}

static inline int gc_is_collecting(const gchead *h)
{
    return (h->prev & PREV_COLLECTING) != 0;
}

/* One copy of the passes. */
typedef struct gcpasses {
    unsigned abi; /* GC_PASSES_ABI */
    /* update_refs and subtract_refs of a collection of 'generation' over
     * 'young', recording parents; returns the number of members */
    size_t (*refs)(const gcenv *env, gchead *young, unsigned generation);
    /* move_unreachable (see passes.c) */
    size_t (*unreachable)(const gcenv *env, gchead *young, gchead *unreachable,
                          unsigned to_gen, unsigned *kinds_out, uint64_t hold);
    /* delete_held: deletes plain garbage, held since move_unreachable */
    void (*delete)(const gcenv *env, gchead *collectable, gchead *old, unsigned old_gen);
} gcpasses;

/* the library's own copy */
extern const gcpasses tm__gc_builtin_passes;

#ifndef RCGC_NONSHARED
/* passes.c, for the resurrection check (without parents or PULL) */
void tm__gc_update_refs(gchead *young);
void tm__gc_subtract_refs(gchead *young);
#endif

/* Exported by librcgc.so for librcgc_nonshared.a only (not API):
 * rcgc__passes_use makes 'p' the passes of every collection from now on,
 * unless another copy came first or the ABI differs (returns 0 then);
 * rcgc__passes_drop gives up 'p' (a library that brought it is being
 * unloaded). */
RCGC_API int rcgc__passes_use(const gcpasses *p);
RCGC_API void rcgc__passes_drop(const gcpasses *p);

#endif /* RCGC_PASSES_H */
