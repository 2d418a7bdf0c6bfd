/* check_trend.c - Check suite "trend": the least-squares fit, the
 * steady-growth rule, ISO 8601 times, and whole series built by hand from
 * tests/data/cli-a.json (see check_stats.c for its stacks) with these
 * live sizes in five snapshots taken 0.5 s apart:
 *
 *   s0 node.c:12 <- tree.c:40   1000 2000 3000 4000 5000  steady, +1000/snap, +2000/s
 *   s1 node.c:12 <- tree.c:41    500  500  500  500  500  flat
 *   s2 foo_alloc               4096 4096 8192 8192 8192  one step: R^2 0.75
 *   s3 read_config              300 1300  800 1800 1300  sawtooth: 2 steps down
 *   s4 0x7fff1234                64   64   32   32    0  shrinks
 *   s5 tree.c:40 <- tree.c:40   200  210  220  230  240  steady but small (+40)
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "report/trend.h"

#define NSNAP 5

static const json_int_t sizes[6][NSNAP] = {
    {1000, 2000, 3000, 4000, 5000}, {500, 500, 500, 500, 500}, {4096, 4096, 8192, 8192, 8192},
    {300, 1300, 800, 1800, 1300},   {64, 64, 32, 32, 0},       {200, 210, 220, 230, 240},
};
static const char *const times[NSNAP] = {
    "2026-01-01T00:00:00Z",     "2026-01-01T00:00:00.500Z", "2026-01-01T00:00:01Z",
    "2026-01-01T00:00:01.500Z", "2026-01-01T00:00:02.000Z",
};

static tm_snapshot *snaps[NSNAP];

/* Snapshot 'i' of the series: cli-a.json with the sizes above. */
static tm_snapshot *make(size_t i, json_int_t pid)
{
    char path[4096];
    json_error_t jerr;
    tm_error err = {""};
    json_t *root, *traces;
    tm_snapshot *s = NULL;
    char name[32];

    snprintf(path, sizeof path, "%s/cli-a.json", TM_TEST_DATA);
    if (!(root = json_load_file(path, 0, &jerr)))
        ck_abort_msg("%s: %s", path, jerr.text);
    traces = json_object_get(root, "traces");
    for (size_t t = 0; t < 6; t++)
        json_object_set_new(json_array_get(traces, t), "size", json_integer(sizes[t][i]));
    json_object_set_new(json_object_get(root, "snapshot"), "seq", json_integer((json_int_t)i + 1));
    json_object_set_new(json_object_get(root, "snapshot"), "time", json_string(times[i]));
    json_object_set_new(json_object_get(root, "process"), "pid", json_integer(pid));
    snprintf(name, sizeof name, "snap%zu.json", i);
    if (tm_snapshot_from_json(root, name, &s, &err))
        ck_abort_msg("%s: %s", name, err.what);
    json_decref(root);
    return s;
}

static void setup(void)
{
    for (size_t i = 0; i < NSNAP; i++)
        snaps[i] = make(i, 100);
}

static void teardown(void)
{
    for (size_t i = 0; i < NSNAP; i++)
        tm_snapshot_free(snaps[i]);
}

/* --- the fit --- */

START_TEST(test_trend_fit_exact_line)
{
    double x[] = {0, 1, 2, 3, 4}, y[] = {1000, 2000, 3000, 4000, 5000};
    tm_fit f;

    ck_assert_int_eq(tm_fit_line(x, y, 5, &f), 0);
    ck_assert_double_eq_tol(f.slope, 1000, 1e-9);
    ck_assert_double_eq_tol(f.intercept, 1000, 1e-9);
    ck_assert_double_eq_tol(f.r2, 1, 1e-12);
}
END_TEST

