/* check_stats.c - Check suite "stats": grouping, cumulative counting,
 * sorting, filters, peak and domain selection, and compare_to() diffs, on
 * the hand-made snapshots tests/data/cli-a.json and cli-b.json whose
 * answers are worked out in the comments below.
 *
 * cli-a.json traces (stack: frames innermost first):
 *   t0 s0 node.c:12 <- tree.c:40 <- main.c:7      1000 B / 10, alloc 20
 *   t1 s1 node.c:12 <- tree.c:41 <- main.c:7       500 B / 5
 *   t2 s2 foo_alloc (libfoo.so.1, no line) <- main.c:7   4096 B / 1, alloc 2
 *   t3 s3 read_config main.c:20 [inlined into main at main.c:9]  300 B / 3
 *   t4 s4 0x7fff1234 (no module) <- main.c:7, domain 1   64 B / 1
 *   t5 s5 tree.c:40 <- tree.c:40 <- main.c:7 (recursion) 200 B / 2
 *   t6 s2 freed: 0 B / 0, allocated 100000 B in 1000 blocks
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "test_data.h"

static tm_snapshot *a, *b;

static void setup(void)
{
    a = tm_test_load("cli-a.json");
    b = tm_test_load("cli-b.json");
}

static void teardown(void)
{
    tm_snapshot_free(a);
    tm_snapshot_free(b);
}

/* Expected groups, in order. */
typedef struct want {
    const char *key;
    uint64_t size, count;
} want;

static void check_stats(const tm_stats *st, const want *w, size_t n)
{
    ck_assert_uint_eq(st->n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(st->v[i].key, w[i].key);
        ck_assert_uint_eq(st->v[i].size, w[i].size);
        ck_assert_uint_eq(st->v[i].count, w[i].count);
    }
}

static void compute(const tm_snapshot *s, const tm_stats_opts *o, tm_stats *st)
{
    tm_error err = {""};

    if (tm_stats_compute(s, o, st, &err))
        ck_abort_msg("tm_stats_compute: %s", err.what);
}

#define CHECK(opts, ...)                                                                                     \
    do {                                                                                                     \
        static const want w[] = {__VA_ARGS__};                                                               \
        tm_stats st_;                                                                                        \
        compute(a, &(opts), &st_);                                                                           \
        check_stats(&st_, w, sizeof w / sizeof *w);                                                          \
        tm_stats_free(&st_);                                                                                 \
    } while (0)

/* --- grouping --- */

START_TEST(test_stats_groups_by_lineno)
{
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    CHECK(o, {"foo_alloc (libfoo.so.1)", 4096, 1}, {"/src/app/node.c:12", 1500, 15},
          {"/src/app/main.c:20", 300, 3}, {"/src/app/tree.c:40", 200, 2}, {"0x7fff1234", 64, 1});
    compute(a, &o, &st);
    ck_assert_uint_eq(st.total_size, 6160);
    ck_assert_uint_eq(st.total_count, 22);
    ck_assert_int_eq(tm_stats_find(&st, "/src/app/main.c:20"), 2);
    ck_assert_int_eq(tm_stats_find(&st, "nope"), -1);
    tm_stats_free(&st);
}
END_TEST

START_TEST(test_stats_groups_by_filename)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.by = TM_BY_FILENAME;
    CHECK(o, {"libfoo.so.1", 4096, 1}, {"/src/app/node.c", 1500, 15}, {"/src/app/main.c", 300, 3},
          {"/src/app/tree.c", 200, 2}, {"[unknown]", 64, 1});
}
END_TEST

START_TEST(test_stats_groups_by_function)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.by = TM_BY_FUNCTION;
    CHECK(o, {"foo_alloc", 4096, 1}, {"alloc_node", 1500, 15}, {"read_config", 300, 3},
          {"build_tree", 200, 2}, {"0x7fff1234", 64, 1});
}
END_TEST

