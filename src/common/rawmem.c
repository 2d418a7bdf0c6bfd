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
#include <sys/syscall.h>
#include <unistd.h>

atomic_size_t tm__mapped_bytes;

/* --- the registry of our mappings (tm__map_foreach) --- */

static struct {
    _Atomic uintptr_t start;
    _Atomic size_t size;
} slots[TM_RAWMEM_SLOTS];

static void note_map(void *p, size_t size)
{
    for (size_t i = 0; i < TM_RAWMEM_SLOTS; i++) {
        uintptr_t free_slot = 0;
        if (atomic_load_explicit(&slots[i].start, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&slots[i].start, &free_slot, (uintptr_t)p)) {
            atomic_store(&slots[i].size, size);
            return;
        }
    }
}

static void note_unmap(void *p)
{
    for (size_t i = 0; i < TM_RAWMEM_SLOTS; i++) {
        if (atomic_load_explicit(&slots[i].start, memory_order_relaxed) == (uintptr_t)p) {
            atomic_store(&slots[i].size, 0);
            atomic_store(&slots[i].start, 0);
            return;
        }
    }
}

void tm__map_note(void *start, size_t size)
{
    note_map(start, size);
}

void tm__map_forget(void *start)
{
    note_unmap(start);
}

void tm__map_foreach(void (*fn)(void *start, size_t size, void *arg), void *arg)
{
    for (size_t i = 0; i < TM_RAWMEM_SLOTS; i++) {
        uintptr_t start = atomic_load(&slots[i].start);
        size_t size = atomic_load(&slots[i].size);
        if (start && size)
            fn((void *)start, size, arg);
    }
}

static void *sys_mmap(size_t size)
{
    long r = syscall(SYS_mmap, 0L, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1L, 0L);
    return r == -1 ? MAP_FAILED : (void *)r;
}

static size_t page_round(size_t size)
{
    size_t page = 4096;
    return (size + page - 1) & ~(page - 1);
}

void *tm__map(size_t size)
{
    int saved = errno;
    size = page_round(size);
    void *p = sys_mmap(size);
    errno = saved;
    if (p == MAP_FAILED)
        return NULL;
    atomic_fetch_add_explicit(&tm__mapped_bytes, size, memory_order_relaxed);
    note_map(p, size);
    return p;
}

void tm__unmap(void *p, size_t size)
{
    int saved = errno;
    if (p) {
        size = page_round(size);
        note_unmap(p);
        syscall(SYS_munmap, p, size);
        atomic_fetch_sub_explicit(&tm__mapped_bytes, size, memory_order_relaxed);
    }
    errno = saved;
}

void *tm__remap(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    old_size = page_round(old_size);
    new_size = page_round(new_size);
    long r = syscall(SYS_mremap, p, old_size, new_size, (long)MREMAP_MAYMOVE, 0L);
    void *q = r == -1 ? MAP_FAILED : (void *)r;
    errno = saved;
    if (q == MAP_FAILED)
        return NULL;
    note_unmap(p);
    note_map(q, new_size);
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
