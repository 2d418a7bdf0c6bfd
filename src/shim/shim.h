/* shim.h - internal interfaces between the modules of libtracemem.so.
 *
 * The shim records and never symbolizes. Rules every module keeps:
 *  - Bookkeeping memory comes from tm__map() (mmap), never from the host's
 *    allocator, so recording can fail only by running out of address space;
 *    such a failure is counted in tm__lost and the host's call still succeeds.
 *  - Code that may run inside an allocation hook takes only the shim's own
 *    short locks (tm__lock) and makes no system call on the fast path.
 *  - errno seen by the host is exactly what the real allocator left.
 *
 * Lock order (outer first), also taken in this order by the fork handlers:
 *   snapshot mutex > sections > modules > peak > domain > arena > stack shards
 *   > live shards > per-thread figures' list (trace.c) > Python frames
 *   (pyframes.c).
 */
#ifndef TM_SHIM_H
#define TM_SHIM_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TM_EXPORT __attribute__((visibility("default")))
#define TM_LIKELY(x) __builtin_expect(!!(x), 1)
#define TM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TM_TLS __attribute__((tls_model("initial-exec")))

#define TM_DEFAULT_NFRAMES 64
#define TM_MAX_NFRAMES 256

/* --- the hooks' thread-local variables (hooks.c) ---
 * In one block: in a shared library each thread-local variable costs a
 * load of its offset from the GOT wherever a function first uses it, and
 * a hook in a program whose time goes into cache misses pays for every
 * load it adds (bench/README.md, session 15: ten loads a call made 4M
 * live blocks 22-29 % slower). The names below stay those of the
 * variables they were. */
struct tm__sizes_slab;
struct tm__hot {
    int in_hook;                        /* tm__in_hook */
    int64_t fast_left;                  /* sampled mode: the hooks' countdown (tm__fast_sampled) */
    struct tm__sizes_slab *sizes_mine;  /* tm__sizes_mine (sizes.c) */
    int64_t armed;                      /* what fast_left was set to (trace.c) */
    int64_t sample_left;                /* tm__sample_left (trace.c) */
    uintptr_t hook_ra;                  /* tm__hook_ra (unwind.c) */
    uintptr_t early_pc;                 /* tm__early_pc (unwind.c) */
    int *errp;                          /* this thread's errno (tm__errno) */
};
extern __thread struct tm__hot tm__hot TM_TLS;

/* This thread's errno, for the hooks' bookkeeping to keep: its address
 * found once (__errno_location is a call through the PLT; a new thread's
 * block starts zeroed, and errno's address is its thread's for life). */
static inline int *tm__errno(void)
{
    int *e = tm__hot.errp;
    if (TM_UNLIKELY(!e))
        e = tm__hot.errp = &errno;
    return e;
}

/* Non-zero while this thread runs shim code: allocations made then go
 * straight to the real allocator and are not traced. */
#define tm__in_hook (tm__hot.in_hook)

/* --- spin lock: short critical sections only ---
 * The lock word holds its owner's token (the address of a thread-local
 * byte, unique among live threads), so a thread can tell that a lock is
 * held by a frame of its own that a signal handler interrupted. That can
 * only end in a wait forever; a thread in "rescue" mode (the at-exit
 * snapshot reached from such a handler, which never returns to the
 * interrupted frame) borrows the lock instead: it goes on without taking
 * it, and its matching release leaves it held (util.c). The structures
 * under such a lock may be in the middle of one update; every writer keeps
 * them safe to read at any instruction (see live.c's resize). */

typedef struct {
    atomic_uintptr_t held; /* 0 free, else the owner's token */
} tm__lock;

extern __thread char tm__lock_self TM_TLS;
extern __thread int tm__lock_rescue TM_TLS;   /* borrow locks this thread holds */
extern __thread int tm__lock_nborrow TM_TLS;  /* locks borrowed, not yet given back */

static inline uintptr_t tm__lock_token(void)
{
    return (uintptr_t)&tm__lock_self;
}

static inline void tm__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void tm__lock_acquire_slow(tm__lock *l, uintptr_t me);
int tm__lock_give_back(tm__lock *l);

static inline void tm__lock_acquire(tm__lock *l)
{
    uintptr_t me = tm__lock_token(), none = 0;
    if (TM_LIKELY(atomic_compare_exchange_weak_explicit(&l->held, &none, me, memory_order_acquire,
                                                        memory_order_relaxed)))
        return;
    tm__lock_acquire_slow(l, me);
}

static inline int tm__lock_try(tm__lock *l)
{
    uintptr_t none = 0;
    return atomic_compare_exchange_strong_explicit(&l->held, &none, tm__lock_token(), memory_order_acquire,
                                                   memory_order_relaxed);
}

