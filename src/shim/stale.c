/* stale.c - what the allocator left in the first words of a new block.
 *
 * glibc hands out a chunk with what it wrote there while the chunk was
 * free: fd and bk (the addresses of other chunks, or of a bin), and
 * fd_nextsize and bk_nextsize in a large chunk. A chunk's address is also
 * the address of the last word of the block before it, so the leak scan,
 * taking these words for pointers, joins leaked blocks to others: a short
 * string written over part of the first word keeps the block before some
 * free chunk "possibly" reachable through the second. Valgrind's
 * allocator leaves nothing of the kind. The program's own words can hold
 * the same values (a pointer to a C++ object's last base), so the value
 * alone cannot tell; when the word was written can.
 *
 * So, when the shim records a new block (tm__record_new) whose first or
 * second word (or third or fourth, in a block of 1000 bytes or more)
 * looks like such an address -- 16-aligned and in the same heap
 * (tm__stale_near) -- it makes a note of the block: for each link-like
 * word among its first TM_STALE_WORDS, the word's index and a 12-bit
 * fingerprint of its value (at most 7 words). The live table keeps the
 * note with the block until it is freed (live.c: a bit in the block's
 * slot, the note in a table of the shard), and the leak scan leaves out a
 * word that still matches its note and still looks like a link
 * (leakscan.c's chunk_word(): not the start of a block): the program has
 * not written it since. A word the program wrote takes the note's
 * fingerprint by chance 1 time in 4096 (and must then look like a link
 * too). A realloc carries the note's words its copy still holds.
 *
 * The first word of a chunk from tcache or a fastbin is a mangled link
 * (safe-linking: the next entry's address xor the word's own address >>
 * 12). Where the heap lies high (PIE) the xor takes it far from any heap;
 * where it lies low (a program built without PIE: Debian's python3, cc1
 * and node) it lands near the next entry, inside some block, or on one's
 * start. Such a block (tm__stale_mangled: its other words are not looked
 * at) gets a note of another form (TM_NOTE_MANGLED in 'hi'): the word's
 * exact value and the page it was mangled with (a realloc's copy keeps
 * both). The leak scan leaves the word out while it holds that value and
 * what it hides still looks like a link (leakscan.c's mangled_word); a
 * fingerprint would not do here: a mangled word can be a block's start,
 * which the program may write too (a list's next pointer), and only the
 * very value proves the program did not.
 *
 * Not noted: links deeper in a block whose first words are tcache's (a
 * mangled link, then zero): the chunk went to the thread's cache without
 * passing through the program (glibc stashes a bin's other chunks there),
 * and what an earlier layout of the heap left inside it was never looked
 * at; nor the links of chunks merged into this one, at any depth. Looking
 * at every word of a new block's first line cost malloc churn 16 %
 * (bench/README.md). The leak scan recognises the latter by their shape
 * in leaked and possibly lost blocks (leakscan.c's free_chunk_links). */
#include "shim/shim.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>

#define FP_BITS 12
#define FP_MASK ((1u << FP_BITS) - 1)
#define PAIRS 7 /* words noted at most */

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

/* 1..4095: a word's fingerprint (0 means none). */
static inline uint32_t fp_of(uintptr_t v)
{
    uint64_t h = (uint64_t)v * 0xff51afd7ed558ccdull;
    uint32_t f = (uint32_t)(h >> (64 - FP_BITS));
    return f ? f : 1;
}

/* A note's pair i: the word's index << 12 | its fingerprint; 0 unused.
 * hi holds pairs 0-2, lo pairs 3-6. */
static inline uint32_t pair_at(const struct tm__note *n, unsigned i)
{
    return (uint32_t)((i < 3 ? n->hi >> (32 - 16 * i) : n->lo >> (48 - 16 * (i - 3))) & 0xffff);
}

static inline void pair_set(struct tm__note *n, unsigned i, uint32_t pair)
{
    if (i < 3)
        n->hi |= (uint64_t)pair << (32 - 16 * i);
    else
        n->lo |= (uint64_t)pair << (48 - 16 * (i - 3));
}

/* Words of a block of 'size' bytes that a note covers. */
static inline unsigned words_of(size_t size)
{
    size_t n = size / sizeof(uintptr_t);
    return n < TM_STALE_WORDS ? (unsigned)n : TM_STALE_WORDS;
}

/* The note of the words of the block at 'ptr' of 'size' bytes that are in
 * 'which' (bit k: word k) and look like links; 1 when it has any. */
static int note_words(uintptr_t ptr, size_t size, unsigned which, struct tm__note *out)
{
    const uintptr_t *d = (const uintptr_t *)ptr;
    unsigned n = words_of(size), np = 0;
    out->lo = out->hi = 0;
    for (unsigned k = 0; k < n && np < PAIRS; k++)
        if ((which & 1u << k) && tm__stale_near(d[k], ptr))
            pair_set(out, np++, k << FP_BITS | fp_of(d[k]));
    return np != 0;
}

int tm__stale_make(uintptr_t ptr, size_t size, struct tm__note *out)
{
    return note_words(ptr, size, ~0u, out);
}

int tm__stale_make_first(uintptr_t ptr, struct tm__note *out)
{
    out->lo = *(const uintptr_t *)ptr;
    out->hi = TM_NOTE_MANGLED | ptr >> 12;
    return 1;
}

unsigned tm__stale_match(const struct tm__note *note, uintptr_t ptr, size_t size)
{
    const uintptr_t *d = (const uintptr_t *)ptr;
    unsigned n = words_of(size), mask = 0;
    if (note->hi & TM_NOTE_MANGLED)
        return n && d[0] == note->lo;
    for (unsigned i = 0; i < PAIRS; i++) {
        uint32_t pair = pair_at(note, i);
        unsigned k = pair >> FP_BITS;
        if (pair && k < n && (pair & FP_MASK) == fp_of(d[k]))
            mask |= 1u << k;
    }
    return mask;
}

int tm__stale_carry(const struct tm__note *old, uintptr_t ptr, size_t size, struct tm__note *out)
{
    /* the new block's first words are the old one's, copied: a pair that
     * matches the copy matched the old word, still the allocator's */
    if (!old || !(old->lo | old->hi) || (ptr & 15)) {
        out->lo = out->hi = 0;
        return 0;
    }
    if (old->hi & TM_NOTE_MANGLED) { /* still the link, and where it was mangled */
        *out = *old;
        if (tm__stale_match(old, ptr, size))
            return 1;
        out->lo = out->hi = 0;
        return 0;
    }
    return note_words(ptr, size, tm__stale_match(old, ptr, size), out);
}
