/* check_render.c - Check suite "render": tracemalloc's size format, frame
 * lines, stack printing and the JSON layout of top and diff (the keys
 * documented in tracemem-top(1) and tracemem-diff(1)).
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "report/render.h"
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

START_TEST(test_render_format_size)
{
    static const struct {
        double size;
        int sign;
        const char *want;
    } c[] = {
        {0, 0, "0 B"},
        {1023, 0, "1023 B"},
        {10239, 0, "10239 B"},
        {10240, 0, "10.0 KiB"},
        {1536000, 0, "1500 KiB"},
        {104857600, 0, "100 MiB"},
        {1500, 1, "+1500 B"},
        {-300, 1, "-300 B"},
        {0, 1, "+0 B"},
        {-20480, 1, "-20.0 KiB"},
        {5e15, 0, "4547 TiB"},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        ck_assert_str_eq(tm_format_size(buf, sizeof buf, c[i].size, c[i].sign), c[i].want);
}
END_TEST

START_TEST(test_render_format_location)
{
    char buf[256];

    ck_assert_str_eq(tm_format_location(a, &a->frames[0], -1, buf, sizeof buf),
                     "alloc_node at /src/app/node.c:12 (app)");
    ck_assert_str_eq(tm_format_location(a, &a->frames[3], -1, buf, sizeof buf),
                     "foo_alloc (libfoo.so.1+0x500)");
    ck_assert_str_eq(tm_format_location(a, &a->frames[5], -1, buf, sizeof buf), "?? (0x7fff1234)");
    ck_assert_str_eq(tm_format_location(a, &a->frames[4], -1, buf, sizeof buf),
                     "read_config at /src/app/main.c:20 (app) [inlined]");
    ck_assert_str_eq(tm_format_location(a, &a->frames[4], 0, buf, sizeof buf),
                     "main at /src/app/main.c:9 (app)");
}
END_TEST

START_TEST(test_render_print_stack_depth)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    tm_print_stack(fp, a, &a->stacks[5], "  ");
    tm_print_stack(fp, a, &a->stacks[7], "  ");
    fclose(fp);
    ck_assert_str_eq(out, "  build_tree at /src/app/tree.c:40 (app)\n"
                          "  build_tree at /src/app/tree.c:40 (app)\n"
                          "  main at /src/app/main.c:7 (app)\n"
                          "  ... 2 more frames\n"
                          "  [no frames]\n");
    free(out);
}
END_TEST

START_TEST(test_render_top_json_keys)
{
    tm_stats_opts o;
    tm_stats st;
    json_t *j, *s0, *f;

    tm_stats_opts_init(&o);
    o.by = TM_BY_TRACEBACK;
    ck_assert_int_eq(tm_stats_compute(a, &o, &st, NULL), 0);
    j = tm_render_top_json(&st, 2);
    ck_assert_str_eq(json_string_value(json_object_get(j, "format")), "tracemem-top");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(j, "by")), "traceback");
    ck_assert(json_is_null(json_object_get(j, "domain")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "omitted")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "total"), "size")), 6160);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "stats")), 2);
    s0 = json_array_get(json_object_get(j, "stats"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(s0, "size")), 4096);
    f = json_object_get(s0, "frames");
    ck_assert_uint_eq(json_array_size(f), 2);
    ck_assert(json_is_null(json_object_get(json_array_get(f, 0), "file")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(f, 0), "module")), "libfoo.so.1");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(f, 1), "line")), 7);
    json_decref(j);
    tm_stats_free(&st);
}
END_TEST

START_TEST(test_render_diff_json_only_in_old)
{
    tm_stats_opts o;
    tm_stats os, ns;
    tm_diff d;
    json_t *j, *e;

    tm_stats_opts_init(&o);
    ck_assert_int_eq(tm_stats_compute(a, &o, &os, NULL), 0);
    ck_assert_int_eq(tm_stats_compute(b, &o, &ns, NULL), 0);
    ck_assert_int_eq(tm_stats_compare(&os, &ns, &d), 0);
    j = tm_render_diff_json(&d, &os, &ns, 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "format")), "tracemem-diff");
    e = json_array_get(json_object_get(j, "stats"), 2);
    ck_assert_str_eq(json_string_value(json_object_get(e, "key")), "/src/app/main.c:20");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "size")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "size_diff")), -300);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "count_diff")), -3);
    /* its frame comes from OLD */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(e, "frames"), 0), "function")),
        "read_config");
    json_decref(j);
    tm_diff_free(&d);
    tm_stats_free(&os);
    tm_stats_free(&ns);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("text");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_render_format_size);
    tcase_add_test(tc, test_render_format_location);
    tcase_add_test(tc, test_render_print_stack_depth);
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_render_top_json_keys);
    tcase_add_test(tc, test_render_diff_json_only_in_old);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(render_suite());
}
