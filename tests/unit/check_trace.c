/* check_trace.c - figures: per-stack counters, current/peak, the peak
 * record, realloc restore, unseen frees, domains and sampling estimates. */
#include "shim/shim.h"
#include "shim_stubs.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

static void setup(void)
{
    tm__cfg.sample_bytes = 0;
    tm__cfg.peak_inaccuracy = 1.0;
    tm__clear_all();
    stub_stack(0x1000, 0x2000);
}

static struct tm__stack *stack_of(uintptr_t a, uintptr_t b)
{
    uintptr_t pcs[] = {a, b};
    return tm__stack_get(tm__stack_intern(pcs, 2, 2));
}

START_TEST(test_trace_counts_per_stack)
{
    tm__record((void *)0x10000, 100);
    tm__record((void *)0x10100, 50);
    stub_stack(0x1000, 0x3000);
    tm__record((void *)0x10200, 7);
    struct tm__stack *a = stack_of(0x1000, 0x2000), *b = stack_of(0x1000, 0x3000);
    ck_assert_int_eq(atomic_load(&a->live_size), 150);
    ck_assert_int_eq(atomic_load(&a->live_count), 2);
    ck_assert_int_eq(atomic_load(&b->live_size), 7);
    ck_assert_int_eq(atomic_load(&tm__current), 157);
    ck_assert_int_eq(tm__forget((void *)0x10000, NULL), 1);
    ck_assert_int_eq(tm__forget((void *)0x10000, NULL), 0);
    ck_assert_int_eq(atomic_load(&a->live_size), 50);
    ck_assert_int_eq(atomic_load(&a->alloc_size), 150);
    ck_assert_int_eq(atomic_load(&a->alloc_count), 2);
    ck_assert_int_eq(atomic_load(&tm__current), 57);
    ck_assert_int_eq(atomic_load(&tm__peak), 157);
}
END_TEST

START_TEST(test_trace_restore_after_failed_realloc)
{
    tm__record((void *)0x20000, 64);
    struct tm__block was;
    ck_assert_int_eq(tm__forget((void *)0x20000, &was), 1);
    tm__restore(&was, NULL);
    struct tm__stack *a = stack_of(0x1000, 0x2000);
    ck_assert_int_eq(atomic_load(&a->live_size), 64);
    ck_assert_int_eq(atomic_load(&a->alloc_count), 1); /* not a new allocation */
    ck_assert_int_eq(atomic_load(&tm__current), 64);
}
END_TEST

START_TEST(test_trace_unseen_free_is_replaced)
{
    tm__record((void *)0x30000, 10);
    tm__record((void *)0x30000, 30); /* the address came back without a free */
    ck_assert_int_eq(atomic_load(&tm__current), 30);
    ck_assert_uint_eq(tm__live_count(), 1);
}
END_TEST

static void sum_rows(const struct tm__trace_row *r, void *arg)
{
    int64_t *acc = arg;
    acc[0] += r->size;
    acc[1] += r->count;
}

/* Peak composition: 1000 blocks of 1000 bytes from stack A, then frees,
 * then a smaller second wave from B. The record must describe the first
 * wave, within 1 % of the true peak. */
START_TEST(test_trace_peak_record_within_inaccuracy)
{
    for (uintptr_t i = 0; i < 1000; i++)
        tm__record((void *)(0x100000 + i * 0x1000), 1000);
    for (uintptr_t i = 0; i < 1000; i++)
        tm__forget((void *)(0x100000 + i * 0x1000), NULL);
    stub_stack(0x5000, 0x6000);
    for (uintptr_t i = 0; i < 100; i++)
        tm__record((void *)(0x900000 + i * 0x1000), 1000);
    ck_assert_int_eq(atomic_load(&tm__peak), 1000000);
    int64_t acc[2] = {0, 0};
    int64_t cur = tm__peak_foreach(sum_rows, acc);
    ck_assert_int_eq(acc[0], cur);
    ck_assert_int_ge(cur, 990000);
    ck_assert_int_le(cur, 1000000);
}
END_TEST

START_TEST(test_trace_peak_refresh_is_exact_at_peak)
{
    for (uintptr_t i = 0; i < 333; i++)
        tm__record((void *)(0x100000 + i * 0x1000), 301);
    tm__peak_refresh();
    int64_t acc[2] = {0, 0};
    ck_assert_int_eq(tm__peak_foreach(sum_rows, acc), 333 * 301);
    ck_assert_int_eq(acc[1], 333);
}
END_TEST

