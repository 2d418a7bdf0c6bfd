/* check_stacks.c - interning stacks: identity, keys, scale, threads. */
#include "shim/shim.h"
#include "suite_main.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>

START_TEST(test_stacks_same_frames_same_id)
{
    uintptr_t a[] = {0x401000, 0x401100, 0x401200};
    uint32_t id1 = tm__stack_intern(a, 3, 3);
    uint32_t id2 = tm__stack_intern(a, 3, 3);
    ck_assert_uint_ne(id1, 0);
    ck_assert_uint_eq(id1, id2);
    const struct tm__stack *s = tm__stack_get(id1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->nframes, 3);
    ck_assert_uint_eq(s->depth, 3);
    ck_assert_uint_eq(s->pcs[2], 0x401200);
    ck_assert_uint_eq(s->id, id1);
}
END_TEST

START_TEST(test_stacks_key_includes_order_depth_and_epoch)
{
    uintptr_t a[] = {0x10, 0x20}, b[] = {0x20, 0x10};
    uint32_t base = tm__stack_intern(a, 2, 2);
    ck_assert_uint_ne(tm__stack_intern(b, 2, 2), base);
    ck_assert_uint_ne(tm__stack_intern(a, 1, 1), base);
    ck_assert_uint_ne(tm__stack_intern(a, 2, 9), base); /* truncated at 2 of 9 */
    atomic_fetch_add(&tm__epoch, 1);
    uint32_t later = tm__stack_intern(a, 2, 2);
    atomic_fetch_sub(&tm__epoch, 1);
    ck_assert_uint_ne(later, base);
    ck_assert_uint_eq(tm__stack_get(later)->epoch, tm__stack_get(base)->epoch + 1);
    ck_assert_uint_eq(tm__stack_intern(a, 2, 2), base);
}
END_TEST

START_TEST(test_stacks_empty_stack)
{
    uint32_t id = tm__stack_intern(NULL, 0, 0);
    ck_assert_uint_ne(id, 0);
    ck_assert_uint_eq(tm__stack_intern(NULL, 0, 0), id);
    ck_assert_uint_eq(tm__stack_get(id)->nframes, 0);
}
END_TEST

START_TEST(test_stacks_many_distinct)
{
    uint32_t first = tm__stack_limit();
    for (uintptr_t i = 0; i < 100000; i++) {
        uintptr_t pcs[] = {0x7000000 + i, 0x8000000};
        ck_assert_uint_eq(tm__stack_intern(pcs, 2, 2), first + i);
    }
    ck_assert_uint_eq(tm__stack_limit(), first + 100000);
    for (uintptr_t i = 0; i < 100000; i += 997) {
        uintptr_t pcs[] = {0x7000000 + i, 0x8000000};
        ck_assert_uint_eq(tm__stack_intern(pcs, 2, 2), first + i);
    }
}
END_TEST

static void *intern_range(void *arg)
{
    uint32_t *ids = arg;
    for (uintptr_t i = 0; i < 20000; i++) {
        uintptr_t pcs[] = {0x9000000 + i};
        ids[i] = tm__stack_intern(pcs, 1, 1);
    }
    return NULL;
}

START_TEST(test_stacks_threads_agree)
{
    static uint32_t ids[2][20000];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, intern_range, ids[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 20000; i++) {
        ck_assert_uint_ne(ids[0][i], 0);
        ck_assert_uint_eq(ids[0][i], ids[1][i]);
    }
}
END_TEST

START_TEST(test_stacks_reset_counters)
{
    uintptr_t a[] = {0xabc};
    struct tm__stack *s = tm__stack_get(tm__stack_intern(a, 1, 1));
    atomic_store(&s->live_size, 5);
    atomic_store(&s->alloc_count, 3);
    tm__stacks_reset_counters();
    ck_assert_int_eq(atomic_load(&s->live_size), 0);
    ck_assert_int_eq(atomic_load(&s->alloc_count), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stacks");
    TCase *tc = tcase_create("intern");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stacks_same_frames_same_id);
    tcase_add_test(tc, test_stacks_key_includes_order_depth_and_epoch);
    tcase_add_test(tc, test_stacks_empty_stack);
    tcase_add_test(tc, test_stacks_many_distinct);
    tcase_add_test(tc, test_stacks_threads_agree);
    tcase_add_test(tc, test_stacks_reset_counters);
    suite_add_tcase(s, tc);
    return check_main(s);
}
