/* fwd_shim.c - the floor of interposition: an LD_PRELOAD shim whose
 * allocation functions only forward to glibc's (bench/floor.sh).
 *
 * Built as is, it adds one call through the PLT to each allocation
 * function and nothing else. With -DCOUNTDOWN it also does the least a
 * sampling profiler must: a thread-local countdown of allocated bytes
 * (initial-exec TLS, as the shim's) that, when it runs out, calls a
 * function that is not inlined. Frees are forwarded only.
 *
 * With -DLOADS=N (1 to 64) malloc, calloc and free each also read N words
 * of a static array, loads that hit the L1 cache, as a hook's tests of
 * its flags and thread-local state do: what such loads cost a program
 * whose time goes into cache misses (bench/README.md, session 15). */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);

#define EXPORT __attribute__((visibility("default")))

#ifdef COUNTDOWN
static __thread int64_t left __attribute__((tls_model("initial-exec")));
uint64_t fwd_sampled;

static __attribute__((noinline)) void sample_slow(void)
{
    while (left <= 0)
        left += 524288;
    fwd_sampled++;
}

static inline void count(size_t n)
{
    left -= (int64_t)n;
    if (__builtin_expect(left <= 0, 0))
        sample_slow();
}
#else
static inline void count(size_t n)
{
    (void)n;
}
#endif

#ifdef LOADS
static volatile uint64_t flags[64];

static inline void loads(void)
{
#pragma GCC unroll 64
    for (int i = 0; i < LOADS && i < 64; i++)
        (void)flags[i];
}
#else
static inline void loads(void)
{
}
#endif

EXPORT void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    count(n);
    loads();
    return p;
}

EXPORT void free(void *p)
{
    loads();
    __libc_free(p);
}

EXPORT void *calloc(size_t n, size_t s)
{
    void *p = __libc_calloc(n, s);
    count(n * s);
    loads();
    return p;
}

EXPORT void *realloc(void *p, size_t n)
{
    void *q = __libc_realloc(p, n);
    count(n);
    return q;
}

EXPORT void *memalign(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    count(n);
    return p;
}

EXPORT void *aligned_alloc(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    count(n);
    return p;
}

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
    if (a % sizeof(void *) || (a & (a - 1)))
        return EINVAL;
    void *p = __libc_memalign(a, n);
    if (!p)
        return ENOMEM;
    count(n);
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t n)
{
    void *p = __libc_valloc(n);
    count(n);
    return p;
}

EXPORT void *pvalloc(size_t n)
{
    void *p = __libc_pvalloc(n);
    count(n);
    return p;
}
