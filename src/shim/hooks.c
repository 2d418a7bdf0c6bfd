/* hooks.c - the interposed allocation functions.
 *
 * Each hook calls the real function first and records afterwards (frees:
 * forgets first, then frees, so an address handed out again by another
 * thread is never confused with the old block). errno is whatever the real
 * function left; bookkeeping saves and restores it. When the shim is
 * not tracing, or the calling thread is already inside the shim (tm__in_hook),
 * the hooks only forward. In sampled mode the common cases stay in the
 * hook, calling nothing of the shim: an allocation the countdown does not
 * sample is only counted (tm__sample_pass), a free of an address no
 * sampled block starts at only forwards (tm__maybe_none). */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Tracing first: when it is off, one load decides. */
static inline int active(void)
{
    return atomic_load_explicit(&tm__tracing, memory_order_relaxed) && !tm__in_hook;
}

static inline int ready(void)
{
    if (TM_LIKELY(__atomic_load_n(&tm__real.malloc, __ATOMIC_ACQUIRE) != NULL))
        return 1;
    tm__resolve_real();
    return __atomic_load_n(&tm__real.malloc, __ATOMIC_ACQUIRE) != NULL;
}

/* Leaving the shim's bookkeeping: a signal or interval snapshot that came
 * due meanwhile is written now, with no lock held (control.c). */
static inline void leave(void)
{
    tm__in_hook = 0;
    if (TM_UNLIKELY(atomic_load_explicit(&tm__deferred, memory_order_relaxed)))
        tm__run_deferred();
}

/* 'ra': the hook's return address, the stack when there is no unwinder
 * yet (tm__note_caller); 'fresh': a new block, whose first words are
 * noted (tm__record_new), 0 a realloc's of an untraced block (nothing to
 * carry: tm__record) */
static __attribute__((noinline)) void record(void *p, size_t size, void *ra, int fresh)
{
    int *ep = tm__errno(), saved = *ep;
    int noted = tm__note_caller(ra);
    int outer = !tm__hook_ra;
    if (outer)
        tm__hook_ra = (uintptr_t)ra;
    tm__in_hook = 1;
    if (fresh)
        tm__record_new(p, size);
    else
        tm__record(p, size);
    if (outer)
        tm__hook_ra = 0;
    if (TM_UNLIKELY(noted))
        tm__early_pc = 0;
    leave();
    *ep = saved;
}

/* A block of 'size' bytes at 'p' (not NULL) just allocated: recorded when
 * tracing. In sampled mode, a block that leaves the thread's countdown
 * above 0 is only counted in its histogram, inline: no call, no errno to
 * keep, no guard to set (tm__sample_pass). */
static inline void note_as(void *p, size_t size, void *ra, int fresh)
{
    if (TM_LIKELY(tm__sample_pass(size)))
        return;
    if (active())
        record(p, size, ra, fresh);
}

static inline void note(void *p, size_t size, void *ra)
{
    note_as(p, size, ra, 1);
}

/* The boot pool's blocks (bootstrap.c) lie in [boot_lo, boot_hi), both
 * inside the pool (a static array of the shim, where the real allocator
 * puts nothing), widened before a block is handed out; empty before the
 * first. The frees test it inline instead of calling tm__is_boot. */
static atomic_uintptr_t boot_lo = UINTPTR_MAX, boot_hi;

static void *boot_alloc(size_t size, size_t align)
{
    void *p = tm__boot_alloc(size, align);
    if (p) {
        uintptr_t u = (uintptr_t)p, v = atomic_load(&boot_lo);
        while (u < v && !atomic_compare_exchange_weak(&boot_lo, &v, u))
            ;
        v = atomic_load(&boot_hi);
        while (u + 1 > v && !atomic_compare_exchange_weak(&boot_hi, &v, u + 1))
            ;
        /* free()'s sampled-mode test must never hand it to the real free.
         * trace.c's maybe_add maps the table, then reads the range and
         * pins it; this widened the range, then reads the table: with
         * both sequentially consistent, one of them sees the other's
         * write and pins the block. */
        if (atomic_load(&tm__maybe_tab))
            tm__maybe_pin(u, u + 1);
    }
    return p;
}

void tm__boot_range(uintptr_t *lo, uintptr_t *hi)
{
    *lo = atomic_load(&boot_lo);
    *hi = atomic_load(&boot_hi);
}

static inline int is_boot(const void *p)
{
    return (uintptr_t)p >= atomic_load_explicit(&boot_lo, memory_order_relaxed) &&
           (uintptr_t)p < atomic_load_explicit(&boot_hi, memory_order_relaxed);
}

