/* stale.c - what the allocator left in the first words of a new block.
 *
 * glibc hands out a chunk with what it wrote there while the chunk was
 * free: fd and bk (the addresses of other chunks, or of a bin), and
 * fd_nextsize and bk_nextsize in a large chunk. A chunk's address is also
 * the address of the last word of the block before it, so the leak scan,
 * taking these words for pointers, joins leaked blocks to others: a short
 * string written over part of the first word keeps the block before some
 * free chunk "possibly" reachable. Valgrind's allocator leaves nothing of
 * the kind. The program's own words can hold the same values (a pointer
 * to a C++ object's last base), so the value alone cannot tell; when the
 * word was written can.
 *
 * So, when the shim records a new block (tm__record_new) whose first or
 * second word (or third or fourth, in a block of 1000 bytes or more)
 * looks like such an address -- 16-aligned and in the same heap
 * (tm__stale_near) -- it notes a fingerprint of each of the block's first
 * four words. The
 * leak scan leaves out a word whose value still has its fingerprint and
 * still looks like a glibc link (leakscan.c's chunk_word(): not the start
 * of a block): the program has not written it since.
 *
 * The notes are one table of 2^18 64-bit entries (2 MiB, mapped at the
 * first note), direct-mapped by a hash of the block's address: an entry
 * is a 15-bit tag of the address (its low bit set: 0 is an empty entry)
 * and four 12-bit fingerprints (0: no note for that word). A note is one
 * relaxed 64-bit store, no lock; a free leaves it (a later block at the
 * same address is only affected where its words still hold the values
 * noted, which then are the allocator's all the same); a block whose
 * entry another block took loses its note, and its words count as
 * pointers, as they did before notes existed. A word that takes another
 * block's fingerprint by chance (1 in 2^27 with the tag) and looks like
 * a link is left out wrongly: the price of 8 bytes a note.
 *
 * realloc: the words of the old block that still match its note are
 * noted again for the new block (tm__stale_carry), whose first words are
 * their copies. */
#include "shim/shim.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>

#define ST_BITS 17
#define ST_SIZE ((size_t)1 << ST_BITS)
#define FP_BITS 12
#define FP_MASK ((1u << FP_BITS) - 1)
#define PAIRS 7 /* words noted at most, of the first TM_STALE_WORDS */

/* An entry: hi = the tag << 48 | pairs 0-2, lo = pairs 3-6; a pair is
 * the word's index << 12 | its fingerprint (1..4095), 0 when unused. */
struct entry {
    uint64_t lo, hi;
};

uintptr_t tm__stale_heap_lo = UINTPTR_MAX;

/* The end of the executable's last segment, from its program headers
 * (getauxval: no allocation). Left at UINTPTR_MAX when unknown: then only
 * blocks outside the main heap are noted. */
__attribute__((constructor)) static void find_heap_lo(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t n = getauxval(AT_PHNUM);
    uintptr_t bias = 0, end = 0;
    if (!ph || !n)
        return;
    for (size_t i = 0; i < n; i++)
        if (ph[i].p_type == PT_PHDR)
            bias = (uintptr_t)ph - ph[i].p_vaddr;
    for (size_t i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && bias + ph[i].p_vaddr + ph[i].p_memsz > end)
            end = bias + ph[i].p_vaddr + ph[i].p_memsz;
    if (end)
        tm__stale_heap_lo = end;
}

static _Atomic(struct entry *) table;
static atomic_int table_failed;

static inline uint64_t addr_hash(uintptr_t ptr)
{
    return (uint64_t)(ptr >> 4) * 0x9e3779b97f4a7c15ull;
}

static inline size_t slot_of(uint64_t h)
{
    return (size_t)(h >> (64 - ST_BITS));
}

static inline uint64_t tag_of(uint64_t h)
{
    return ((h >> (64 - ST_BITS - 16)) & 0xffff) | 1;
}

/* 1..4095: a word's fingerprint (0 means none). */
static inline uint32_t fp_of(uintptr_t v)
{
    uint64_t h = (uint64_t)v * 0xff51afd7ed558ccdull;
    uint32_t f = (uint32_t)(h >> (64 - FP_BITS));
    return f ? f : 1;
}

static inline uint32_t pair_at(const struct entry *e, unsigned i)
{
    return (uint32_t)((i < 3 ? e->hi >> (32 - 16 * i) : e->lo >> (48 - 16 * (i - 3))) & 0xffff);
}

static inline void pair_set(struct entry *e, unsigned i, uint32_t pair)
{
    if (i < 3)
        e->hi |= (uint64_t)pair << (32 - 16 * i);
    else
        e->lo |= (uint64_t)pair << (48 - 16 * (i - 3));
}

