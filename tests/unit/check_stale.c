/* check_stale.c - notes of what the allocator left in new blocks
 * (stale.c): which words get noted, which still match, what a realloc
 * carries over, and what is never noted (unaligned blocks, pointers to
 * the executable's data, blocks whose first words are tcache's in a high
 * heap); the first word alone, by value, where tcache's mangled link lands
 * in a low heap; and the
 * live table keeping a block's note until the block leaves (live.c). */
#include "shim/shim.h"
#include "shim_stubs.h"
#include "suite_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char exe_data[64]; /* in the executable: below the main heap */

/* A 64-byte-aligned heap buffer of 'words' words with 'fill' everywhere. */
static uintptr_t *buffer(size_t words, uintptr_t fill)
{
    void *p = NULL;
    ck_assert_int_eq(posix_memalign(&p, 64, words * sizeof(uintptr_t)), 0);
    uintptr_t *d = p;
    for (size_t k = 0; k < words; k++)
        d[k] = fill;
    return d;
}

/* 1 when the buffer lies where tm__stale_near takes links (the main heap
 * after the executable, or a glibc arena heap). */
static int in_a_heap(const void *p)
{
    uintptr_t q = (uintptr_t)p;
    return tm__stale_near(q + 64, q);
}

START_TEST(test_stale_notes_link_words)
{
    uintptr_t *d = buffer(16, 7);
    ck_assert_msg(in_a_heap(d), "the test's blocks are not in glibc's heap");
    uintptr_t self = (uintptr_t)d;
    d[0] = self + 4096;  /* fd: a chunk */
    d[1] = self - 4096;  /* bk: another */
    d[5] = self + 65536; /* an old link deeper in the block */
    d[6] = self + 8;     /* not aligned as a chunk: not a link */
    struct tm__note n;
    ck_assert_int_eq(tm__stale_note(self, 128, &n), 1);
    ck_assert_uint_eq(tm__stale_match(&n, self, 128), 1u << 0 | 1u << 1 | 1u << 5);
    /* the program writes: a string over the first word, a pointer into
     * the sixth; only the second still holds what the allocator left */
    memcpy(d, "abc", 4);
    d[5] = self + 65536 + 16;
    ck_assert_uint_eq(tm__stale_match(&n, self, 128), 1u << 1);
    /* the extent scanned bounds the words answered */
    ck_assert_uint_eq(tm__stale_match(&n, self, 8), 0);
    free(d);
}
END_TEST

START_TEST(test_stale_not_noted)
{
    uintptr_t *d = buffer(8, 0);
    ck_assert(in_a_heap(d));
    uintptr_t self = (uintptr_t)d;
    /* tcache's words: a mangled link, then zero; a deeper link is not
     * looked for then (the first line only, see tm__stale_note). In a
     * high heap (PIE) the mangled link lands far from it: no note (a low
     * heap's: test_stale_mangled_first_word) */
    d[0] = (self >> 12) ^ (self + 4096);
    d[1] = 0;
    d[3] = self + 4096;
    struct tm__note n;
    if ((self >> 12) >> 32)
        ck_assert_int_eq(tm__stale_note(self, 64, &n), 0);
    /* a dead object's pointer to the executable's data is no link */
    uintptr_t *e = buffer(8, 0);
    e[0] = (uintptr_t)exe_data & ~(uintptr_t)15;
    e[1] = (uintptr_t)exe_data & ~(uintptr_t)15;
    ck_assert_int_eq(tm__stale_note((uintptr_t)e, 64, &n), 0);
    /* an unaligned block is not noted */
    uintptr_t *f = buffer(8, 0);
    f[1] = (uintptr_t)f + 4096;
    f[2] = (uintptr_t)f + 4096;
    ck_assert_int_eq(tm__stale_note((uintptr_t)f + 8, 32, &n), 0);
    free(d);
    free(e);
    free(f);
}
END_TEST

START_TEST(test_stale_large_block_words)
{
    uintptr_t *d = buffer(128, 0);
    ck_assert(in_a_heap(d));
    uintptr_t self = (uintptr_t)d;
    /* a large bin's chunk: fd and bk in libc (not near), the nextsize
     * links near */
    d[0] = 0x7f0000000010;
    d[1] = 0x7f0000000010;
    d[2] = self - 16;
    d[3] = self - 16;
    struct tm__note n;
    ck_assert_int_eq(tm__stale_note(self, 1024, &n), 1);
    ck_assert_uint_eq(tm__stale_match(&n, self, 1024), 1u << 2 | 1u << 3);
    uintptr_t *e = buffer(128, 0);
    e[0] = 0x7f0000000010;
    e[1] = 0x7f0000000020;
    e[2] = e[3] = (uintptr_t)e - 16;
    /* a small block whose fd and bk differ: they decide */
    ck_assert_int_eq(tm__stale_note((uintptr_t)e, 512, &n), 0);
    /* cut from the front of a large chunk that was its bin's only one: fd
     * and bk both the bin, the nextsize links kept */
    e[1] = e[0];
    ck_assert_int_eq(tm__stale_note((uintptr_t)e, 512, &n), 1);
    ck_assert_uint_eq(tm__stale_match(&n, (uintptr_t)e, 512), 1u << 2 | 1u << 3);
    /* too small to hold them */
    ck_assert_int_eq(tm__stale_note((uintptr_t)e, 24, &n), 0);
    /* zeros (fresh memory) are not a bin */
    e[0] = e[1] = 0;
    ck_assert_int_eq(tm__stale_note((uintptr_t)e, 512, &n), 0);
    free(d);
    free(e);
}
END_TEST

