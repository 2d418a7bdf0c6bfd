/* check_live.c - the live-block table: insert, find, remove, replace,
 * growth, deletion inside probe runs, iteration, threads. */
#include "shim/shim.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>

static struct tm__block blk(uintptr_t ptr, uint64_t size, uint32_t stack)
{
    struct tm__block b = {ptr, size, stack, 1};
    return b;
}

static void setup(void)
{
    tm__live_clear();
}

START_TEST(test_live_insert_find_remove)
{
    struct tm__block b = blk(0x1000, 24, 7), old, out;
    ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    ck_assert_int_eq(tm__live_find(0x1000, &out), 1);
    ck_assert_uint_eq(out.size, 24);
    ck_assert_uint_eq(out.stack, 7);
    ck_assert_int_eq(tm__live_find(0x1010, &out), 0);
    ck_assert_uint_eq(tm__live_count(), 1);
    ck_assert_int_eq(tm__live_remove(0x1000, &out), 1);
    ck_assert_uint_eq(out.size, 24);
    ck_assert_int_eq(tm__live_remove(0x1000, &out), 0);
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

START_TEST(test_live_replaces_unseen_free)
{
    struct tm__block a = blk(0x2000, 10, 1), b = blk(0x2000, 99, 2), old;
    ck_assert_int_eq(tm__live_insert(&a, &old), 0);
    ck_assert_int_eq(tm__live_insert(&b, &old), 1);
    ck_assert_uint_eq(old.size, 10);
    ck_assert_uint_eq(old.stack, 1);
    struct tm__block out;
    ck_assert_int_eq(tm__live_find(0x2000, &out), 1);
    ck_assert_uint_eq(out.size, 99);
    ck_assert_uint_eq(tm__live_count(), 1);
}
END_TEST

/* 200000 blocks force several resizes; removing every other one exercises
 * backward-shift deletion in long probe runs; the rest must all be found. */
START_TEST(test_live_growth_and_deletion)
{
    const uintptr_t n = 200000;
    struct tm__block old, out;
    for (uintptr_t i = 1; i <= n; i++) {
        struct tm__block b = blk(i * 16, i, (uint32_t)i);
        ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    }
    ck_assert_uint_eq(tm__live_count(), n);
    for (uintptr_t i = 1; i <= n; i += 2)
        ck_assert_int_eq(tm__live_remove(i * 16, &out), 1);
    for (uintptr_t i = 1; i <= n; i++) {
        int found = tm__live_find(i * 16, &out);
        ck_assert_int_eq(found, i % 2 == 0);
        if (found)
            ck_assert_uint_eq(out.size, i);
    }
    ck_assert_uint_eq(tm__live_count(), n / 2);
}
END_TEST

static void sum_sizes(const struct tm__block *b, void *arg)
{
    *(uint64_t *)arg += b->size;
}

START_TEST(test_live_foreach_visits_every_block)
{
    struct tm__block old;
    uint64_t want = 0;
    for (uintptr_t i = 1; i <= 1000; i++) {
        struct tm__block b = blk(i * 32, i * 3, 1);
        tm__live_insert(&b, &old);
        want += i * 3;
    }
    uint64_t got = 0;
    tm__live_lock_all();
    size_t n = tm__live_foreach_unlocked(sum_sizes, &got);
    tm__live_unlock_all();
    ck_assert_uint_eq(n, 1000);
    ck_assert_uint_eq(got, want);
    tm__live_clear();
    ck_assert_uint_eq(tm__live_count(), 0);
    ck_assert_int_eq(tm__live_find(32, &old), 0);
}
END_TEST

struct worker {
    uintptr_t base;
    int rounds;
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    struct tm__block old, out;
    for (int r = 0; r < w->rounds; r++) {
        for (uintptr_t i = 0; i < 1000; i++) {
            struct tm__block b = blk(w->base + i * 16, 8, 1);
            if (tm__live_insert(&b, &old) != 0)
                return (void *)1;
        }
        for (uintptr_t i = 0; i < 1000; i++)
            if (tm__live_remove(w->base + i * 16, &out) != 1)
                return (void *)1;
    }
    return NULL;
}

START_TEST(test_live_threads_disjoint_churn)
{
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){(uintptr_t)(i + 1) << 32, 50};
        pthread_create(&t[i], NULL, churn, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        ck_assert_ptr_null(rc);
    }
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

static Suite *live_suite(void)
{
    Suite *s = suite_create("live");
    TCase *basic = tcase_create("basic");
    tcase_add_checked_fixture(basic, setup, NULL);
    tcase_add_test(basic, test_live_insert_find_remove);
    tcase_add_test(basic, test_live_replaces_unseen_free);
    tcase_add_test(basic, test_live_foreach_visits_every_block);
    suite_add_tcase(s, basic);
    TCase *scale = tcase_create("scale");
    tcase_add_checked_fixture(scale, setup, NULL);
    tcase_set_timeout(scale, 60);
    tcase_add_test(scale, test_live_growth_and_deletion);
    tcase_add_test(scale, test_live_threads_disjoint_churn);
    suite_add_tcase(s, scale);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(live_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
