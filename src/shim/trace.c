/* trace.c - turning hook events into figures.
 *
 * Heap blocks (domain 0) live in live.c and count into their stack's
 * counters. Blocks of other domains (tracemem_track) are rare and live in a
 * small table here under one lock, with counters per (stack, domain).
 *
 * current/peak are process-wide counters. While one thread does all the
 * recording (see "solo" below) they, and the per-stack counters, are
 * updated without lock-prefixed instructions; from the moment a second
 * thread records, with atomics. Both are exact. The peak record is the per-stack
 * live set taken when 'current' first passes the last recorded peak by more
 * than TRACEMEM_PEAK_INACCURACY percent, so the record is always within that
 * distance of the true peak; it is re-taken exactly when a snapshot finds the
 * process sitting at its peak. A take copies only the stacks that changed
 * since the last one ("peak record" below).
 *
 * Sampling (TRACEMEM_SAMPLE = N): a Poisson process over allocated bytes with
 * mean distance N. A block of s bytes is sampled with p = 1 - exp(-s/N) and
 * recorded as s/p bytes and 1/p blocks, which keeps sums unbiased. */
#include "shim/shim.h"

#include <errno.h>
#include <string.h>

atomic_int_least64_t tm__current, tm__peak;

/* --- math without libm --- */

static double tm_exp_neg(double x) /* e^-x for x >= 0 */
{
    if (x > 700)
        return 0;
    int halvings = 0;
    while (x > 0.5) {
        x /= 2;
        halvings++;
    }
    double term = 1, sum = 1;
    for (int i = 1; i < 20; i++) {
        term *= -x / i;
        sum += term;
    }
    while (halvings--)
        sum *= sum;
    return sum;
}

static double tm_log(double y) /* y > 0 */
{
    int k = 0;
    while (y > 2) {
        y /= 2;
        k++;
    }
    while (y < 1) {
        y *= 2;
        k--;
    }
    /* ln(y) = 2 atanh((y-1)/(y+1)) */
    double z = (y - 1) / (y + 1), z2 = z * z, term = z, sum = 0;
    for (int i = 1; i < 60; i += 2) {
        sum += term / i;
        term *= z2;
    }
    return 2 * sum + k * 0.69314718055994530942;
}

static __thread uint64_t rng_state TM_TLS;