static inline void tm__lock_release(tm__lock *l)
{
    if (TM_UNLIKELY(tm__lock_nborrow) && tm__lock_give_back(l))
        return;
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

/* The same for the shim's pthread mutexes (snapshot, sections, modules). */
#include <pthread.h>
void tm__mutex_lock(pthread_mutex_t *m);
void tm__mutex_unlock(pthread_mutex_t *m);

/* --- configuration and global state (control.c) --- */

enum tm__at_exit_mode { TM_AT_EXIT_LEAKS, TM_AT_EXIT_SNAPSHOT, TM_AT_EXIT_NONE };

struct tm__config {
    int start;              /* TRACEMEM_START */
    int at_exit;            /* enum tm__at_exit_mode */
    int signo;              /* TRACEMEM_SIGNAL, 0 = none */
    double interval;        /* TRACEMEM_INTERVAL seconds, 0 = off */
    uint64_t sample_bytes;  /* TRACEMEM_SAMPLE, 0 = exact */
    double peak_inaccuracy; /* TRACEMEM_PEAK_INACCURACY percent, 0 = off */
    int follow_fork;
    int follow_exec;
    char output[1024];      /* TRACEMEM_OUTPUT template */
};

extern struct tm__config tm__cfg;
extern atomic_int tm__tracing;     /* 1 while tracing */
extern atomic_int tm__nframes;     /* traceback limit, 1..256 */
extern atomic_uint_fast64_t tm__lost; /* records that could not be kept */
extern pid_t tm__pid;              /* the process the shim belongs to */
extern atomic_int tm__deferred;    /* nonzero: a signal or interval snapshot may be due */

/* Writes the signal or interval snapshot that is due, if any; hooks call it
 * when tm__deferred is set, after leaving their locks. */
void tm__run_deferred(void);

/* Reads the environment and starts tracing; safe inside the first
 * allocation of the process. Idempotent. */
void tm__early_init(void);
/* Loads the unwinder, reads the module map, installs the fork and exit
 * handlers and the snapshot signal (from the constructor). Idempotent. */
void tm__init(void);
/* Writes the at-exit snapshot once (from exit or _exit). */
void tm__at_exit(void);
/* The same, for a process about to die of signal 'sig' (fatal.c). */
void tm__at_fatal_signal(int sig);
extern int tm__fatal_signo; /* that signal, 0 if none */
/* Takes over the signals whose default action ends the process while the
 * program leaves them at SIG_DFL (fatal.c). */
void tm__fatal_init(void);
/* 1 when called in the process that owns the state (not a vfork child). */
int tm__own_process(void);
/* 1 when the shim stays out of the way (setuid, or an unfollowed child). */
int tm__is_disabled(void);

/* --- loaded into a running process (attach.c) --- */

/* 1 when the shim was loaded by dlopen after start-up (tracemem attach):
 * the constructor then leaves start-up to tm__attach_start(). */
int tm__attach_loaded_late(void);
/* Patches the modules dlopen()ed since; from tm__run_deferred(). */
extern atomic_int tm__attach_pending;
void tm__attach_repatch(void);
/* Unix time of the attach, 0 when not attached (snapshot.attached_at). */
extern uint64_t tm__attached_at;
/* control.c's start-up and stop for an attach: no environment, no
 * fatal-signal handlers; handlers registered once for all attaches. */
void tm__init_attached(void);
void tm__stop_attached(void);
/* The injector's entry points (exported, not public API): start tracing
 * with the configuration 'conf' ("key=value" lines); stop it, writing the
 * last snapshot. 0 or -errno. */
TM_EXPORT int tm__attach_start(const char *conf);
TM_EXPORT int tm__attach_stop(void);

/* --- real allocator (bootstrap.c) --- */

struct tm__real_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    int (*dlclose)(void *);
    void (*exit_)(int);
    void (*Exit_)(int);
};

extern struct tm__real_fns tm__real;

/* Resolves the next definitions of the allocation functions. While it runs
 * (dlsym may allocate) allocations are served from a static pool. */
void tm__resolve_real(void);
/* The same from the library 'handle' (a shim loaded late: attach.c). */
void tm__resolve_real_from(void *handle);
/* dlsym(RTLD_NEXT, 'name') with this thread's allocations untraced (dlsym
 * may allocate): for the functions interposed after start-up. */
void *tm__next_symbol(const char *name);
void *tm__boot_alloc(size_t size, size_t align);
int tm__is_boot(const void *p);
size_t tm__boot_size(const void *p);

/* --- raw memory (src/common/rawmem.c) --- */
#include "common/rawmem.h"

/* --- stack capture (unwind.c) --- */

/* Loads libunwind privately. Without it stacks are empty. */
void tm__unwind_init(void);
/* Stores up to 'max' return addresses of the calling program, innermost
 * first, the shim's and the unwinder's own frames left out; '*depth' gets
 * the true depth. Returns the number stored. */
int tm__capture(uintptr_t *pcs, int max, uint32_t *depth);
/* The same through the thread's stack cache (unwind.c): 'memo->id' is
 * the stack id known for a proven stack (0: none). A native stack is then
 * given to tm__capture_finish, which returns its id (0: could not intern)
 * and keeps it for the next capture of the same stack; a stack that got
 * Python frames ends with tm__capture_release instead. */
struct tm__capture_memo {
    uint32_t id;
    void *entry;
    /* set by the caller: a cached stack whose id is known may be returned
     * without its pcs ('pcs' then unread; read them only when 'id' is 0) */
    int lazy;
};
int tm__capture_memo(uintptr_t *pcs, int max, uint32_t *depth, struct tm__capture_memo *memo);
uint32_t tm__capture_finish(struct tm__capture_memo *memo, const uintptr_t *pcs, int n, uint32_t depth);
/* For pyframes.c, which keys its merged stacks by the native stack's id:
 * gives the native stack's id to the cache entry of 'memo' (when it has
 * none); and, when the merged stack's id was found there, ends the capture
 * without tm__capture_finish (the entry is no longer busy). */
void tm__capture_remember(struct tm__capture_memo *memo, uint32_t id);
void tm__capture_release(struct tm__capture_memo *memo);
/* Stack cache figures summed over threads: hits, misses, mismatches
 * (TRACEMEM_VERIFY_STACKS), misses that could not be cached, misses that
 * took their outer frames from an earlier stack. */
void tm__stack_cache_stats(uint64_t out[5]);
extern int tm__verify_stacks;
/* The return address of the outermost hook of this allocation (0: none);
 * only chooses a stack cache entry. */
#define tm__hook_ra (tm__hot.hook_ra) /* in struct tm__hot */
/* Redirects the descriptor calls of the libunwind loaded as 'handle' so it
 * holds no descriptor (unwfd.c); returns the GOT slots redirected, or -1. */
int tm__unwind_hide_fds(void *handle);
/* 1 when 'pc' lies in the shim's own code. */
int tm__pc_in_shim(uintptr_t pc);
/* From the shim's exit handler: the stack pointer and callee-saved
 * registers (rbx, rbp, r12-r15) of the first frame above the shim's and
 * the C library's and loader's (exit's) own; 0 when it cannot tell. */
