/* live.c - the table of live traced blocks, keyed by address.
 *
 * Invariants:
 *  - NSHARDS independent open-addressing tables with linear probing; a block
 *    lives in the shard chosen by the low bits of its address hash and is
 *    only touched under that shard's lock.
 *  - ptr == 0 marks an empty slot. Deletion shifts later entries of the
 *    probe run back (no tombstones), so a lookup stops at the first empty.
 *  - Load stays below 3/4; a table that cannot grow (no memory) still
 *    accepts inserts until one slot is left, then refuses (counted lost). */
#include "shim/shim.h"

#include <string.h>

#define NSHARDS TM_LIVE_SHARDS
#define INITIAL_SLOTS 64 /* 128 shards: 192 KiB to start, grown on demand */

struct shard {
    tm__lock lock;
    uint32_t mask;
    size_t used;
    struct tm__block *slots;
    char pad[64 - sizeof(tm__lock) - sizeof(uint32_t) - sizeof(size_t) - sizeof(void *)];
};

static struct shard shards[NSHARDS];

static inline uint64_t mix(uintptr_t p)
{
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

static inline struct shard *shard_of(uint64_t h)
{
    return &shards[h & (NSHARDS - 1)];
}

static inline size_t home(const struct shard *s, uint64_t h)
{
    return (size_t)(h >> 7) & s->mask;
}

static int resize(struct shard *s, uint32_t slots)
{
    struct tm__block *fresh = tm__map((size_t)slots * sizeof(*fresh));
    if (!fresh)
        return -1;
    struct tm__block *old = s->slots;
    uint32_t old_slots = old ? s->mask + 1 : 0, mask = slots - 1;
    for (uint32_t i = 0; i < old_slots; i++) {
        if (!old[i].ptr)
            continue;
        size_t j = (size_t)(mix(old[i].ptr) >> 7) & mask;
        while (fresh[j].ptr)
            j = (j + 1) & mask;
        fresh[j] = old[i];
    }
    /* Filled, then published: the larger array before the larger mask, so
     * a signal handler on this thread that reads the table mid-resize
     * (tm__lock_rescue) sees every block and never indexes past the array
     * it sees; the old one is unmapped last. */
    s->slots = fresh;
    atomic_signal_fence(memory_order_seq_cst);
    s->mask = mask;
    atomic_signal_fence(memory_order_seq_cst);
    tm__unmap(old, (size_t)old_slots * sizeof(*old));
    return 0;
}

static size_t find_slot(const struct shard *s, uintptr_t ptr, uint64_t h, int *found)
{
    size_t i = home(s, h);
    while (s->slots[i].ptr && s->slots[i].ptr != ptr)
        i = (i + 1) & s->mask;
    *found = s->slots[i].ptr == ptr;
    return i;
}

int tm__live_insert(const struct tm__block *b, struct tm__block *old)
{
    uint64_t h = mix(b->ptr);
    struct shard *s = shard_of(h);
    int rc = 0;
    tm__lock_acquire(&s->lock);
    if (!s->slots && resize(s, INITIAL_SLOTS) < 0) {
        rc = -1;
        goto out_unlock;
    }
    if ((s->used + 1) * 4 > ((size_t)s->mask + 1) * 3 && resize(s, (s->mask + 1) * 2) < 0 &&
        s->used + 2 > s->mask) {
        rc = -1;
        goto out_unlock;
    }
    int found;
    size_t i = find_slot(s, b->ptr, h, &found);
    if (found) {
        *old = s->slots[i];
        rc = 1;
    } else {
        s->used++;
    }
    s->slots[i] = *b;
out_unlock:
    tm__lock_release(&s->lock);
    return rc;
}

/* Backward-shift deletion for linear probing: moves later members of the
 * run into the hole when their home position allows. */
static void delete_at(struct shard *s, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        if (!s->slots[j].ptr)
            break;
        size_t k = home(s, mix(s->slots[j].ptr));
        /* Skip entries whose home lies cyclically in (i, j]. */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        s->slots[i] = s->slots[j];
        i = j;
    }
    memset(&s->slots[i], 0, sizeof(s->slots[i]));
    s->used--;
}

int tm__live_remove(uintptr_t ptr, struct tm__block *out)
{
    uint64_t h = mix(ptr);
    struct shard *s = shard_of(h);
    int found = 0;
    tm__lock_acquire(&s->lock);
    if (s->slots) {
        size_t i = find_slot(s, ptr, h, &found);
        if (found) {
            *out = s->slots[i];
            delete_at(s, i);
        }
    }
    tm__lock_release(&s->lock);
    return found;
}

int tm__live_find(uintptr_t ptr, struct tm__block *out)
{
    uint64_t h = mix(ptr);
    struct shard *s = shard_of(h);
    int found = 0;
    tm__lock_acquire(&s->lock);
    if (s->slots) {
        size_t i = find_slot(s, ptr, h, &found);
        if (found)
            *out = s->slots[i];
    }
    tm__lock_release(&s->lock);
    return found;
}

void tm__live_lock_all(void)
{
    for (int i = 0; i < NSHARDS; i++)
        tm__lock_acquire(&shards[i].lock);
}

void tm__live_unlock_all(void)
{
    for (int i = NSHARDS - 1; i >= 0; i--)
        tm__lock_release(&shards[i].lock);
}

void tm__live_clear(void)
{
    tm__live_lock_all();
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *s = &shards[i];
        if (s->slots)
            memset(s->slots, 0, ((size_t)s->mask + 1) * sizeof(*s->slots));
        s->used = 0;
    }
    tm__live_unlock_all();
}

size_t tm__live_foreach_unlocked(void (*fn)(const struct tm__block *b, void *arg), void *arg)
{
    return tm__live_foreach_shards_unlocked(0, NSHARDS, fn, arg);
}

size_t tm__live_count_shards_unlocked(unsigned first, unsigned last)
{
    size_t n = 0;
    for (unsigned i = first; i < last && i < NSHARDS; i++)
        n += __atomic_load_n(&shards[i].used, __ATOMIC_RELAXED);
    return n;
}

size_t tm__live_foreach_shards_unlocked(unsigned first, unsigned last,
                                        void (*fn)(const struct tm__block *b, void *arg), void *arg)
{
    size_t n = 0;
    for (unsigned i = first; i < last && i < NSHARDS; i++) {
        struct shard *s = &shards[i];
        if (!s->slots)
            continue;
        for (size_t j = 0; j <= s->mask; j++) {
            if (s->slots[j].ptr) {
                fn(&s->slots[j], arg);
                n++;
            }
        }
    }
    return n;
}

void tm__live_tables_unlocked(void (*fn)(const void *slots, size_t bytes, void *arg), void *arg)
{
    for (int i = 0; i < NSHARDS; i++)
        if (shards[i].slots)
            fn(shards[i].slots, ((size_t)shards[i].mask + 1) * sizeof(struct tm__block), arg);
}

size_t tm__live_count(void)
{
    size_t n = 0;
    for (int i = 0; i < NSHARDS; i++)
        n += __atomic_load_n(&shards[i].used, __ATOMIC_RELAXED);
    return n;
}