TM_EXPORT void *malloc(size_t size)
{
    /* the pointer tested is the one called: one load */
    void *(*real_malloc)(size_t) = __atomic_load_n(&tm__real.malloc, __ATOMIC_ACQUIRE);
    if (TM_UNLIKELY(!real_malloc)) {
        if (!ready())
            return boot_alloc(size, 16);
        real_malloc = tm__real.malloc;
    }
    void *p = real_malloc(size);
    if (p)
        note(p, size, __builtin_return_address(0));
    return p;
}

/* A traced free: forgets the block, then frees it. Out of line, so that
 * free's fast path needs no stack frame. */
static __attribute__((noinline)) void forget_free(void *p)
{
    int *ep = tm__errno(), saved = *ep;
    tm__in_hook = 1;
    tm__forget(p, NULL);
    leave();
    *ep = saved;
    if (TM_UNLIKELY(!ready()))
        return;
    tm__real.free(p);
}

static __attribute__((noinline)) void free_unready(void *p)
{
    if (ready())
        tm__real.free(p);
}

/* Sampled mode: a free of an address that no traced block can start at
 * only forwards. The counters' table is published at the first sampled
 * block (so the real functions are known) with the boot pool's blocks
 * pinned in it, and where its counter is 0 nothing traced starts at 'p'
 * and 'p' is not the pool's, whether the thread is in the shim or
 * tracing is on or not: tested first, the forwarding free's whole path. */
TM_EXPORT void free(void *p)
{
    if (!p)
        return;
    if (TM_LIKELY(tm__maybe_none((uintptr_t)p))) {
        /* not counted as a code object freed (tm__py_freeing): pyframes.c
         * relies on that count only for code objects in the live table,
         * and their frees come below */
        tm__real.free(p);
        return;
    }
    if (TM_UNLIKELY(is_boot(p)))
        return;
    if (TM_UNLIKELY(tm__py_watch))
        tm__py_freeing(p);
    if (active() && tm__maybe_live((uintptr_t)p)) {
        forget_free(p);
        return;
    }
    void (*real_free)(void *) = __atomic_load_n(&tm__real.free, __ATOMIC_ACQUIRE);
    if (TM_UNLIKELY(!real_free)) {
        free_unready(p);
        return;
    }
    real_free(p);
}

TM_EXPORT void *calloc(size_t n, size_t size)
{
    if (TM_UNLIKELY(!ready())) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return boot_alloc(total, 16); /* the pool is zeroed and never reused */
    }
    void *p = tm__real.calloc(n, size);
    if (p)
        note(p, n * size, __builtin_return_address(0));
    return p;
}

static void *realloc_boot(void *old, size_t size)
{
    void *p = malloc(size);
    if (p) {
        size_t have = tm__boot_size(old);
        memcpy(p, old, have < size ? have : size);
    }
    return p;
}

/* realloc of a block that may be traced: forgets it, reallocates, records
 * the result (or puts the block back when that failed). Out of line: the
 * untraced paths of realloc keep a small frame. */
static __attribute__((noinline)) void *realloc_traced(void *old, size_t size, void *ra)
{
    struct tm__block was;
    struct tm__note note; /* of what the allocator left in its first words (stale.c) */
    tm__in_hook = 1;
    int *ep = tm__errno(), saved = *ep;
    int traced = tm__forget_realloc(old, &was, &note);
    *ep = saved;
    void *p = tm__real.realloc(old, size);
    saved = *ep;
    if (p) {
        int noted = tm__note_caller(ra);
        uintptr_t outer = tm__hook_ra;
        if (!outer)
            tm__hook_ra = (uintptr_t)ra;
        tm__record_realloc(p, size, &note);
        tm__hook_ra = outer;
        if (TM_UNLIKELY(noted))
            tm__early_pc = 0;
    } else if (size != 0 && traced)
        tm__restore(&was, &note); /* failed: the old block is still there */
    leave();
    *ep = saved;
    return p;
}

/* Sampled mode, 'old' not traced: the new block as any allocation. */
static inline void *realloc_untraced(void *old, size_t size, void *ra)
{
    void *p = tm__real.realloc(old, size);
    if (p)
        note_as(p, size, ra, 0);
    return p;
}

TM_EXPORT void *realloc(void *old, size_t size)
{
    if (!old)
        return malloc(size);
    /* nor the boot pool's, nor a code object with a proof by frees: see free */
    if (TM_LIKELY(tm__maybe_none((uintptr_t)old)))
        return realloc_untraced(old, size, __builtin_return_address(0));
    if (TM_UNLIKELY(is_boot(old)))
        return realloc_boot(old, size);
    if (TM_UNLIKELY(!ready()))
        return NULL;
    if (TM_UNLIKELY(tm__py_watch))
        tm__py_freeing(old); /* it may move */
    if (!active())
        return tm__real.realloc(old, size);
    if (tm__maybe_live((uintptr_t)old))
        return realloc_traced(old, size, __builtin_return_address(0));
    return realloc_untraced(old, size, __builtin_return_address(0));
}