#define TM_EXIT_REGS 6
int tm__exit_frame(uintptr_t *sp, uintptr_t regs[TM_EXIT_REGS]);
/* 1 when 'pc' lies in the code of the libunwind the shim loaded, or that
 * is not known yet (before it is loaded, or when it could not be). */
int tm__pc_in_unwinder(uintptr_t pc);

/* Until the unwinder is loaded (the constructors of libraries initialized
 * before the shim's, or for good when libunwind cannot be loaded) a stack
 * is only the caller of the allocation function: the entry points note
 * their return address in tm__early_pc, and tm__capture() uses it. */
extern atomic_int tm__no_unwinder;
#define tm__early_pc (tm__hot.early_pc) /* in struct tm__hot */

/* Notes 'ra' as the caller when there is no unwinder and no outer entry
 * point (operator new calling malloc) noted one. Returns 1 when it did:
 * the caller clears tm__early_pc when it leaves. */
static inline int tm__note_caller(void *ra)
{
    if (TM_LIKELY(!atomic_load_explicit(&tm__no_unwinder, memory_order_relaxed)) || tm__early_pc)
        return 0;
    tm__early_pc = (uintptr_t)ra;
    return 1;
}

/* --- Python frames (pyframes.c) ---
 * A Python frame in a stack's pcs is TM_PY_TAG | id, never an address:
 * code that treats pcs as addresses skips tagged values. */

#define TM_PY_TAG ((uintptr_t)1 << 63)

static inline int tm__pc_is_py(uintptr_t pc)
{
    return (pc & TM_PY_TAG) != 0;
}

/* A Python frame: its strings live as long as the process. 'line' is 0
 * when unknown. */
struct tm__pyframe {
    const char *file, *function;
    int line;
};

/* When the calling thread runs Python code: replaces the CPython
 * evaluation loop's frames among the 'n' pcs just captured (true depth
 * 'depth', 'memo' from tm__capture_memo) by the Python frames they run,
 * innermost first, keeping at most 'max', and returns the id of the stack
 * interned, with '*merged' 1 ('pcs' then changed). '*merged' 0: the stack
 * is the native one ('pcs' unchanged; returns its id or 0). A thread's
 * merged stacks seen last are remembered by all that decides them (the
 * native stack by its id: a stack cache entry without one is given one,
 * tm__capture_remember), so a repeated capture neither merges nor
 * interns. Safe inside the allocation hooks and in a signal handler
 * interrupting them. */
struct tm__capture_memo;
/* 1 when tm__py_stack would merge no Python frames into any stack now
 * (no interpreter found, and no module loaded since it looked). */
int tm__py_absent(void);
uint32_t tm__py_stack(uintptr_t *pcs, int n, int max, uint32_t depth, struct tm__capture_memo *memo, int *merged);
/* The frame of tagged value 'pc', or NULL. */
const struct tm__pyframe *tm__pyframe_get(uintptr_t pc);
/* The line of byte offset 'addr' (2 * instruction index) in a code object's
 * location table 't' of 'len' bytes (co_linetable, 3.11 to 3.13), the
 * code's first line 'firstlineno'; -1 when the table gives none (an entry
 * without location, an offset past the table, a table not well formed). */
int tm__py_line(const unsigned char *t, size_t len, int firstlineno, int addr);
/* The interpreter found: 1 frames shown, -1 a version without a layout,
 * 0 none; 'version' gets PY_VERSION_HEX (0 when unknown), 'runtime' the
 * address of _PyRuntime. */
int tm__py_info(unsigned long *version, uintptr_t *runtime);
/* The leaf lock of the Python frame tables (fork). */
void tm__py_lock(void);
void tm__py_unlock(void);
/* Code objects freed through free() or realloc() (tm__py_freeing): how
 * pyframes.c knows that a code object it met in a malloc'd block is still
 * the same one. 'tm__py_watch' is PyCode_Type's address once an
 * interpreter is found (0 before). */
extern uintptr_t tm__py_watch;
extern _Atomic uint64_t tm__py_code_frees;
/* Called by the free hooks with a block about to be freed when
 * tm__py_watch is set: counts it when it is a code object (its ob_type;
 * a block whose second word may lie past its page is counted unread). */
static inline void tm__py_freeing(const void *p)
{
    if (((uintptr_t)p & 4095) > 4096 - 16 || ((const uintptr_t *)p)[1] == tm__py_watch)
        atomic_fetch_add_explicit(&tm__py_code_frees, 1, memory_order_relaxed);
}

/* --- interned stacks (stacks.c) ---
 * A stack is immutable once interned and never freed: ids stay valid for the
 * life of the process. Id 0 means "no stack". The counters are per stack for
 * domain 0 (the heap); other domains keep theirs in trace.c. */

struct tm__stack {
    uint64_t hash;
    uint32_t id;
    uint32_t epoch;   /* module epoch when interned (modules.c) */
    uint32_t depth;   /* true depth before truncation */
    uint16_t nframes; /* frames stored */
    uint16_t peak_dirty; /* live counters changed since the peak record's last take (trace.c) */
    atomic_int_least64_t live_size, live_count;
    atomic_int_least64_t alloc_size, alloc_count;
    atomic_int_least64_t temporary; /* freed before the thread allocated again */
    uintptr_t pcs[];
};

uint32_t tm__stack_intern(const uintptr_t *pcs, int n, uint32_t depth);
struct tm__stack *tm__stack_get(uint32_t id);
/* One more than the highest id handed out. */
uint32_t tm__stack_limit(void);
void tm__stacks_reset_counters(void);
void tm__stacks_lock_all(void);
void tm__stacks_unlock_all(void);

/* --- live blocks (live.c) ---
 * Sharded open-addressing table keyed by block address. 'size' and 'count'
 * are what the block contributes to its stack's counters (scaled when
 * sampling). Stored in 12 bytes a block (under 15 with the free slots)
 * when count is 1, the size under 1 MiB and the address 16-aligned below
 * 2^48; whole, in a side table, otherwise. */