START_TEST(test_stale_realloc_carries_unchanged_words)
{
    uintptr_t *d = buffer(8, 3), *m = buffer(8, 3);
    ck_assert(in_a_heap(d) && in_a_heap(m));
    uintptr_t self = (uintptr_t)d;
    d[0] = self + 4096;
    d[1] = self + 8192;
    struct tm__note n, c;
    ck_assert_int_eq(tm__stale_note(self, 64, &n), 1);
    d[0] = 0x61; /* the program's */
    /* realloc moves the block: the copy holds the second link only; the
     * new address is in the same heap, so it still looks like one */
    memcpy(m, d, 64);
    ck_assert_int_eq(tm__stale_carry(&n, (uintptr_t)m, 64, &c), 1);
    ck_assert_uint_eq(tm__stale_match(&c, (uintptr_t)m, 64), 1u << 1);
    /* the program had rewritten both: nothing to carry */
    m[1] = 0x62;
    ck_assert_int_eq(tm__stale_carry(&n, (uintptr_t)m, 64, &c), 0);
    ck_assert_int_eq(tm__stale_carry(NULL, (uintptr_t)m, 64, &c), 0);
    free(d);
    free(m);
}
END_TEST

/* A heap that lies low (a program built without PIE): tcache's mangled
 * link lands inside the heap. Made here with a mapping at 512 MiB or
 * above (the first free of a few addresses) and the executable's end put
 * just below it. */
START_TEST(test_stale_mangled_first_word)
{
    uintptr_t base = 0;
    void *m = MAP_FAILED;
    for (uintptr_t at = 0x20000000; at <= 0x90000000 && m == MAP_FAILED; at += 0x10000000) {
        m = mmap((void *)at, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
                 0);
        if (m != MAP_FAILED && m != (void *)at) { /* a kernel without MAP_FIXED_NOREPLACE: a hint */
            munmap(m, 1 << 20);
            m = MAP_FAILED;
        }
        base = at;
    }
    ck_assert_msg(m != MAP_FAILED, "no free address below 2.5 GiB for a low heap");
    uintptr_t saved = tm__stale_heap_lo;
    tm__stale_heap_lo = base - 4096;
    uintptr_t at = base + 0x1010, next = base + 0x2040, *d = (uintptr_t *)at;
    d[0] = next ^ (at >> 12); /* tcache's link to the next free chunk, then zero */
    d[1] = 0;
    ck_assert(tm__stale_mangled(d[0], at));
    struct tm__note n, c;
    ck_assert_int_eq(tm__stale_note(at, 48, &n), 1);
    ck_assert(n.hi & TM_NOTE_MANGLED);
    ck_assert_uint_eq(n.hi & ~TM_NOTE_MANGLED, at >> 12);
    ck_assert_uint_eq(n.lo, d[0]);
    ck_assert_uint_eq(tm__stale_match(&n, at, 48), 1);
    /* the program writes a pointer there, even one that differs from the
     * link in a bit the fingerprint of a word would not see: no match */
    uintptr_t link = d[0];
    d[0] = next;
    ck_assert_uint_eq(tm__stale_match(&n, at, 48), 0);
    d[0] = link ^ 16;
    ck_assert_uint_eq(tm__stale_match(&n, at, 48), 0);
    d[0] = link;
    /* a realloc's copy carries the note, with the page it was mangled with */
    uintptr_t *copy = (uintptr_t *)(base + 0x8000);
    memcpy(copy, d, 48);
    ck_assert_int_eq(tm__stale_carry(&n, (uintptr_t)copy, 48, &c), 1);
    ck_assert_uint_eq(c.hi, n.hi);
    ck_assert_uint_eq(c.lo, n.lo);
    ck_assert_uint_eq(tm__stale_match(&c, (uintptr_t)copy, 48), 1);
    copy[0] = 0x61;
    ck_assert_int_eq(tm__stale_carry(&n, (uintptr_t)copy, 48, &c), 0);
    /* a chunk from a small bin (raw links at words 0 and 1): the links'
     * note, word by word */
    d[0] = next - 16;
    d[1] = base + 0x3000;
    ck_assert_int_eq(tm__stale_note(at, 48, &n), 1);
    ck_assert(!(n.hi & TM_NOTE_MANGLED));
    ck_assert_uint_eq(tm__stale_match(&n, at, 48), 1u << 0 | 1u << 1);
    /* the end of tcache's list: the page number alone, below the heap */
    d[0] = at >> 12;
    d[1] = 0;
    ck_assert_int_eq(tm__stale_note(at, 48, &n), 0);
    tm__stale_heap_lo = saved;
    munmap(m, 1 << 20);
}
END_TEST

