/* sizes.c - the snapshot's "sizes" key: log2 histograms of block sizes.
 *
 * Bucket 0 holds size 0; bucket b >= 1 holds sizes [2^(b-1), 2^b).
 *
 * "live" is exact, computed when a snapshot is written from the live table
 * (its locks held while it is read). "allocated" counts every allocation
 * since tracing started (sampled or not), on the hot path without a
 * lock-prefixed instruction: each thread adds into a slab of its own,
 * found by its lock token in a small table and then kept in one pointer of
 * TLS (the shim may be dlopen'd, where initial-exec TLS space is scarce:
 * the slabs take none); sampled mode's hooks add into it inline for the
 * blocks they do not sample (shim.h, tm__sample_pass). A count and its
 * bytes share one word (pk) until it fills (tm__sizes_spill). Slabs come from
 * a tm__map()ed pool and are never freed; a reader sums them with atomic
 * loads (a figure may lag an allocation in flight). A thread that finds the
 * pool used up (more than TM_SIZES_SLABS threads ever) adds atomically into
 * a shared slab instead. A forked child keeps the counts (its history is
 * its parent's, as the stacks' allocated figures are). The slab also holds
 * the thread's countdown to the timeline's next clock read. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"
#include "shim/writer.h"

#include <string.h>

#define NBUCKETS TM_SIZES_NBUCKETS
#define TM_SIZES_SLABS 256
#define TOP_SIZES 16
#define EXACT_CAP 4096 /* distinct live sizes counted exactly for the top list */

static struct tm__sizes_slab *pool;  /* TM_SIZES_SLABS slabs, mapped at first use */
static struct tm__sizes_slab shared; /* for threads beyond the pool */
static atomic_int pool_state;        /* 0 unmapped, 1 mapping, 2 ready, -1 failed */


/* The calling thread's slab, found by its lock token (the address of a
 * thread-local byte: unique among live threads) in an open-addressing
 * table, and kept in tm__sizes_mine (one pointer of TLS: the slabs take
 * none). A thread that reuses a dead thread's TLS block takes over its
 * slab: the counts are cumulative anyway. */
static __attribute__((noinline)) struct tm__sizes_slab *find_slab(void)
{
    int st = atomic_load_explicit(&pool_state, memory_order_acquire);
    if (TM_UNLIKELY(st != 2)) {
        int expected = 0;
        if (st == 0 && atomic_compare_exchange_strong(&pool_state, &expected, 1)) {
            pool = tm__map(TM_SIZES_SLABS * sizeof(struct tm__sizes_slab));
            atomic_store_explicit(&pool_state, pool ? 2 : -1, memory_order_release);
        }
        if (atomic_load_explicit(&pool_state, memory_order_acquire) != 2)
            return NULL;
    }
    uintptr_t me = tm__lock_token();
    size_t h = (size_t)(((uint64_t)me * 0x9e3779b97f4a7c15ull) >> 56);
    for (size_t i = 0; i < TM_SIZES_SLABS; i++) {
        struct tm__sizes_slab *s = &pool[(h + i) & (TM_SIZES_SLABS - 1)];
        uintptr_t o = atomic_load_explicit(&s->owner, memory_order_relaxed);
        if (o == me)
            return tm__sizes_mine = s;
        if (o == 0) {
            uintptr_t none = 0;
            if (atomic_compare_exchange_strong(&s->owner, &none, me))
                return tm__sizes_mine = s;
        }
    }
    return NULL;
}

/* Adds to the thread's own slab's wide counters of bucket b: only its
 * thread writes them, a plain add stored atomically, each word with
 * release. A reader loads them (acquire) before pk: after a spill, one
 * that sees a moved count in cb sees pk zeroed, so it may miss moved
 * counts for a moment but never counts them twice. */
static void wide_add(struct tm__sizes_slab *s, unsigned b, uint64_t count, uint64_t bytes)
{
    atomic_store_explicit(&s->cb[b][1], atomic_load_explicit(&s->cb[b][1], memory_order_relaxed) + bytes,
                          memory_order_release);
    atomic_store_explicit(&s->cb[b][0], atomic_load_explicit(&s->cb[b][0], memory_order_relaxed) + count,
                          memory_order_release);
}

void tm__sizes_count_slow(size_t size)
{
    unsigned b = tm__sizes_bucket(size);
    struct tm__sizes_slab *s = tm__sizes_mine ? tm__sizes_mine : find_slab();
    if (!s) {
        atomic_fetch_add_explicit(&shared.cb[b][0], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&shared.cb[b][1], size, memory_order_relaxed);
        return;
    }
    if (size >> 32) {
        wide_add(s, b, 1, size);
        return;
    }
    tm__sizes_add(s, size);
}

/* pk[b] is full: moved into cb[b], pk first (see wide_add). */
void tm__sizes_spill(struct tm__sizes_slab *s, unsigned b)
{
    uint64_t v = atomic_load_explicit(&s->pk[b], memory_order_relaxed);
    atomic_store_explicit(&s->pk[b], 0, memory_order_relaxed);
    wide_add(s, b, v >> TM_PK_COUNT_SHIFT, v & TM_PK_BYTES_MASK);
}