struct tm__block {
    uintptr_t ptr;
    uint64_t size;
    uint32_t stack;
    uint32_t count;
};

/* What the allocator left in a block's first words (stale.c); all zero:
 * none. */
struct tm__note {
    uint64_t lo, hi;
};

/* Inserts; when a block at the same address was already recorded (its free
 * went unseen) it is replaced and returned in '*old' with 1. Returns -1 when
 * no memory was left for the table. The _fig form also calls
 * tm__figures_locked('b', the old block or NULL, 'flags') under the shard
 * lock when it returns 0 or 1 (the plain form changes the table only). */
int tm__live_insert(const struct tm__block *b, struct tm__block *old);
int tm__live_insert_fig(const struct tm__block *b, struct tm__block *old, unsigned flags);
/* tm__live_insert_fig of a block with a note (stale.c), kept with it
 * until it leaves the table; when no room is left for the note, the
 * block goes in without it. */
int tm__live_insert_note_fig(const struct tm__block *b, const struct tm__note *note, struct tm__block *old,
                             unsigned flags);
/* Starts loading the table's cache line for 'ptr' (no lock; a hint), a
 * block of 'size' bytes, and its note's when 'noted' (stale.c), and for a
 * block expected later when the thread's blocks come one after the other
 * ('prev': its last block's address). */
void tm__live_prefetch(uintptr_t ptr, size_t size, uintptr_t prev, int noted);
/* Removes the block at 'ptr' into '*out'; 1 found, 0 not traced. The _fig
 * form, when found, also calls tm__figures_locked(NULL, 'out', 'flags')
 * under the shard lock. */
int tm__live_remove(uintptr_t ptr, struct tm__block *out);
int tm__live_remove_fig(uintptr_t ptr, struct tm__block *out, unsigned flags);
/* The same, with the block's note into '*note' (zero: none). */
int tm__live_remove_note_fig(uintptr_t ptr, struct tm__block *out, struct tm__note *note, unsigned flags);
/* The note of the block at 'ptr'; 1 found. Neither takes a lock (the
 * caller holds tm__live_lock_all()) nor calls libc. */
int tm__live_note_unlocked(uintptr_t ptr, struct tm__note *note);
/* Calls 'fn' with the address of every block that has a note. */
size_t tm__live_notes_foreach_unlocked(void (*fn)(uintptr_t ptr, void *arg), void *arg);
int tm__live_find(uintptr_t ptr, struct tm__block *out);
/* Empties the table (_unlocked: the caller holds tm__live_lock_all()). */
void tm__live_clear(void);
void tm__live_clear_unlocked(void);
void tm__live_lock_all(void);
void tm__live_unlock_all(void);
/* Calls 'fn' for every block; the caller holds tm__live_lock_all(). */
size_t tm__live_foreach_unlocked(void (*fn)(const struct tm__block *b, void *arg), void *arg);
/* The same for the blocks of shards [first, last) of TM_LIVE_SHARDS, and
 * their number (the leak scan copies halves of the table on two threads).
 * Neither takes a lock nor calls libc. */
#define TM_LIVE_SHARDS 128
size_t tm__live_foreach_shards_unlocked(unsigned first, unsigned last,
                                        void (*fn)(const struct tm__block *b, void *arg), void *arg);
size_t tm__live_count_shards_unlocked(unsigned first, unsigned last);
size_t tm__live_count(void);
/* Calls 'fn' with each shard's slot array and the spare array (memory
 * the leak scan must not take for a root); the caller holds
 * tm__live_lock_all(). */
void tm__live_tables_unlocked(void (*fn)(const void *slots, size_t bytes, void *arg), void *arg);

/* --- recording and figures (trace.c) --- */

/* The figures of a live-table change: block 'in' (NULL: none) enters, block
 * 'out' (NULL: none) leaves. TM_FIG_ALLOC: 'in' is a new allocation;
 * TM_FIG_TEMP: 'out' is this thread's last allocation (a temporary one).
 * Called by live.c with the block's shard lock held: a thread changes its
 * per-thread figures only under some shard lock, so tm__live_lock_all()
 * excludes every change. */
#define TM_FIG_ALLOC 1u
#define TM_FIG_TEMP 2u
/* TM_FIG_SOLO (to the _fig forms): the caller is the solo owner inside an
 * update (trace.c, "solo mode"): live.c takes no shard lock. Any other
 * thread calls tm__solo_exclude() before it takes a shard lock. */
#define TM_FIG_SOLO 4u
void tm__solo_exclude(void);
void tm__figures_locked(const struct tm__block *in, const struct tm__block *out, unsigned flags);
/* memory.current, exact: the published figure plus every thread's share. */
int64_t tm__figures_current(void);

/* Records a new heap block the host just received, with a note of its
 * first words when they look like the allocator's (stale.c). */
void tm__record_new(void *ptr, size_t size);
/* The same without reading the block (its memory may not be there). */
void tm__record(void *ptr, size_t size);
/* The same for the result of a realloc: 'old' is the old block's note
 * (tm__forget_realloc), carried for the words the copy still holds. */
void tm__record_realloc(void *ptr, size_t size, const struct tm__note *old);
/* Forgets a heap block the host is about to free; 1 when it was traced. */
int tm__forget(void *ptr, struct tm__block *was);
/* The same for a realloc, with the block's note into '*note'. */
int tm__forget_realloc(void *ptr, struct tm__block *was, struct tm__note *note);
/* Puts back a block forgotten by a realloc that then failed, with its
 * note ('note' NULL or zero: none). */
void tm__restore(const struct tm__block *b, const struct tm__note *note);

