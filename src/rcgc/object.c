/* object.c - object lifetime: allocation with the hidden header, reference
 * counting, deallocation (finalizer, weakrefs, clear, destroy, free) with a
 * trashcan so that deep chains are freed without deep C recursion, tracking,
 * and the per-type registry that counts live objects by type.
 *
 * Invariants: an object with refcnt 0 is never in a generation list; a
 * tracked object's type has a traverse function; typerec.count/bytes equal
 * the live objects of the type (published with relaxed stores).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tracemem.h"
#include "rcgc/internal.h"

/* deallocations nested deeper than this are deferred to the trash list */
#define TRASH_LIMIT 50

struct tm__gc_state tm__gc = {.env = {.too_small = tm__gc_report_too_small,
                                      .release_held = tm__gc_release_held,
                                      .sub_gen0 = tm__gc_sub_gen0,
                                      .free_large = tm__gc_free_large,
                                      .pool_settle = tm__gc_pool_settle}};

/* Appends the whole of 'from' to 'to'; 'from' becomes empty. */
void tm__gc_list_merge(gchead *from, gchead *to)
{
    if (tm__gc_list_empty(from))
        return;
    gchead *first = gc_next(from), *last = gc_prev(from);
    gchead *tail = gc_prev(to);
    tail->next = (uintptr_t)first;
    gc_set_prev(first, tail);
    last->next = (uintptr_t)to;
    gc_set_prev(to, last);
    tm__gc_list_init(from);
}

size_t tm__gc_list_size(const gchead *list)
{
    size_t n = 0;
    for (const gchead *h = gc_next(list); h != list; h = gc_next(h))
        n++;
    return n;
}

void tm__gc_init(void)
{
    static const long thresholds[NUM_GENERATIONS] = {700, 10, 10};
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        tm__gc_list_init(&tm__gc.gens[i].head);
        tm__gc.gens[i].threshold = thresholds[i];
    }
    tm__gc_list_init(&tm__gc.permanent);
    tm__gc.enabled = 1;
    tm__gc.incremental = 1;
    tm__gc.visited = 1;
    tm__gc.inc_limit = RCGC_INCREMENT_LIMIT;
    tm__gc.initialized = 1;
    tm__gc_register_section();
}

/* --- type registry (open addressing on the type pointer) --- */

static size_t type_slot(const rcgc_type *type, size_t cap)
{
    uintptr_t x = (uintptr_t)type;
    x ^= x >> 17;
    x *= UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(x >> 7) & (cap - 1);
}

static int type_table_grow(void)
{
    size_t cap = tm__gc.type_table_cap ? tm__gc.type_table_cap * 2 : 64;
    typerec **t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < tm__gc.type_table_cap; i++) {
        typerec *r = tm__gc.type_table[i];
        if (!r)
            continue;
        size_t j = type_slot(r->type, cap);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = r;
    }
    free(tm__gc.type_table);
    tm__gc.type_table = t;
    tm__gc.type_table_cap = cap;
    return 0;
}

/* The record of 'type', created on first use; NULL when out of memory. */
static typerec *type_record(const rcgc_type *type)
{
    typerec *r = tm__gc.last_type;
    if (r && r->type == type)
        return r;
    if ((tm__gc.ntypes + 1) * 2 > tm__gc.type_table_cap && type_table_grow() < 0)
        return NULL;
    size_t cap = tm__gc.type_table_cap, j = type_slot(type, cap);
    while ((r = tm__gc.type_table[j]) && r->type != type)
        j = (j + 1) & (cap - 1);
    if (!r) {
        if (tm__gc.ntypes == tm__gc.type_index_cap) {
            size_t icap = tm__gc.type_index_cap ? tm__gc.type_index_cap * 2 : 64;
            typerec **ix;
            if (icap > (size_t)BITS_INDEX + 1 ||
                !(ix = realloc(tm__gc.env.type_index, icap * sizeof *ix)))
                return NULL;
            tm__gc.env.type_index = ix;
            tm__gc.type_index_cap = icap;
        }
        r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
        r->type = type;
        r->t = *type;
        r->kind = (type->legacy_del ? KIND_LEGACY : 0) | (type->finalize ? KIND_FINALIZE : 0) |
                  (type == &tm__gc_weakref_type ? KIND_WEAK : 0);
        r->index = (uint32_t)tm__gc.ntypes;
        tm__gc.env.type_index[r->index] = r;
        r->next = tm__gc.types;
        tm__gc.type_table[j] = r;
        tm__gc.ntypes++;
        __atomic_store_n(&tm__gc.types, r, __ATOMIC_RELEASE);
    }
    tm__gc.last_type = r;
    return r;
}