TM_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, total);
}

TM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (TM_UNLIKELY(!ready())) {
        if (align % sizeof(void *) || (align & (align - 1)))
            return EINVAL;
        void *p = boot_alloc(size, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    int rc = tm__real.posix_memalign(out, align, size);
    if (rc == 0)
        note(*out, size, __builtin_return_address(0));
    return rc;
}

TM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (TM_UNLIKELY(!ready()))
        return boot_alloc(size, align);
    void *p = tm__real.aligned_alloc(align, size);
    if (p)
        note(p, size, __builtin_return_address(0));
    return p;
}

TM_EXPORT void *memalign(size_t align, size_t size)
{
    if (TM_UNLIKELY(!ready()))
        return boot_alloc(size, align);
    void *p = tm__real.memalign(align, size);
    if (p)
        note(p, size, __builtin_return_address(0));
    return p;
}

TM_EXPORT void *valloc(size_t size)
{
    if (TM_UNLIKELY(!ready()))
        return boot_alloc(size, (size_t)getpagesize());
    void *p = tm__real.valloc(size);
    if (p)
        note(p, size, __builtin_return_address(0));
    return p;
}

TM_EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)getpagesize();
    size_t rounded = size ? (size + page - 1) & ~(page - 1) : page;
    if (TM_UNLIKELY(!ready()))
        return rounded < size ? NULL : boot_alloc(rounded, page);
    void *p = tm__real.pvalloc(size);
    if (p)
        note(p, rounded, __builtin_return_address(0));
    return p;
}

TM_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (is_boot(p))
        return tm__boot_size(p);
    if (TM_UNLIKELY(!ready()))
        return 0;
    return tm__real.malloc_usable_size(p);
}

#ifdef HAVE_CFREE
TM_EXPORT void cfree(void *p)
{
    free(p);
}
#endif

#ifdef HAVE_FREE_SIZED
TM_EXPORT void free_sized(void *p, size_t size)
{
    (void)size;
    free(p);
}
#endif

#ifdef HAVE_FREE_ALIGNED_SIZED
TM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align;
    (void)size;
    free(p);
}
#endif

/* dlclose may unmap a module: stacks recorded before keep the module they
 * were taken in (modules.c epochs). dlopen is not interposed: it resolves
 * $ORIGIN and RUNPATH relative to its caller, which must stay the program. */
TM_EXPORT int dlclose(void *handle)
{
    if (TM_UNLIKELY(!ready()))
        return -1;
    int saved_guard = tm__in_hook;
    tm__in_hook = 1;
    tm__modules_refresh();
    tm__in_hook = saved_guard;
    int rc = tm__real.dlclose(handle);
    int saved = errno;
    tm__in_hook = 1;
    tm__modules_refresh();
    tm__in_hook = saved_guard;
    errno = saved;
    return rc;
}

/* The program's own break: its memory is a root of the leak scan (brk.c).
 * glibc's allocator moves the break with its internal __sbrk, never here. */
static void *(*real_sbrk)(intptr_t);
static int (*real_brk)(void *);

static int resolve_brk(void)
{
    if (!__atomic_load_n(&real_brk, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&real_sbrk, (void *(*)(intptr_t))tm__next_symbol("sbrk"), __ATOMIC_RELEASE);
        __atomic_store_n(&real_brk, (int (*)(void *))tm__next_symbol("brk"), __ATOMIC_RELEASE);
    }
    return real_sbrk && real_brk;
}

TM_EXPORT void *sbrk(intptr_t increment)
{
    if (!resolve_brk()) {
        errno = ENOMEM;
        return (void *)-1;
    }
    void *old = real_sbrk(increment);
    if (old != (void *)-1 && increment != 0) {
        int saved = tm__in_hook, saved_errno = errno; /* a handler's exit() borrows brk_lock */
        int traced = active();
        tm__in_hook = 1;
        tm__brk_note((uintptr_t)old, (uintptr_t)old + (uintptr_t)increment);
        if (traced && increment > 0)
            tm__maps_add((uintptr_t)old, (uintptr_t)old + (uintptr_t)increment);
        else if (traced)
            tm__maps_remove((uintptr_t)old + (uintptr_t)increment, (uintptr_t)old);
        tm__in_hook = saved;
        errno = saved_errno;
    }
    return old;
}