/* Sampled mode's countdown of this thread (trace.c): bytes left to the
 * next sampled one. tm__record takes it down by each block's size and
 * samples the block that takes it to 0 or below.
 * The hooks do not touch it: they count down tm__hot.fast_left, which
 * tm__record sets ("arms") to the smaller of tm__sample_left and the
 * timeline's clock budget (tm__timeline_budget), and notes in
 * tm__hot.armed. A block that leaves fast_left above 0 is only counted in
 * the histogram (tm__sizes_add), inline in the hook; the block that
 * takes it to 0 or below goes to tm__record, which first takes
 * tm__sample_left down by what the hooks counted (armed - fast_left), so
 * the sampling is exactly that of one countdown over every byte. */
#define tm__sample_left (tm__hot.sample_left) /* in struct tm__hot */

/* 1 while tracing in sampled mode: the hooks may count down fast_left.
 * Set with tm__tracing by tm__set_tracing(). */
extern atomic_int tm__fast_sampled;
/* Starts (1) or stops (0) tracing: tm__tracing and tm__fast_sampled. */
void tm__set_tracing(int on);

/* Sampled mode: 2^16 counters, one per 32-byte granule of a 2 MiB window
 * (trace.c, "which addresses may be in the live table"); a zero counter
 * proves that no traced block starts at the address. NULL before the
 * first sampled block; TM_MAYBE_BROKEN when the table could not be mapped
 * (then for good: every free asks the live table). */
extern _Atomic(uint8_t *) tm__maybe_tab;
#define TM_MAYBE_BROKEN ((uint8_t *)1)
#define TM_MAYBE_BITS 16
#define TM_MAYBE_GRANULE 5

static inline size_t tm__maybe_idx(uintptr_t p)
{
    return (size_t)(p >> TM_MAYBE_GRANULE) & (((size_t)1 << TM_MAYBE_BITS) - 1);
}

/* 0 when the block at 'p' is certainly not in the live table. */
static inline int tm__maybe_live(uintptr_t p)
{
    if (!tm__cfg.sample_bytes)
        return 1;
    uint8_t *tab = atomic_load_explicit(&tm__maybe_tab, memory_order_acquire);
    if (tab == TM_MAYBE_BROKEN)
        return 1;
    return tab && atomic_load_explicit((_Atomic uint8_t *)&tab[tm__maybe_idx(p)], memory_order_relaxed) != 0;
}

/* The same table for free()'s first test, one load: set in sampled mode
 * once the table exists and the boot pool's blocks are marked in it
 * (sticky counters: a boot block is never handed to the real free),
 * NULL otherwise (exact mode: the table may be left from a sampled
 * attach, and exact mode does not count its blocks in it). */
extern _Atomic(uint8_t *) tm__maybe_fast;
/* Marks [lo, hi) as "maybe" for good (the boot pool's blocks, hooks.c). */
void tm__maybe_pin(uintptr_t lo, uintptr_t hi);
/* The boot pool's blocks handed out so far: [lo, hi) (hooks.c). */
void tm__boot_range(uintptr_t *lo, uintptr_t *hi);

/* 1 when the table proves that no traced block starts at 'p' (then a
 * block was sampled: the real functions are known). */
static inline int tm__maybe_none(uintptr_t p)
{
    uint8_t *tab = atomic_load_explicit(&tm__maybe_fast, memory_order_acquire);
    return tab && !atomic_load_explicit((_Atomic uint8_t *)&tab[tm__maybe_idx(p)], memory_order_relaxed);
}

/* tm__current is the heap's bytes as published: exact while one thread
 * records, short by what threads have not yet published otherwise
 * (tm__figures_current() adds it). tm__peak: see trace.c. */
extern atomic_int_least64_t tm__current, tm__peak;

void tm__clear_all(void);
void tm__reset_peak(void);
/* In a forked child, with every table lock held: live figures recomputed
 * from the live table (trace.c). */
void tm__figures_rebuild_unlocked(void);

/* Custom domains (tracemem_track); domain 0 goes to the live table. */
int tm__domain_track(unsigned domain, uintptr_t ptr, size_t size);
int tm__domain_untrack(unsigned domain, uintptr_t ptr);

/* Trace rows for snapshots: heap stacks and other domains alike. */
struct tm__trace_row {
    uint32_t stack;
    uint32_t domain;
    int64_t size, count, alloc_size, alloc_count;
    int64_t temporary; /* heap rows only */
};
typedef void (*tm__trace_fn)(const struct tm__trace_row *row, void *arg);
void tm__traces_foreach(tm__trace_fn fn, void *arg);
/* The per-stack live set recorded near the peak; returns its 'current'. */
int64_t tm__peak_foreach(tm__trace_fn fn, void *arg);
/* Re-records the peak live set now if the process sits at its peak. */
void tm__peak_refresh(void);
void tm__peak_lock(void);
void tm__peak_unlock(void);
void tm__domain_lock(void);
void tm__domain_unlock(void);
/* Adds to the figures of ('stack', 'domain') without a block table (the
 * mmap domain keeps its ranges in mmaps.c) and without touching the heap's
 * figures; 'alloc' counts an allocation. Caller holds tm__domain_lock(). */
void tm__domain_adjust_unlocked(unsigned domain, uint32_t stack, int64_t size, int64_t count, int alloc);
/* The calling program's stack, interned (0 when it could not be). */
uint32_t tm__capture_stack(void);


/* --- memory over time (timeline.c) --- */

/* Reads TRACEMEM_TIMELINE and maps the arrays (from tm__init). */
void tm__timeline_init(void);
int tm__timeline_enabled(void);
/* Spacing of samples now, ns (grows as the run coarsens); 0 when off. */
int64_t tm__timeline_resolution(void);
/* 1 when a sample is due at 'coarse_now' (CLOCK_MONOTONIC_COARSE ns). */
int tm__timeline_due(int64_t coarse_now);
/* A thread's countdown to its next clock read (in its sizes slab). */
struct tm__tick {
    uint32_t skip, level;
    int64_t last;
};
/* Exact mode, every traced allocation (sampled mode counts bytes in the
 * hooks' countdown instead: tm__timeline_budget): counts down 't' and,
 * when it runs out, reads the coarse clock and sets tm__deferred if a
 * sample is due ('t' NULL: reads it now). No lock, no locked
 * instruction. */