/* The live table keeps a note with its block, gives it back with the
 * block, drops it when a block replaces it unseen, and lists it. */
static void count_noted(uintptr_t ptr, void *arg)
{
    (void)ptr;
    ++*(size_t *)arg;
}

static size_t noted_blocks(void)
{
    size_t n = 0;
    tm__live_lock_all();
    tm__live_notes_foreach_unlocked(count_noted, &n);
    tm__live_unlock_all();
    return n;
}

START_TEST(test_stale_live_table_keeps_notes)
{
    tm__clear_all();
    uintptr_t pcs[2][2] = {{0x1000, 0x2000}, {0x1000, 0x3000}};
    uint32_t s3 = tm__stack_intern(pcs[0], 2, 2), s4 = tm__stack_intern(pcs[1], 2, 2);
    struct tm__note n = {0x1234, 0x5678}, got;
    struct tm__block b = {0x10000, 48, s3, 1}, old, out;
    ck_assert_int_eq(tm__live_insert_note_fig(&b, &n, &old, 0), 0);
    ck_assert_uint_eq(noted_blocks(), 1);
    tm__live_lock_all();
    ck_assert_int_eq(tm__live_note_unlocked(0x10000, &got), 1);
    ck_assert_int_eq(tm__live_note_unlocked(0x10010, &got), 0);
    tm__live_unlock_all();
    ck_assert_uint_eq(got.lo, 0x1234);
    ck_assert_uint_eq(got.hi, 0x5678);
    /* the block reads as any other: its stack id is whole */
    ck_assert_int_eq(tm__live_find(0x10000, &out), 1);
    ck_assert_uint_eq(out.stack, s3);
    /* a plain remove drops the note too */
    ck_assert_int_eq(tm__live_remove_fig(0x10000, &out, 0), 1);
    ck_assert_uint_eq(out.stack, s3);
    ck_assert_uint_eq(noted_blocks(), 0);
    /* a remove for realloc hands it over */
    ck_assert_int_eq(tm__live_insert_note_fig(&b, &n, &old, 0), 0);
    ck_assert_int_eq(tm__live_remove_note_fig(0x10000, &out, &got, 0), 1);
    ck_assert_uint_eq(got.lo, 0x1234);
    ck_assert_uint_eq(noted_blocks(), 0);
    /* a block without a note hands over zero */
    ck_assert_int_eq(tm__live_insert_fig(&b, &old, 0), 0);
    ck_assert_int_eq(tm__live_remove_note_fig(0x10000, &out, &got, 0), 1);
    ck_assert_uint_eq(got.lo | got.hi, 0);
    /* an unseen free: the new block at that address has no note */
    ck_assert_int_eq(tm__live_insert_note_fig(&b, &n, &old, 0), 0);
    struct tm__block b2 = {0x10000, 64, s4, 1};
    ck_assert_int_eq(tm__live_insert_fig(&b2, &old, 0), 1);
    ck_assert_uint_eq(old.stack, s3);
    ck_assert_uint_eq(noted_blocks(), 0);
    /* in the overflow table (1 MiB and more) as well */
    struct tm__block big = {0x40000000, 2u << 20, s4, 1};
    ck_assert_int_eq(tm__live_insert_note_fig(&big, &n, &old, 0), 0);
    ck_assert_uint_eq(noted_blocks(), 1);
    ck_assert_int_eq(tm__live_remove_fig(0x40000000, &out, 0), 1);
    ck_assert_uint_eq(noted_blocks(), 0);
    /* many: the note table grows, every note comes back with its block */
    for (uintptr_t i = 0; i < 5000; i++) {
        struct tm__block x = {0x100000 + i * 64, 32, s3, 1};
        struct tm__note y = {i + 1, 0};
        ck_assert_int_eq(tm__live_insert_note_fig(&x, &y, &old, 0), 0);
    }
    ck_assert_uint_eq(noted_blocks(), 5000);
    for (uintptr_t i = 0; i < 5000; i += 2) {
        ck_assert_int_eq(tm__live_remove_note_fig(0x100000 + i * 64, &out, &got, 0), 1);
        ck_assert_uint_eq(got.lo, i + 1);
    }
    ck_assert_uint_eq(noted_blocks(), 2500);
    tm__clear_all();
    ck_assert_uint_eq(noted_blocks(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stale");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_stale_notes_link_words);
    tcase_add_test(tc, test_stale_not_noted);
    tcase_add_test(tc, test_stale_large_block_words);
    tcase_add_test(tc, test_stale_realloc_carries_unchanged_words);
    tcase_add_test(tc, test_stale_mangled_first_word);
    tcase_add_test(tc, test_stale_live_table_keeps_notes);
    suite_add_tcase(s, tc);
    return check_main(s);
}