static double uniform01(void)
{
    if (!rng_state)
        rng_state = ((uint64_t)(uintptr_t)&rng_state * 0x9e3779b97f4a7c15ull) ^ (uint64_t)tm__pid;
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static int64_t next_gap(void)
{
    double mean = (double)tm__cfg.sample_bytes;
    return (int64_t)(-tm_log(uniform01()) * mean) + 1;
}

static __thread int sample_started TM_TLS;
atomic_int tm__fast_sampled; /* shim.h; set by tm__set_tracing (control.c) */

/* The block of 'n' bytes that took the countdown to 0 or below, or the
 * thread's first: 1 when it is sampled; '*size' and '*count' get its
 * weights. */
static __attribute__((noinline)) int sample_slow(size_t n, uint64_t *size, uint32_t *count)
{
    if (!sample_started) {
        sample_started = 1;
        tm__sample_left += (int64_t)n + next_gap(); /* the countdown starts before this block */
        tm__sample_left -= (int64_t)n;
        if (tm__sample_left > 0)
            return 0;
    }
    while (tm__sample_left <= 0)
        tm__sample_left += next_gap();
    double p = 1 - tm_exp_neg((double)n / (double)tm__cfg.sample_bytes);
    if (p <= 0)
        p = 1e-12;
    *size = (uint64_t)((double)n / p + 0.5);
    double c = 1 / p + 0.5;
    *count = c >= 4e9 ? 4000000000u : (uint32_t)c;
    return 1;
}

/* 1 when the block is sampled; '*size' and '*count' get its weights. */
static inline int sample(size_t n, uint64_t *size, uint32_t *count)
{
    tm__sample_left -= (int64_t)n;
    if (TM_LIKELY(tm__sample_left > 0))
        return 0;
    return sample_slow(n, size, count);
}

/* --- peak record ---
 * The record is the live set per stack (and per (stack, domain) of the
 * other domains) at the moment it was last taken. Taking it copies only
 * what changed since the take before: every change of a stack's live
 * counters first sets the stack's bit in 'dirty' (pk_mark), and a take
 * copies the counters of the stacks
 * whose bits are set into 'rec' and clears the bits. So a take costs the
 * number of stacks that changed since the last one, not the number of
 * stacks, and the record still equals a full copy taken at that moment.
 *  - The stack's own 'peak_dirty' says its bit is set (a load from the
 *    cache line the counters are in, on the common path); the bit, in a
 *    chunk that is mapped, is set first, and a take clears both.
 *  - Ids are in chunks of PK_CHUNK, mapped at the first mark of one of
 *    their stacks with every bit set (a chunk that could not be mapped
 *    earlier is copied whole by the next take). A chunk's 'any' word has a
 *    bit for each 'dirty' word that may be non-zero.
 *  - The counters and the bits change together, where the counters are
 *    kept from readers (tm__figures_locked and entry_flush: as the live
 *    table's update they are part of; merge, thread exit and clear: under
 *    every shard lock; a forked child's rebuild); a take holds peak_lock,
 *    dom_lock and every shard lock, merges the threads' figures (which
 *    marks what they change) and then copies, so no update is half seen.
 *    While one thread records (solo), its marks are plain stores; in
 *    multi mode, lock-prefixed ORs (two threads may mark stacks of the
 *    same word under different shard locks).
 *  - 'rec' and the domain rows change only under peak_lock: a snapshot
 *    reads them under peak_lock alone while other threads allocate.
 *  - tm__reset_peak hides the record until the next take (the copy stays
 *    valid, so that take is incremental too); tm__clear_all zeroes the
 *    counters and unmaps the chunks. */
#define PK_CHUNK_BITS 12
#define PK_CHUNK (1u << PK_CHUNK_BITS)
#define PK_WORDS (PK_CHUNK / 64)
#define PK_CHUNKS (1u << (26 - PK_CHUNK_BITS)) /* stack ids are below 2^26 (stacks.c) */

struct pk_rec {
    int64_t size, count;
};

struct pk_chunk {
    uint64_t any;             /* bit w: dirty[w] may be non-zero */
    uint64_t dirty[PK_WORDS]; /* bit: the stack's counters may differ from rec */
    struct pk_rec rec[PK_CHUNK];
};

struct peak_row {
    uint32_t stack, domain;
    int64_t size, count;
};

static tm__lock peak_lock;
static _Atomic(struct pk_chunk *) pk_chunks[PK_CHUNKS];
static int64_t pk_heap;            /* the sum of every rec's size */
static int pk_shown;               /* 0: no record since the reset */
static struct peak_row *peak_rows; /* the other domains' rows */
static size_t peak_nrows, peak_cap;
static int64_t peak_recorded;               /* 'current' of the record */
static atomic_int_least64_t peak_threshold; /* re-record above this */

/* Chunk 'ci', mapped (every bit set) when it is not yet; NULL when out of
 * memory. */
static struct pk_chunk *pk_chunk(uint32_t ci)
{
    struct pk_chunk *c = atomic_load_explicit(&pk_chunks[ci], memory_order_acquire);
    if (c)
        return c;
    struct pk_chunk *fresh = tm__map(sizeof(*fresh));
    if (!fresh) {
        atomic_fetch_add(&tm__lost, 1);
        return NULL;
    }
    fresh->any = ~0ull;
    memset(fresh->dirty, 0xff, sizeof(fresh->dirty));
    if (atomic_compare_exchange_strong(&pk_chunks[ci], &c, fresh))
        return fresh;
    tm__unmap(fresh, sizeof(*fresh));
    return c;
}

static __attribute__((noinline)) void pk_mark_slow(struct tm__stack *s, uint32_t id, int plain)
{
    if (tm__cfg.peak_inaccuracy <= 0) {
        __atomic_store_n(&s->peak_dirty, 1, __ATOMIC_RELAXED); /* no record: not asked again */
        return;
    }
    struct pk_chunk *c = pk_chunk((id >> PK_CHUNK_BITS) & (PK_CHUNKS - 1));
    if (!c)
        return; /* asked again at the next change */
    unsigned w = (id >> 6) & (PK_WORDS - 1);
    uint64_t bit = 1ull << (id & 63), wbit = 1ull << w;
    if (plain) {
        __atomic_store_n(&c->any, __atomic_load_n(&c->any, __ATOMIC_RELAXED) | wbit, __ATOMIC_RELAXED);
        __atomic_store_n(&c->dirty[w], __atomic_load_n(&c->dirty[w], __ATOMIC_RELAXED) | bit,
                         __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_or(&c->any, wbit, __ATOMIC_RELAXED);
        __atomic_fetch_or(&c->dirty[w], bit, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&s->peak_dirty, 1, __ATOMIC_RELAXED);
}

/* Before the live counters of stack 's' (id 'id') change (see above);
 * 'plain': no other thread marks meanwhile. */
static inline void pk_mark(struct tm__stack *s, uint32_t id, int plain)
{
    if (TM_LIKELY(__atomic_load_n(&s->peak_dirty, __ATOMIC_RELAXED) != 0))
        return;
    pk_mark_slow(s, id, plain);
}

/* Copies the marked stacks' counters into the record; the caller holds
 * every shard lock. */
static void pk_copy_unlocked(void)
{
    uint32_t limit = tm__stack_limit();
    uint32_t nchunks = limit ? ((limit - 1) >> PK_CHUNK_BITS) + 1 : 0;
    for (uint32_t ci = 0; ci < nchunks && ci < PK_CHUNKS; ci++) {
        struct pk_chunk *c = atomic_load_explicit(&pk_chunks[ci], memory_order_acquire);
        if (!c)
            continue;
        uint64_t any = __atomic_load_n(&c->any, __ATOMIC_RELAXED);
        __atomic_store_n(&c->any, 0, __ATOMIC_RELAXED);
        while (any) {
            unsigned w = (unsigned)__builtin_ctzll(any);
            any &= any - 1;
            uint64_t bits = __atomic_load_n(&c->dirty[w], __ATOMIC_RELAXED);
            __atomic_store_n(&c->dirty[w], 0, __ATOMIC_RELAXED);
            while (bits) {
                unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
                bits &= bits - 1;
                uint32_t id = ci << PK_CHUNK_BITS | i;
                struct tm__stack *s = id < limit ? tm__stack_get(id) : NULL;
                struct pk_rec r = {0, 0};
                if (s) {
                    r.size = atomic_load_explicit(&s->live_size, memory_order_relaxed);
                    r.count = atomic_load_explicit(&s->live_count, memory_order_relaxed);
                    __atomic_store_n(&s->peak_dirty, 0, __ATOMIC_RELAXED);
                }
                pk_heap += r.size - c->rec[i].size;
                c->rec[i] = r;
            }
        }
    }
}

/* The record emptied and every chunk unmapped; the caller holds peak_lock
 * and every shard lock, and the stacks' live counters are zero. */
static void pk_clear_unlocked(void)
{
    uint32_t limit = tm__stack_limit();
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (s)
            __atomic_store_n(&s->peak_dirty, 0, __ATOMIC_RELAXED);
    }
    for (uint32_t ci = 0; ci < PK_CHUNKS; ci++) {
        struct pk_chunk *c = atomic_load_explicit(&pk_chunks[ci], memory_order_relaxed);
        if (!c)
            continue;
        atomic_store_explicit(&pk_chunks[ci], NULL, memory_order_release);
        tm__unmap(c, sizeof(*c));
    }
    pk_heap = 0;
    peak_nrows = 0;
}

static void peak_add(const struct tm__trace_row *r, void *arg)
{
    (void)arg;
    if ((r->count == 0 && r->size == 0) || r->domain == TM_DOMAIN_MMAP)
        return; /* the heap's peak: mapped memory is not part of it */
    if (peak_nrows == peak_cap) {
        size_t cap = peak_cap ? peak_cap * 2 : 64;
        /* copy, publish, unmap: see tm__map_copy */
        struct peak_row *old = peak_rows,
                        *rows = tm__map_copy(peak_rows, peak_cap * sizeof(*rows), cap * sizeof(*rows));
        if (!rows) {
            atomic_fetch_add(&tm__lost, 1);
            return;
        }
        peak_rows = rows;
        atomic_signal_fence(memory_order_seq_cst);
        tm__unmap(old, peak_cap * sizeof(*rows));
        peak_cap = cap;
    }
    peak_rows[peak_nrows++] = (struct peak_row){r->stack, r->domain, r->size, r->count};
}

static tm__lock dom_lock;
static void merge_unlocked(void);
static void domain_rows_unlocked(tm__trace_fn fn, void *arg, int live_only);

/* Takes the record now; the caller holds peak_lock. */
static void peak_take_unlocked(int64_t current)
{
    tm__lock_acquire(&dom_lock);
    tm__live_lock_all();
    merge_unlocked();
    pk_copy_unlocked();
    tm__live_unlock_all();
    peak_nrows = 0;
    domain_rows_unlocked(peak_add, NULL, 1);
    tm__lock_release(&dom_lock);
    int64_t sum = pk_heap;
    for (size_t i = 0; i < peak_nrows; i++)
        sum += peak_rows[i].size;
    peak_recorded = sum;
    pk_shown = 1;
    int64_t slack = (int64_t)((double)current * tm__cfg.peak_inaccuracy / 100.0);
    atomic_store(&peak_threshold, current + (slack > 0 ? slack : 1));
}

static void peak_check(int64_t current)
{
    if (tm__cfg.peak_inaccuracy <= 0 || current < atomic_load_explicit(&peak_threshold, memory_order_relaxed))
        return;
    if (!tm__lock_try(&peak_lock))
        return; /* someone else is recording; they will see a close value */
    if (current >= atomic_load(&peak_threshold))
        peak_take_unlocked(current);
    tm__lock_release(&peak_lock);
}

void tm__peak_refresh(void)
{
    if (tm__cfg.peak_inaccuracy <= 0)
        return;
    tm__lock_acquire(&peak_lock);
    int64_t cur = atomic_load(&tm__current);
    if (cur >= atomic_load(&tm__peak) && cur != peak_recorded)
        peak_take_unlocked(cur);
    tm__lock_release(&peak_lock);
}

int64_t tm__peak_foreach(tm__trace_fn fn, void *arg)
{
    tm__lock_acquire(&peak_lock);
    int64_t cur = 0;
    if (pk_shown) {
        uint32_t limit = tm__stack_limit();
        for (uint32_t ci = 0; ci < PK_CHUNKS && ci << PK_CHUNK_BITS < limit; ci++) {
            struct pk_chunk *c = atomic_load_explicit(&pk_chunks[ci], memory_order_acquire);
            for (uint32_t i = 0; c && i < PK_CHUNK; i++) {
                if (c->rec[i].size == 0 && c->rec[i].count == 0)
                    continue;
                struct tm__trace_row r = {
                    ci << PK_CHUNK_BITS | i, 0, c->rec[i].size, c->rec[i].count, 0, 0, 0};
                fn(&r, arg);
            }
        }
        for (size_t i = 0; i < peak_nrows; i++) {
            struct tm__trace_row r = {
                peak_rows[i].stack, peak_rows[i].domain, peak_rows[i].size, peak_rows[i].count, 0, 0, 0};
            fn(&r, arg);
        }
        cur = peak_recorded;
    }
    tm__lock_release(&peak_lock);
    return cur;
}

void tm__peak_lock(void)
{
    tm__lock_acquire(&peak_lock);
}

void tm__peak_unlock(void)
{
    tm__lock_release(&peak_lock);
}

/* --- solo mode ---
 * A lock-prefixed read-modify-write costs ~20 cycles, and a malloc+free
 * pair did about ten of them. While a single thread (the "owner", the first
 * one to record) records, the counters are changed with the same x86
 * instructions without the lock prefix: one instruction each, so a signal
 * handler that allocates on the owner thread cannot tear them, and no other
 * thread writes them. The first time another thread records, it moves the
 * process to atomics for good ("multi"): it announces the switch, makes
 * every CPU running the process pass a full barrier (membarrier(2): the
 * private expedited command, registered by the first thread; the global
 * one, ~10 ms, where that is refused), then waits until the
 * owner is out of any update it began in solo mode (solo_busy: the owner's
 * own nesting count, signal handlers included). The owner re-reads the mode
 * after raising solo_busy, so an update is either complete before the
 * switcher reads solo_busy == 0 or done with atomics. Without membarrier
 * (old kernels, seccomp) and off x86-64, the process is multi from the
 * start. A forked child has one thread and becomes solo again. The owner
 * also changes the live table without its shard lock while solo (its
 * update, table and figures, runs inside solo_enter()/solo_leave()); any
 * other thread calls tm__solo_exclude() before it takes a shard lock, and
 * a recording thread that is not the owner switches in solo_enter(),
 * before its table update. */
enum { SOLO, SWITCHING, MULTI };
#define TM_MAYBE_UNUSED __attribute__((unused)) /* off x86-64 */
static TM_MAYBE_UNUSED atomic_int solo_mode = SOLO;
static TM_MAYBE_UNUSED atomic_uintptr_t solo_owner; /* the owner's &last_alloc; 0 unclaimed, 1 none */
static TM_MAYBE_UNUSED int64_t solo_busy;           /* written by the owner only */
static TM_MAYBE_UNUSED int solo_usable = -1;        /* a membarrier command works; -1 not asked */

/* The thread's last traced allocation: freed before the thread allocates
 * again (not by realloc), it is a temporary allocation, as heaptrack
 * counts them. Kept complemented: the leak scan reads threads' TLS, and
 * this must not look like a pointer to the block. Its address also names
 * the thread for solo mode. */
static __thread uintptr_t last_alloc TM_TLS;

#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define TM_SOLO 1
#define TM_MEMBARRIER_QUERY 0
#define TM_MEMBARRIER_GLOBAL 1            /* ~10 ms: an RCU grace period */
#define TM_MEMBARRIER_PRIVATE_EXPEDITED 8 /* microseconds: IPIs to this process's CPUs */
#define TM_MEMBARRIER_REGISTER_PRIVATE_EXPEDITED 16
static int solo_barrier_cmd; /* the membarrier command the switch uses */

static inline int64_t plain_xadd(atomic_int_least64_t *p, int64_t v)
{
    __asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*(int64_t *)p) : : "memory", "cc");
    return v;
}