static inline void tm__timeline_count(struct tm__tick *t);
void tm__timeline_tick(struct tm__tick *t);
/* Sampled mode: the bytes the thread of 't' may allocate before it next
 * reads the clock (tm__timeline_tick): from 4 KiB for a thread whose
 * clock reads are far apart to 64 KiB for one that reads it often; no
 * limit when the timeline is off. */
int64_t tm__timeline_budget(const struct tm__tick *t);
/* Takes the due sample; from tm__run_deferred with no lock held. */
void tm__timeline_sample(int64_t coarse_now);
void tm__timeline_after_fork_child(void);
/* Starts a new timeline (tracemem_stop, tracemem_clear_traces). */
void tm__timeline_clear(void);
static inline void tm__timeline_count(struct tm__tick *t)
{
    if (TM_LIKELY(t && t->skip)) {
        t->skip--;
        return;
    }
    tm__timeline_tick(t);
}
/* Snapshot writer: samples now, notes the snapshot 'reason', copies the
 * timeline and calls 'want' with each stack id its rows name; 1 when there
 * is one to write. Then tm__timeline_write() (writer.h) writes the copy. */
int tm__timeline_gather(int reason, void (*want)(uint32_t id, void *arg), void *arg);

/* --- what the allocator left in new blocks (stale.c) --- */
#define TM_STALE_WORDS 16
#define TM_STALE_LARGE 1000
/* In a note's 'hi': the note is of a mangled first word (stale.c): 'lo' is
 * its value, the rest of 'hi' the page it was mangled with. */
#define TM_NOTE_MANGLED ((uint64_t)1 << 63)
/* Where the main arena's heap can start: the end of the executable. */
extern uintptr_t tm__stale_heap_lo;
/* 1 when 'v', found in the block at 'ptr', looks like an allocator's
 * link: 16-aligned, and in the main heap (the 4 GiB after the
 * executable) for a block there, else in the block's 64 MiB-aligned
 * window (a glibc arena's heap). Not a pointer to the executable's data
 * (a dead object's type, say), which lies below the main heap. */
static inline int tm__stale_near(uintptr_t v, uintptr_t ptr)
{
    const uintptr_t main_span = (uintptr_t)1 << 32;
    if (v & 15)
        return 0;
    if (ptr - tm__stale_heap_lo < main_span)
        return v - tm__stale_heap_lo < main_span;
    return ((v ^ ptr) >> 26) == 0;
}
/* 1 when 'v', the first word of the block at 'ptr', looks like a link of
 * glibc's tcache or fastbins mangled by safe-linking (glibc 2.32 and later
 * keep the next entry's address xor ptr >> 12) that lands in the block's
 * own heap, as it does where the heap lies low (a program built without
 * PIE): near, and what it hides a link. Elsewhere the xor moves such a
 * word far from any heap (the first test fails: one compare). */
static inline int tm__stale_mangled(uintptr_t v, uintptr_t ptr)
{
    return tm__stale_near(v & ~(uintptr_t)15, ptr) && tm__stale_near(v ^ (ptr >> 12), ptr);
}
/* The note of the new block at 'ptr' of 'size' bytes in '*out': 1 made
 * (some of its first words look like links), 0 none. */
int tm__stale_make(uintptr_t ptr, size_t size, struct tm__note *out);
/* The note of the first word alone, a mangled link (the chunk came from
 * tcache or a fastbin, whose deeper words the shim never looks at). */
int tm__stale_make_first(uintptr_t ptr, struct tm__note *out);
/* tm__stale_make, when the block's first or second word looks like a link
 * (a chunk glibc took from a bin), or its third or fourth in a block of
 * TM_STALE_LARGE bytes or more, or in a smaller one whose first two words
 * are equal (a large bin's nextsize links, its fd and bk being the bin's,
 * in libc, when the chunk was the bin's only one; a small block cut from
 * the front of such a chunk keeps all four): loads from a line the
 * allocator has just touched. A block from tcache (a mangled link, then zero) ends
 * there, with tm__stale_make_first where the heap lies low and its first
 * word looks like a mangled link (tm__stale_mangled; a raw link there too,
 * 1 page in 16: the note holds either just as well). */
static inline int tm__stale_note(uintptr_t ptr, size_t size, struct tm__note *out)
{
    const uintptr_t *d = (const uintptr_t *)ptr;
    if (size < sizeof(uintptr_t) || (ptr & 15))
        return 0;
    int rest = size >= 2 * sizeof(uintptr_t) &&
               (tm__stale_near(d[1], ptr) ||
                ((size >= TM_STALE_LARGE || (size >= 4 * sizeof(uintptr_t) && d[0] == d[1] && d[0])) &&
                 (tm__stale_near(d[2], ptr) || tm__stale_near(d[3], ptr))));
    if (TM_UNLIKELY(!rest && tm__stale_mangled(d[0], ptr)))
        return tm__stale_make_first(ptr, out);
    if (rest || tm__stale_near(d[0], ptr))
        return tm__stale_make(ptr, size, out);
    return 0;
}
/* Bit k set: word k of the block at 'ptr' of 'size' bytes still matches
 * the note. No lock, no libc. */
unsigned tm__stale_match(const struct tm__note *note, uintptr_t ptr, size_t size);
/* The note of a realloc's new block at 'ptr' from the old block's note:
 * the words its copy still holds. 1 made. */
int tm__stale_carry(const struct tm__note *old, uintptr_t ptr, size_t size, struct tm__note *out);

/* --- size histograms (sizes.c) --- */

/* Counts one allocation of 'size' bytes (tm__record); no locked
 * instruction. Inline below, tm__sizes_count_slow before the thread's
 * slab is known. */
