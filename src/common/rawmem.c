/* rawmem.c - mmap-backed memory for allocator-free code.
 *
 * Every mapping is counted in tm__mapped_bytes so the shim can report its own
 * overhead (tracemem_get_overhead_memory). */
#define _GNU_SOURCE
#include "common/rawmem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

atomic_size_t tm__mapped_bytes;

static size_t page_round(size_t size)
{
    size_t page = 4096;
    return (size + page - 1) & ~(page - 1);
}

void *tm__map(size_t size)
{
    int saved = errno;
    size = page_round(size);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    if (p == MAP_FAILED)
        return NULL;
    atomic_fetch_add_explicit(&tm__mapped_bytes, size, memory_order_relaxed);
    return p;
}

void tm__unmap(void *p, size_t size)
{
    int saved = errno;
    if (p) {
        size = page_round(size);
        munmap(p, size);
        atomic_fetch_sub_explicit(&tm__mapped_bytes, size, memory_order_relaxed);
    }
    errno = saved;
}

void *tm__remap(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    old_size = page_round(old_size);
    new_size = page_round(new_size);
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    if (q == MAP_FAILED)
        return NULL;
    if (new_size > old_size)
        atomic_fetch_add_explicit(&tm__mapped_bytes, new_size - old_size, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&tm__mapped_bytes, old_size - new_size, memory_order_relaxed);
    return q;
}

void *tm__map_copy(const void *p, size_t old_size, size_t new_size)
{
    void *q = tm__map(new_size);
    if (q && p)
        memcpy(q, p, old_size < new_size ? old_size : new_size);
    return q;
}

void *tm__arena_alloc(struct tm__arena *a, size_t size, size_t align)
{
    uintptr_t cur = ((uintptr_t)a->cur + align - 1) & ~(uintptr_t)(align - 1);
    if (!a->cur || cur + size > (uintptr_t)a->end) {
        size_t chunk = size + align > (1u << 20) ? size + align : (1u << 20);
        char *c = tm__map(chunk);
        if (!c)
            return NULL;
        a->cur = c;
        a->end = c + page_round(chunk);
        cur = ((uintptr_t)a->cur + align - 1) & ~(uintptr_t)(align - 1);
    }
    a->cur = (char *)(cur + size);
    return (void *)cur;
}
