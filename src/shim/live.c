/* live.c - the table of live traced blocks, keyed by address.
 *
 * Invariants:
 *  - NSHARDS independent shards; a block lives in the shard chosen by the
 *    low bits of its address hash and by its 64 MiB region (shard_of) and
 *    is only touched under that shard's lock.
 *  - Each shard has a compact table of 12-byte slots (struct slot: the
 *    address >> 4 in 44 bits, the size in 20 bits, the stack id in 32 bits;
 *    'count' is 1) and a small overflow table of whole struct tm__block for
 *    every block that does not fit a slot: size >= 1 MiB, count != 1
 *    (sampled blocks), an address not 16-aligned or >= 2^48. A block is in
 *    exactly one of the two.
 *  - The compact table is Robin Hood linear probing over any number of
 *    slots: a key's home is fastrange(hash >> 32, cap), so the members of a
 *    probe run are in the order of their homes. Key 0 marks an empty slot.
 *    Insertion shifts the tail of the run one slot forward (from its end
 *    backward) and deletion shifts it back (no tombstones); either way a
 *    block is always in some slot, at worst in two for an instant, so a
 *    signal handler on this thread that reads the table mid-update
 *    (tm__lock_rescue) never misses a block nor indexes past the array.
 *    Load stays below 9/10 and the table grows by 1/10 (at least a page),
 *    so it takes 12 / 0.9 ... 12 / (0.9 / 1.1), 13.3 to 14.7 bytes per
 *    block. A table under 256 KiB stays below 3/4 (shorter runs to shift
 *    on insert and delete) and one under 64 KiB doubles instead of
 *    growing a page at a time: a program whose heap fills one 64 MiB
 *    region has its blocks in 16 shards (shard_of), whose tables copied
 *    themselves over and over while small (python3 7 % slower) and ran
 *    fuller than 128 tables of at least a page each (cc1: 2.5 % more
 *    instructions, in shifting runs). A grow copies the old table from
 *    the start of a run in slot order, which is the order of the homes in
 *    the new table but among keys that shared an old home: each key goes
 *    at its new home or right after the last one copied, one hash a key
 *    and no probing (the few out of order are inserted by put_compact).
 *    A large table grows into the spare array (the old array of an
 *    earlier grow, of any shard, stretched by mremap and zeroed) and
 *    leaves its own old array as the spare, so only the added pages are
 *    faulted in; a small one maps a fresh array and unmaps the old. A
 *    grow is not incremental, but a shard holds a part of the blocks (4M
 *    blocks: 1-2 MiB a shard in the groups their regions use).
 *  - tm__live_prefetch starts the miss on a block's slot before the lock
 *    (tm__record calls it before capturing the stack), and a remove
 *    prefetches the block's malloc header, so the two misses overlap.
 *    While a thread's blocks come one after the other in memory (a
 *    growing heap), it also prefetches the slot of the block expected two
 *    allocations later.
 *  - The overflow table and the note table (below) are one keyed table
 *    each (struct keyed: linear probing over a power of two with
 *    backward-shift deletion, load below 3/4), the same code over two
 *    record types.
 *  - A table that cannot grow (no memory) still accepts inserts until one
 *    slot is left, then refuses (counted lost).
 *  - A block with a note of its first words (stale.c) has the top bit of
 *    its slot's stack id set (NOTED; a stack id that large goes to the
 *    overflow table) and the note in the shard's note table, keyed by
 *    address; a block of the overflow table with a note
 *    is looked up there when it leaves. A remove of a block without one
 *    never touches the note table.
 *  - The figures a block adds to or takes from (trace.c) change under the
 *    same shard lock as the table (tm__figures_locked), so a reader that
 *    holds every shard lock sees figures that match the table exactly.
 *  - Solo mode (trace.c): while one thread records, it changes the table
 *    and the figures without the shard lock (the _fig forms with
 *    TM_FIG_SOLO, inside trace.c's solo_enter()). Every other access takes
 *    the lock after tm__solo_exclude(), which makes the process multi
 *    first (after the owner has left any update it began lock-free), so
 *    the owner takes the locks too from then on; a lock the owner itself
 *    takes (a snapshot, a signal handler's rescue) needs no exclusion. */
#include "shim/shim.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Weak: the table's unit test links live.c without trace.c (it uses only
 * the forms that leave the figures alone). */
extern void tm__figures_locked(const struct tm__block *in, const struct tm__block *out, unsigned flags)
    __attribute__((weak));
extern void tm__solo_exclude(void) __attribute__((weak));