START_TEST(test_stats_groups_by_module)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.by = TM_BY_MODULE;
    CHECK(o, {"libfoo.so.1", 4096, 1}, {"app", 2000, 20}, {"[unknown]", 64, 1});
}
END_TEST

START_TEST(test_stats_groups_by_traceback)
{
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.by = TM_BY_TRACEBACK;
    compute(a, &o, &st);
    ck_assert_uint_eq(st.n, 6);
    ck_assert_str_eq(st.v[0].key, "foo_alloc (libfoo.so.1)\n"
                                  "/src/app/main.c:7");
    ck_assert_uint_eq(st.v[1].size, 1000);
    ck_assert_str_eq(st.v[1].key, "/src/app/node.c:12\n/src/app/tree.c:40\n"
                                  "/src/app/main.c:7");
    /* the inlined frame is its own line of the traceback */
    ck_assert_str_eq(st.v[3].key, "/src/app/main.c:20\n/src/app/main.c:9");
    ck_assert_uint_eq(st.v[3].stack, 3);
    tm_stats_free(&st);
}
END_TEST

/* --- cumulative --- */

START_TEST(test_stats_cumulative_counts_every_frame_once)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.cumulative = 1;
    /* tree.c:40 = t0 + t5 once (recursion not counted twice);
     * main.c:9 is the inlined caller of read_config. */
    CHECK(o, {"/src/app/main.c:7", 5860, 19}, {"foo_alloc (libfoo.so.1)", 4096, 1},
          {"/src/app/node.c:12", 1500, 15}, {"/src/app/tree.c:40", 1200, 12}, {"/src/app/tree.c:41", 500, 5},
          {"/src/app/main.c:20", 300, 3}, {"/src/app/main.c:9", 300, 3}, {"0x7fff1234", 64, 1});
}
END_TEST

START_TEST(test_stats_cumulative_by_function)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.cumulative = 1;
    o.by = TM_BY_FUNCTION;
    CHECK(o, {"main", 6160, 22}, {"foo_alloc", 4096, 1}, {"build_tree", 1700, 17}, {"alloc_node", 1500, 15},
          {"read_config", 300, 3}, {"0x7fff1234", 64, 1});
}
END_TEST

START_TEST(test_stats_cumulative_rejects_traceback)
{
    tm_stats_opts o;
    tm_stats st;
    tm_error err = {""};

    tm_stats_opts_init(&o);
    o.cumulative = 1;
    o.by = TM_BY_TRACEBACK;
    ck_assert_int_eq(tm_stats_compute(a, &o, &st, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.what, "--cumulative"));
}
END_TEST

/* --- sorting --- */

START_TEST(test_stats_sorts_by_count)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.sort = TM_SORT_COUNT;
    /* count ties (1) broken by size */
    CHECK(o, {"/src/app/node.c:12", 1500, 15}, {"/src/app/main.c:20", 300, 3}, {"/src/app/tree.c:40", 200, 2},
          {"foo_alloc (libfoo.so.1)", 4096, 1}, {"0x7fff1234", 64, 1});
}
END_TEST

START_TEST(test_stats_sorts_by_allocations)
{
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.sort = TM_SORT_ALLOCATIONS;
    compute(a, &o, &st);
    /* the freed trace t6 counts: churn */
    ck_assert_uint_eq(st.n, 5);
    ck_assert_str_eq(st.v[0].key, "foo_alloc (libfoo.so.1)");
    ck_assert_uint_eq(st.v[0].allocated_count, 1002);
    ck_assert_uint_eq(st.v[0].allocated_size, 108192);
    ck_assert_uint_eq(st.v[0].size, 4096);
    ck_assert_str_eq(st.v[1].key, "/src/app/node.c:12");
    ck_assert_uint_eq(st.v[1].allocated_count, 25);
    ck_assert_uint_eq(st.total_allocated_count, 1033);
    tm_stats_free(&st);
}
END_TEST

