/* internal.h - librcgc's private structures: object header, generation
 * lists, the collector state and the statistics published to the shim.
 *
 * Object header (24 bytes on 64-bit; CPython's PyGC_Head + PyObject is 32):
 *
 *   next   next node in the generation list; 0 means "not tracked".
 *          During move_unreachable bit 0 (NEXT_UNREACHABLE) marks the
 *          members of the tentatively unreachable list, whose 'next' chain
 *          is then the only valid link.
 *   prev   previous node | flags (low 3 bits). Between update_refs and the
 *          end of move_unreachable, the collected list is singly linked and
 *          'prev' holds gc_refs << REFS_SHIFT (and collect.c's PREV_PULL
 *          and parent distance) instead of a pointer (the COLLECTING flag
 *          says so); move_unreachable restores the links. For a dead
 *          object waiting in the trashcan 'prev' links the trash list, for
 *          garbage that delete_held must come back to, its stack.
 *   refcnt the reference count (the inline rcgc_incref/rcgc_decref of
 *          rcgc.h know where it is: RCGC_REFCNT).
 *   bits   the index of the type record (type pointer and live counts of
 *          the type) in tm__gc.env.type_index (low 24 bits); the generation of
 *          a tracked object (2 bits: 0..2, 3 = permanent), equal to the list
 *          it is in (an untracked object has 3 too, so that the collector
 *          tells members of the generations it collects with one test),
 *          except that during a collection of generation g the
 *          merged 'young' list holds objects marked <= g, and during an
 *          increment of the incremental mode its list holds the objects
 *          marked 0 (old ones taken into it are marked 0); BITS_LARGE for an
 *          object allocated with malloc, whose field size is then stored in
 *          the size_t before the header (pool objects get it from the
 *          pool's block size); the type's KIND_ bits (3 bits from
 *          BITS_KIND_SHIFT), so that the collector's passes know whether an
 *          object needs more than clear() without loading its type record;
 *          BITS_HELD and BITS_DROPPED while delete_held holds the object.
 *
 * Headers sit HEAD_PAD bytes past a multiple of 16 (8 on 64-bit, 0 on
 * 32-bit, where the header is 16 bytes) so that the caller's fields are
 * 16-byte aligned; headers are 8-byte aligned, also the lists' sentinels,
 * so that 3 flag bits fit in pointers to them.
 */
#ifndef RCGC_INTERNAL_H
#define RCGC_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "rcgc.h"

typedef struct typerec {
    rcgc_type t;            /* a copy of *type: one dependent load less on hot paths */
    const rcgc_type *type;  /* the caller's, for rcgc_typeof() */
    uint32_t index;
    unsigned kind;          /* KIND_ bits of the type, see collect.c */
    size_t count, bytes;   /* live objects; written by the program, read atomically */
    struct typerec *next;  /* registry list: append-only, published with release */
} typerec;

typedef struct gchead {
    uintptr_t next;
    uintptr_t prev;
    union {
        struct {
            uint32_t refcnt;
            uint32_t bits;
        };
        uint64_t rcbits; /* both at once (see RCBITS_HOLD) */
    };
} __attribute__((aligned(8))) gchead;

_Static_assert(sizeof(gchead) <= 32, "object header over 32 bytes");
#define HEAD_SIZE sizeof(gchead)
/* where a header sits past a multiple of 16, its fields on one */
#define HEAD_PAD ((16 - HEAD_SIZE % 16) % 16)

#define NEXT_UNREACHABLE ((uintptr_t)1)
#define PREV_FINALIZED ((uintptr_t)1)
#define PREV_COLLECTING ((uintptr_t)2)
#define PREV_WEAKREFS ((uintptr_t)4)
#define PREV_FLAGS ((uintptr_t)7)
#define REFS_SHIFT 4 /* bit 3: collect.c's PREV_PULL */

#define BITS_INDEX 0x00ffffffu
#define BITS_GEN_SHIFT 24
#define BITS_GEN (3u << BITS_GEN_SHIFT)
#define BITS_LARGE (1u << 26)
#define BITS_KIND_SHIFT 27
#define BITS_KIND (7u << BITS_KIND_SHIFT)
/* held by the collector while it deletes plain garbage (collect.c's
 * delete_held): the refcount includes one reference of the collector */
