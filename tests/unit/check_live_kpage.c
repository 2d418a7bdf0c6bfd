/* check_live_kpage.c - the live table on a kernel whose pages are 64 KiB
 * (some arm64 and ppc64 kernels), emulated on this one: the table's memory
 * functions map, unmap and remap whole 64 KiB units here, as such a kernel
 * does, so an array cut down and stretched again keeps what it held past
 * its size up to the unit's end. Blocks go into two regions at once, one
 * growing ten times faster than the other, so that grows trade the spare
 * array (live.c) between tables of different sizes, then in two other
 * regions whose tables start small (the large spare is cut down); every
 * block must be in the table exactly once. (Session 15's first spare array
 * zeroed only what it had held: 3 309 559 blocks found of 3 300 000.)
 *
 * live.c is compiled into this test with tm__map, tm__unmap and tm__remap
 * renamed to the emulating functions below; the rest of the shim's core
 * comes from the library as for the other unit tests. */
#define _GNU_SOURCE
#define tm__map kp_map
#define tm__unmap kp_unmap
#define tm__remap kp_remap
#include "../../src/shim/live.c"
#include "suite_main.h"

#include <check.h>
#include <stdlib.h>
#include <sys/mman.h>

#define KPAGE ((size_t)65536)

static size_t kp_round(size_t n)
{
    return (n + KPAGE - 1) & ~(KPAGE - 1);
}

void *kp_map(size_t size)
{
    void *p = mmap(NULL, kp_round(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kp_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, kp_round(size));
}

void *kp_remap(void *p, size_t old_size, size_t new_size)
{
    void *q = mremap(p, kp_round(old_size), kp_round(new_size), MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

static void count_one(const struct tm__block *b, void *arg)
{
    (void)b;
    ++*(size_t *)arg;
}

/* 'na' blocks at 'a', one at 'b' after every 'ratio'-th; the table
 * holds nothing else */
static void two_regions(uintptr_t a, uintptr_t b, size_t na, size_t ratio)
{
    struct tm__block old, out;
    size_t nb = 0;
    tm__live_clear();
    for (size_t i = 0; i < na; i++) {
        struct tm__block x = {a + i * 48, 32, 1, 1};
        ck_assert_int_eq(tm__live_insert(&x, &old), 0);
        if (i % ratio == 0) {
            struct tm__block y = {b + nb++ * 48, 64, 2, 1};
            ck_assert_int_eq(tm__live_insert(&y, &old), 0);
        }
    }
    size_t seen = 0;
    tm__live_lock_all();
    ck_assert_uint_eq(tm__live_foreach_unlocked(count_one, &seen), na + nb);
    tm__live_unlock_all();
    ck_assert_uint_eq(seen, na + nb);
    ck_assert_uint_eq(tm__live_count(), na + nb);
    /* never inserted: not found; the last of each region: found */
    for (size_t i = na; i < na + 1000; i++)
        ck_assert_int_eq(tm__live_find(a + i * 48, &out), 0);
    ck_assert_int_eq(tm__live_find(a + (na - 1) * 48, &out), 1);
    ck_assert_int_eq(tm__live_find(b + (nb - 1) * 48, &out), 1);
    ck_assert_uint_eq(out.stack, 2);
}

START_TEST(test_live_kpage_spare_exact)
{
    two_regions((uintptr_t)1 << 36, (uintptr_t)3 << 36, 3000000, 10);
    /* other regions' tables start small: a large spare is cut down */
    two_regions((uintptr_t)5 << 36, (uintptr_t)6 << 36, 1500000, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("live_kpage");
    TCase *tc = tcase_create("spare");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_live_kpage_spare_exact);
    suite_add_tcase(s, tc);
    return check_main(s);
}