START_TEST(test_stats_ties_broken_by_key_descending)
{
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.cumulative = 1;
    compute(a, &o, &st);
    /* main.c:20 and main.c:9 tie on size and count; like tracemalloc the
     * greater key comes first, comparing line numbers as numbers */
    ck_assert_str_eq(st.v[5].key, "/src/app/main.c:20");
    ck_assert_str_eq(st.v[6].key, "/src/app/main.c:9");
    tm_stats_free(&st);
}
END_TEST

/* opts.top: the first groups are the ones a full sort puts first, in
 * the same order, and every group is still there and found by key. */
START_TEST(test_stats_top_orders_the_first_groups_only)
{
    static const char *const files[] = {"cli-a.json", "cli-b.json", "leaks.json", "trend-3.json"};
    int checked = 0;

    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        tm_snapshot *s = tm_test_load(files[f]);

        for (int by = TM_BY_LINENO; by <= TM_BY_TRACEBACK; by++)
            for (int sort = TM_SORT_SIZE; sort <= TM_SORT_COUNT; sort++)
                for (size_t top = 1; top <= 4; top++) {
                    tm_stats_opts o;
                    tm_stats all, some;

                    tm_stats_opts_init(&o);
                    o.by = (tm_group_by)by;
                    o.sort = (tm_sort)sort;
                    compute(s, &o, &all);
                    o.top = top;
                    compute(s, &o, &some);
                    ck_assert_uint_eq(some.n, all.n);
                    for (size_t i = 0; i < all.n; i++) {
                        long at = tm_stats_find(&some, all.v[i].key);

                        ck_assert_int_ge(at, 0);
                        ck_assert_str_eq(some.v[at].key, all.v[i].key);
                        ck_assert_uint_eq(some.v[at].size, all.v[i].size);
                        if (i < top)
                            ck_assert_int_eq(at, (long)i);
                        else
                            ck_assert_int_ge(at, (long)top);
                    }
                    checked += all.n > top;
                    tm_stats_free(&all);
                    tm_stats_free(&some);
                }
        tm_snapshot_free(s);
    }
    ck_assert_int_gt(checked, 20); /* most cases had more groups than shown */
}
END_TEST

/* --- filters, domain, peak --- */

START_TEST(test_stats_include_innermost_frame_only)
{
    tm_filter f[] = {{1, "*/tree.c"}};
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.filters = f;
    o.nfilters = 1;
    CHECK(o, {"/src/app/tree.c:40", 200, 2});
}
END_TEST

START_TEST(test_stats_include_all_frames)
{
    tm_filter f[] = {{1, "*/tree.c"}};
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.filters = f;
    o.nfilters = 1;
    o.all_frames = 1;
    CHECK(o, {"/src/app/node.c:12", 1500, 15}, {"/src/app/tree.c:40", 200, 2});
}
END_TEST

START_TEST(test_stats_exclude_module_pattern)
{
    tm_filter f[] = {{0, "libfoo*"}};
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.filters = f;
    o.nfilters = 1;
    compute(a, &o, &st);
    ck_assert_uint_eq(st.total_size, 2064);
    ck_assert_int_eq(tm_stats_find(&st, "foo_alloc (libfoo.so.1)"), -1);
    tm_stats_free(&st);
}
END_TEST

START_TEST(test_stats_exclude_function_all_frames)
{
    /* every stack has main, inlined or not: nothing is left */
    tm_filter f[] = {{0, "main"}};
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.filters = f;
    o.nfilters = 1;
    o.all_frames = 1;
    compute(a, &o, &st);
    ck_assert_uint_eq(st.n, 0);
    ck_assert_uint_eq(st.total_size, 0);
    tm_stats_free(&st);
}
END_TEST