#define BITS_HELD (1u << 30)
/* untracked while held: still linked in the collector's list, which
 * must not change under it; delete_held unlinks it */
#define BITS_DROPPED (1u << 31)
/* the collector's reference and BITS_HELD, added to 'rcbits' in one go */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RCBITS_HOLD (1u + ((uint64_t)BITS_HELD << 32))
#else
#define RCBITS_HOLD (((uint64_t)1 << 32) + BITS_HELD)
#endif
#define GEN_PERMANENT 3u
/* the largest 'size' rcgc_new takes: 1 TiB, or on 32-bit half the address
 * space (so that adding the header and the size word cannot wrap) */
#if SIZE_MAX > 0xffffffffu
#define MAX_SIZE ((size_t)1 << 40)
#else
#define MAX_SIZE (SIZE_MAX / 2)
#endif

#define AS_HEAD(obj) ((gchead *)(obj) - 1)
#define AS_OBJ(h) ((void *)((gchead *)(h) + 1))

/* relaxed atomic access for what the section reads from another thread */
#define PUB_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define PUB_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* --- state --- */
#define NUM_GENERATIONS 3
#define EVENT_RING 16

typedef struct gen {
    gchead head;
    long threshold;
    long count;
} gen;

typedef struct gc_event {
    int generation;
    long collected, uncollectable;
    uint64_t ns;
    double time;
} gc_event;

/* the most old objects an increment takes (collect.c): when every one is
 * a cache miss (a long list scattered in memory) about 1.2 ms on the
 * machine of bench/rcgc/README.md */
#define RCGC_INCREMENT_LIMIT ((size_t)16000)

/* Pause histogram of one kind of collection: PAUSE_SUB buckets per
 * doubling of the duration in ns (bucket b holds pauses below
 * pause_bucket_bound(b)), so that a percentile read from it is within
 * 19 % of the true one. */
#define PAUSE_SUB 4
#define PAUSE_BUCKETS (36 * PAUSE_SUB) /* up to 2^36 ns, about 69 s; above: the last */

typedef struct pause_hist {
    uint64_t count, total_ns, max_ns;
    uint64_t bucket[PAUSE_BUCKETS];
} pause_hist;

typedef struct cbentry {
    rcgc_callback_fn fn;
    void *arg;
} cbentry;

/* What the collector's passes read or call of the library's state: the
 * passes of librcgc_nonshared.a (passes.h) cannot name the library's
 * hidden symbols. */
struct gcpool;
typedef struct gcenv {
    typerec **type_index; /* tm__gc_state's, see gchead.bits */
    void (*too_small)(const gchead *h, const char *where);
    /* delete_held's rare cases, and the frees that leave the pool's fast path */
    void (*release_held)(gchead *h, gchead *old, unsigned old_gen);
    void (*sub_gen0)(long dead);
    size_t (*free_large)(gchead *h);
    void (*pool_settle)(struct gcpool *p);
} gcenv;

struct tm__gc_state {
    gen gens[NUM_GENERATIONS];
    gchead permanent;
    int initialized;
    int enabled;
    int collecting;
    unsigned debug;
    long long_lived_total, long_lived_pending;
    /* incremental mode (collect.c's head comment): the old generation is
     * the lists of generations 1 and 2, 'visited' the one scanned in the
     * current scan of the old generation, the other one pending */
    int incremental;                 /* published */
    unsigned visited;                /* 1 or 2 */
    size_t inc_limit;                /* most old objects one increment takes */
    int inc_cut;                     /* an increment's closure was cut at
                                      * inc_limit since the last full collection */
    size_t pass_scanned;             /* old objects the current pass took */
    size_t last_pass;                /* ... the last completed pass */
    size_t base_pass;                /* the smallest completed pass or full
                                      * collection since the last full one */
    uint64_t old_scans;              /* completed scans of the old generation, published */
    size_t frozen;                   /* published */
    /* statistics, published under 'seq' (a seqlock) */
    unsigned seq;
    uint64_t collections[NUM_GENERATIONS], collected[NUM_GENERATIONS],
        uncollectable[NUM_GENERATIONS], ns[NUM_GENERATIONS];
    gc_event events[EVENT_RING];
    uint64_t nevents;
    pause_hist pauses[NUM_GENERATIONS]; /* published under 'seq' too */
    /* garbage list */
    void **garbage;
    size_t ngarbage, garbage_cap;    /* ngarbage published */
    /* callbacks */
    cbentry *callbacks;
    size_t ncallbacks, callbacks_cap;
    /* trashcan for deep deallocation chains */
    gchead *trash;
    int trash_depth;
    /* type registry */
    typerec *types;                  /* list head, published with release */
    struct gcenv env;                /* the type index (see gchead.bits) and what
                                      * passes.c calls of the library */
    size_t type_index_cap;
    typerec **type_table;
    size_t type_table_cap, ntypes;
    typerec *last_type;
    /* the program's copy of the collector's passes, or NULL (passes.h) */
    const struct gcpasses *passes;
};

