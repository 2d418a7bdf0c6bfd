/* check_trace.c - figures: per-stack counters, current/peak, the peak
 * record, realloc restore, unseen frees, domains and sampling estimates. */
#include "shim/shim.h"
#include "shim_stubs.h"
#include "suite_main.h"

#include "shim/writer.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The snapshot's "sizes" key as written, into 'buf'. */
static void sizes_json(char *buf, size_t cap)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    struct tm__out o;
    ck_assert_int_eq(tm__out_open(&o, fileno(f)), 0);
    tm__sizes_write(&o);
    ck_assert_int_eq(tm__out_close(&o), 0);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* The hooks' countdown (tm__sample_pass) in front of tm__record: the
 * blocks it lets pass are counted in the histogram and nowhere else, and
 * the sampling stays that of one countdown over every byte. 200000 blocks,
 * 4000 of them 5000 bytes (more than most countdowns have left): about
 * 39600 samples of 39.6 MB, so the estimate is within 5 % (about 10
 * standard deviations). */
START_TEST(test_trace_sampled_fast_path)
{
    tm__cfg.sample_bytes = 1000;
    atomic_store(&tm__fast_sampled, 1);
    int64_t bytes = 0, slow = 0, passed = 0;
    for (uintptr_t i = 0; i < 200000; i++) {
        size_t size = i % 50 == 49 ? 5000 : 100;
        bytes += (int64_t)size;
        if (tm__sample_pass(size)) {
            passed++;
            continue;
        }
        slow++;
        tm__record((void *)(0x1000000 + i * 8192), size);
    }
    int64_t cur = atomic_load(&tm__current);
    ck_assert_int_eq(bytes, 39600000);
    ck_assert_int_ge(cur, 39600000 / 100 * 95);
    ck_assert_int_le(cur, 39600000 / 100 * 105);
    ck_assert_int_gt(passed, 100000); /* the countdown did let most pass */
    ck_assert_int_ge(slow, (int64_t)tm__live_count());
    /* with the thread inside the shim nothing passes */
    tm__in_hook = 1;
    ck_assert_int_eq(tm__sample_pass(1), 0);
    tm__in_hook = 0;
    /* nor in exact mode */
    atomic_store(&tm__fast_sampled, 0);
    ck_assert_int_eq(tm__sample_pass(1), 0);
    char buf[4096];
    sizes_json(buf, sizeof(buf));
    ck_assert_msg(strstr(buf, "\"allocated\":[[64,196000,19600000],[4096,4000,20000000]]"), "%s", buf);
}
END_TEST

/* A thread's histogram word for a bucket holds 2^23 - 1 allocations and
 * 2^39 - 1 bytes; past that it is moved to the wide counters, and blocks
 * of 4 GiB and more go there directly. Nothing is lost or counted twice. */
START_TEST(test_trace_sizes_spill)
{
    for (int i = 0; i < 9000000; i++)
        tm__sizes_count(24);
    for (int i = 0; i < 300; i++) /* bytes past 2^39 in the 2 GiB bucket */
        tm__sizes_count((size_t)2 << 30);
    tm__sizes_count((size_t)5 << 30);
    tm__sizes_count(0);
    char buf[4096];
    sizes_json(buf, sizeof(buf));
    ck_assert_msg(strstr(buf, "\"allocated\":[[0,1,0],[16,9000000,216000000],[2147483648,300,644245094400],"
                              "[4294967296,1,5368709120]]"),
                  "%s", buf);
}
END_TEST

/* free()'s one-load test (tm__maybe_none): "none" only once a block was
 * sampled, never for the boot pool's blocks (pinned when the table is
 * published, for good), "none" again for a sampled block once forgotten. */
START_TEST(test_trace_maybe_none_pins_boot_blocks)
{
    tm__cfg.sample_bytes = 1000;
    atomic_store(&tm__fast_sampled, 1);
    stub_boot_lo = 0x7001010;
    stub_boot_hi = 0x70010d1;
    ck_assert_int_eq(tm__maybe_none(0x5000000), 0); /* no table yet */
    tm__record((void *)0x9000000, 1000000);         /* always sampled */
    ck_assert_uint_eq(tm__live_count(), 1);
    ck_assert_int_eq(tm__maybe_none(0x5000040), 1);
    ck_assert_int_eq(tm__maybe_none(0x9000000), 0);
    for (uintptr_t p = 0x7001010; p < 0x70010d1; p += 16)
        ck_assert_int_eq(tm__maybe_none(p), 0);
    ck_assert_int_eq(tm__maybe_none(0x7001100), 1);
    ck_assert_int_eq(tm__forget((void *)0x9000000, NULL), 1);
    ck_assert_int_eq(tm__maybe_none(0x9000000), 1);
    tm__clear_all();
    ck_assert_int_eq(tm__maybe_none(0x7001010), 0);
    ck_assert_int_eq(tm__maybe_none(0x70010c0), 0);
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
    tcase_add_test(sampling, test_trace_sampled_fast_path);
    tcase_add_test(sampling, test_trace_sizes_spill);
    tcase_add_test(sampling, test_trace_maybe_none_pins_boot_blocks);
    suite_add_tcase(s, sampling);
    return check_main(s);
}
