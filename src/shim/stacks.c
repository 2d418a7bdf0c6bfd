/* stacks.c - interning call stacks: hash of PCs -> stack id.
 *
 * Invariants:
 *  - A stack record is immutable after it is published and never freed; its
 *    id indexes 'dir' for the rest of the process. Ids start at 1.
 *  - Each shard's table holds ids with a tag of their hash; 0 is an empty slot. Lookups read the
 *    table without the lock (acquire loads); inserts and resizes take the
 *    shard lock and publish with release stores. A replaced table is kept
 *    (not unmapped) because a reader may still be probing it.
 *  - The key is (epoch, depth, pcs): a stack taken after a module was
 *    unloaded and another mapped at its address is a different stack. */
#include "shim/shim.h"

#include <string.h>

#define NSHARDS 64
#define DIR_CHUNK_BITS 14
#define DIR_CHUNK (1u << DIR_CHUNK_BITS)
#define DIR_CHUNKS 4096

/* a slot: the id in the low 32 bits, the hash's high 32 bits above it
 * (a probe compares them before it reads a stack record) */
struct table {
    uint32_t mask;
    uint32_t used;
    _Atomic uint64_t ids[];
};

#define TAG(h) ((uint64_t)(h) & 0xffffffff00000000ull)

struct shard {
    tm__lock lock;
    _Atomic(struct table *) tab;
    char pad[64 - sizeof(tm__lock) - sizeof(void *)];
};

static struct shard shards[NSHARDS];
static _Atomic(struct tm__stack **) dir[DIR_CHUNKS];
static atomic_uint next_id = 1;
static tm__lock arena_lock;
static struct tm__arena arena;

/* Two independent multiply chains (even and odd frames) so the CPU can
 * overlap them; this runs on every traced allocation. */
static uint64_t hash_pcs(const uintptr_t *pcs, int n, uint32_t depth, uint32_t epoch)
{
    uint64_t a = 0x9e3779b97f4a7c15ull ^ ((uint64_t)epoch << 32 | depth);
    uint64_t b = 0xc2b2ae3d27d4eb4full ^ (uint64_t)n;
    int i = 0;
    for (; i + 1 < n; i += 2) {
        a = (a ^ pcs[i]) * 0xff51afd7ed558ccdull;
        b = (b ^ pcs[i + 1]) * 0xc4ceb9fe1a85ec53ull;
        a ^= a >> 32;
        b ^= b >> 29;
    }
    if (i < n)
        a = (a ^ pcs[i]) * 0xff51afd7ed558ccdull;
    uint64_t h = a ^ (b * 0x9e3779b97f4a7c15ull);
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return h;
}

struct tm__stack *tm__stack_get(uint32_t id)
{
    struct tm__stack **chunk = atomic_load_explicit(&dir[id >> DIR_CHUNK_BITS], memory_order_acquire);
    return chunk ? chunk[id & (DIR_CHUNK - 1)] : NULL;
}

uint32_t tm__stack_limit(void)
{
    return atomic_load(&next_id);
}

static int same(const struct tm__stack *s, uint64_t h, const uintptr_t *pcs, int n,
                uint32_t depth, uint32_t epoch)
{
    return s->hash == h && s->nframes == n && s->depth == depth && s->epoch == epoch &&
           memcmp(s->pcs, pcs, (size_t)n * sizeof(*pcs)) == 0;
}

static uint32_t probe(struct table *t, uint64_t h, const uintptr_t *pcs, int n, uint32_t depth,
                      uint32_t epoch, uint32_t *slot)
{
    uint32_t i = (uint32_t)(h >> 6) & t->mask;
    uint64_t tag = TAG(h);
    for (;;) {
        uint64_t v = atomic_load_explicit(&t->ids[i], memory_order_acquire);
        if (!v) {
            *slot = i;
            return 0;
        }
        if (TAG(v) == tag) {
            uint32_t id = (uint32_t)v;
            struct tm__stack *s = tm__stack_get(id);
            if (s && same(s, h, pcs, n, depth, epoch))
                return id;
        }
        i = (i + 1) & t->mask;
    }
}

static struct table *table_new(uint32_t slots)
{
    struct table *t = tm__map(sizeof(struct table) + slots * sizeof(uint64_t));
    if (t)
        t->mask = slots - 1;
    return t;
}