extern struct tm__gc_state tm__gc;

static inline gchead *gc_next(const gchead *h)
{
    return (gchead *)(h->next & ~NEXT_UNREACHABLE);
}
static inline gchead *gc_prev(const gchead *h)
{
    return (gchead *)(h->prev & ~PREV_FLAGS);
}
static inline void gc_set_prev(gchead *h, gchead *p)
{
    h->prev = (h->prev & PREV_FLAGS) | (uintptr_t)p;
}
static inline unsigned gc_gen(const gchead *h)
{
    return (h->bits & BITS_GEN) >> BITS_GEN_SHIFT;
}
static inline void gc_set_gen(gchead *h, unsigned g)
{
    h->bits = (h->bits & ~BITS_GEN) | (g << BITS_GEN_SHIFT);
}
static inline typerec *gc_rec(const gchead *h)
{
    return tm__gc.env.type_index[h->bits & BITS_INDEX];
}
static inline const rcgc_type *gc_type(const gchead *h)
{
    return &gc_rec(h)->t;
}
static inline int gc_is_tracked(const gchead *h)
{
    return h->next != 0;
}
/* the KIND_ bits of the object's type (copied into the header) */
static inline unsigned gc_kind(const gchead *h)
{
    return (h->bits & BITS_KIND) >> BITS_KIND_SHIFT;
}

/* --- lists (circular, with a sentinel head); the per-node operations
 * inline, as the collector's passes and every deallocation use them --- */
static inline void tm__gc_list_init(gchead *list)
{
    list->next = (uintptr_t)list;
    list->prev = (uintptr_t)list;
}

static inline int tm__gc_list_empty(const gchead *list)
{
    return gc_next(list) == list;
}

static inline void tm__gc_list_append(gchead *node, gchead *list)
{
    gchead *last = gc_prev(list);
    gc_set_prev(node, last);
    last->next = (uintptr_t)node;
    node->next = (uintptr_t)list;
    gc_set_prev(list, node);
}

static inline void tm__gc_list_remove(gchead *node)
{
    gchead *prev = gc_prev(node), *next = gc_next(node);
    prev->next = (uintptr_t)next;
    gc_set_prev(next, prev);
    node->next = 0;
}

static inline void tm__gc_list_move(gchead *node, gchead *list)
{
    gchead *prev = gc_prev(node), *next = gc_next(node);
    prev->next = (uintptr_t)next;
    gc_set_prev(next, prev);
    tm__gc_list_append(node, list);
}

void tm__gc_list_merge(gchead *from, gchead *to);
size_t tm__gc_list_size(const gchead *list);

void tm__gc_init(void);
static inline void gc_ensure_init(void)
{
    if (__builtin_expect(!tm__gc.initialized, 0))
        tm__gc_init();
}

/* pool.c (its head comment describes pools) */
#define POOL_SIZE ((size_t)64 * 1024)

typedef struct gcblock {
    struct gcblock *next;
} gcblock;

typedef struct gcpool {
    struct gcpool *prev, *next; /* in the class's avail list */
    gcblock *free;
    char *bump, *end;
    size_t used;                /* live blocks, + POOL_NOT_AVAIL when not in avail */
    size_t bsize;               /* block size of the class */
    unsigned cls;
} gcpool;

