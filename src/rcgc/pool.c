/* pool.c - small-object allocator for rcgc objects (CPython's pymalloc
 * idea): blocks of one size class are carved from 64 KiB pools aligned on
 * their size, so that freeing finds the pool by masking the address, and a
 * pool that becomes empty goes back to malloc.
 *
 * Blocks start at HEAD_PAD mod 16 (8 after the 24-byte header of 64-bit
 * systems), so that the fields after the header are 16-byte aligned like
 * malloc's. Objects over POOL_MAX_BLOCK bytes (header included) use
 * malloc, with their size in the size_t in front of the header, at the
 * end of LARGE_PREFIX bytes that keep the same alignment. With
 * RCGC_MALLOC=malloc in the environment every object uses malloc, so that
 * tracemem (or valgrind) sees each object as its own block, like
 * PYTHONMALLOC=malloc for CPython.
 *
 * Up to POOL_CACHE empty pools are kept for reuse (64 MiB): giving every
 * pool back at once makes the C library trim and the kernel fault the pages
 * in again, and a reused empty pool hands out blocks in address order
 * again, which keeps the collector's passes sequential in memory.
 *
 * Invariants: a pool is in its class's 'avail' list exactly when it has a
 * free block (in 'free' or above 'bump'), and else 'used' has
 * POOL_NOT_AVAIL set; the rest of 'used' counts its live blocks. The free
 * fast path is gc_free_bytes_via() in internal.h; it calls
 * tm__gc_pool_settle() when the pool must change lists.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rcgc/internal.h"

#define POOL_MAX_BLOCK 512
#define POOL_ALIGN 16
/* in front of a malloc'ed object's header: its size, and the room that
 * puts the header at HEAD_PAD mod 16 (malloc's blocks are 16-aligned) */
#define LARGE_PREFIX (HEAD_PAD >= sizeof(size_t) ? HEAD_PAD : HEAD_PAD + 16)
#define NCLASSES (POOL_MAX_BLOCK / POOL_ALIGN)

typedef gcblock block;
typedef gcpool pool;

#define POOL_CACHE 1024

static pool *avail[NCLASSES];
static pool *empty_pools; /* linked through 'next' */
static size_t nempty;
static int use_malloc = -1;

static int malloc_only(void)
{
    if (__builtin_expect(use_malloc < 0, 0)) {
        const char *e = getenv("RCGC_MALLOC");
        use_malloc = e && !strcmp(e, "malloc");
    }
    return use_malloc;
}

static size_t round16(size_t n)
{
    return (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
}

static unsigned size_class(size_t n)
{
    return (unsigned)(round16(n) / POOL_ALIGN) - 1;
}

static void avail_push(pool *p)
{
    p->used &= ~POOL_NOT_AVAIL;
    p->prev = NULL;
    p->next = avail[p->cls];
    if (p->next)
        p->next->prev = p;
    avail[p->cls] = p;
}

static void avail_remove(pool *p)
{
    p->used |= POOL_NOT_AVAIL;
    if (p->prev)
        p->prev->next = p->next;
    else
        avail[p->cls] = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static pool *pool_new(unsigned cls)
{
    pool *p = empty_pools;
    if (p) {
        empty_pools = p->next;
        nempty--;
    } else if (!(p = aligned_alloc(POOL_SIZE, POOL_SIZE))) {
        return NULL;
    }
    p->free = NULL;
    p->bump = (char *)p + round16(sizeof *p) + HEAD_PAD;
    p->end = (char *)p + POOL_SIZE;
    p->used = 0;
    p->cls = cls;
    p->bsize = (size_t)(cls + 1) * POOL_ALIGN;
    avail_push(p);
    return p;
}

/* Memory for an object with 'size' bytes of fields: the header, with
 * BITS_LARGE set in 'bits' when it comes from malloc (other bits zero). */
gchead *tm__gc_alloc(size_t size)
{
    size_t n = HEAD_SIZE + size;
    if (n > POOL_MAX_BLOCK || malloc_only()) {
        char *raw = malloc(LARGE_PREFIX + n);
        if (!raw)
            return NULL;
        gchead *h = (gchead *)(raw + LARGE_PREFIX);
        ((size_t *)h)[-1] = size;
        h->bits = BITS_LARGE;
        return h;
    }
    unsigned cls = size_class(n);
    size_t bsize = (size_t)(cls + 1) * POOL_ALIGN;
    pool *p = avail[cls];
    if (!p && !(p = pool_new(cls)))
        return NULL;
    gchead *h;
    if (p->free) {
        h = (gchead *)p->free;
        p->free = p->free->next;
    } else {
        h = (gchead *)p->bump;
        p->bump += bsize;
    }
    p->used++;
    if (!p->free && p->bump + bsize > p->end)
        avail_remove(p);
    h->bits = 0;
    return h;
}

/* The memory an object occupies: header plus fields, rounded up to 16. */
size_t tm__gc_bytes(const gchead *h)
{
    if (h->bits & BITS_LARGE)
        return round16(HEAD_SIZE + ((const size_t *)h)[-1]);
    const pool *p = (const pool *)((uintptr_t)h & ~(uintptr_t)(POOL_SIZE - 1));
    return (size_t)(p->cls + 1) * POOL_ALIGN;
}

/* Frees a malloc'ed object; returns tm__gc_bytes() of it. */
size_t tm__gc_free_large(gchead *h)
{
    size_t bytes = tm__gc_bytes(h);
    free((char *)h - LARGE_PREFIX);
    return bytes;
}

/* The slow part of freeing a block into 'p' (gc_free_bytes_via() pushed it):
 * a pool that was full becomes available again; an empty pool that is not
 * its class's only one is cached or given back. */
void tm__gc_pool_settle(gcpool *p)
{
    if (p->used & POOL_NOT_AVAIL)
        avail_push(p);
    if (p->used == 0 && (p->prev || p->next)) {
        avail_remove(p);
        if (nempty < POOL_CACHE) {
            p->next = empty_pools;
            empty_pools = p;
            nempty++;
        } else {
            free(p);
        }
    }
}