/* Doubles a shard's table; the caller holds the shard lock. */
static struct table *grow(struct shard *sh, struct table *old)
{
    struct table *t = table_new((old->mask + 1) * 2);
    if (!t)
        return NULL;
    for (uint32_t i = 0; i <= old->mask; i++) {
        uint64_t v = atomic_load_explicit(&old->ids[i], memory_order_relaxed);
        if (!v)
            continue;
        uint32_t j = (uint32_t)(tm__stack_get((uint32_t)v)->hash >> 6) & t->mask;
        while (atomic_load_explicit(&t->ids[j], memory_order_relaxed))
            j = (j + 1) & t->mask;
        atomic_store_explicit(&t->ids[j], v, memory_order_relaxed);
    }
    t->used = old->used;
    atomic_store_explicit(&sh->tab, t, memory_order_release);
    return t;
}

static int dir_set(uint32_t id, struct tm__stack *s)
{
    uint32_t c = id >> DIR_CHUNK_BITS;
    if (c >= DIR_CHUNKS)
        return -1;
    struct tm__stack **chunk = atomic_load_explicit(&dir[c], memory_order_acquire);
    if (!chunk) {
        struct tm__stack **fresh = tm__map(DIR_CHUNK * sizeof(*fresh));
        if (!fresh)
            return -1;
        if (atomic_compare_exchange_strong(&dir[c], &chunk, fresh))
            chunk = fresh;
        else
            tm__unmap(fresh, DIR_CHUNK * sizeof(*fresh));
    }
    __atomic_store_n(&chunk[id & (DIR_CHUNK - 1)], s, __ATOMIC_RELEASE);
    return 0;
}

static uint32_t insert_unlocked(struct shard *sh, uint64_t h, const uintptr_t *pcs, int n,
                                uint32_t depth, uint32_t epoch)
{
    struct table *t = atomic_load_explicit(&sh->tab, memory_order_relaxed);
    if (!t) {
        t = table_new(256);
        if (!t)
            return 0;
        atomic_store_explicit(&sh->tab, t, memory_order_release);
    }
    uint32_t slot;
    uint32_t id = probe(t, h, pcs, n, depth, epoch, &slot);
    if (id)
        return id;
    if ((t->used + 1) * 4 > (t->mask + 1) * 3) {
        struct table *bigger = grow(sh, t);
        if (bigger) {
            t = bigger;
            probe(t, h, pcs, n, depth, epoch, &slot);
        } else if (t->used + 1 >= t->mask) {
            return 0;
        }
    }
    tm__lock_acquire(&arena_lock);
    struct tm__stack *s = tm__arena_alloc(&arena, sizeof(*s) + (size_t)n * sizeof(*pcs), 64);
    tm__lock_release(&arena_lock);
    if (!s)
        return 0;
    s->hash = h;
    s->epoch = epoch;
    s->depth = depth;
    s->nframes = (uint16_t)n;
    memcpy(s->pcs, pcs, (size_t)n * sizeof(*pcs));
    id = atomic_fetch_add(&next_id, 1);
    s->id = id;
    if (dir_set(id, s) < 0)
        return 0;
    t->used++;
    atomic_store_explicit(&t->ids[slot], TAG(h) | id, memory_order_release);
    return id;
}

uint32_t tm__stack_intern(const uintptr_t *pcs, int n, uint32_t depth)
{
    uint32_t epoch = atomic_load_explicit(&tm__epoch, memory_order_relaxed);
    uint64_t h = hash_pcs(pcs, n, depth, epoch);
    struct shard *sh = &shards[h & (NSHARDS - 1)];
    struct table *t = atomic_load_explicit(&sh->tab, memory_order_acquire);
    uint32_t slot;
    if (t) {
        uint32_t id = probe(t, h, pcs, n, depth, epoch, &slot);
        if (id)
            return id;
    }
    tm__lock_acquire(&sh->lock);
    uint32_t id = insert_unlocked(sh, h, pcs, n, depth, epoch);
    tm__lock_release(&sh->lock);
    return id;
}

void tm__stacks_reset_counters(void)
{
    uint32_t limit = tm__stack_limit();
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (!s)
            continue;
        atomic_store(&s->live_size, 0);
        atomic_store(&s->live_count, 0);
        atomic_store(&s->alloc_size, 0);
        atomic_store(&s->alloc_count, 0);
        atomic_store(&s->temporary, 0);
    }
}

void tm__stacks_lock_all(void)
{
    for (int i = 0; i < NSHARDS; i++)
        tm__lock_acquire(&shards[i].lock);
    tm__lock_acquire(&arena_lock);
}

void tm__stacks_unlock_all(void)
{
    tm__lock_release(&arena_lock);
    for (int i = NSHARDS - 1; i >= 0; i--)
        tm__lock_release(&shards[i].lock);
}