/* in gcpool.used: the pool is not in its class's avail list (it is full) */
#define POOL_NOT_AVAIL ((size_t)1 << 31)

gchead *tm__gc_alloc(size_t size);
size_t tm__gc_bytes(const gchead *h);
size_t tm__gc_free_large(gchead *h);
void tm__gc_pool_settle(gcpool *p);

/* Frees what tm__gc_alloc returned and returns tm__gc_bytes() of it; the
 * common case (the pool stays in its list) inline, as it runs once per
 * object a collection frees. The rare cases call 'free_large' and
 * 'settle': tm__gc_free_large and tm__gc_pool_settle, named by the
 * library, passed in by the passes of librcgc_nonshared.a (gcenv). */
static inline size_t gc_free_bytes_via(gchead *h, size_t (*free_large)(gchead *),
                                       void (*settle)(gcpool *))
{
    if (__builtin_expect(h->bits & BITS_LARGE, 0))
        return free_large(h);
    gcpool *p = (gcpool *)((uintptr_t)h & ~(uintptr_t)(POOL_SIZE - 1));
    size_t bsize = p->bsize;
    gcblock *b = (gcblock *)h;
    b->next = p->free;
    p->free = b;
    /* one test for "now empty" (0) and "was full" (POOL_NOT_AVAIL set) */
    if (__builtin_expect(--p->used - 1 >= POOL_NOT_AVAIL - 1, 0))
        settle(p);
    return bsize;
}

/* Frees 'h', of type record 'tr', and counts it out of the type's live
 * objects (what the gc section publishes). */
static inline void gc_free_counted_via(gchead *h, typerec *tr, size_t (*free_large)(gchead *),
                                       void (*settle)(gcpool *))
{
    size_t bytes = gc_free_bytes_via(h, free_large, settle);
    PUB_SET(tr->count, tr->count - 1);
    PUB_SET(tr->bytes, tr->bytes - bytes);
}

static inline void gc_free_counted(gchead *h, typerec *tr)
{
    gc_free_counted_via(h, tr, tm__gc_free_large, tm__gc_pool_settle);
}

/* what the collector must handle beyond clear() (typerec.kind) */
#define KIND_LEGACY 1u
#define KIND_WEAK 2u
#define KIND_FINALIZE 4u

/* object.c */
void tm__gc_dealloc(gchead *h);
/* rcgc_incref/rcgc_decref for the library's own hot paths */
static inline void gc_incref(gchead *h)
{
    h->refcnt++;
}
void tm__gc_report_too_small(const gchead *h, const char *where);
static inline void gc_decref(gchead *h)
{
    if (__builtin_expect(h->refcnt == 0, 0))
        tm__gc_report_too_small(h, "rcgc_decref");
    else if (--h->refcnt == 0)
        tm__gc_dealloc(h);
}
void tm__gc_untrack(gchead *h);
void tm__gc_debug_object(const char *msg, const gchead *h);

/* collect.c */
long tm__gc_collect_main(int generation);
void tm__gc_sub_gen0(long dead);
void tm__gc_release_held(gchead *h, gchead *old, unsigned old_gen);
long tm__gc_collect_with_callback(int generation);
void tm__gc_collect_generations(void);

/* weakref.c */
void tm__gc_clear_weakrefs_dead(gchead *h);
size_t tm__gc_handle_weakrefs(gchead *unreachable);
int tm__gc_is_weakref(const gchead *h);
extern const rcgc_type tm__gc_weakref_type;

/* stats.c */
int tm__gc_garbage_append(void *obj);
void tm__gc_invoke_callbacks(rcgc_phase phase, const rcgc_info *info);
void tm__gc_publish(int generation, long collected, long uncollectable, uint64_t ns);
uint64_t tm__gc_pause_bound(unsigned b);
double tm__gc_pause_percentile(const pause_hist *p, double q);

/* section.c */
void tm__gc_register_section(void);
size_t tm__gc_section(char *buf, size_t cap, void *arg);

#endif /* RCGC_INTERNAL_H */