START_TEST(test_trace_reset_peak_and_clear)
{
    tm__record((void *)0x40000, 500);
    tm__forget((void *)0x40000, NULL);
    tm__record((void *)0x40100, 20);
    ck_assert_int_eq(atomic_load(&tm__peak), 500);
    tm__reset_peak();
    ck_assert_int_eq(atomic_load(&tm__peak), 20);
    tm__clear_all();
    ck_assert_int_eq(atomic_load(&tm__current), 0);
    ck_assert_int_eq(atomic_load(&tm__peak), 0);
    ck_assert_uint_eq(tm__live_count(), 0);
    int64_t acc[2] = {0, 0};
    tm__traces_foreach(sum_rows, acc);
    ck_assert_int_eq(acc[0], 0);
}
END_TEST

static void find_domain(const struct tm__trace_row *r, void *arg)
{
    struct tm__trace_row *want = arg;
    if (r->domain == want->domain) {
        want->size += r->size;
        want->count += r->count;
        want->alloc_count += r->alloc_count;
    }
}

START_TEST(test_trace_domains)
{
    ck_assert_int_eq(tm__domain_track(7, 0xa000, 4096), 0);
    ck_assert_int_eq(tm__domain_track(7, 0xb000, 100), 0);
    ck_assert_int_eq(tm__domain_track(7, 0xa000, 2048), 0); /* replaces */
    ck_assert_int_eq(tm__domain_track(8, 0xa000, 1), 0);    /* same address, other domain */
    ck_assert_int_eq(atomic_load(&tm__current), 2048 + 100 + 1);
    struct tm__trace_row d7 = {0, 7, 0, 0, 0, 0, 0};
    tm__traces_foreach(find_domain, &d7);
    ck_assert_int_eq(d7.size, 2148);
    ck_assert_int_eq(d7.count, 2);
    ck_assert_int_eq(d7.alloc_count, 3);
    ck_assert_int_eq(tm__domain_untrack(7, 0xa000), 0);
    ck_assert_int_eq(tm__domain_untrack(7, 0xa000), -ENOENT);
    ck_assert_int_eq(tm__domain_untrack(9, 0xb000), -ENOENT);
    ck_assert_int_eq(atomic_load(&tm__current), 101);
    ck_assert_int_eq(tm__domain_track(0, 0xc000, 5), 0); /* domain 0 is the heap table */
    ck_assert_uint_eq(tm__live_count(), 1);
    ck_assert_int_eq(tm__domain_untrack(0, 0xc000), 0);
}
END_TEST

/* 200000 blocks of 100 bytes with a mean sampling distance of 1000 bytes:
 * about 20000 samples, so the estimate is within 5 % (about 7 standard
 * deviations) of the exact 20 MB. */
START_TEST(test_trace_sampling_is_unbiased)
{
    tm__cfg.sample_bytes = 1000;
    for (uintptr_t i = 0; i < 200000; i++)
        tm__record((void *)(0x1000000 + i * 128), 100);
    int64_t cur = atomic_load(&tm__current);
    ck_assert_int_ge(cur, 19000000);
    ck_assert_int_le(cur, 21000000);
    ck_assert_uint_lt(tm__live_count(), 40000);
    /* big blocks are always sampled, at their own size */
    tm__clear_all();
    for (uintptr_t i = 0; i < 100; i++)
        tm__record((void *)(0x9000000 + i * 0x100000), 1000000);
    cur = atomic_load(&tm__current);
    ck_assert_int_eq(cur, 100 * 1000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("figures");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_trace_counts_per_stack);
    tcase_add_test(tc, test_trace_restore_after_failed_realloc);
    tcase_add_test(tc, test_trace_unseen_free_is_replaced);
    tcase_add_test(tc, test_trace_reset_peak_and_clear);
    tcase_add_test(tc, test_trace_domains);
    suite_add_tcase(s, tc);
    TCase *peak = tcase_create("peak");
    tcase_add_checked_fixture(peak, setup, NULL);
    tcase_add_test(peak, test_trace_peak_record_within_inaccuracy);
    tcase_add_test(peak, test_trace_peak_refresh_is_exact_at_peak);
    suite_add_tcase(s, peak);
    TCase *sampling = tcase_create("sampling");
    tcase_add_checked_fixture(sampling, setup, NULL);
    tcase_set_timeout(sampling, 30);
    tcase_add_test(sampling, test_trace_sampling_is_unbiased);
    suite_add_tcase(s, sampling);
    return check_main(s);
}