static struct entry *table_get(void)
{
    struct entry *t = atomic_load_explicit(&table, memory_order_acquire);
    if (TM_LIKELY(t) || atomic_load_explicit(&table_failed, memory_order_relaxed))
        return t;
    struct entry *fresh = tm__map(ST_SIZE * sizeof(struct entry));
    if (!fresh) {
        atomic_store(&table_failed, 1);
        return NULL;
    }
    if (atomic_compare_exchange_strong(&table, &t, fresh))
        return fresh;
    tm__unmap(fresh, ST_SIZE * sizeof(struct entry));
    return t;
}

/* Words of a block of 'size' bytes that a note covers. */
static inline unsigned words_of(size_t size)
{
    size_t n = size / sizeof(uintptr_t);
    return n < TM_STALE_WORDS ? (unsigned)n : TM_STALE_WORDS;
}

/* Stores 'e' (its pairs set) as the entry of 'ptr'. Two threads noting
 * blocks with the same entry at once may mix their halves: a mixed
 * entry's pairs are compared with the other block's words, where a false
 * match needs the same fingerprint (1 in 4096) on a word that looks like
 * a link. */
static void put(uintptr_t ptr, struct entry e)
{
    struct entry *t = table_get();
    if (!t)
        return;
    uint64_t h = addr_hash(ptr);
    e.hi |= tag_of(h) << 48;
    struct entry *at = &t[slot_of(h)];
    __atomic_store_n(&at->lo, e.lo, __ATOMIC_RELAXED);
    __atomic_store_n(&at->hi, e.hi, __ATOMIC_RELAXED);
}

void tm__stale_put(uintptr_t ptr, size_t size)
{
    const uintptr_t *d = (const uintptr_t *)ptr;
    unsigned n = words_of(size), np = 0;
    struct entry e = {0, 0};
    for (unsigned k = 0; k < n && np < PAIRS; k++)
        if (tm__stale_near(d[k], ptr))
            pair_set(&e, np++, k << FP_BITS | fp_of(d[k]));
    if (np)
        put(ptr, e);
}

/* The entry of 'ptr' into '*e'; 0 when it has none. */
static inline int entry_of(uintptr_t ptr, struct entry *e)
{
    struct entry *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t)
        return 0;
    uint64_t h = addr_hash(ptr);
    const struct entry *at = &t[slot_of(h)];
    e->hi = __atomic_load_n(&at->hi, __ATOMIC_RELAXED);
    e->lo = __atomic_load_n(&at->lo, __ATOMIC_RELAXED);
    return e->hi >> 48 == tag_of(h);
}

/* Bit k: word k still matches its pair in 'e'. */
static unsigned matching(const struct entry *e, uintptr_t ptr, size_t size)
{
    const uintptr_t *d = (const uintptr_t *)ptr;
    unsigned n = words_of(size), mask = 0;
    for (unsigned i = 0; i < PAIRS; i++) {
        uint32_t pair = pair_at(e, i);
        unsigned k = pair >> FP_BITS;
        if (pair && k < n && (pair & FP_MASK) == fp_of(d[k]))
            mask |= 1u << k;
    }
    return mask;
}

void tm__stale_prefetch(uintptr_t ptr)
{
    struct entry *t = atomic_load_explicit(&table, memory_order_relaxed);
    if (t)
        __builtin_prefetch(&t[slot_of(addr_hash(ptr))]);
}

unsigned tm__stale_words(uintptr_t ptr, size_t size)
{
    struct entry e;
    if ((ptr & 15) || !entry_of(ptr, &e))
        return 0;
    return matching(&e, ptr, size);
}

uint64_t tm__stale_carry_from(uintptr_t ptr, size_t size)
{
    const uintptr_t *d = (const uintptr_t *)ptr;
    unsigned n = words_of(size), near = 0;
    struct entry e;
    if (ptr & 15)
        return 0;
    for (unsigned k = 0; k < n; k++)
        near |= tm__stale_near(d[k], ptr);
    if (!near || !entry_of(ptr, &e)) /* only such words are ever left out */
        return 0;
    return matching(&e, ptr, size);
}

void tm__stale_carry_to(uintptr_t ptr, size_t size, uint64_t carry)
{
    /* the new block holds copies of the words the old one still had from
     * the allocator: they are noted as such when still near */
    if (carry && !(ptr & 15)) {
        const uintptr_t *d = (const uintptr_t *)ptr;
        unsigned n = words_of(size), np = 0;
        struct entry e = {0, 0};
        for (unsigned k = 0; k < n && np < PAIRS; k++)
            if ((carry & 1u << k) && tm__stale_near(d[k], ptr))
                pair_set(&e, np++, k << FP_BITS | fp_of(d[k]));
        if (np)
            put(ptr, e);
    }
}

void tm__stale_table(const void **at, size_t *bytes)
{
    *at = atomic_load_explicit(&table, memory_order_acquire);
    *bytes = *at ? ST_SIZE * sizeof(struct entry) : 0;
}