START_TEST(test_trend_fit_noisy)
{
    /* y = 1, 3, 2, 5, 4: slope Sxy/Sxx = 8/10, intercept 3 - 0.8 * 2,
     * R^2 = 64 / (10 * 10) */
    double x[] = {0, 1, 2, 3, 4}, y[] = {1, 3, 2, 5, 4};
    tm_fit f;

    ck_assert_int_eq(tm_fit_line(x, y, 5, &f), 0);
    ck_assert_double_eq_tol(f.slope, 0.8, 1e-12);
    ck_assert_double_eq_tol(f.intercept, 1.4, 1e-12);
    ck_assert_double_eq_tol(f.r2, 0.64, 1e-12);
}
END_TEST

START_TEST(test_trend_fit_step_and_flat)
{
    double x[] = {0, 1, 2, 3, 4}, step[] = {0, 0, 1, 1, 1}, flat[] = {7, 7, 7, 7, 7};
    tm_fit f;

    ck_assert_int_eq(tm_fit_line(x, step, 5, &f), 0);
    ck_assert_double_eq_tol(f.r2, 0.75, 1e-12);
    ck_assert_int_eq(tm_fit_line(x, flat, 5, &f), 0);
    ck_assert_double_eq_tol(f.slope, 0, 1e-12);
    ck_assert_double_eq_tol(f.r2, 0, 1e-12);
}
END_TEST

START_TEST(test_trend_fit_degenerate)
{
    double x[] = {2, 2, 2}, y[] = {1, 2, 3};
    tm_fit f;

    ck_assert_int_eq(tm_fit_line(x, y, 1, &f), -EINVAL);
    ck_assert_int_eq(tm_fit_line(x, y, 3, &f), -EINVAL);
}
END_TEST

START_TEST(test_trend_steady_rule)
{
    double x[11], up[11], dip[11], dips[11];
    tm_fit f;

    for (int i = 0; i < 11; i++) {
        x[i] = i;
        up[i] = dip[i] = dips[i] = 100.0 * i;
    }
    dip[5] = 350;                 /* 1 step down of 10: allowed */
    dips[5] = 350, dips[8] = 650; /* 2 of 10: not */
    tm_fit_line(x, up, 11, &f);
    ck_assert_int_eq(tm_trend_steady(up, 11, &f, 0), 1);
    ck_assert_int_eq(tm_trend_steady(up, 11, &f, 1000), 1);
    ck_assert_int_eq(tm_trend_steady(up, 11, &f, 1001), 0);
    tm_fit_line(x, dip, 11, &f);
    ck_assert_uint_eq(tm_trend_decreases(dip, 11), 1);
    ck_assert_int_eq(tm_trend_steady(dip, 11, &f, 0), 1);
    tm_fit_line(x, dips, 11, &f);
    ck_assert_uint_eq(tm_trend_decreases(dips, 11), 2);
    ck_assert_int_eq(tm_trend_steady(dips, 11, &f, 0), 0);
    /* 10 points: 9 steps, no step down allowed */
    tm_fit_line(x, dip, 10, &f);
    ck_assert_int_eq(tm_trend_steady(dip, 10, &f, 0), 0);
}
END_TEST

START_TEST(test_trend_time_parse)
{
    double t;

    ck_assert_int_eq(tm_time_parse("2026-01-01T00:00:00Z", &t), 0);
    ck_assert_double_eq(t, 1767225600.0);
    ck_assert_int_eq(tm_time_parse("2026-01-01T00:00:01.125Z", &t), 0);
    ck_assert_double_eq_tol(t, 1767225601.125, 1e-6);
    ck_assert_int_eq(tm_time_parse("2026-01-01T00:00:01+00:00", &t), 0);
    ck_assert_int_eq(tm_time_parse("2026-01-01T00:00:00", &t), -EINVAL);
    ck_assert_int_eq(tm_time_parse("2026-13-01T00:00:00Z", &t), -EINVAL);
    ck_assert_int_eq(tm_time_parse("2026-01-01T00:00:00.Z", &t), -EINVAL);
    ck_assert_int_eq(tm_time_parse("yesterday", &t), -EINVAL);
}
END_TEST