/* Before a shard lock is taken outside the _fig forms' TM_FIG_SOLO path. */
static inline void exclude_solo(void)
{
    if (tm__solo_exclude)
        tm__solo_exclude();
}

#define NSHARDS TM_LIVE_SHARDS
#define PAGE 4096
#define KEY_BITS 44
#define SIZE_BITS 20
#define SIZE_LIMIT ((uint64_t)1 << SIZE_BITS)
#define LOAD_NUM 90 /* maximum load of the compact table: LOAD_NUM / LOAD_DEN */
#define LOAD_DEN 100
#define GROW_DIV 10 /* it grows by 1 / GROW_DIV */
#define POPULATE_BYTES (64 << 10)
#define DOUBLE_BELOW (64 << 10) /* a compact table smaller than this doubles */
#define LOOSE_BELOW (256 << 10) /* a compact table smaller than this... */
#define LOOSE_NUM 75           /* ...stays at most LOOSE_NUM / LOAD_DEN full */
#define NOTED 0x80000000u /* in a slot's stack id: the block has a note */

struct slot {
    uint32_t lo;    /* key bits 0..31 */
    uint32_t hi;    /* key bits 32..43, size << 12 */
    uint32_t stack;
};

struct note_rec {
    uintptr_t ptr; /* 0: empty */
    struct tm__note note;
};

/* A linear-probing table of records keyed by address (below). */
struct keyed {
    void *rec;
    uint32_t mask; /* slots - 1 */
    uint32_t used;
};

struct shard {
    tm__lock lock;
    uint32_t cap; /* slots in 'slots' */
    size_t used;  /* blocks in both tables */
    struct slot *slots;
    struct keyed ov; /* struct tm__block */
    struct keyed nt; /* struct note_rec: notes of first words (stale.c) */
} __attribute__((aligned(64)));

static struct shard shards[NSHARDS];

