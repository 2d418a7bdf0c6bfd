/* rawmem.h - memory straight from the kernel, for code that must not use the
 * process's allocator (the shim's bookkeeping). */
#ifndef TM_RAWMEM_H
#define TM_RAWMEM_H

#include <stdatomic.h>
#include <stddef.h>

/* Bytes currently mapped through tm__map(). */
extern atomic_size_t tm__mapped_bytes;

/* The mappings made through tm__map() and tm__remap(), for the snapshot's
 * account of resident memory: calls 'fn' with each one's start and size.
 * Slots are claimed and released with atomics; a mapping made while this
 * runs may be missed. Mappings beyond TM_RAWMEM_SLOTS are not listed
 * (their bytes are in tm__mapped_bytes only). */
#define TM_RAWMEM_SLOTS 4096
void tm__map_foreach(void (*fn)(void *start, size_t size, void *arg), void *arg);
/* Registers (and forgets) a mapping made for the shim by other code, such
 * as the libunwind it loads privately. */
void tm__map_note(void *start, size_t size);
void tm__map_forget(void *start);

/* Maps 'size' bytes (rounded up to pages) of zeroed memory; NULL on failure.
 * errno is preserved either way. The kernel is asked directly (syscall),
 * never through mmap(), which the shim interposes. */
void *tm__map(size_t size);
/* Unmaps what tm__map() returned for the same 'size'. */
void tm__unmap(void *p, size_t size);
/* Grows or shrinks a mapping, moving it when needed; NULL on failure (the
 * old mapping stays valid). */
void *tm__remap(void *p, size_t old_size, size_t new_size);
/* A new mapping of 'new_size' bytes holding a copy of the first bytes of
 * 'p' (which stays mapped): for arrays that a signal handler on the same
 * thread may read while they grow. The caller publishes the copy, then
 * unmaps the old array. NULL when out of memory. */
void *tm__map_copy(const void *p, size_t old_size, size_t new_size);

/* A bump arena for small records that live as long as the process. Not
 * locked: callers serialize. */
struct tm__arena {
    char *cur, *end;
};
void *tm__arena_alloc(struct tm__arena *a, size_t size, size_t align);

#endif