/* --- allocation --- */

void *rcgc_new(const rcgc_type *type, size_t size)
{
    if (!type) {
        errno = EINVAL;
        return NULL;
    }
    if (size > MAX_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    gc_ensure_init();
    typerec *tr = type_record(type);
    gchead *h = tr ? tm__gc_alloc(size) : NULL;
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    h->next = 0;
    h->prev = 0;
    h->refcnt = 1;
    h->bits = (h->bits & BITS_LARGE) | tr->index | (tr->kind << BITS_KIND_SHIFT) |
              (type->traverse ? 0 : GEN_PERMANENT << BITS_GEN_SHIFT);
    memset(h + 1, 0, size);
    PUB_SET(tr->count, tr->count + 1);
    PUB_SET(tr->bytes, tr->bytes + tm__gc_bytes(h));
    if (type->traverse) {
        gen *g0 = &tm__gc.gens[0];
        PUB_SET(g0->count, g0->count + 1);
        if (g0->count > g0->threshold && g0->threshold && tm__gc.enabled &&
            !tm__gc.collecting) {
            tm__gc.collecting = 1;
            tm__gc_collect_generations();
            tm__gc.collecting = 0;
        }
        tm__gc_list_append(h, &tm__gc.gens[0].head);
    }
    return h + 1;
}

void(rcgc_incref)(void *obj)
{
    if (obj)
        AS_HEAD(obj)->refcnt++;
}

void(rcgc_decref)(void *obj)
{
    if (obj)
        gc_decref(AS_HEAD(obj));
}

size_t rcgc_refcount(const void *obj)
{
    return AS_HEAD(obj)->refcnt;
}

const rcgc_type *rcgc_typeof(const void *obj)
{
    return gc_rec(AS_HEAD(obj))->type;
}

/* --- tracking --- */

void rcgc_track(void *obj)
{
    gchead *h = AS_HEAD(obj);
    if (__builtin_expect(h->bits & BITS_DROPPED, 0)) {
        h->bits &= ~BITS_DROPPED; /* held by the collector, still linked */
        return;
    }
    if (gc_is_tracked(h) || !gc_type(h)->traverse || h->refcnt == 0)
        return;
    gc_ensure_init();
    gc_set_gen(h, 0);
    tm__gc_list_append(h, &tm__gc.gens[0].head);
}

void tm__gc_untrack(gchead *h)
{
    if (!gc_is_tracked(h))
        return;
    if (__builtin_expect(h->bits & BITS_HELD, 0)) {
        /* the collector's list must not change while it deletes */
        h->bits |= BITS_DROPPED;
        return;
    }
    if (__builtin_expect(gc_gen(h) == GEN_PERMANENT, 0))
        PUB_SET(tm__gc.frozen, tm__gc.frozen - 1);
    tm__gc_list_remove(h);
    gc_set_gen(h, GEN_PERMANENT);
}

void rcgc_untrack(void *obj)
{
    tm__gc_untrack(AS_HEAD(obj));
}

int rcgc_is_tracked(const void *obj)
{
    const gchead *h = AS_HEAD(obj);
    return gc_is_tracked(h) && !(h->bits & BITS_DROPPED);
}

int rcgc_is_finalized(const void *obj)
{
    return (AS_HEAD(obj)->prev & PREV_FINALIZED) != 0;
}

/* --- deallocation --- */

/* Runs 'fn' on the dying object with a temporary reference; returns 1 when
 * the object was resurrected (someone stored a new reference). */
static int call_with_ref(gchead *h, void (*fn)(void *))
{
    h->refcnt = 1;
    fn(AS_OBJ(h));
    if (--h->refcnt == 0)
        return 0;
    if (gc_type(h)->traverse && !gc_is_tracked(h)) {
        gc_set_gen(h, 0);
        tm__gc_list_append(h, &tm__gc.gens[0].head);
    }
    return 1;
}

/* The finalizer (once) and the legacy __del__ of a dying object; 1 when
 * one of them resurrected it. */
static int run_finalizers(gchead *h, const rcgc_type *type)
{
    if (type->finalize && !(h->prev & PREV_FINALIZED)) {
        h->prev |= PREV_FINALIZED;
        if (call_with_ref(h, type->finalize))
            return 1;
    }
    return type->legacy_del && call_with_ref(h, type->legacy_del);
}

/* The body of a deallocation; inlined, as it runs for every object a
 * collection frees. The header's KIND_ bits say whether a finalizer may
 * run before the type record is loaded. */
static inline __attribute__((always_inline)) void dealloc_now(gchead *h)
{
    if (__builtin_expect(h->bits & ((KIND_FINALIZE | KIND_LEGACY) << BITS_KIND_SHIFT), 0) &&
        run_finalizers(h, gc_type(h)))
        return;
    typerec *tr = gc_rec(h);
    const rcgc_type *type = &tr->t;
    if (__builtin_expect(h->prev & PREV_WEAKREFS, 0))
        tm__gc_clear_weakrefs_dead(h);
    if (type->clear)
        type->clear(AS_OBJ(h));
    if (type->destroy)
        type->destroy(AS_OBJ(h));
    if (type->traverse && tm__gc.gens[0].count > 0)
        PUB_SET(tm__gc.gens[0].count, tm__gc.gens[0].count - 1);
    gc_free_counted(h, tr);
}

/* The outermost deallocation runs what nested ones queued. */
static __attribute__((noinline)) void empty_trash(void)
{
    while (tm__gc.trash) {
        gchead *t = tm__gc.trash;
        tm__gc.trash = gc_prev(t);
        t->prev &= PREV_FLAGS;
        dealloc_now(t);
    }
}

/* Frees an object whose refcount reached zero. Nested deallocations deeper
 * than TRASH_LIMIT are queued and run by the outermost call (CPython's
 * trashcan), so a chain of a million objects needs constant stack. */
void tm__gc_dealloc(gchead *h)
{
    if (__builtin_expect(h->bits & BITS_HELD, 0)) {
        /* the collector's own reference was dropped: an extra decref */
        tm__gc_report_too_small(h, "rcgc_decref");
        return;
    }
    tm__gc_untrack(h);
    int depth = tm__gc.trash_depth;
    if (__builtin_expect(depth >= TRASH_LIMIT, 0)) {
        h->prev = (h->prev & PREV_FLAGS) | (uintptr_t)tm__gc.trash;
        tm__gc.trash = h;
        return;
    }
    tm__gc.trash_depth = depth + 1;
    dealloc_now(h);
    if (depth == 0 && tm__gc.trash)
        empty_trash();
    tm__gc.trash_depth = depth;
}

/* --- diagnostics --- */

/* A refcount lower than the references that exist is the caller's bug; say
 * so with the type name (like CPython's fatal error) and keep the object
 * alive rather than corrupt memory. */
void tm__gc_report_too_small(const gchead *h, const char *where)
{
    fprintf(stderr,
            "rcgc: %s: refcount is too small\n"
            "object address  : %p\n"
            "object refcount : %lu\n"
            "object type name: %s\n",
            where, AS_OBJ(h), (unsigned long)h->refcnt,
            gc_type(h)->name ? gc_type(h)->name : "?");
}

void tm__gc_debug_object(const char *msg, const gchead *h)
{
    const char *name = gc_type(h)->name;
    fprintf(stderr, "gc: %s <%s %p>\n", msg, name ? name : "?", AS_OBJ(h));
}