void tm__sizes_count_slow(size_t size);

/* A thread's counts (sizes.c): cache-line aligned, only its thread
 * writes them. An allocation below 4 GiB adds to one word of its bucket,
 * pk[b]: the count in bits 40-62, the bytes in bits 0-38. A count that
 * reaches bit 63, or bytes that reach bit 39, are moved to cb[b] ([0]
 * count, [1] bytes) by tm__sizes_spill (so an add below 2^32 never
 * carries into the count). A reader adds cb and pk. */
#define TM_SIZES_NBUCKETS 65
#define TM_PK_COUNT_SHIFT 40
#define TM_PK_BYTES_MASK ((1ull << TM_PK_COUNT_SHIFT) - 1)
#define TM_PK_FULL ((1ull << 63) | (1ull << 39))
struct tm__sizes_slab {
    atomic_uintptr_t owner; /* tm__lock_token() of its thread, 0 free */
    struct tm__tick tick;   /* the timeline's countdown for this thread */
    atomic_uint_least64_t pk[TM_SIZES_NBUCKETS];
    atomic_uint_least64_t cb[TM_SIZES_NBUCKETS][2] __attribute__((aligned(16)));
} __attribute__((aligned(64)));
/* The calling thread's slab once tm__sizes_count has found it (NULL before,
 * and for good in a thread that got none). */
#define tm__sizes_mine (tm__hot.sizes_mine) /* in struct tm__hot */

void tm__sizes_spill(struct tm__sizes_slab *s, unsigned b);

static inline unsigned tm__sizes_bucket(uint64_t size)
{
    return size ? 64 - (unsigned)__builtin_clzll(size) : 0;
}

/* Counts 'size' (below 2^32) in the thread's own slab 's'. */
static inline void tm__sizes_add(struct tm__sizes_slab *s, size_t size)
{
    unsigned b = tm__sizes_bucket(size);
    /* only this thread writes its slab: a plain add, stored atomically for readers */
    uint64_t v = atomic_load_explicit(&s->pk[b], memory_order_relaxed) + ((1ull << TM_PK_COUNT_SHIFT) | size);
    atomic_store_explicit(&s->pk[b], v, memory_order_relaxed);
    if (TM_UNLIKELY(v & TM_PK_FULL))
        tm__sizes_spill(s, b);
}

/* Sampled mode's common case, for the hooks: 1 when the thread's
 * countdown stays above 0 after 'size' bytes: the block is then only
 * counted in the histogram (tm__sample_left). Calls nothing, sets no
 * errno, takes no lock. 0: it changed nothing, the caller goes on to
 * tm__record (when tracing). A countdown above 0 proves that the thread's
 * slab is its own (tm__record arms it only then) and 'size' below 2^31. */
static inline int tm__sample_pass(size_t size)
{
    if (!atomic_load_explicit(&tm__fast_sampled, memory_order_relaxed))
        return 0;
    struct tm__hot *h = &tm__hot;
    int64_t left = h->fast_left - (int64_t)size;
    if (TM_LIKELY(left > 0) && TM_LIKELY(!h->in_hook)) {
        h->fast_left = left;
        tm__sizes_add(h->sizes_mine, size);
        return 1;
    }
    return 0;
}

static inline void tm__sizes_count(size_t size)
{
    struct tm__sizes_slab *s = tm__sizes_mine;
    if (TM_UNLIKELY(!s || size >> 32)) {
        tm__sizes_count_slow(size);
        return;
    }
    tm__sizes_add(s, size);
}

/* --- the program's anonymous mmap and brk memory (mmaps.c) --- */

/* The domain its figures are kept in (TRACEMEM_DOMAIN_MMAP). */
#define TM_DOMAIN_MMAP 65535u
/* A mapping [lo, hi) the program made, or the break grown to hi. */
void tm__maps_add(uintptr_t lo, uintptr_t hi);
/* [lo, hi) unmapped (munmap, a shrunk break, MAP_FIXED over it). */
void tm__maps_remove(uintptr_t lo, uintptr_t hi);
/* mremap(): [old, old + old_size) now at [new, new + new_size), with the
 * stack it had (nothing when it was not traced). */
void tm__maps_move(uintptr_t old, size_t old_size, uintptr_t new, size_t new_size);
/* Calls 'fn' with each traced range; the caller holds tm__domain_lock(). */
void tm__maps_foreach_unlocked(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);

/* --- where the resident memory goes (rss.c) --- */

#define TM_RSS_MAX_ARENAS 64
enum { TM_RSS_HEAP, TM_RSS_MMAP, TM_RSS_STACKS, TM_RSS_MODULES, TM_RSS_FILES, TM_RSS_SHIM, TM_RSS_OTHER,
       TM_RSS_NCAT };

struct tm__rss {
    int ok, have_malloc;
    uint64_t kernel_rss;           /* smaps_rollup's Rss after the walk */
    uint64_t kernel_before;        /* ... and before it */
    uint64_t vma_rss, vma_size;    /* the sums over smaps' mappings */
    uint64_t swap;
    uint64_t rss[TM_RSS_NCAT], size[TM_RSS_NCAT];
    uint64_t heap_mappings;
    uint64_t malloc_free, malloc_in_use, malloc_mapped; /* mallinfo2 */
    /* malloc's arenas: [0] the main one ([heap]), then one per other arena
     * (its heaps grouped by their heap_info's ar_ptr); the chunks malloc
     * maps for large blocks are in no arena */
    size_t narenas;
    struct {
        uintptr_t id;
        uint64_t rss, size, heaps;
    } arenas[TM_RSS_MAX_ARENAS];
};

/* Set by _exit/_Exit: the exit snapshot must not call into malloc (a
 * signal handler may have interrupted it). */
extern int tm__exit_async;