/* --- series --- */

/* The stack whose key starts with 'prefix' (only the steady stacks have
 * their key in the trend: the key of the others is built here). */
static const tm_trend_stack *find(const tm_trend *t, const char *prefix)
{
    for (size_t i = 0; i < t->n; i++) {
        const tm_snapshot *s = t->snaps[t->v[i].snap];
        char *key = tm_stack_key(s, &s->stacks[t->v[i].stack]);
        int match = strncmp(key, prefix, strlen(prefix)) == 0;

        ck_assert(i < t->nsteady ? t->v[i].key && strcmp(t->v[i].key, key) == 0 : !t->v[i].key);
        free(key);
        if (match)
            return &t->v[i];
    }
    ck_abort_msg("no stack %s", prefix);
    return NULL;
}

START_TEST(test_trend_series)
{
    tm_trend t;
    const tm_trend_stack *s;

    ck_assert_int_eq(tm_trend_compute(snaps, NSNAP, 0, &t, NULL), 0);
    /* 7 traces, 6 distinct stacks (t6 is s2 again) */
    ck_assert_uint_eq(t.n, 6);
    ck_assert_uint_eq(t.nsteady, 2);
    ck_assert_str_eq(t.v[0].key, "/src/app/node.c:12\n/src/app/tree.c:40\n"
                                 "/src/app/main.c:7");
    ck_assert_int_eq(t.v[0].growth, 4000);
    ck_assert_double_eq_tol(t.v[0].slope, 1000, 1e-9);
    ck_assert_double_eq_tol(t.v[0].slope_per_second, 2000, 1e-6);
    ck_assert_double_eq_tol(t.v[0].r2, 1, 1e-12);
    ck_assert_str_eq(t.v[1].key, "/src/app/tree.c:40\n/src/app/tree.c:40\n"
                                 "/src/app/main.c:7");
    ck_assert_int_eq(t.v[1].growth, 40);
    ck_assert_double_eq_tol(t.seconds[4], 2.0, 1e-9);

    s = find(&t, "foo_alloc");
    ck_assert_int_eq(s->steady, 0);
    ck_assert_int_eq(s->growth, 4096);
    ck_assert_double_eq_tol(s->r2, 0.75, 1e-12);
    s = find(&t, "/src/app/main.c:20");
    ck_assert_int_eq(s->steady, 0);
    ck_assert_uint_eq(s->decreases, 2);
    s = find(&t, "/src/app/node.c:12\n/src/app/tree.c:41");
    ck_assert_int_eq(s->growth, 0);
    ck_assert_int_eq(s->steady, 0);
    s = find(&t, "0x7fff1234");
    ck_assert_int_eq(s->growth, -64);
    tm_trend_free(&t);
}
END_TEST

START_TEST(test_trend_min_growth)
{
    tm_trend t;

    ck_assert_int_eq(tm_trend_compute(snaps, NSNAP, 100, &t, NULL), 0);
    ck_assert_uint_eq(t.nsteady, 1);
    ck_assert_int_eq(t.v[0].growth, 4000);
    tm_trend_free(&t);
}
END_TEST

START_TEST(test_trend_orders_by_seq)
{
    tm_snapshot *shuffled[NSNAP] = {snaps[3], snaps[0], snaps[4], snaps[1], snaps[2]};
    tm_trend t;

    ck_assert_int_eq(tm_trend_compute(shuffled, NSNAP, 0, &t, NULL), 0);
    ck_assert_ptr_eq(t.snaps[0], snaps[0]);
    ck_assert_ptr_eq(t.snaps[4], snaps[4]);
    ck_assert_int_eq(t.v[0].growth, 4000);
    ck_assert_uint_eq(t.v[0].sizes[2], 3000);
    tm_trend_free(&t);
}
END_TEST

START_TEST(test_trend_needs_two)
{
    tm_trend t;
    tm_error err = {""};

    ck_assert_int_eq(tm_trend_compute(snaps, 1, 0, &t, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.what, "at least two"));
}
END_TEST