TM_EXPORT int brk(void *addr)
{
    if (!resolve_brk()) {
        errno = ENOMEM;
        return -1;
    }
    int saved = errno;
    void *old = real_sbrk(0);
    errno = saved;
    int rc = real_brk(addr);
    if (rc == 0 && old != (void *)-1) {
        int guard = tm__in_hook, traced = active();
        saved = errno;
        tm__in_hook = 1;
        tm__brk_note((uintptr_t)old, (uintptr_t)addr);
        if (traced && (uintptr_t)addr > (uintptr_t)old)
            tm__maps_add((uintptr_t)old, (uintptr_t)addr);
        else if (traced)
            tm__maps_remove((uintptr_t)addr, (uintptr_t)old);
        tm__in_hook = guard;
        errno = saved;
    }
    return rc;
}

/* --- the program's own mappings (mmaps.c) --- */

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);

static int resolve_mmap(void)
{
    if (!__atomic_load_n(&real_mremap, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&real_mmap, (void *(*)(void *, size_t, int, int, int, off_t))tm__next_symbol("mmap"),
                         __ATOMIC_RELEASE);
        __atomic_store_n(&real_munmap, (int (*)(void *, size_t))tm__next_symbol("munmap"), __ATOMIC_RELEASE);
        __atomic_store_n(&real_mremap, (void *(*)(void *, size_t, size_t, int, ...))tm__next_symbol("mremap"),
                         __ATOMIC_RELEASE);
    }
    return real_mmap && real_munmap && real_mremap;
}

static size_t page_up(size_t n)
{
    size_t page = (size_t)getpagesize();
    return (n + page - 1) & ~(page - 1);
}

/* Runs 'what' on the range as the shim's bookkeeping: errno kept, hooks
 * of the shim's own calls forwarding only. */
#define MAPS_NOTE(what)                                                                                            \
    do {                                                                                                           \
        int saved_errno_ = errno;                                                                                  \
        tm__in_hook = 1;                                                                                           \
        what;                                                                                                      \
        leave();                                                                                                   \
        errno = saved_errno_;                                                                                      \
    } while (0)

TM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (!resolve_mmap()) {
        errno = ENOSYS;
        return MAP_FAILED;
    }
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    /* libunwind's, for the shim: tracemem's own memory, which the leak
     * check does not scan. Not a mapping a program's signal handler made
     * while it interrupted the shim, nor the next allocator's (a realloc
     * forwarded from inside the hook): those are the program's. */
    if (p != MAP_FAILED && tm__in_hook && (flags & MAP_ANONYMOUS) &&
        tm__pc_in_unwinder((uintptr_t)__builtin_return_address(0)))
        tm__map_note(p, page_up(len));
    else if (p != MAP_FAILED && active()) {
        uintptr_t lo = (uintptr_t)p, hi = lo + page_up(len);
        if (flags & MAP_ANONYMOUS)
            MAPS_NOTE(tm__maps_add(lo, hi));
        else if (flags & MAP_FIXED) /* a file mapped over program memory */
            MAPS_NOTE(tm__maps_remove(lo, hi));
    }
    return p;
}

TM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

TM_EXPORT int munmap(void *addr, size_t len)
{
    if (!resolve_mmap()) {
        errno = ENOSYS;
        return -1;
    }
    int rc = real_munmap(addr, len);
    if (rc == 0 && tm__in_hook)
        tm__map_forget(addr);
    else if (rc == 0 && active())
        MAPS_NOTE(tm__maps_remove((uintptr_t)addr, (uintptr_t)addr + page_up(len)));
    return rc;
}

TM_EXPORT void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    if (!resolve_mmap()) {
        errno = ENOSYS;
        return MAP_FAILED;
    }
    void *p = real_mremap(old, old_size, new_size, flags, want);
    if (p != MAP_FAILED && active())
        MAPS_NOTE(tm__maps_move((uintptr_t)old, page_up(old_size), (uintptr_t)p, page_up(new_size)));
    return p;
}

/* A program that leaves by _exit skips atexit handlers; the at-exit
 * snapshot is written here instead. */
int tm__exit_async;

TM_EXPORT void _exit(int status)
{
    tm__exit_async = 1;
    tm__at_exit();
    if (ready() && tm__real.exit_)
        tm__real.exit_(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

TM_EXPORT void _Exit(int status)
{
    tm__exit_async = 1;
    tm__at_exit();
    if (ready() && tm__real.Exit_)
        tm__real.Exit_(status);
    for (;;)
        syscall(SYS_exit_group, status);
}
