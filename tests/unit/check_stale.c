/* check_stale.c - notes of what the allocator left in new blocks
 * (stale.c): which words get noted, which still match, what a realloc
 * carries over, and what is never noted (unaligned blocks, pointers to
 * the executable's data, blocks whose first words are tcache's). */
#include "shim/shim.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

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
    tm__stale_note(self, 128);
    ck_assert_uint_eq(tm__stale_words(self, 128), 1u << 0 | 1u << 1 | 1u << 5);
    /* the program writes: a string over the first word, a pointer into
     * the sixth; only the second still holds what the allocator left */
    memcpy(d, "abc", 4);
    d[5] = self + 65536 + 16;
    ck_assert_uint_eq(tm__stale_words(self, 128), 1u << 1);
    /* the extent scanned bounds the words answered */
    ck_assert_uint_eq(tm__stale_words(self, 8), 0);
    free(d);
}
END_TEST

START_TEST(test_stale_not_noted)
{
    uintptr_t *d = buffer(8, 0);
    ck_assert(in_a_heap(d));
    uintptr_t self = (uintptr_t)d;
    /* tcache's words: a mangled link, then zero; a deeper link is not
     * looked for then (the first line only, see tm__stale_note) */
    d[0] = (self >> 12) ^ (self + 4096);
    d[1] = 0;
    d[3] = self + 4096;
    tm__stale_note(self, 64);
    ck_assert_uint_eq(tm__stale_words(self, 64), 0);
    /* a dead object's pointer to the executable's data is no link */
    uintptr_t *e = buffer(8, 0);
    e[0] = (uintptr_t)exe_data & ~(uintptr_t)15;
    e[1] = (uintptr_t)exe_data & ~(uintptr_t)15;
    tm__stale_note((uintptr_t)e, 64);
    ck_assert_uint_eq(tm__stale_words((uintptr_t)e, 64), 0);
    /* an unaligned block is not noted */
    uintptr_t *f = buffer(8, 0);
    f[1] = (uintptr_t)f + 4096;
    f[2] = (uintptr_t)f + 4096;
    tm__stale_note((uintptr_t)f + 8, 32);
    ck_assert_uint_eq(tm__stale_words((uintptr_t)f + 8, 32), 0);
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
    tm__stale_note(self, 1024);
    ck_assert_uint_eq(tm__stale_words(self, 1024), 1u << 2 | 1u << 3);
    uintptr_t *e = buffer(128, 0);
    e[0] = e[1] = 0x7f0000000010;
    e[2] = e[3] = (uintptr_t)e - 16;
    tm__stale_note((uintptr_t)e, 512); /* not a large chunk: fd and bk decide */
    ck_assert_uint_eq(tm__stale_words((uintptr_t)e, 512), 0);
    free(d);
    free(e);
}
END_TEST

START_TEST(test_stale_realloc_carries_unchanged_words)
{
    uintptr_t *d = buffer(8, 3), *n = buffer(8, 3);
    ck_assert(in_a_heap(d) && in_a_heap(n));
    uintptr_t self = (uintptr_t)d;
    d[0] = self + 4096;
    d[1] = self + 8192;
    tm__stale_note(self, 64);
    d[0] = 0x61; /* the program's */
    uint64_t carry = tm__stale_carry_from(self, 64);
    ck_assert_uint_eq(tm__stale_words(self, 64), 1u << 1);
    memcpy(n, d, 64); /* what realloc does when it moves the block */
    tm__stale_carry_to((uintptr_t)n, 64, carry);
    ck_assert_uint_eq(tm__stale_words((uintptr_t)n, 64), 1u << 1);
    /* nothing to carry: no note made */
    uintptr_t *m = buffer(8, 3);
    tm__stale_carry_to((uintptr_t)m, 64, 0);
    ck_assert_uint_eq(tm__stale_words((uintptr_t)m, 64), 0);
    free(d);
    free(n);
    free(m);
}
END_TEST

START_TEST(test_stale_table_is_reported)
{
    uintptr_t *d = buffer(4, 0);
    ck_assert(in_a_heap(d));
    d[0] = (uintptr_t)d + 4096;
    tm__stale_note((uintptr_t)d, 32);
    const void *at;
    size_t bytes;
    tm__stale_table(&at, &bytes);
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_ge(bytes, 1 << 20);
    free(d);
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
    tcase_add_test(tc, test_stale_table_is_reported);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