START_TEST(test_trend_refuses_other_process)
{
    tm_snapshot *other = make(2, 101);
    tm_snapshot *mixed[3] = {snaps[0], snaps[1], other};
    tm_error err = {""};
    size_t bad = 0;

    ck_assert_int_eq(tm_trend_same_process(snaps, NSNAP, &bad, &err), 0);
    ck_assert_int_eq(tm_trend_same_process(mixed, 3, &bad, &err), -EINVAL);
    ck_assert_uint_eq(bad, 2);
    ck_assert_str_eq(err.what, "not the same process as snap0.json: pid 101 "
                               "(/usr/bin/app) instead of pid 100 "
                               "(/usr/bin/app)");
    tm_snapshot_free(other);
}
END_TEST

/* Removes every symbol of 's', as the shim writes it. */
static void strip(tm_snapshot *s)
{
    static const char *const keys[] = {"function", "file", "line", "inlined"};
    json_t *frames = json_object_get(s->root, "frames");
    tm_error err = {""};

    for (size_t i = 0; i < json_array_size(frames); i++)
        for (size_t k = 0; k < 4; k++)
            json_object_del(json_array_get(frames, i), keys[k]);
    json_object_set_new(s->root, "symbolized", json_false());
    if (tm_snapshot_reindex(s, &err))
        ck_abort_msg("reindex: %s", err.what);
}

START_TEST(test_trend_symbolize_copies_newest)
{
    tm_snapshot *shuffled[NSNAP] = {snaps[4], snaps[0], snaps[1], snaps[2], snaps[3]};
    tm_error err = {""};
    tm_trend t;

    /* the newest (seq 5) keeps its symbols, given first on purpose */
    for (size_t i = 0; i < 4; i++)
        strip(snaps[i]);
    ck_assert_ptr_null(snaps[0]->frames[0].loc.function);
    ck_assert_int_eq(tm_trend_symbolize(shuffled, NSNAP, NULL, &err), 0);
    ck_assert_str_eq(snaps[0]->frames[0].loc.function, "alloc_node");
    ck_assert_str_eq(snaps[2]->frames[4].loc.file, "/src/app/main.c");
    ck_assert_uint_eq(snaps[3]->frames[4].ninlined, 1);
    ck_assert_str_eq(snaps[3]->frames[4].inlined[0].function, "main");
    ck_assert_ptr_null(snaps[1]->frames[5].loc.function); /* in no module */
    /* so the stacks match across the series as if all were symbolized */
    ck_assert_int_eq(tm_trend_compute(snaps, NSNAP, 0, &t, NULL), 0);
    ck_assert_uint_eq(t.n, 6);
    ck_assert_uint_eq(t.nsteady, 2);
    ck_assert_str_eq(t.v[0].key, "/src/app/node.c:12\n/src/app/tree.c:40\n"
                                 "/src/app/main.c:7");
    ck_assert_int_eq(t.v[0].growth, 4000);
    tm_trend_free(&t);
}
END_TEST

static Suite *trend_suite(void)
{
    Suite *s = suite_create("trend");
    TCase *tc = tcase_create("fit");

    tcase_add_test(tc, test_trend_fit_exact_line);
    tcase_add_test(tc, test_trend_fit_noisy);
    tcase_add_test(tc, test_trend_fit_step_and_flat);
    tcase_add_test(tc, test_trend_fit_degenerate);
    tcase_add_test(tc, test_trend_steady_rule);
    tcase_add_test(tc, test_trend_time_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("series");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_trend_series);
    tcase_add_test(tc, test_trend_min_growth);
    tcase_add_test(tc, test_trend_orders_by_seq);
    tcase_add_test(tc, test_trend_needs_two);
    tcase_add_test(tc, test_trend_refuses_other_process);
    tcase_add_test(tc, test_trend_symbolize_copies_newest);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(trend_suite());
}