static inline void plain_add(int64_t *p, int64_t v)
{
    __asm__ volatile("addq %1, %0" : "+m"(*p) : "er"(v) : "memory", "cc");
}

static inline void plain_raise(atomic_int_least64_t *p, int64_t v) /* *p = max(*p, v) */
{
    int64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (old < v) {
        unsigned char ok;
        __asm__ volatile("cmpxchgq %3, %1\n\tsete %0"
                         : "=q"(ok), "+m"(*(int64_t *)p), "+a"(old)
                         : "r"(v)
                         : "memory", "cc");
        if (ok)
            break;
    }
}

/* Registering for the expedited barrier is cheap while the process has
 * one thread (a fork child must register again: its mm is new). */
static int solo_register(void)
{
    long r = syscall(SYS_membarrier, TM_MEMBARRIER_QUERY, 0);
    solo_barrier_cmd = 0;
    if (r > 0 && (r & TM_MEMBARRIER_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, TM_MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0) == 0)
        solo_barrier_cmd = TM_MEMBARRIER_PRIVATE_EXPEDITED;
    else if (r > 0 && (r & TM_MEMBARRIER_GLOBAL))
        solo_barrier_cmd = TM_MEMBARRIER_GLOBAL;
    return solo_barrier_cmd != 0;
}

static int solo_check_usable(void)
{
    if (solo_usable < 0)
        solo_usable = solo_register();
    return solo_usable;
}

static int solo_enter(void);

/* A thread that is not the owner, with the process not yet multi. */
static __attribute__((noinline)) int solo_slow(void)
{
    uintptr_t me = (uintptr_t)&last_alloc;
    uintptr_t owner = atomic_load(&solo_owner);
    if (owner == 0 && atomic_load(&solo_mode) == SOLO) {
        int saved = errno, usable = solo_check_usable();
        errno = saved;
        if (!usable) {
            atomic_store(&solo_owner, 1);
            atomic_store(&solo_mode, MULTI);
            return 0;
        }
        if (atomic_compare_exchange_strong(&solo_owner, &owner, me))
            return solo_enter();
    }
    int expect = SOLO;
    if (atomic_compare_exchange_strong(&solo_mode, &expect, SWITCHING)) {
        int saved = errno;
        if (syscall(SYS_membarrier, solo_barrier_cmd, 0) != 0)
            atomic_fetch_add(&tm__lost, 1); /* cannot happen once QUERY said yes */
        /* Bounded: an owner that a signal handler longjmp'd out of an
         * update (undefined in malloc anyway) must not hang the process. */
        for (long i = 0; i < 1000000 && atomic_load((_Atomic int64_t *)&solo_busy) != 0; i++)
            sched_yield();
        atomic_store(&solo_owner, 1);
        atomic_store(&solo_mode, MULTI);
        errno = saved;
    } else {
        while (atomic_load(&solo_mode) != MULTI)
            sched_yield();
    }
    return 0;
}

