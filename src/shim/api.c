/* api.c - the in-program API of tracemem.h, tracemalloc's functions for C. */
#define _GNU_SOURCE
#define TRACEMEM_BUILDING_SHIM
#include "tracemem.h"
#include "shim/shim.h"

#include <errno.h>
#include <string.h>

/* Runs 'body' with the calling thread marked as inside the shim, so that
 * anything the shim allocates on its behalf is not traced. */
#define GUARDED(body)                                                                              \
    do {                                                                                           \
        int saved_guard_ = tm__in_hook;                                                            \
        tm__in_hook = 1;                                                                           \
        body;                                                                                      \
        tm__in_hook = saved_guard_;                                                                \
    } while (0)

int tracemem_available(void)
{
    return 1;
}

int tracemem_start(int nframe)
{
    if (nframe < 1 || nframe > TM_MAX_NFRAMES)
        return -EINVAL;
    tm__init();
    if (tm__is_disabled())
        return -ENOTSUP;
    if (atomic_load(&tm__tracing))
        return 0;
    atomic_store(&tm__nframes, nframe);
    tm__set_tracing(1);
    return 0;
}

void tracemem_stop(void)
{
    tm__set_tracing(0);
    GUARDED(tm__clear_all());
    GUARDED(tm__timeline_clear());
}

int tracemem_is_tracing(void)
{
    return atomic_load(&tm__tracing);
}

void tracemem_clear_traces(void)
{
    GUARDED(tm__clear_all());
    GUARDED(tm__timeline_clear());
}

int tracemem_get_traceback_limit(void)
{
    return atomic_load(&tm__nframes);
}

void tracemem_get_traced_memory(size_t *current, size_t *peak)
{
    int64_t cur;
    GUARDED(cur = tm__figures_current()); /* every thread's share merged */
    int64_t pk = atomic_load(&tm__peak);
    if (current)
        *current = cur > 0 ? (size_t)cur : 0;
    if (peak)
        *peak = pk > cur ? (size_t)pk : (cur > 0 ? (size_t)cur : 0);
}

void tracemem_reset_peak(void)
{
    GUARDED(tm__reset_peak());
}

size_t tracemem_get_overhead_memory(void)
{
    return atomic_load(&tm__mapped_bytes);
}

int tracemem_take_snapshot(const char *path)
{
    if (!atomic_load(&tm__tracing))
        return -ENOTSUP;
    return tm__snapshot_write(path, TM_REASON_API, NULL);
}

int tracemem_get_object_traceback(const void *ptr, void **frames, int max)
{
    struct tm__block b;
    int found;
    GUARDED(found = tm__live_find((uintptr_t)ptr, &b));
    if (!found)
        return -1;
    const struct tm__stack *s = tm__stack_get(b.stack);
    int n = 0;
    for (int i = 0; s && i < s->nframes && n < max; i++)
        if (!tm__pc_is_py(s->pcs[i])) /* Python frames are not addresses */
            frames[n++] = (void *)s->pcs[i];
    return n;
}

int tracemem_track(unsigned domain, uintptr_t ptr, size_t size)
{
    if (!atomic_load(&tm__tracing))
        return -ENOTSUP;
    if (domain == TM_DOMAIN_MMAP)
        return -EINVAL; /* the shim's own (mmaps.c) */
    int rc;
    GUARDED(rc = tm__domain_track(domain, ptr, size));
    return rc;
}

int tracemem_untrack(unsigned domain, uintptr_t ptr)
{
    if (!atomic_load(&tm__tracing))
        return -ENOTSUP;
    if (domain == TM_DOMAIN_MMAP)
        return -EINVAL;
    int rc;
    GUARDED(rc = tm__domain_untrack(domain, ptr));
    return rc;
}

int tracemem_leak_check(const char *path)
{
    if (!atomic_load(&tm__tracing))
        return -ENOTSUP;
    struct tm__leak_result res;
    memset(&res, 0, sizeof(res));
    int rc;
    GUARDED(rc = tm__leak_scan(&res));
    if (rc == 0) {
        GUARDED(rc = tm__snapshot_write(path, TM_REASON_LEAK_CHECK, &res));
        if (rc == 0) {
            uint64_t n = res.blocks[TM_LEAK_DEFINITE] + res.blocks[TM_LEAK_INDIRECT];
            rc = n > (uint64_t)0x7fffffff ? 0x7fffffff : (int)n;
        }
    }
    GUARDED(tm__leak_result_release(&res));
    return rc;
}

int tracemem_add_section(const char *name, tracemem_section_fn fn, void *arg)
{
    return tm__section_add(name, fn, arg);
}
