/* bootstrap.c - finding the real allocator without recursion.
 *
 * dlsym() itself may call calloc/malloc before the real functions are known.
 * Those early requests are served from a static pool: each block carries a
 * 16-byte header holding its size so realloc and malloc_usable_size work.
 * Pool blocks are never returned; free() recognizes and ignores them. */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <dlfcn.h>
#include <string.h>

struct tm__real_fns tm__real;

#define BOOT_POOL_SIZE (256 * 1024)
static _Alignas(64) char boot_pool[BOOT_POOL_SIZE];
static atomic_size_t boot_used;
static atomic_int resolve_state; /* 0 not yet, 1 resolving, 2 done */

void *tm__boot_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    size_t need = size + align + 16;
    size_t off = atomic_fetch_add(&boot_used, need);
    if (off + need > BOOT_POOL_SIZE || need < size)
        return NULL;
    uintptr_t start = (uintptr_t)boot_pool + off + 16;
    uintptr_t user = (start + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)user)[-1] = size;
    return (void *)user;
}

int tm__is_boot(const void *p)
{
    return (const char *)p >= boot_pool && (const char *)p < boot_pool + BOOT_POOL_SIZE;
}

size_t tm__boot_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

void *tm__next_symbol(const char *name)
{
    int saved = tm__in_hook;
    tm__in_hook = 1;
    void *f = dlsym(RTLD_NEXT, name);
    tm__in_hook = saved;
    return f;
}

#define RESOLVE(field, name) tm__real.field = (__typeof__(tm__real.field))dlsym(from, name)

static void resolve_from(void *from);

void tm__resolve_real(void)
{
    resolve_from(RTLD_NEXT);
}

/* Loaded late (attach.c), RTLD_NEXT is not what LD_PRELOAD mode sees:
 * the C library's own definitions are taken from its handle. */
void tm__resolve_real_from(void *handle)
{
    if (atomic_load(&resolve_state) != 2)
        resolve_from(handle);
}

static void resolve_from(void *from)
{
    int expected = 0;
    if (atomic_load(&resolve_state) == 2)
        return;
    if (!atomic_compare_exchange_strong(&resolve_state, &expected, 1))
        return; /* another call is resolving: the caller uses the pool */
    int saved = tm__in_hook;
    tm__in_hook = 1;
    /* malloc last: the hooks test it to know resolution is complete. */
    RESOLVE(free, "free");
    RESOLVE(calloc, "calloc");
    RESOLVE(realloc, "realloc");
    RESOLVE(posix_memalign, "posix_memalign");
    RESOLVE(aligned_alloc, "aligned_alloc");
    RESOLVE(memalign, "memalign");
    RESOLVE(valloc, "valloc");
    RESOLVE(pvalloc, "pvalloc");
    RESOLVE(malloc_usable_size, "malloc_usable_size");
    RESOLVE(dlclose, "dlclose");
    RESOLVE(exit_, "_exit");
    RESOLVE(Exit_, "_Exit");
    void *(*m)(size_t) = (void *(*)(size_t))dlsym(from, "malloc");
    __atomic_store_n(&tm__real.malloc, m, __ATOMIC_RELEASE);
    tm__in_hook = saved;
    atomic_store(&resolve_state, 2);
    if (from == RTLD_NEXT)
        tm__early_init();
}