START_TEST(test_stats_include_function_and_exclude)
{
    /* includes are OR-ed, an exclude wins */
    tm_filter f[] = {{1, "read_config"}, {1, "alloc_node"}, {0, "*/tree.c"}};
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.filters = f;
    o.nfilters = 3;
    o.all_frames = 1;
    CHECK(o, {"/src/app/main.c:20", 300, 3});
}
END_TEST

START_TEST(test_stats_include_module_path)
{
    /* module patterns match the path as well as the base name */
    tm_filter f[] = {{1, "/lib/*"}};
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.filters = f;
    o.nfilters = 1;
    CHECK(o, {"foo_alloc (libfoo.so.1)", 4096, 1});
}
END_TEST

START_TEST(test_stats_domain_and_filter)
{
    /* the domain-1 trace is main.c:7's caller chain; its innermost frame is
     * in no module, so an innermost-only filter on main.c drops it */
    tm_filter f[] = {{1, "*/main.c"}};
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.domain = 1;
    o.filters = f;
    o.nfilters = 1;
    compute(a, &o, &st);
    ck_assert_uint_eq(st.n, 0);
    tm_stats_free(&st);
    o.all_frames = 1;
    CHECK(o, {"0x7fff1234", 64, 1});
}
END_TEST

START_TEST(test_stats_domain)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.domain = 1;
    CHECK(o, {"0x7fff1234", 64, 1});
}
END_TEST

START_TEST(test_stats_peak_record)
{
    tm_stats_opts o;
    tm_stats st;
    tm_error err = {""};

    tm_stats_opts_init(&o);
    o.peak = 1;
    CHECK(o, {"/src/app/node.c:12", 5000, 50}, {"foo_alloc (libfoo.so.1)", 4096, 1});
    o.sort = TM_SORT_ALLOCATIONS;
    ck_assert_int_eq(tm_stats_compute(a, &o, &st, &err), -EINVAL);
}
END_TEST

/* --- compare_to --- */

START_TEST(test_stats_diff_lineno)
{
    static const struct {
        const char *key;
        uint64_t size;
        int64_t size_diff;
        uint64_t count;
        int64_t count_diff;
    } w[] = {
        {"/src/app/node.c:12", 3000, 1500, 30, 15},
        {"/src/app/cache.c:5", 800, 800, 8, 8}, /* only in NEW */
        {"/src/app/main.c:20", 0, -300, 0, -3}, /* only in OLD */
        {"foo_alloc (libfoo.so.1)", 4096, 0, 1, 0},
        {"/src/app/tree.c:40", 200, 0, 2, 0},
        {"0x7fff1234", 64, 0, 1, 0},
    };
    tm_stats_opts o;
    tm_stats os, ns;
    tm_diff d;

    tm_stats_opts_init(&o);
    compute(a, &o, &os);
    compute(b, &o, &ns);
    ck_assert_int_eq(tm_stats_compare(&os, &ns, &d), 0);
    ck_assert_uint_eq(d.n, 6);
    for (size_t i = 0; i < d.n; i++) {
        ck_assert_str_eq(d.v[i].key, w[i].key);
        ck_assert_uint_eq(d.v[i].size, w[i].size);
        ck_assert_int_eq(d.v[i].size_diff, w[i].size_diff);
        ck_assert_uint_eq(d.v[i].count, w[i].count);
        ck_assert_int_eq(d.v[i].count_diff, w[i].count_diff);
    }
    ck_assert_ptr_eq(d.v[2].from, &os);
    ck_assert_int_eq(d.total_size_diff, 2000);
    ck_assert_int_eq(d.total_count_diff, 20);
    tm_diff_free(&d);
    tm_stats_free(&os);
    tm_stats_free(&ns);
}
END_TEST