/* --- at snapshot time --- */

struct live_hist {
    uint64_t count[NBUCKETS], bytes[NBUCKETS];
    uint64_t *exact_size, *exact_count; /* open addressing, size+1 as key */
    size_t exact_used, exact_missed;
};

static void add_live(const struct tm__block *b, void *arg)
{
    struct live_hist *h = arg;
    uint64_t n = b->count ? b->count : 1;
    uint64_t size = b->size / n; /* a sampled block weighs size/p bytes, 1/p blocks */
    unsigned k = tm__sizes_bucket(size);
    h->count[k] += n;
    h->bytes[k] += b->size;
    if (!h->exact_size)
        return;
    size_t i = (size_t)((size + 1) * 0x9e3779b97f4a7c15ull >> 40) & (EXACT_CAP - 1);
    while (h->exact_size[i] && h->exact_size[i] != size + 1)
        i = (i + 1) & (EXACT_CAP - 1);
    if (!h->exact_size[i]) {
        if (h->exact_used >= EXACT_CAP / 2) {
            h->exact_missed += n;
            return;
        }
        h->exact_size[i] = size + 1;
        h->exact_used++;
    }
    h->exact_count[i] += n;
}

static void write_hist(struct tm__out *o, const uint64_t *count, const uint64_t *bytes)
{
    int first = 1;
    tm__out_lit(o, "[");
    for (unsigned k = 0; k < NBUCKETS; k++) {
        if (!count[k])
            continue;
        tm__out_lit(o, first ? "[" : ",[");
        first = 0;
        tm__out_u64(o, k ? 1ull << (k - 1) : 0);
        tm__out_lit(o, ",");
        tm__out_u64(o, count[k]);
        tm__out_lit(o, ",");
        tm__out_u64(o, bytes[k]);
        tm__out_lit(o, "]");
    }
    tm__out_lit(o, "]");
}

/* Writes ,"sizes":{...}; takes the live table's locks while it reads it.
 * Under the snapshot mutex. */
void tm__sizes_write(struct tm__out *o)
{
    static struct live_hist h; /* under the snapshot mutex */
    uint64_t *keys = h.exact_size, *vals = h.exact_count;
    memset(&h, 0, sizeof(h));
    if (!keys) {
        keys = tm__map(EXACT_CAP * sizeof(uint64_t));
        vals = tm__map(EXACT_CAP * sizeof(uint64_t));
        if (!keys || !vals)
            keys = vals = NULL; /* leaks a page at worst; top sizes left out */
    }
    if (keys) {
        memset(keys, 0, EXACT_CAP * sizeof(uint64_t));
        memset(vals, 0, EXACT_CAP * sizeof(uint64_t));
    }
    h.exact_size = keys;
    h.exact_count = vals;
    tm__live_lock_all();
    tm__live_foreach_unlocked(add_live, &h);
    tm__live_unlock_all();

    static uint64_t acount[NBUCKETS], abytes[NBUCKETS];
    for (unsigned k = 0; k < NBUCKETS; k++) {
        acount[k] = atomic_load_explicit(&shared.cb[k][0], memory_order_relaxed);
        abytes[k] = atomic_load_explicit(&shared.cb[k][1], memory_order_relaxed);
    }
    if (atomic_load_explicit(&pool_state, memory_order_acquire) == 2)
        for (unsigned i = 0; i < TM_SIZES_SLABS; i++)
            for (unsigned k = 0; k < NBUCKETS; k++) {
                acount[k] += atomic_load_explicit(&pool[i].cb[k][0], memory_order_acquire);
                abytes[k] += atomic_load_explicit(&pool[i].cb[k][1], memory_order_acquire);
                uint64_t v = atomic_load_explicit(&pool[i].pk[k], memory_order_relaxed);
                acount[k] += v >> TM_PK_COUNT_SHIFT;
                abytes[k] += v & TM_PK_BYTES_MASK;
            }

    tm__out_key(o, "sizes", 0);
    tm__out_lit(o, "{\"live\":");
    write_hist(o, h.count, h.bytes);
    tm__out_lit(o, ",\"allocated\":");
    write_hist(o, acount, abytes);
    tm__out_lit(o, ",\"live_top\":[");
    /* the TOP_SIZES most frequent live sizes, by count then smaller size */
    for (int t = 0; keys && t < TOP_SIZES; t++) {
        size_t best = EXACT_CAP;
        for (size_t i = 0; i < EXACT_CAP; i++) {
            if (!keys[i] || !vals[i])
                continue;
            if (best == EXACT_CAP || vals[i] > vals[best] || (vals[i] == vals[best] && keys[i] < keys[best]))
                best = i;
        }
        if (best == EXACT_CAP)
            break;
        tm__out_lit(o, t ? ",[" : "[");
        tm__out_u64(o, keys[best] - 1);
        tm__out_lit(o, ",");
        tm__out_u64(o, vals[best]);
        tm__out_lit(o, "]");
        vals[best] = 0;
    }
    tm__out_lit(o, "]}");
}