/* 1: this thread may update the counters with plain instructions until
 * solo_leave(). */
static inline int solo_enter(void)
{
    if (__builtin_expect(atomic_load_explicit(&solo_owner, memory_order_relaxed) != (uintptr_t)&last_alloc, 0)) {
        if (atomic_load_explicit(&solo_mode, memory_order_relaxed) == MULTI)
            return 0;
        return solo_slow();
    }
    plain_add(&solo_busy, 1);
    if (__builtin_expect(atomic_load_explicit(&solo_mode, memory_order_relaxed) == SOLO, 1))
        return 1;
    plain_add(&solo_busy, -1);
    return 0;
}

static inline void solo_leave(void)
{
    plain_add(&solo_busy, -1);
}

#define COUNTER_ADD(p, v, order)                                                                   \
    (solo ? plain_add((int64_t *)(p), (v)) : (void)atomic_fetch_add_explicit((p), (v), order))
#else
static int solo_enter(void)
{
    return 0;
}
static void solo_leave(void)
{
}
static inline int64_t plain_xadd(atomic_int_least64_t *p, int64_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}
static inline void plain_raise(atomic_int_least64_t *p, int64_t v)
{
    int64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (old < v && !atomic_compare_exchange_weak_explicit(p, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}
#define COUNTER_ADD(p, v, order) ((void)solo, (void)atomic_fetch_add_explicit((p), (v), order))
#endif

/* Before a thread takes a live-table shard lock outside a recording (a
 * reader, tm__live_find): the owner changes the table without the lock
 * while solo, so any other thread first makes the process multi (or
 * becomes the owner when there is none yet). */
void tm__solo_exclude(void)
{
#ifdef TM_SOLO
    if (atomic_load(&solo_owner) == (uintptr_t)&last_alloc || atomic_load(&solo_mode) == MULTI)
        return;
    if (solo_slow())
        solo_leave();
#endif
}

/* After fork: the child has one thread, this one. */
static void solo_after_fork(void)
{
#ifdef TM_SOLO
    solo_busy = 0;
    if (solo_usable > 0) {
        int saved = errno;
        solo_usable = solo_register();
        errno = saved;
        atomic_store(&solo_owner, solo_usable ? (uintptr_t)&last_alloc : 1);
        atomic_store(&solo_mode, solo_usable ? SOLO : MULTI);
    }
#endif
}

/* --- per-thread figures ---
 * From the switch to MULTI on, each recording thread adds to its own
 * figures ('struct tfigs', tm__map()ed): the heap bytes it has not yet
 * published and a direct-mapped cache of per-stack deltas (TF_SLOTS
 * entries, by the low bits of the stack id), with plain instructions. A
 * thread changes them only inside tm__figures_locked(), under a live-table
 * shard lock; a reader takes every shard lock (tm__live_lock_all) and
 * merges every thread's figures into the stacks' counters and tm__current
 * (merge_unlocked) before it reads: what it reads is exact and matches the
 * live table. The blocks are on one list (figs_all, changed under
 * figs_lock, which is taken under a shard lock or with all of them held).
 *  - An entry taken over by another stack flushes its deltas into its
 *    stack's counters with atomics (other threads may flush the same).
 *  - The heap bytes are published (an atomic add to tm__current, tm__peak
 *    raised, the peak record checked) when they leave [-fig_limit,
 *    fig_limit]: fig_limit is TRACEMEM_PEAK_INACCURACY percent of the peak
 *    shared among the blocks in use, at least TF_FLOOR bytes, so tm__peak
 *    misses the true peak by at most that percent (or TF_FLOOR a thread);
 *    TRACEMEM_PEAK_INACCURACY=0 publishes every change (exact, atomics).
 *  - A thread's exit (a pthread key's destructor) flushes its block and
 *    leaves it to the next thread; a thread without a block (its destructor
 *    ran, or no memory) updates the shared counters with atomics.
 *  - A forked child merges every block (tm__figures_rebuild_unlocked). */
#include <pthread.h>

#define TF_SLOTS 512
#define TF_FLOOR 4096

struct tf_entry {
    uint32_t stack, pad;
    int64_t live_size, live_count, alloc_size, alloc_count, temporary;
};

struct tfigs {
    struct tfigs *next_all, *next_free;
    int64_t current; /* heap bytes not in tm__current yet */
    struct tf_entry e[TF_SLOTS];
};

static tm__lock figs_lock;
static struct tfigs *figs_all, *figs_free;
static int64_t figs_nused;
static atomic_int_least64_t fig_limit;
static pthread_key_t figs_key;
static int figs_key_state; /* 0 not created yet, 1 created, -1 failed */
static __thread struct tfigs *my_figs TM_TLS;
static __thread int figs_gone TM_TLS;  /* this thread's destructor ran */
static __thread int64_t peak_due TM_TLS; /* a 'current' for peak_check, after the shard lock */

static void limit_update(void)
{
    int64_t lim = 0;
    if (tm__cfg.peak_inaccuracy > 0) {
        int64_t n = figs_nused > 0 ? figs_nused : 1;
        lim = (int64_t)((double)atomic_load_explicit(&tm__peak, memory_order_relaxed) *
                        tm__cfg.peak_inaccuracy / 100.0 / (double)n);
        if (lim < TF_FLOOR)
            lim = TF_FLOOR;
    }
    atomic_store_explicit(&fig_limit, lim, memory_order_relaxed);
}

static void raise_peak(int64_t cur)
{
    int64_t peak = atomic_load_explicit(&tm__peak, memory_order_relaxed);
    while (cur > peak && !atomic_compare_exchange_weak_explicit(&tm__peak, &peak, cur, memory_order_relaxed,
                                                                memory_order_relaxed))
        ;
}

/* Moves the thread's unpublished heap bytes to tm__current. */
static int64_t publish(struct tfigs *t)
{
    int64_t d = t->current;
    t->current = 0;
    int64_t cur = atomic_fetch_add_explicit(&tm__current, d, memory_order_relaxed) + d;
    if (d > 0 && cur > atomic_load_explicit(&tm__peak, memory_order_relaxed)) {
        raise_peak(cur);
        limit_update();
    }
    return cur;
}

static void entry_flush(struct tf_entry *e)
{
    struct tm__stack *s = e->stack ? tm__stack_get(e->stack) : NULL;
    if (s) {
        if (e->alloc_size || e->alloc_count) {
            atomic_fetch_add_explicit(&s->alloc_size, e->alloc_size, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->alloc_count, e->alloc_count, memory_order_relaxed);
        }
        if (e->live_size || e->live_count) {
            pk_mark(s, e->stack, 0);
            atomic_fetch_add_explicit(&s->live_size, e->live_size, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->live_count, e->live_count, memory_order_relaxed);
        }
        if (e->temporary)
            atomic_fetch_add_explicit(&s->temporary, e->temporary, memory_order_relaxed);
    }
    memset(e, 0, sizeof(*e));
}

/* Everything of 't' into the shared figures. */
static void figs_flush(struct tfigs *t)
{
    for (int i = 0; i < TF_SLOTS; i++)
        if (t->e[i].stack)
            entry_flush(&t->e[i]);
    if (t->current)
        publish(t);
}

/* Every thread's figures into the shared ones, and the peak raised to the
 * exact current; the caller holds tm__live_lock_all(). */
static void merge_unlocked(void)
{
    for (struct tfigs *t = figs_all; t; t = t->next_all)
        figs_flush(t);
    raise_peak(atomic_load_explicit(&tm__current, memory_order_relaxed));
}

static void figs_release(void *p)
{
    struct tfigs *t = p;
    int saved = tm__in_hook;
    tm__in_hook = 1;
    tm__live_lock_all();
    my_figs = NULL;
    figs_gone = 1;
    figs_flush(t);
    tm__lock_acquire(&figs_lock);
    t->next_free = figs_free;
    figs_free = t;
    figs_nused--;
    tm__lock_release(&figs_lock);
    limit_update();
    tm__live_unlock_all();
    tm__in_hook = saved;
}

/* The thread's block, claimed on its first use; NULL: use atomics. Under a
 * shard lock. */
static struct tfigs *figs_get(void)
{
    struct tfigs *t = my_figs;
    if (TM_LIKELY(t != NULL))
        return t;
    if (figs_gone)
        return NULL;
    tm__lock_acquire(&figs_lock);
    if (figs_key_state == 0)
        figs_key_state = pthread_key_create(&figs_key, figs_release) == 0 ? 1 : -1;
    if (figs_key_state > 0) {
        t = figs_free;
        if (t) {
            figs_free = t->next_free;
        } else if ((t = tm__map(sizeof(*t))) != NULL) {
            t->next_all = figs_all;
            figs_all = t;
        }
        if (t)
            figs_nused++;
    }
    tm__lock_release(&figs_lock);
    if (!t) {
        figs_gone = 1; /* not asked again */
        return NULL;
    }
    if (pthread_setspecific(figs_key, t) != 0) {
        tm__lock_acquire(&figs_lock);
        t->next_free = figs_free;
        figs_free = t;
        figs_nused--;
        tm__lock_release(&figs_lock);
        figs_gone = 1;
        return NULL;
    }
    my_figs = t;
    limit_update();
    return t;
}

static inline struct tf_entry *figs_entry(struct tfigs *t, uint32_t stack)
{
    struct tf_entry *e = &t->e[stack & (TF_SLOTS - 1)];
    if (TM_UNLIKELY(e->stack != stack)) {
        if (e->stack)
            entry_flush(e);
        e->stack = stack;
    }
    return e;
}

/* The figures of one stack: 'size' and 'count' live ('alloc': allocated
 * too), 'temp' temporary. */
static inline void stack_add(struct tfigs *t, int solo, uint32_t stack, int64_t size, int64_t count, int alloc,
                             int64_t temp)
{
    if (t) {
        struct tf_entry *e = figs_entry(t, stack);
        if (alloc) {
            e->alloc_size += size;
            e->alloc_count += count;
        }
        e->live_size += size;
        e->live_count += count;
        e->temporary += temp;
        return;
    }
    struct tm__stack *s = tm__stack_get(stack);
    if (!s)
        return;
    pk_mark(s, stack, solo);
    if (alloc) {
        COUNTER_ADD(&s->alloc_size, size, memory_order_relaxed);
        COUNTER_ADD(&s->alloc_count, count, memory_order_relaxed);
    }
    COUNTER_ADD(&s->live_size, size, memory_order_relaxed);
    COUNTER_ADD(&s->live_count, count, memory_order_relaxed);
    if (temp)
        COUNTER_ADD(&s->temporary, temp, memory_order_relaxed);
}

/* The heap's bytes: 'size' added. */
static inline void heap_add(struct tfigs *t, int solo, int64_t size)
{
    int64_t cur;
    if (t) {
        t->current += size;
        int64_t lim = atomic_load_explicit(&fig_limit, memory_order_relaxed);
        if (TM_LIKELY(t->current <= lim && t->current >= -lim))
            return;
        cur = publish(t);
    } else if (solo) {
        cur = plain_xadd(&tm__current, size) + size;
        if (size > 0 && cur > atomic_load_explicit(&tm__peak, memory_order_relaxed))
            plain_raise(&tm__peak, cur);
    } else {
        cur = atomic_fetch_add_explicit(&tm__current, size, memory_order_relaxed) + size;
        if (size > 0)
            raise_peak(cur);
    }
    if (size > 0 && cur >= atomic_load_explicit(&peak_threshold, memory_order_relaxed))
        peak_due = cur; /* peak_check's first test, here: rarely true */
}

void tm__figures_locked(const struct tm__block *in, const struct tm__block *out, unsigned flags)
{
    int solo = (flags & TM_FIG_SOLO) != 0; /* the caller is inside solo_enter() */
    struct tfigs *t = solo ? NULL : figs_get();
    int64_t d = 0;
    if (out) {
        stack_add(t, solo, out->stack, -(int64_t)out->size, -(int64_t)out->count, 0, (flags & TM_FIG_TEMP) != 0);
        d -= (int64_t)out->size;
    }
    if (in) {
        stack_add(t, solo, in->stack, (int64_t)in->size, in->count, (flags & TM_FIG_ALLOC) != 0, 0);
        d += (int64_t)in->size;
    }
    if (d)
        heap_add(t, solo, d);
}

/* After a shard lock is left: the peak record if 'current' passed it. */
static inline void peak_after(void)
{
    if (TM_UNLIKELY(peak_due != 0)) {
        int64_t cur = peak_due;
        peak_due = 0;
        peak_check(cur);
    }
}

int64_t tm__figures_current(void)
{
    tm__live_lock_all();
    merge_unlocked();
    int64_t cur = atomic_load_explicit(&tm__current, memory_order_relaxed);
    tm__live_unlock_all();
    return cur;
}

/* The heap's bytes outside the live table (tracemem_track's domains), not
 * under a shard lock: the shared counter, plain while solo. */
static void figures_add(int64_t size)
{
    int solo = solo_enter();
    heap_add(NULL, solo, size);
    if (solo)
        solo_leave();
    peak_after();
}

static uint32_t capture_stack(void)
{
    int max = atomic_load_explicit(&tm__nframes, memory_order_relaxed);
    uintptr_t pcs[max];
    uint32_t depth;
    /* Where no Python frames can be merged, a cached stack's id is all
     * this needs: its pcs are not copied out (memo.lazy). */
    struct tm__capture_memo memo = {.lazy = tm__py_absent()};
    int n = tm__capture_memo(pcs, max, &depth, &memo);
    /* Python frames are merged here (pyframes.c), on every capture, cached
     * or not: the native stack can stay the same while the Python frames
     * change. A stack that got Python frames is interned there (or found
     * among the thread's last ones); the cache's own id (memo.id) is the
     * native stack's, kept by tm__capture_finish. */
    if (!memo.lazy) {
        int merged = 0;
        uint32_t id = tm__py_stack(pcs, n, max, depth, &memo, &merged);
        if (merged) {
            tm__capture_release(&memo);
            return id;
        }
    }
    return tm__capture_finish(&memo, pcs, n, depth);
}

/* --- sampled mode: which addresses may be in the live table ---
 * A free of a block that was never sampled does not touch the live table:
 * 'maybe' holds 2^16 8-bit counters, one for each 32-byte granule of a
 * 2 MiB window that wraps around the address space (the address bits
 * 5..20, not a hash: blocks near each other in the heap have their
 * counters near each other, so the frees of a program's working set read
 * a few cache lines of the table, as many as its own headers; and 64 KiB
 * stay in the cache where frees are scattered over a large heap). A live
 * heap of H bytes holds about H / TRACEMEM_SAMPLE sampled blocks: about
 * that many counters are not zero, and a free that lands on one asks the
 * live table. In sampled mode every block put in the live table
 * increments its counter before the program can see the block, and every
 * block taken out decrements it before the address can be handed out
 * again, so a zero counter proves the address untraced. A counter that
 * reaches 255 stays there (always "maybe": the live table is asked).
 * Counters change only for sampled blocks (atomic RMW, rare); a free reads
 * one byte. Mapped at the first sampled block; if that fails, every free
 * asks the table. tm__clear_all leaves the counters (stale "maybe"s only
 * cost a lookup). */
_Atomic(uint8_t *) tm__maybe_tab; /* or TM_MAYBE_BROKEN; MAYBE_BITS, tm__maybe_live: shim.h */
_Atomic(uint8_t *) tm__maybe_fast;
#define MAYBE_BITS TM_MAYBE_BITS

static void maybe_step(uint8_t *tab, uintptr_t p, int d)
{
    _Atomic uint8_t *c = (_Atomic uint8_t *)&tab[tm__maybe_idx(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    do {
        if (v == 255 || (d < 0 && v == 0))
            return;
    } while (!atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(d == 255 ? 255 : v + d), memory_order_relaxed,
                                                    memory_order_relaxed));
}

void tm__maybe_pin(uintptr_t lo, uintptr_t hi)
{
    uint8_t *tab = atomic_load(&tm__maybe_tab);
    if ((uintptr_t)tab <= (uintptr_t)TM_MAYBE_BROKEN)
        return;
    for (uintptr_t p = lo & ~(uintptr_t)((1u << TM_MAYBE_GRANULE) - 1); p < hi; p += 1u << TM_MAYBE_GRANULE)
        maybe_step(tab, p, 255);
}

static void maybe_add(uintptr_t p, int d)
{
    if (!tm__cfg.sample_bytes)
        return;
    uint8_t *tab = atomic_load_explicit(&tm__maybe_tab, memory_order_acquire);
    if (!tab) {
        uint8_t *fresh = tm__map((size_t)1 << MAYBE_BITS);
        uint8_t *want = fresh ? fresh : TM_MAYBE_BROKEN;
        if (atomic_compare_exchange_strong(&tm__maybe_tab, &tab, want))
            tab = want;
        else if (fresh)
            tm__unmap(fresh, (size_t)1 << MAYBE_BITS);
    }
    if (tab == TM_MAYBE_BROKEN)
        return;
    maybe_step(tab, p, d);
    /* free()'s one-load test (tm__maybe_none): once the boot pool's blocks
     * are pinned. The table is published first (above, sequentially
     * consistent) and the pool's range read after; hooks.c's boot_alloc
     * widens the range first and reads tm__maybe_tab after, so a boot
     * block is pinned by one of them. Not when tracing went on in exact
     * mode meanwhile (an attach: it clears tm__maybe_fast). */
    if (TM_UNLIKELY(d > 0 && atomic_load_explicit(&tm__maybe_fast, memory_order_relaxed) != tab) &&
        atomic_load(&tm__fast_sampled)) {
        uintptr_t lo, hi;
        tm__boot_range(&lo, &hi);
        if (lo < hi)
            tm__maybe_pin(lo, hi);
        atomic_store_explicit(&tm__maybe_fast, tab, memory_order_release);
    }
}

/* tm__live_insert with the counter kept, and the block's note ('note'
 * NULL: none). The owner in solo mode changes the table without the
 * shard lock (TM_FIG_SOLO, tm__solo_exclude). */
static int live_insert(const struct tm__block *b, const struct tm__note *note, struct tm__block *old,
                       unsigned flags)
{
    maybe_add(b->ptr, 1);
    int solo = solo_enter();
    unsigned f = flags | (solo ? TM_FIG_SOLO : 0);
    int rc = TM_UNLIKELY(note != NULL) ? tm__live_insert_note_fig(b, note, old, f) : tm__live_insert_fig(b, old, f);
    if (solo)
        solo_leave();
    if (rc != 0)
        maybe_add(b->ptr, -1); /* not inserted, or replaced a block at that address */
    return rc;
}

/* 'bytes': the block's size (not its weight); 'carry': the old block's
 * note for a realloc's block, NEW_BLOCK for a new block (a note of its
 * own is made, stale.c), or NULL. */
static const struct tm__note new_block;
#define NEW_BLOCK (&new_block)

static __attribute__((noinline)) void record(uintptr_t ptr, uint64_t size, uint32_t count, uint64_t bytes,
                                             const struct tm__note *carry)
{
    struct tm__block b = {ptr, size, 0, count};
    struct tm__note note;
    int noted = 0;
    if (carry == NEW_BLOCK)
        noted = tm__stale_note(ptr, bytes, &note);
    else if (carry)
        noted = tm__stale_carry(carry, ptr, bytes, &note);
    /* the misses on the block's slot (and note's) overlap the stack capture */
    tm__live_prefetch(b.ptr, size, ~last_alloc, noted);
    b.stack = capture_stack();
    if (!b.stack) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    struct tm__block old;
    if (live_insert(&b, noted ? &note : NULL, &old, TM_FIG_ALLOC) < 0) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    last_alloc = ~b.ptr;
    peak_after();
}

/* Sampled mode, every block the hooks' countdown did not let pass (and
 * those of a hook that could not count it inline): what the hooks counted
 * since the countdown was armed is taken off the sampling countdown, the
 * timeline reads the clock, the block is sampled or not, and the hooks'
 * countdown is armed again (shim.h, tm__sample_left). */
static __attribute__((noinline)) void record_sampled(void *ptr, size_t size, const struct tm__note *carry)
{
    tm__sample_left -= tm__hot.armed - tm__hot.fast_left;
    tm__hot.armed = tm__hot.fast_left = 0;
    struct tm__sizes_slab *s = tm__sizes_mine;
    tm__timeline_tick(s ? &s->tick : NULL);
    uint64_t weight = size;
    uint32_t count = 1;
    if (sample(size, &weight, &count))
        record((uintptr_t)ptr, weight, count, size, carry);
    /* armed only with a slab of the thread's own (the hooks add into it
     * without a locked instruction), below 2^31 (a block the countdown
     * lets pass is below 4 GiB: tm__sizes_add) */
    if (s && atomic_load_explicit(&tm__fast_sampled, memory_order_relaxed) && tm__sample_left > 0) {
        int64_t a = tm__timeline_budget(&s->tick);
        if (a > tm__sample_left)
            a = tm__sample_left;
        if (a > INT32_MAX)
            a = INT32_MAX;
        tm__hot.armed = tm__hot.fast_left = a;
    }
}

static inline void record_as(void *ptr, size_t size, const struct tm__note *carry)
{
    tm__sizes_count(size);
    if (tm__cfg.sample_bytes) {
        record_sampled(ptr, size, carry);
        return;
    }
    struct tm__sizes_slab *s = tm__sizes_mine;
    tm__timeline_count(s ? &s->tick : NULL);
    record((uintptr_t)ptr, size, 1, size, carry);
}

void tm__record_new(void *ptr, size_t size)
{
    record_as(ptr, size, NEW_BLOCK);
}

void tm__record(void *ptr, size_t size)
{
    record_as(ptr, size, NULL);
}

void tm__record_realloc(void *ptr, size_t size, const struct tm__note *old)
{
    record_as(ptr, size, old); /* tm__stale_carry() makes nothing of an empty note */
}

static __attribute__((noinline)) int forget(void *ptr, struct tm__block *was, struct tm__note *note)
{
    struct tm__block b;
    int last = ~(uintptr_t)ptr == last_alloc;
    int solo = solo_enter();
    unsigned f = (last && !was ? TM_FIG_TEMP : 0) | (solo ? TM_FIG_SOLO : 0);
    int found = note ? tm__live_remove_note_fig((uintptr_t)ptr, &b, note, f) : tm__live_remove_fig((uintptr_t)ptr, &b, f);
    if (solo)
        solo_leave();
    if (!found)
        return 0;
    maybe_add((uintptr_t)ptr, -1);
    if (last)
        last_alloc = 0;
    if (was)
        *was = b;
    return 1;
}

/* The sampled-mode test first, without a stack frame: most frees end there. */
int tm__forget(void *ptr, struct tm__block *was)
{
    if (!tm__maybe_live((uintptr_t)ptr))
        return 0;
    return forget(ptr, was, NULL);
}

int tm__forget_realloc(void *ptr, struct tm__block *was, struct tm__note *note)
{
    note->lo = note->hi = 0;
    if (!tm__maybe_live((uintptr_t)ptr))
        return 0;
    return forget(ptr, was, note);
}

void tm__restore(const struct tm__block *b, const struct tm__note *note)
{
    struct tm__block old;
    if (live_insert(b, note, &old, 0) < 0) /* an empty note: none (live.c) */
        atomic_fetch_add(&tm__lost, 1);
    peak_after();
}

/* --- other domains --- */

struct dom_block {
    uintptr_t ptr;
    uint64_t size;
    uint32_t domain, stack;
    uint8_t used;
};

struct dom_counter {
    uint32_t stack, domain;
    int64_t size, count, alloc_size, alloc_count;
};

static struct dom_block *dom_blocks;
static size_t dom_nblocks, dom_cap;
static struct dom_counter *dom_counters;
static size_t dom_ncounters, dom_ccap;

static uint64_t dom_hash(unsigned domain, uintptr_t ptr)
{
    uint64_t h = ((uint64_t)ptr ^ ((uint64_t)domain << 48)) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* Open addressing, no deletion tombstones needed: removal rebuilds the run. */
static struct dom_block *dom_find(unsigned domain, uintptr_t ptr)
{
    if (!dom_cap)
        return NULL;
    size_t i = dom_hash(domain, ptr) & (dom_cap - 1);
    while (dom_blocks[i].used) {
        if (dom_blocks[i].ptr == ptr && dom_blocks[i].domain == domain)
            return &dom_blocks[i];
        i = (i + 1) & (dom_cap - 1);
    }
    return NULL;
}

static int dom_put(const struct dom_block *b)
{
    if ((dom_nblocks + 1) * 2 > dom_cap) {
        size_t cap = dom_cap ? dom_cap * 2 : 256;
        struct dom_block *fresh = tm__map(cap * sizeof(*fresh));
        if (!fresh)
            return -ENOMEM;
        struct dom_block *old = dom_blocks;
        size_t old_cap = dom_cap;
        dom_blocks = fresh;
        dom_cap = cap;
        dom_nblocks = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].used)
                dom_put(&old[i]);
        tm__unmap(old, old_cap * sizeof(*old));
    }
    size_t i = dom_hash(b->domain, b->ptr) & (dom_cap - 1);
    while (dom_blocks[i].used)
        i = (i + 1) & (dom_cap - 1);
    dom_blocks[i] = *b;
    dom_blocks[i].used = 1;
    dom_nblocks++;
    return 0;
}

static void dom_delete(struct dom_block *b)
{
    size_t i = (size_t)(b - dom_blocks);
    b->used = 0;
    dom_nblocks--;
    for (size_t j = (i + 1) & (dom_cap - 1); dom_blocks[j].used; j = (j + 1) & (dom_cap - 1)) {
        struct dom_block moved = dom_blocks[j];
        dom_blocks[j].used = 0;
        dom_nblocks--;
        dom_put(&moved);
    }
}

static struct dom_counter *dom_counter(uint32_t stack, uint32_t domain)
{
    for (size_t i = 0; i < dom_ncounters; i++)
        if (dom_counters[i].stack == stack && dom_counters[i].domain == domain)
            return &dom_counters[i];
    if (dom_ncounters == dom_ccap) {
        size_t cap = dom_ccap ? dom_ccap * 2 : 256;
        /* copy, publish, unmap: see tm__map_copy */
        struct dom_counter *old = dom_counters, *c = tm__map_copy(dom_counters, dom_ccap * sizeof(*c), cap * sizeof(*c));
        if (!c)
            return NULL;
        dom_counters = c;
        atomic_signal_fence(memory_order_seq_cst);
        tm__unmap(old, dom_ccap * sizeof(*c));
        dom_ccap = cap;
    }
    struct dom_counter *c = &dom_counters[dom_ncounters++];
    *c = (struct dom_counter){stack, domain, 0, 0, 0, 0};
    return c;
}

static void dom_account(const struct dom_block *b, int sign, int alloc)
{
    struct dom_counter *c = dom_counter(b->stack, b->domain);
    if (!c)
        return;
    c->size += sign * (int64_t)b->size;
    c->count += sign;
    if (alloc) {
        c->alloc_size += (int64_t)b->size;
        c->alloc_count++;
    }
}

int tm__domain_track(unsigned domain, uintptr_t ptr, size_t size)
{
    uint32_t stack = capture_stack();
    if (!stack) {
        atomic_fetch_add(&tm__lost, 1);
        return -ENOMEM;
    }
    if (domain == 0) {
        tm__forget((void *)ptr, NULL);
        struct tm__block b = {ptr, size, stack, 1}, old;
        int rc = live_insert(&b, NULL, &old, TM_FIG_ALLOC);
        peak_after();
        return rc < 0 ? -ENOMEM : 0;
    }
    int rc = 0;
    tm__lock_acquire(&dom_lock);
    struct dom_block *prev = dom_find(domain, ptr);
    if (prev) {
        dom_account(prev, -1, 0);
        figures_add(-(int64_t)prev->size);
        dom_delete(prev);
    }
    struct dom_block b = {ptr, size, domain, stack, 1};
    rc = dom_put(&b);
    if (rc == 0)
        dom_account(&b, 1, 1);
    tm__lock_release(&dom_lock);
    if (rc == 0)
        figures_add((int64_t)size);
    else
        atomic_fetch_add(&tm__lost, 1);
    return rc;
}

int tm__domain_untrack(unsigned domain, uintptr_t ptr)
{
    if (domain == 0)
        return tm__forget((void *)ptr, NULL) ? 0 : -ENOENT;
    int64_t size = -1;
    tm__lock_acquire(&dom_lock);
    struct dom_block *b = dom_find(domain, ptr);
    if (b) {
        size = (int64_t)b->size;
        dom_account(b, -1, 0);
        dom_delete(b);
    }
    tm__lock_release(&dom_lock);
    if (size < 0)
        return -ENOENT;
    figures_add(-size);
    return 0;
}

void tm__domain_adjust_unlocked(unsigned domain, uint32_t stack, int64_t size, int64_t count, int alloc)
{
    struct dom_counter *c = dom_counter(stack, domain);
    if (!c) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    c->size += size;
    c->count += count;
    if (alloc) {
        c->alloc_size += size;
        c->alloc_count++;
    }
}

uint32_t tm__capture_stack(void)
{
    return capture_stack();
}

void tm__domain_lock(void)
{
    tm__lock_acquire(&dom_lock);
}

void tm__domain_unlock(void)
{
    tm__lock_release(&dom_lock);
}

void tm__domain_tables_unlocked(void (*fn)(const void *table, size_t bytes, void *arg), void *arg)
{
    if (dom_blocks)
        fn(dom_blocks, dom_cap * sizeof(*dom_blocks), arg);
}

/* --- iteration for snapshots --- */

/* Under every shard lock, after the merge: exact, and what the live table
 * holds. */
static void stack_rows(tm__trace_fn fn, void *arg)
{
    tm__live_lock_all();
    merge_unlocked();
    uint32_t limit = tm__stack_limit();
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (!s)
            continue;
        struct tm__trace_row r = {id, 0, 0, 0, 0, 0, 0};
        r.size = atomic_load_explicit(&s->live_size, memory_order_relaxed);
        r.count = atomic_load_explicit(&s->live_count, memory_order_relaxed);
        r.alloc_size = atomic_load_explicit(&s->alloc_size, memory_order_relaxed);
        r.alloc_count = atomic_load_explicit(&s->alloc_count, memory_order_relaxed);
        r.temporary = atomic_load_explicit(&s->temporary, memory_order_relaxed);
        if (r.count == 0 && r.size == 0 && r.alloc_count == 0)
            continue;
        fn(&r, arg);
    }
    tm__live_unlock_all();
}

static void domain_rows_unlocked(tm__trace_fn fn, void *arg, int live_only)
{
    for (size_t i = 0; i < dom_ncounters; i++) {
        const struct dom_counter *c = &dom_counters[i];
        if (live_only && c->count == 0)
            continue;
        struct tm__trace_row r = {c->stack, c->domain, c->size, c->count, c->alloc_size, c->alloc_count, 0};
        fn(&r, arg);
    }
}

void tm__traces_foreach(tm__trace_fn fn, void *arg)
{
    stack_rows(fn, arg);
    tm__lock_acquire(&dom_lock);
    domain_rows_unlocked(fn, arg, 0);
    tm__lock_release(&dom_lock);
}

/* --- after fork --- */

static void rebuild_add(const struct tm__block *b, void *arg)
{
    int64_t *heap = arg;
    struct tm__stack *s = tm__stack_get(b->stack);
    if (s) {
        pk_mark(s, b->stack, 1);
        atomic_fetch_add_explicit(&s->live_size, (int64_t)b->size, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->live_count, (int64_t)b->count, memory_order_relaxed);
    }
    *heap += (int64_t)b->size;
}

/* The child has this thread only: every block is merged, and all but this
 * thread's go to the free list (figs_lock is free: it is taken only under
 * a shard lock, and fork_prepare held them all). */
static void figs_after_fork(void)
{
    merge_unlocked();
    atomic_store_explicit(&figs_lock.held, 0, memory_order_relaxed);
    figs_free = NULL;
    figs_nused = 0;
    for (struct tfigs *t = figs_all; t; t = t->next_all) {
        if (t == my_figs) {
            figs_nused++;
            continue;
        }
        t->next_free = figs_free;
        figs_free = t;
    }
    limit_update();
}

/* A child forked between a hook's table update and its counters' would
 * inherit counters that disagree with its table; the counters now change
 * under the shard lock with the table, so this is a check more than a
 * repair. The tables are consistent (fork_prepare holds every lock): the
 * child recomputes the live figures from them. Allocated figures are raised
 * to the live ones where an allocation was not yet counted. */
void tm__figures_rebuild_unlocked(void)
{
    figs_after_fork();
    solo_after_fork();
    uint32_t limit = tm__stack_limit();
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (s && (atomic_load(&s->live_size) || atomic_load(&s->live_count))) {
            pk_mark(s, id, 1);
            atomic_store_explicit(&s->live_size, 0, memory_order_relaxed);
            atomic_store_explicit(&s->live_count, 0, memory_order_relaxed);
        }
    }
    int64_t cur = 0;
    tm__live_foreach_unlocked(rebuild_add, &cur);
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (!s)
            continue;
        if (atomic_load(&s->alloc_size) < atomic_load(&s->live_size))
            atomic_store(&s->alloc_size, atomic_load(&s->live_size));
        if (atomic_load(&s->alloc_count) < atomic_load(&s->live_count))
            atomic_store(&s->alloc_count, atomic_load(&s->live_count));
    }
    for (size_t i = 0; i < dom_ncounters; i++)
        if (dom_counters[i].domain != TM_DOMAIN_MMAP)
            cur += dom_counters[i].size;
    atomic_store(&tm__current, cur);
    if (atomic_load(&tm__peak) < cur)
        atomic_store(&tm__peak, cur);
}

/* The record hidden until the next take; the caller holds peak_lock. */
static void reset_peak_unlocked(void)
{
    int64_t cur = tm__figures_current();
    atomic_store(&tm__peak, cur);
    limit_update();
    pk_shown = 0;
    peak_recorded = 0;
    atomic_store(&peak_threshold, 0);
}

void tm__reset_peak(void)
{
    tm__lock_acquire(&peak_lock);
    reset_peak_unlocked();
    tm__lock_release(&peak_lock);
}

void tm__clear_all(void)
{
    tm__lock_acquire(&peak_lock);
    tm__live_lock_all();
    merge_unlocked(); /* empties every thread's figures */
    tm__live_clear_unlocked();
    tm__stacks_reset_counters();
    atomic_store(&tm__current, 0);
    pk_clear_unlocked();
    tm__live_unlock_all();
    tm__lock_acquire(&dom_lock);
    if (dom_blocks)
        memset(dom_blocks, 0, dom_cap * sizeof(*dom_blocks));
    dom_nblocks = 0;
    dom_ncounters = 0;
    tm__lock_release(&dom_lock);
    reset_peak_unlocked();
    atomic_store(&tm__peak, 0);
    limit_update();
    tm__lock_release(&peak_lock);
}