/* Parses lowercase hex digits at '*p', advancing it (leakscan.c). */
uintptr_t tm__parse_hex(const char **p);
/* 1 when [lo, hi) is one of glibc's non-main arena heaps, by its
 * heap_info header (leakscan.c): read in place (the program's threads
 * stopped), or given as the first four words 'h'. */
int tm__is_arena_heap(uintptr_t lo, uintptr_t hi);
int tm__arena_header_ok(uintptr_t lo, uintptr_t hi, const uintptr_t *h);

/* Reads smaps and classifies every mapping; 'malloc_ok': mallinfo2() may
 * be called (no lock of malloc's can be held by this thread). 0 or -1. */
int tm__rss_measure(struct tm__rss *r, int malloc_ok);
/* Calls 'fn' with the table of other domains' blocks (addresses the leak
 * scan must not take for roots); the caller holds tm__domain_lock(). */
void tm__domain_tables_unlocked(void (*fn)(const void *table, size_t bytes, void *arg), void *arg);

/* --- the program's sbrk()/brk() memory (brk.c) --- */

#define TM_BRK_MAX 32
/* The program moved the break from 'old_end' to 'new_end'. */
void tm__brk_note(uintptr_t old_end, uintptr_t new_end);
/* Copies up to 'max' ranges as {lo, hi} pairs into 'out'; returns how many. */
size_t tm__brk_ranges(uintptr_t *out, size_t max);

/* --- modules (modules.c) --- */

struct tm__module {
    const char *path;
    uintptr_t bias, lo, hi; /* load bias; [lo, hi) mapped span */
    uint32_t load_epoch;    /* valid for stacks interned in [load, unload) */
    uint32_t unload_epoch;
    uint8_t build_id[32];
    uint8_t build_id_len;
    uint8_t present;
};

extern atomic_uint tm__epoch;

/* Re-reads the loaded objects; called at start, around dlclose and before
 * each snapshot. */
void tm__modules_refresh(void);
/* Index of the module that held 'pc' for a stack of 'epoch', or -1. */
int tm__module_find(uintptr_t pc, uint32_t epoch);
/* The same, first trying *hint (the last module it found; -1 at first),
 * which it updates. */
int tm__module_find_near(uintptr_t pc, uint32_t epoch, int *hint);
size_t tm__module_count(void);
const struct tm__module *tm__module_get(size_t i);
void tm__modules_lock(void);
void tm__modules_unlock(void);

/* --- leak scan (leakscan.c) --- */

enum tm__leak_kind { TM_LEAK_DEFINITE, TM_LEAK_INDIRECT, TM_LEAK_POSSIBLE, TM_LEAK_REACHABLE, TM_LEAK_KINDS };

struct tm__leak_stack {
    uint32_t stack;  /* stack id */
    uint32_t kind;   /* enum tm__leak_kind */
    uint64_t bytes, blocks;
};

struct tm__leak_result {
    int checked;
    int unstopped; /* threads blocked in a system call that could not be
                      stopped: their registers were not read (partial) */
    uint64_t bytes[TM_LEAK_KINDS], blocks[TM_LEAK_KINDS];
    struct tm__leak_stack *stacks; /* tm__map()ed */
    size_t nstacks;
    size_t mapped;
};

/* Stops the other threads, scans roots and heap, classifies every live heap
 * block. Returns 0 or -errno (result unchecked then). */
int tm__leak_scan(struct tm__leak_result *res);
/* The same, with this thread's stack scanned from 'sp' up and 'regs' (the
 * callee-saved registers of the frame at 'sp') taken as its registers:
 * the frames below 'sp' (exit's and the shim's) are left out. */
int tm__leak_scan_above(struct tm__leak_result *res, uintptr_t sp, const uintptr_t *regs, int nregs);
void tm__leak_result_release(struct tm__leak_result *res);

/* --- snapshots (snapshot.c, writer.c) --- */

enum tm__reason { TM_REASON_EXIT, TM_REASON_API, TM_REASON_SIGNAL, TM_REASON_INTERVAL, TM_REASON_LEAK_CHECK };

/* Writes a snapshot atomically to 'path' (NULL: the output template).
 * 'leaks' may be NULL (leaks.checked false). Returns 0 or -errno. */
int tm__snapshot_write(const char *path, enum tm__reason reason, const struct tm__leak_result *leaks);
void tm__snapshot_lock(void);
void tm__snapshot_unlock(void);
void tm__snapshot_after_fork_child(void);

/* Expands a TRACEMEM_OUTPUT template for snapshot 'seq'; 'force_seq' adds
 * ".seq" even for seq 0 (when several snapshots are expected). */
int tm__output_path(char *out, size_t cap, const char *tmpl, unsigned seq, int force_seq);

/* Extra sections (tracemem_add_section): 0, -EINVAL, -ENOMEM. */
typedef size_t (*tm__section_fn)(char *buf, size_t cap, void *arg);
int tm__section_add(const char *name, tm__section_fn fn, void *arg);
void tm__sections_lock(void);
void tm__sections_unlock(void);

/* --- small helpers without allocation (util.c) --- */

/* Writes a line to stderr with one write(2). */
void tm__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* snprintf subset without locale or allocation: %s %d %u %ld %lu %zu %llu %x %lx %c %%. */
int tm__snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *tm__strerror(int err);
/* The executable's absolute path (/proc/self/exe, read once: an exec
 * starts a new shim); "" when unknown. */
const char *tm__exe_path(void);
/* The number in field 'field' of /proc/self/status ("Threads",
 * "Seccomp"), -1 when unreadable or not a number. No allocation. */
long tm__proc_status(const char *field);

/* Around the shim's own writes: SIGPIPE and SIGXFSZ raised by them are
 * blocked and taken back, so they fail with EPIPE/EFBIG instead of killing
 * the program. */
#include <signal.h>
struct tm__quiet {
    sigset_t old, pending_before;
};
void tm__quiet_enter(struct tm__quiet *q);
void tm__quiet_leave(struct tm__quiet *q);

#endif /* TM_SHIM_H */
