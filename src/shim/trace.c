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
 * process sitting at its peak.
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
static __thread int64_t sample_left TM_TLS;

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

/* 1 when the block is sampled; '*size' and '*count' get its weights. */
static int sample(size_t n, uint64_t *size, uint32_t *count)
{
    if (sample_left == 0)
        sample_left = next_gap();
    sample_left -= (int64_t)n;
    if (sample_left > 0)
        return 0;
    while (sample_left <= 0)
        sample_left += next_gap();
    double p = 1 - tm_exp_neg((double)n / (double)tm__cfg.sample_bytes);
    if (p <= 0)
        p = 1e-12;
    *size = (uint64_t)((double)n / p + 0.5);
    double c = 1 / p + 0.5;
    *count = c >= 4e9 ? 4000000000u : (uint32_t)c;
    return 1;
}

/* --- peak record --- */

struct peak_row {
    uint32_t stack, domain;
    int64_t size, count;
};

static tm__lock peak_lock;
static struct peak_row *peak_rows;
static size_t peak_nrows, peak_cap;
static int64_t peak_recorded;                /* 'current' of the record */
static atomic_int_least64_t peak_threshold;  /* re-record above this */

static void peak_add(const struct tm__trace_row *r, void *arg)
{
    (void)arg;
    if ((r->count == 0 && r->size == 0) || r->domain == TM_DOMAIN_MMAP)
        return; /* the heap's peak: mapped memory is not part of it */
    if (peak_nrows == peak_cap) {
        size_t cap = peak_cap ? peak_cap * 2 : 1024;
        /* copy, publish, unmap: see tm__map_copy */
        struct peak_row *old = peak_rows, *rows = tm__map_copy(peak_rows, peak_cap * sizeof(*rows), cap * sizeof(*rows));
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

static void live_rows(tm__trace_fn fn, void *arg);

/* Takes the record now; the caller holds peak_lock. */
static void peak_take_unlocked(int64_t current)
{
    peak_nrows = 0;
    live_rows(peak_add, NULL);
    /* Other threads move the stack counters while they are read: the
     * record's figure is what its rows add up to, not 'current'. */
    int64_t sum = 0;
    for (size_t i = 0; i < peak_nrows; i++)
        sum += peak_rows[i].size;
    peak_recorded = sum;
    int64_t slack = (int64_t)((double)current * tm__cfg.peak_inaccuracy / 100.0);
    atomic_store(&peak_threshold, current + (slack > 0 ? slack : 1));
}

static void peak_check(int64_t current)
{
    if (tm__cfg.peak_inaccuracy <= 0 ||
        current < atomic_load_explicit(&peak_threshold, memory_order_relaxed))
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
    for (size_t i = 0; i < peak_nrows; i++) {
        struct tm__trace_row r = {peak_rows[i].stack, peak_rows[i].domain, peak_rows[i].size,
                                  peak_rows[i].count, 0, 0, 0};
        fn(&r, arg);
    }
    int64_t cur = peak_recorded;
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
 * start. A forked child has one thread and becomes solo again. */
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

/* --- accounting --- */

/* allocated_* first and live_* last, and stack_rows() reads them in the
 * other order, so a reader racing with the hooks never sees live > allocated
 * (x86 keeps stores in order: the plain forms keep this too). */
static void account(struct tm__stack *s, int64_t size, int64_t count, int alloc)
{
    int solo = solo_enter();
    if (alloc) {
        COUNTER_ADD(&s->alloc_size, size, memory_order_relaxed);
        COUNTER_ADD(&s->alloc_count, count, memory_order_release);
    }
    COUNTER_ADD(&s->live_size, size, memory_order_relaxed);
    COUNTER_ADD(&s->live_count, count, memory_order_release);
    if (solo)
        solo_leave();
}

static void figures_add(int64_t size)
{
    int solo = solo_enter();
    int64_t cur;
    if (solo)
        cur = plain_xadd(&tm__current, size) + size;
    else
        cur = atomic_fetch_add_explicit(&tm__current, size, memory_order_relaxed) + size;
    if (size > 0 && cur > atomic_load_explicit(&tm__peak, memory_order_relaxed)) {
        if (solo) {
            plain_raise(&tm__peak, cur);
        } else {
            int64_t peak = atomic_load_explicit(&tm__peak, memory_order_relaxed);
            while (cur > peak &&
                   !atomic_compare_exchange_weak_explicit(&tm__peak, &peak, cur, memory_order_relaxed,
                                                          memory_order_relaxed))
                ;
        }
    }
    if (solo)
        solo_leave();
    if (size > 0)
        peak_check(cur);
}

static void unaccount_block(const struct tm__block *b)
{
    struct tm__stack *s = tm__stack_get(b->stack);
    if (s)
        account(s, -(int64_t)b->size, -(int64_t)b->count, 0);
    figures_add(-(int64_t)b->size);
}

static uint32_t capture_stack(void)
{
    int max = atomic_load_explicit(&tm__nframes, memory_order_relaxed);
    uintptr_t pcs[max];
    uint32_t depth;
    struct tm__capture_memo memo;
    int n = tm__capture_memo(pcs, max, &depth, &memo);
    /* Python frames are merged here (pyframes.c), on every capture, cached
     * or not: the native stack can stay the same while the Python frames
     * change. tm__capture_finish interns the stack as it is kept (or finds
     * the id the cache knows for it). */
    int merged = 0;
    n = tm__py_merge(pcs, n, max, &depth, &merged);
    return tm__capture_finish(&memo, pcs, n, depth, merged);
}

/* --- sampled mode: which addresses may be in the live table ---
 * A free of a block that was never sampled does not touch the live table:
 * 'maybe' holds 2^20 8-bit counters indexed by a hash of the address. In
 * sampled mode every block put in the live table increments its counter
 * before the program can see the block, and every block taken out
 * decrements it before the address can be handed out again, so a zero
 * counter proves the address untraced. A counter that reaches 255 stays
 * there (always "maybe": the live table is asked). Counters change only
 * for sampled blocks (atomic RMW, rare); a free reads one byte. Mapped at
 * the first sampled block; if that fails, every free asks the table.
 * tm__clear_all leaves the counters (stale "maybe"s only cost a lookup). */
#define MAYBE_BITS 20
static _Atomic(uint8_t *) maybe_tab;
static atomic_int maybe_broken;

static size_t maybe_idx(uintptr_t p)
{
    return (size_t)(((uint64_t)p * 0x9e3779b97f4a7c15ull) >> (64 - MAYBE_BITS));
}

static void maybe_add(uintptr_t p, int d)
{
    if (!tm__cfg.sample_bytes)
        return;
    uint8_t *tab = atomic_load_explicit(&maybe_tab, memory_order_acquire);
    if (!tab) {
        uint8_t *fresh = tm__map((size_t)1 << MAYBE_BITS);
        if (!fresh) {
            atomic_store(&maybe_broken, 1);
            return;
        }
        if (atomic_compare_exchange_strong(&maybe_tab, &tab, fresh))
            tab = fresh;
        else
            tm__unmap(fresh, (size_t)1 << MAYBE_BITS);
    }
    _Atomic uint8_t *c = (_Atomic uint8_t *)&tab[maybe_idx(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    do {
        if (v == 255 || (d < 0 && v == 0))
            return;
    } while (!atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v + d), memory_order_relaxed,
                                                    memory_order_relaxed));
}

/* 0 when the block at 'p' is certainly not in the live table. */
static inline int maybe_live(uintptr_t p)
{
    if (!tm__cfg.sample_bytes || atomic_load_explicit(&maybe_broken, memory_order_relaxed))
        return 1;
    uint8_t *tab = atomic_load_explicit(&maybe_tab, memory_order_acquire);
    return tab && atomic_load_explicit((_Atomic uint8_t *)&tab[maybe_idx(p)], memory_order_relaxed) != 0;
}

/* tm__live_insert with the counter kept. */
static int live_insert(const struct tm__block *b, struct tm__block *old)
{
    maybe_add(b->ptr, 1);
    int rc = tm__live_insert(b, old);
    if (rc != 0)
        maybe_add(b->ptr, -1); /* not inserted, or replaced a block at that address */
    return rc;
}

void tm__record(void *ptr, size_t size)
{
    struct tm__block b = {(uintptr_t)ptr, size, 0, 1};
    tm__sizes_count(size);
    if (tm__cfg.sample_bytes && !sample(size, &b.size, &b.count))
        return;
    tm__live_prefetch(b.ptr); /* its miss overlaps the stack capture */
    b.stack = capture_stack();
    if (!b.stack) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    struct tm__block old;
    int rc = live_insert(&b, &old);
    if (rc < 0) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    if (rc == 1)
        unaccount_block(&old); /* its free was never seen */
    account(tm__stack_get(b.stack), (int64_t)b.size, b.count, 1);
    figures_add((int64_t)b.size);
    last_alloc = ~b.ptr;
}

int tm__forget(void *ptr, struct tm__block *was)
{
    struct tm__block b;
    if (!maybe_live((uintptr_t)ptr) || !tm__live_remove((uintptr_t)ptr, &b))
        return 0;
    maybe_add((uintptr_t)ptr, -1);
    if (~(uintptr_t)ptr == last_alloc) {
        last_alloc = 0;
        struct tm__stack *s;
        if (!was && (s = tm__stack_get(b.stack))) {
            int solo = solo_enter();
            COUNTER_ADD(&s->temporary, 1, memory_order_relaxed);
            if (solo)
                solo_leave();
        }
    }
    unaccount_block(&b);
    if (was)
        *was = b;
    return 1;
}

void tm__restore(const struct tm__block *b)
{
    struct tm__block old;
    int rc = live_insert(b, &old);
    if (rc < 0) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    if (rc == 1)
        unaccount_block(&old);
    account(tm__stack_get(b->stack), (int64_t)b->size, b->count, 0);
    figures_add((int64_t)b->size);
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

static tm__lock dom_lock;
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
        if (live_insert(&b, &old) < 0)
            return -ENOMEM;
        account(tm__stack_get(stack), (int64_t)size, 1, 1);
        figures_add((int64_t)size);
        return 0;
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

static void stack_rows(tm__trace_fn fn, void *arg, int live_only)
{
    uint32_t limit = tm__stack_limit();
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (!s)
            continue;
        struct tm__trace_row r = {id, 0, 0, 0, 0, 0, 0};
        r.size = atomic_load(&s->live_size);
        r.count = atomic_load(&s->live_count);
        r.alloc_size = atomic_load(&s->alloc_size);
        r.alloc_count = atomic_load(&s->alloc_count);
        r.temporary = atomic_load_explicit(&s->temporary, memory_order_relaxed);
        if (r.count == 0 && r.size == 0 && (live_only || r.alloc_count == 0))
            continue;
        fn(&r, arg);
    }
}

static void domain_rows(tm__trace_fn fn, void *arg, int live_only)
{
    tm__lock_acquire(&dom_lock);
    for (size_t i = 0; i < dom_ncounters; i++) {
        const struct dom_counter *c = &dom_counters[i];
        if (live_only && c->count == 0)
            continue;
        struct tm__trace_row r = {c->stack, c->domain, c->size, c->count, c->alloc_size, c->alloc_count, 0};
        fn(&r, arg);
    }
    tm__lock_release(&dom_lock);
}

static void live_rows(tm__trace_fn fn, void *arg)
{
    stack_rows(fn, arg, 1);
    domain_rows(fn, arg, 1);
}

void tm__traces_foreach(tm__trace_fn fn, void *arg)
{
    stack_rows(fn, arg, 0);
    domain_rows(fn, arg, 0);
}

/* --- after fork --- */

static void rebuild_add(const struct tm__block *b, void *arg)
{
    int64_t *heap = arg;
    struct tm__stack *s = tm__stack_get(b->stack);
    if (s) {
        atomic_fetch_add_explicit(&s->live_size, (int64_t)b->size, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->live_count, (int64_t)b->count, memory_order_relaxed);
    }
    *heap += (int64_t)b->size;
}

/* A hook updates the live table under a shard lock but the counters after
 * it, without one, so a child forked between the two inherits counters
 * that disagree with its table (and go negative when it frees the block).
 * The tables are consistent (fork_prepare holds every lock): the child
 * recomputes the live figures from them. Allocated figures are raised to
 * the live ones where an allocation was not yet counted. */
void tm__figures_rebuild_unlocked(void)
{
    solo_after_fork();
    uint32_t limit = tm__stack_limit();
    for (uint32_t id = 1; id < limit; id++) {
        struct tm__stack *s = tm__stack_get(id);
        if (s) {
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

void tm__reset_peak(void)
{
    tm__lock_acquire(&peak_lock);
    int64_t cur = atomic_load(&tm__current);
    atomic_store(&tm__peak, cur);
    peak_nrows = 0;
    peak_recorded = 0;
    atomic_store(&peak_threshold, 0);
    tm__lock_release(&peak_lock);
}

void tm__clear_all(void)
{
    tm__live_clear();
    tm__stacks_reset_counters();
    tm__lock_acquire(&dom_lock);
    if (dom_blocks)
        memset(dom_blocks, 0, dom_cap * sizeof(*dom_blocks));
    dom_nblocks = 0;
    dom_ncounters = 0;
    tm__lock_release(&dom_lock);
    atomic_store(&tm__current, 0);
    tm__reset_peak();
    atomic_store(&tm__peak, 0);
}

int64_t tm__heap_current(void)
{
    return atomic_load_explicit(&tm__current, memory_order_relaxed);
}