START_TEST(test_stats_diff_is_symbolic)
{
    /* cli-b.json is a rebuild loaded elsewhere: other base, other build-id,
     * other offsets; a traceback diff still matches the same stacks */
    tm_stats_opts o;
    tm_stats os, ns;
    tm_diff d;
    long i;

    tm_stats_opts_init(&o);
    o.by = TM_BY_TRACEBACK;
    compute(a, &o, &os);
    compute(b, &o, &ns);
    ck_assert_int_eq(tm_stats_compare(&os, &ns, &d), 0);
    /* 6 stacks in OLD, 5 in NEW of which 1 new: 7 keys */
    ck_assert_uint_eq(d.n, 7);
    for (i = 0; i < (long)d.n; i++)
        if (strcmp(d.v[i].key, "foo_alloc (libfoo.so.1)\n/src/app/main.c:7") == 0)
            break;
    ck_assert_int_lt(i, (long)d.n);
    ck_assert_int_eq(d.v[i].size_diff, 0);
    ck_assert_uint_eq(d.v[i].size, 4096);
    tm_diff_free(&d);
    tm_stats_free(&os);
    tm_stats_free(&ns);
}
END_TEST

START_TEST(test_stats_diff_by_count)
{
    tm_stats_opts o;
    tm_stats os, ns;
    tm_diff d;

    tm_stats_opts_init(&o);
    o.sort = TM_SORT_COUNT;
    compute(a, &o, &os);
    compute(b, &o, &ns);
    ck_assert_int_eq(tm_stats_compare(&os, &ns, &d), 0);
    ck_assert_str_eq(d.v[0].key, "/src/app/node.c:12");
    ck_assert_str_eq(d.v[1].key, "/src/app/cache.c:5");
    ck_assert_str_eq(d.v[2].key, "/src/app/main.c:20");
    tm_diff_free(&d);
    tm_stats_free(&os);
    tm_stats_free(&ns);
}
END_TEST

START_TEST(test_stats_parse_names)
{
    ck_assert_int_eq(tm_group_by_parse("traceback"), TM_BY_TRACEBACK);
    ck_assert_int_eq(tm_group_by_parse("line"), -1);
    ck_assert_int_eq(tm_sort_parse("allocations"), TM_SORT_ALLOCATIONS);
    ck_assert_int_eq(tm_sort_parse("Size"), -1);
    ck_assert_str_eq(tm_group_by_name(TM_BY_MODULE), "module");
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc;

    tc = tcase_create("grouping");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_groups_by_lineno);
    tcase_add_test(tc, test_stats_groups_by_filename);
    tcase_add_test(tc, test_stats_groups_by_function);
    tcase_add_test(tc, test_stats_groups_by_module);
    tcase_add_test(tc, test_stats_groups_by_traceback);
    tcase_add_test(tc, test_stats_parse_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("cumulative");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_cumulative_counts_every_frame_once);
    tcase_add_test(tc, test_stats_cumulative_by_function);
    tcase_add_test(tc, test_stats_cumulative_rejects_traceback);
    suite_add_tcase(s, tc);

    tc = tcase_create("sorting");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_sorts_by_count);
    tcase_add_test(tc, test_stats_sorts_by_allocations);
    tcase_add_test(tc, test_stats_ties_broken_by_key_descending);
    tcase_add_test(tc, test_stats_top_orders_the_first_groups_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("filters");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_include_innermost_frame_only);
    tcase_add_test(tc, test_stats_include_all_frames);
    tcase_add_test(tc, test_stats_exclude_module_pattern);
    tcase_add_test(tc, test_stats_exclude_function_all_frames);
    tcase_add_test(tc, test_stats_include_function_and_exclude);
    tcase_add_test(tc, test_stats_domain);
    tcase_add_test(tc, test_stats_include_module_path);
    tcase_add_test(tc, test_stats_domain_and_filter);
    tcase_add_test(tc, test_stats_peak_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("diff");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_diff_lineno);
    tcase_add_test(tc, test_stats_diff_is_symbolic);
    tcase_add_test(tc, test_stats_diff_by_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(stats_suite());
}