static inline uint64_t mix(uintptr_t p)
{
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

/* A block's shard: 16 of the address hash's values (its low bits) times
 * 8 groups, the group chosen by the block's 64 MiB region. glibc gives
 * each thread an arena of its own, and an arena's heaps are 64 MiB
 * regions: threads that free what they allocated then take the locks of
 * different shards, whose lines stay in their own cores' caches (two
 * threads of malloc churn spent a fifth of their time on the shard locks'
 * lines moving between cores). The group is the low bits of the index,
 * so any half of the shards, [0, 64) or [64, 128), holds half of the
 * blocks (the leak scan copies the two halves on two threads). */
#define SHARD_GROUP_BITS 3
#define REGION_SHIFT 26

static inline struct shard *shard_of(uintptr_t ptr, uint64_t h)
{
    unsigned group = (unsigned)(((uint64_t)(ptr >> REGION_SHIFT) * 0x9e3779b97f4a7c15ull) >> (64 - SHARD_GROUP_BITS));
    return &shards[((h << SHARD_GROUP_BITS) | group) & (NSHARDS - 1)];
}

/* --- the compact table --- */

static inline int fits(const struct tm__block *b)
{
    return b->count == 1 && b->size < SIZE_LIMIT && !(b->ptr & 15) && (b->ptr >> (KEY_BITS + 4)) == 0 &&
           b->stack < NOTED;
}

static inline int encodable(uintptr_t ptr)
{
    return !(ptr & 15) && (ptr >> (KEY_BITS + 4)) == 0;
}

static inline uint64_t key_of(const struct slot *e)
{
    return e->lo | (uint64_t)(e->hi & 0xfff) << 32;
}

static inline uint32_t home_of(uint64_t h, uint32_t cap)
{
    return (uint32_t)(((h >> 32) * cap) >> 32);
}

static inline uint32_t dist(uint32_t i, uint32_t home, uint32_t cap)
{
    return i >= home ? i - home : i + cap - home;
}

static inline uint32_t next(uint32_t i, uint32_t cap)
{
    return ++i == cap ? 0 : i;
}

static inline uint32_t prev(uint32_t i, uint32_t cap)
{
    return i ? i - 1 : cap - 1;
}

static inline void slot_decode(const struct slot *e, struct tm__block *b)
{
    b->ptr = (uintptr_t)key_of(e) << 4;
    b->size = e->hi >> 12;
    b->stack = e->stack & ~NOTED;
    b->count = 1;
}

static inline struct slot slot_encode(const struct tm__block *b)
{
    uint64_t k = b->ptr >> 4;
    struct slot e = {(uint32_t)k, (uint32_t)(k >> 32) | (uint32_t)b->size << 12, b->stack};
    return e;
}

/* Index of 'key' (> 0), or -1. */
static inline __attribute__((always_inline)) int64_t find_compact(const struct shard *s, uint64_t key, uint64_t h)
{
    uint32_t cap = s->cap;
    if (!s->slots)
        return -1;
    uint32_t i = home_of(h, cap);
    for (uint32_t d = 0;; d++, i = next(i, cap)) {
        uint64_t k = key_of(&s->slots[i]);
        if (k == key)
            return i;
        if (!k || dist(i, home_of(mix((uintptr_t)k << 4), cap), cap) < d)
            return -1;
    }
}

/* Puts 'e' in its place, or over the slot holding its key (then 1 and
 * the slot's old contents in '*was'); the table has an empty slot. */
static int put_compact(struct slot *slots, uint32_t cap, struct slot e, uint64_t h, struct slot *was)
{
    uint64_t key = key_of(&e);
    uint32_t i = home_of(h, cap), p;
    for (uint32_t d = 0;; d++, i = next(i, cap)) {
        uint64_t k = key_of(&slots[i]);
        if (!k) {
            slots[i] = e;
            return 0;
        }
        if (k == key) {
            *was = slots[i];
            slots[i] = e;
            return 1;
        }
        if (dist(i, home_of(mix((uintptr_t)k << 4), cap), cap) < d)
            break;
    }
    p = i;
    while (key_of(&slots[i]))
        i = next(i, cap);
    for (uint32_t j = i; j != p; j = prev(j, cap))
        slots[j] = slots[prev(j, cap)];
    slots[p] = e;
    return 0;
}

static size_t compact_bytes(uint32_t cap)
{
    return ((size_t)cap * sizeof(struct slot) + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* Faults in [p, p + bytes) in one call, not a page fault a page (an
 * older kernel refuses: the faults come then). errno is the program's. */
static void populate(void *p, size_t bytes)
{
    int saved = errno;
    syscall(SYS_madvise, p, bytes, MADV_POPULATE_WRITE);
    errno = saved;
}

/* The spare array. A large table grows into a new array of 11/10 its
 * size and frees the old one; mapping and faulting in a fresh array each
 * time (and unmapping the old) made the kernel's page faults about a
 * seventh of a program's time with millions of blocks (bench/README.md:
 * live4m), since a table that grows by a tenth at a time has faulted in
 * about ten times its final size by then. So the old array of a grow is
 * kept as the spare (one for the process, the largest given back), and
 * the next grow of any shard takes it: stretched in place by mremap() when
 * it is too small (only the added pages are faulted in), cut down when it
 * is too large, and zeroed. Tables of shards grow in turns (the blocks of
 * a heap spread over them), so the spare is usually a little smaller than
 * the next grow wants. It stays mapped: one table's worth of memory more
 * (memory.overhead counts it). Taken and given under spare_lock; a grow
 * that finds it taken (another thread is growing a shard) maps a fresh
 * array as before. */
static tm__lock spare_lock;
static struct slot *spare;
static size_t spare_bytes;

/* A zeroed array of exactly 'bytes' (page-rounded) from the spare, or
 * NULL. */
static struct slot *spare_take(size_t bytes)
{
    if (bytes < POPULATE_BYTES || !tm__lock_try(&spare_lock))
        return NULL;
    struct slot *p = spare;
    size_t have = spare_bytes;
    spare = NULL;
    spare_bytes = 0;
    tm__lock_release(&spare_lock);
    if (!p)
        return NULL;
    if (have != bytes) {
        struct slot *q = tm__remap(p, have, bytes);
        if (!q) {
            tm__unmap(p, have);
            return NULL;
        }
        p = q;
        if (bytes > have)
            populate((char *)p + have, bytes - have);
    }
    /* Zeroed whole, the stretched part too: a kernel whose pages are
     * larger than PAGE (16 or 64 KiB on some arm64 and ppc64 kernels)
     * keeps the old slots past 'have' up to its page's end when an array
     * was cut down and stretched again (review of session 15: blocks
     * twice in the table). There madvise() refuses the unaligned start
     * and memset() faults those pages in. */
    memset(p, 0, bytes);
    return p;
}

/* 'old' (of 'bytes') no longer used: kept as the spare if it is larger
 * than the one kept, else unmapped. */
static void spare_give(struct slot *old, size_t bytes)
{
    if (bytes >= POPULATE_BYTES && tm__lock_try(&spare_lock)) {
        if (bytes > spare_bytes) {
            struct slot *p = spare;
            size_t n = spare_bytes;
            spare = old;
            spare_bytes = bytes;
            old = p;
            bytes = n;
        }
        tm__lock_release(&spare_lock);
    }
    if (old)
        tm__unmap(old, bytes);
}

static int grow_compact(struct shard *s)
{
    uint32_t old_cap = s->slots ? s->cap : 0;
    size_t want = (size_t)old_cap + old_cap / GROW_DIV + 1;
    if (compact_bytes(old_cap) < DOUBLE_BELOW && want < (size_t)old_cap * 2)
        want = (size_t)old_cap * 2; /* small: doubled, not a page at a time */
    size_t bytes = compact_bytes(want);
    if (bytes / sizeof(struct slot) >= UINT32_MAX)
        return -1;
    uint32_t cap = (uint32_t)(bytes / sizeof(struct slot));
    struct slot *fresh = spare_take(bytes), *old = s->slots;
    if (!fresh) {
        if (!(fresh = tm__map(bytes)))
            return -1;
        if (bytes >= POPULATE_BYTES)
            populate(fresh, bytes);
    }
    if (old_cap) {
        /* Start at the beginning of a run, so that the old slots come in
         * the order of their homes. */
        uint32_t start = 0;
        while (key_of(&old[start]) &&
               dist(start, home_of(mix((uintptr_t)key_of(&old[start]) << 4), old_cap), old_cap) != 0)
            start = next(start, old_cap);
        uint32_t i = start;
        /* Homes are monotone in the hash in both tables, so the keys come
         * in the order of their new homes too, but for keys that shared
         * an old home: each is put at its new home or right after the
         * last one put (positions counted from the first key's home,
         * 'base', without wrapping: the slots after 'last' are empty).
         * A key whose new home is below the last one's, or that would
         * wrap onto 'base', is inserted by put_compact (the table is a
         * valid one at every step); that may shift the last run by one. */
        uint64_t base = 0, last = 0, last_home = 0;
        int first = 1;
        do {
            uint64_t k = key_of(&old[i]);
            if (k) {
                uint64_t h = mix((uintptr_t)k << 4);
                uint64_t nh = home_of(h, cap);
                if (first) {
                    base = last = last_home = nh;
                    fresh[nh] = old[i];
                    first = 0;
                } else {
                    uint64_t at = nh >= base ? nh : nh + cap;
                    uint64_t p = at > last ? at : last + 1;
                    if (at >= last_home && p < base + cap) {
                        fresh[p >= cap ? p - cap : p] = old[i];
                        last = p;
                        last_home = at;
                    } else {
                        struct slot was;
                        put_compact(fresh, cap, old[i], h, &was);
                        uint64_t after = last + 1;
                        if (after < base + cap && key_of(&fresh[after >= cap ? after - cap : after]))
                            last = after;
                    }
                }
            }
            i = next(i, old_cap);
        } while (i != start);
    }
    /* Filled, then published: the larger array before the larger count, so
     * a signal handler on this thread that reads the table mid-grow
     * (tm__lock_rescue) never indexes past the array it sees; the old one
     * is unmapped last. */
    s->slots = fresh;
    atomic_signal_fence(memory_order_seq_cst);
    s->cap = cap;
    atomic_signal_fence(memory_order_seq_cst);
    if (old)
        spare_give(old, compact_bytes(old_cap));
    return 0;
}

static void delete_compact(struct shard *s, uint32_t i)
{
    uint32_t cap = s->cap;
    for (;;) {
        uint32_t j = next(i, cap);
        uint64_t k = key_of(&s->slots[j]);
        if (!k || dist(j, home_of(mix((uintptr_t)k << 4), cap), cap) == 0)
            break;
        s->slots[i] = s->slots[j];
        i = j;
    }
    memset(&s->slots[i], 0, sizeof(s->slots[i]));
    s->used--;
}

/* Room for one more block in the compact table; -1 when full. */
static int room_compact(struct shard *s)
{
    size_t cap = s->slots ? s->cap : 0;
    size_t n = s->used - s->ov.used;
    /* 3/4 while small (few bytes; shorter runs to shift), 9/10 beyond */
    size_t num = compact_bytes((uint32_t)cap) < LOOSE_BELOW ? LOOSE_NUM : LOAD_NUM;
    if ((n + 1) * LOAD_DEN <= cap * num)
        return 0;
    if (grow_compact(s) == 0)
        return 0;
    return n + 2 <= cap ? 0 : -1;
}

/* --- keyed tables: the overflow table and the notes ---
 * Linear probing over a power of two of fixed-size records, each record
 * starting with its block's address (0: an empty slot), backward-shift
 * deletion, load below 3/4. A record's home is (hash >> shift) & mask;
 * each table takes its own bits of the hash (the compact table takes the
 * high half). The record size and the shift are constants at every call
 * (OV, NT), so the inlined probes are as a table of one record type. A
 * resize publishes the new array before the new mask, and a delete copies
 * a record back before it clears the old slot, so a signal handler that
 * reads a table mid-update indexes inside the array and finds every
 * record. */

#define KEYED_INITIAL 16
#define OV sizeof(struct tm__block), 7u
#define NT_SHIFT 11u
#define NT sizeof(struct note_rec), NT_SHIFT

static inline uintptr_t *kt_at(const struct keyed *t, size_t size, size_t i)
{
    return (uintptr_t *)((char *)t->rec + i * size);
}

static inline size_t kt_home(uint64_t h, unsigned shift, uint32_t mask)
{
    return (size_t)(h >> shift) & mask;
}

static int kt_resize(struct keyed *t, size_t size, unsigned shift, uint32_t slots)
{
    char *fresh = tm__map((size_t)slots * size), *old = t->rec;
    if (!fresh)
        return -1;
    uint32_t old_slots = old ? t->mask + 1 : 0, mask = slots - 1;
    for (uint32_t i = 0; i < old_slots; i++) {
        const char *r = old + (size_t)i * size;
        uintptr_t key = *(const uintptr_t *)r;
        if (!key)
            continue;
        size_t j = kt_home(mix(key), shift, mask);
        while (*(const uintptr_t *)(fresh + j * size))
            j = (j + 1) & mask;
        memcpy(fresh + j * size, r, size);
    }
    t->rec = fresh;
    atomic_signal_fence(memory_order_seq_cst);
    t->mask = mask;
    atomic_signal_fence(memory_order_seq_cst);
    if (old)
        tm__unmap(old, (size_t)old_slots * size);
    return 0;
}

/* Room for one more record; -1 when the table is full and cannot grow. */
static int kt_room(struct keyed *t, size_t size, unsigned shift)
{
    if (!t->rec)
        return kt_resize(t, size, shift, KEYED_INITIAL);
    size_t slots = (size_t)t->mask + 1;
    if (((size_t)t->used + 1) * 4 > slots * 3 && kt_resize(t, size, shift, (uint32_t)(slots * 2)) < 0 &&
        (size_t)t->used + 2 > t->mask)
        return -1;
    return 0;
}

/* Index of 'ptr', or -1. */
static inline __attribute__((always_inline)) int64_t kt_find(const struct keyed *t, size_t size, unsigned shift,
                                                             uintptr_t ptr, uint64_t h)
{
    if (!t->used)
        return -1;
    size_t i = kt_home(h, shift, t->mask);
    uintptr_t k;
    while ((k = *kt_at(t, size, i)) != 0 && k != ptr)
        i = (i + 1) & t->mask;
    return k ? (int64_t)i : -1;
}

static inline __attribute__((always_inline)) void kt_delete(struct keyed *t, size_t size, unsigned shift, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        uintptr_t key = *kt_at(t, size, j);
        if (!key)
            break;
        size_t k = kt_home(mix(key), shift, t->mask);
        /* Skip records whose home lies cyclically in (i, j]. */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        memcpy(kt_at(t, size, i), kt_at(t, size, j), size);
        i = j;
    }
    memset(kt_at(t, size, i), 0, size);
    t->used--;
}

/* The empty slot a record for 'ptr' (not in the table; room was made)
 * goes in, counted. */
static inline __attribute__((always_inline)) void *kt_add(struct keyed *t, size_t size, unsigned shift, uint64_t h)
{
    size_t i = kt_home(h, shift, t->mask);
    while (*kt_at(t, size, i))
        i = (i + 1) & t->mask;
    t->used++;
    return kt_at(t, size, i);
}

/* The overflow table: whole blocks, counted in the shard's 'used' too. */
static inline struct tm__block *ov_at(const struct shard *s, size_t i)
{
    return (struct tm__block *)s->ov.rec + i;
}

static int ov_room(struct shard *s)
{
    return kt_room(&s->ov, OV);
}

static int64_t ov_find(const struct shard *s, uintptr_t ptr, uint64_t h)
{
    return kt_find(&s->ov, OV, ptr, h);
}

static void ov_delete(struct shard *s, size_t i)
{
    kt_delete(&s->ov, OV, i);
    s->used--;
}

static void ov_put(struct shard *s, const struct tm__block *b, uint64_t h)
{
    *(struct tm__block *)kt_add(&s->ov, OV, h) = *b;
    s->used++;
}

/* The notes of first words (stale.c). */
static inline struct note_rec *nt_at(const struct shard *s, size_t i)
{
    return (struct note_rec *)s->nt.rec + i;
}

/* Starts the miss on the home slot of the note of the block of hash 'h'
 * in a note table 'rec' of mask 'mask' (a hint: never faults). */
static inline void nt_prefetch(const void *rec, uint32_t mask, uint64_t h)
{
    if (rec)
        __builtin_prefetch((const struct note_rec *)rec + kt_home(h, NT_SHIFT, mask), 1);
}

static int nt_room(struct shard *s)
{
    return kt_room(&s->nt, NT);
}

static int64_t nt_find(const struct shard *s, uintptr_t ptr, uint64_t h)
{
    return kt_find(&s->nt, NT, ptr, h);
}

/* Removes the note of 'ptr', into '*out' when 'out' is not NULL. */
static void nt_take(struct shard *s, uintptr_t ptr, uint64_t h, struct tm__note *out)
{
    int64_t at = nt_find(s, ptr, h);
    if (at < 0)
        return;
    if (out)
        *out = nt_at(s, (size_t)at)->note;
    kt_delete(&s->nt, NT, (size_t)at);
}

/* Puts the note of 'ptr' (room was made), over one already there unless
 * 'fresh' (no block was at 'ptr': then no note is). */
static void nt_put(struct shard *s, uintptr_t ptr, uint64_t h, const struct tm__note *note, int fresh)
{
    int64_t at = fresh ? -1 : nt_find(s, ptr, h);
    struct note_rec *r = at >= 0 ? nt_at(s, (size_t)at) : kt_add(&s->nt, NT, h);
    r->ptr = ptr;
    r->note = *note;
}

/* --- the interface --- */

/* Removes 'ptr' from whichever table holds it into '*out'; 1 found. Its
 * note goes too, into '*note' when 'note' is not NULL (left alone when
 * the block has none). */
static inline __attribute__((always_inline)) int take(struct shard *s, uintptr_t ptr, uint64_t h,
                                                      struct tm__block *out, struct tm__note *note)
{
    if (encodable(ptr)) {
        int64_t i = find_compact(s, ptr >> 4, h);
        if (i >= 0) {
            int noted = (s->slots[i].stack & NOTED) != 0;
            if (TM_UNLIKELY(noted)) /* its miss overlaps the shift */
                nt_prefetch(s->nt.rec, s->nt.mask, h);
            slot_decode(&s->slots[i], out);
            delete_compact(s, (uint32_t)i);
            if (TM_UNLIKELY(noted))
                nt_take(s, ptr, h, note);
            return 1;
        }
    }
    int64_t i = ov_find(s, ptr, h);
    if (i < 0)
        return 0;
    *out = *ov_at(s, (size_t)i);
    ov_delete(s, (size_t)i);
    if (TM_UNLIKELY(s->nt.used))
        nt_take(s, ptr, h, note);
    return 1;
}

/* 'note' (NULL: none) is kept with the block. */
static int insert(const struct tm__block *b, struct tm__block *old, unsigned flags, int figures,
                  const struct tm__note *note)
{
    uint64_t h = mix(b->ptr);
    struct shard *s = shard_of(b->ptr, h);
    int rc, solo = (flags & TM_FIG_SOLO) != 0;
    if (!solo)
        tm__lock_acquire(&s->lock);
    if (TM_UNLIKELY(note) && nt_room(s) < 0)
        note = NULL; /* no memory for it: the block goes in without */
    if (fits(b)) {
        rc = room_compact(s);
        if (rc == 0) {
            struct slot was;
            int64_t i;
            struct slot *home = &s->slots[home_of(h, s->cap)], e = slot_encode(b);
            if (TM_UNLIKELY(note))
                e.stack |= NOTED;
            if (!key_of(home)) { /* most inserts: the home slot is free */
                *home = e;
                s->used++;
                if (TM_UNLIKELY(s->ov.used) && (i = ov_find(s, b->ptr, h)) >= 0) {
                    *old = *ov_at(s, (size_t)i);
                    ov_delete(s, (size_t)i);
                    rc = 1;
                }
            } else if (put_compact(s->slots, s->cap, e, h, &was)) {
                slot_decode(&was, old);
                rc = 1;
            } else {
                s->used++;
                if ((i = ov_find(s, b->ptr, h)) >= 0) {
                    *old = *ov_at(s, (size_t)i);
                    ov_delete(s, (size_t)i);
                    rc = 1;
                }
            }
        }
    } else {
        rc = ov_room(s);
        if (rc == 0) {
            int64_t i = ov_find(s, b->ptr, h);
            if (i >= 0) {
                *old = *ov_at(s, (size_t)i);
                *ov_at(s, (size_t)i) = *b;
                rc = 1;
            } else {
                rc = take(s, b->ptr, h, old, NULL);
                ov_put(s, b, h);
            }
        }
    }
    if (rc >= 0 && TM_UNLIKELY(note))
        nt_put(s, b->ptr, h, note, rc == 0);
    else if (rc == 1 && TM_UNLIKELY(s->nt.used))
        nt_take(s, b->ptr, h, NULL); /* the replaced block's (its free went unseen) */
    if (rc >= 0 && figures)
        tm__figures_locked(b, rc == 1 ? old : NULL, flags);
    if (!solo)
        tm__lock_release(&s->lock);
    return rc;
}

int tm__live_insert(const struct tm__block *b, struct tm__block *old)
{
    exclude_solo();
    return insert(b, old, 0, 0, NULL);
}

int tm__live_insert_fig(const struct tm__block *b, struct tm__block *old, unsigned flags)
{
    return insert(b, old, flags, 1, NULL);
}

int tm__live_insert_note_fig(const struct tm__block *b, const struct tm__note *note, struct tm__block *old,
                             unsigned flags)
{
    return insert(b, old, flags, 1, note && (note->lo | note->hi) ? note : NULL);
}

/* Starts the miss on the home slot of block 'ptr', and on its note's
 * when 'noted'. */
static inline void prefetch_slot(uintptr_t ptr, int noted)
{
    uint64_t h = mix(ptr);
    struct shard *s = shard_of(ptr, h);
    /* Unlocked: a stale pair only prefetches a useless line, never faults. */
    struct slot *slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
    uint32_t cap = __atomic_load_n(&s->cap, __ATOMIC_RELAXED);
    if (slots && cap)
        __builtin_prefetch(&slots[home_of(h, cap)], 1);
    if (TM_UNLIKELY(noted))
        nt_prefetch(__atomic_load_n(&s->nt.rec, __ATOMIC_RELAXED), __atomic_load_n(&s->nt.mask, __ATOMIC_RELAXED), h);
}

void tm__live_prefetch(uintptr_t ptr, size_t size, uintptr_t prev, int noted)
{
    prefetch_slot(ptr, noted);
    /* The allocator cuts blocks of this size one after the other (a
     * growing heap; glibc: a chunk is the size rounded up with its 8-byte
     * header, 32 bytes at least) when the thread's last block ends where
     * this one starts: the slot of the block after the next one is a
     * cache miss that the time until then hides (the next one's was
     * started by the previous allocation). A guess, only prefetched. */
    size_t chunk = (size + 8 + 15) & ~(size_t)15;
    if (chunk < 32)
        chunk = 32;
    if (ptr - prev == chunk)
        prefetch_slot(ptr + 2 * chunk, 0);
}

static int remove_block(uintptr_t ptr, struct tm__block *out, unsigned flags, int figures, struct tm__note *note)
{
    /* The header of a heap block, which the free that follows reads: its
     * cache miss then overlaps this table's (a hint; never faults). */
    __builtin_prefetch((const char *)ptr - 2 * sizeof(size_t), 1);
    uint64_t h = mix(ptr);
    struct shard *s = shard_of(ptr, h);
    int solo = (flags & TM_FIG_SOLO) != 0;
    if (!solo)
        tm__lock_acquire(&s->lock);
    int found = take(s, ptr, h, out, note);
    if (found && figures)
        tm__figures_locked(NULL, out, flags);
    if (!solo)
        tm__lock_release(&s->lock);
    return found;
}

int tm__live_remove(uintptr_t ptr, struct tm__block *out)
{
    exclude_solo();
    return remove_block(ptr, out, 0, 0, NULL);
}

int tm__live_remove_fig(uintptr_t ptr, struct tm__block *out, unsigned flags)
{
    return remove_block(ptr, out, flags, 1, NULL);
}

int tm__live_remove_note_fig(uintptr_t ptr, struct tm__block *out, struct tm__note *note, unsigned flags)
{
    note->lo = note->hi = 0;
    return remove_block(ptr, out, flags, 1, note);
}

int tm__live_find(uintptr_t ptr, struct tm__block *out)
{
    uint64_t h = mix(ptr);
    struct shard *s = shard_of(ptr, h);
    int found = 0;
    exclude_solo();
    tm__lock_acquire(&s->lock);
    int64_t i = encodable(ptr) ? find_compact(s, ptr >> 4, h) : -1;
    if (i >= 0) {
        slot_decode(&s->slots[i], out);
        found = 1;
    } else if ((i = ov_find(s, ptr, h)) >= 0) {
        *out = *ov_at(s, (size_t)i);
        found = 1;
    }
    tm__lock_release(&s->lock);
    return found;
}

void tm__live_lock_all(void)
{
    exclude_solo();
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
    tm__live_clear_unlocked();
    tm__live_unlock_all();
}

void tm__live_clear_unlocked(void)
{
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *s = &shards[i];
        if (s->slots)
            memset(s->slots, 0, (size_t)s->cap * sizeof(*s->slots));
        if (s->ov.rec)
            memset(s->ov.rec, 0, ((size_t)s->ov.mask + 1) * sizeof(struct tm__block));
        if (s->nt.rec)
            memset(s->nt.rec, 0, ((size_t)s->nt.mask + 1) * sizeof(struct note_rec));
        s->used = 0;
        s->ov.used = 0;
        s->nt.used = 0;
    }
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
    struct tm__block b = {0, 0, 0, 0};
    for (unsigned i = first; i < last && i < NSHARDS; i++) {
        struct shard *s = &shards[i];
        struct slot *slots = s->slots;
        uint32_t cap = s->cap;
        if (slots) {
            for (uint32_t j = 0; j < cap; j++) {
                if (key_of(&slots[j])) {
                    slot_decode(&slots[j], &b);
                    fn(&b, arg);
                    n++;
                }
            }
        }
        if (s->ov.rec) {
            for (size_t j = 0; j <= s->ov.mask; j++) {
                if (ov_at(s, j)->ptr) {
                    fn(ov_at(s, j), arg);
                    n++;
                }
            }
        }
    }
    /* The last block's address would stay in this dead frame: a later
     * frame of this thread that leaves a slot uninitialized there hands
     * it to a leak scan that stops the thread (its stack is a root), and
     * a leaked block turns reachable (a snapshot's size histogram walks
     * every block on whichever thread writes it). */
    memset(&b, 0, sizeof(b));
    __asm__ __volatile__("" : : "r"(&b) : "memory");
    return n;
}

void tm__live_tables_unlocked(void (*fn)(const void *slots, size_t bytes, void *arg), void *arg)
{
    /* the spare too: shim memory holding old slots (no grow is in flight
     * while every shard lock is held) */
    if (spare)
        fn(spare, spare_bytes, arg);
    for (int i = 0; i < NSHARDS; i++) {
        if (shards[i].slots)
            fn(shards[i].slots, compact_bytes(shards[i].cap), arg);
        if (shards[i].ov.rec)
            fn(shards[i].ov.rec, ((size_t)shards[i].ov.mask + 1) * sizeof(struct tm__block), arg);
        if (shards[i].nt.rec)
            fn(shards[i].nt.rec, ((size_t)shards[i].nt.mask + 1) * sizeof(struct note_rec), arg);
    }
}

int tm__live_note_unlocked(uintptr_t ptr, struct tm__note *note)
{
    uint64_t h = mix(ptr);
    const struct shard *s = shard_of(ptr, h);
    int64_t i = nt_find(s, ptr, h);
    if (i < 0)
        return 0;
    *note = nt_at(s, (size_t)i)->note;
    return 1;
}

size_t tm__live_notes_foreach_unlocked(void (*fn)(uintptr_t ptr, void *arg), void *arg)
{
    size_t n = 0;
    for (int i = 0; i < NSHARDS; i++) {
        const struct shard *s = &shards[i];
        for (size_t j = 0; s->nt.used && j <= s->nt.mask; j++) {
            if (nt_at(s, j)->ptr) {
                fn(nt_at(s, j)->ptr, arg);
                n++;
            }
        }
    }
    return n;
}

size_t tm__live_count(void)
{
    size_t n = 0;
    for (int i = 0; i < NSHARDS; i++)
        n += __atomic_load_n(&shards[i].used, __ATOMIC_RELAXED);
    return n;
}
