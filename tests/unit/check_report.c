/* check_report.c - the data of tracemem report's page (report/report.h):
 * the snapshot's timeline copied as it is with its rows keyed to folded
 * stacks, a malformed timeline refused with the snapshot named, a timeline
 * made of several snapshots' own times, and a page whose embedded JSON
 * cannot end its script element.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "test_data.h"

static json_t *data_of(tm_snapshot **v, size_t n)
{
    tm_error err = {""};
    long bad = -2;
    json_t *d = tm_report_data(v, n, NULL, &bad, &err);

    ck_assert_msg(d != NULL, "tm_report_data: %s", err.what);
    ck_assert_int_eq(bad, -1);
    return d;
}

static json_t *timeline_of(json_t *d, size_t proc)
{
    return json_object_get(json_array_get(json_object_get(d, "procs"), proc), "timeline");
}

/* the folded path of row 'i' of 'tl' */
static const char *row_path(json_t *d, json_t *tl, size_t i)
{
    json_t *row = json_array_get(json_object_get(tl, "rows"), i);
    json_int_t key = json_integer_value(json_array_get(row, 1));
    json_int_t p = json_integer_value(json_array_get(json_object_get(tl, "keys"), (size_t)key));

    return json_string_value(json_array_get(json_object_get(d, "paths"), (size_t)p));
}

START_TEST(test_report_timeline_rows_keyed_to_paths)
{
    tm_snapshot *s = tm_test_load("report-timeline.json");
    json_t *d = data_of(&s, 1), *tl = timeline_of(d, 0), *rows = json_object_get(tl, "rows");

    ck_assert_str_eq(json_string_value(json_object_get(tl, "source")), "timeline");
    ck_assert_int_eq(json_array_size(json_object_get(tl, "samples")), 7);
    ck_assert_int_eq(json_array_size(rows), 7);
    ck_assert_str_eq(row_path(d, tl, 0), "main;foo_alloc");
    ck_assert_str_eq(row_path(d, tl, 6), "main;big_table");
    /* stacks 0 and 1 fold to one path but keep their own keys: their
     * rows hold separately */
    ck_assert_str_eq(row_path(d, tl, 2), row_path(d, tl, 3));
    ck_assert_int_ne(json_integer_value(json_array_get(json_array_get(rows, 2), 1)),
                     json_integer_value(json_array_get(json_array_get(rows, 3), 1)));
    json_decref(d);
    tm_snapshot_free(s);
}
END_TEST

/* Loads report-timeline.json with 'edit' applied to its timeline and
 * checks that the page's data is refused with 'what'. */
static void refused(void (*edit)(json_t *tl), const char *what)
{
    tm_snapshot *s = tm_test_load("report-timeline.json"), *v[2];
    tm_snapshot *other = tm_test_load("cli-a.json");
    tm_error err = {""};
    long bad = -2;

    edit(json_object_get(s->root, "timeline"));
    v[0] = other;
    v[1] = s;
    ck_assert_ptr_null(tm_report_data(v, 2, NULL, &bad, &err));
    ck_assert_int_eq(bad, 1); /* the second file is the one at fault */
    ck_assert_str_eq(err.what, what);
    tm_snapshot_free(s);
    tm_snapshot_free(other);
}

static void time_back(json_t *tl)
{
    json_array_set_new(json_array_get(json_object_get(tl, "samples"), 4), 0, json_integer(1));
}

static void stack_out_of_range(json_t *tl)
{
    json_array_set_new(json_array_get(json_object_get(tl, "stacks"), 0), 1, json_integer(9));
}

static void row_before(json_t *tl)
{
    json_array_set_new(json_array_get(json_object_get(tl, "stacks"), 6), 0, json_integer(2));
}

static void not_a_number(json_t *tl)
{
    json_array_set_new(json_array_get(json_object_get(tl, "samples"), 2), 2, json_string("1 MiB"));
}

START_TEST(test_report_malformed_timeline_refused)
{
    refused(time_back, "timeline: samples[4]: t_ns not after the previous sample's");
    refused(stack_out_of_range, "timeline: stacks[0]: stack 9 out of range");
    refused(row_before, "timeline: stacks[6]: sample 2 before the previous row's");
    refused(not_a_number, "timeline: samples[2][2]: not a non-negative integer");
}
END_TEST

START_TEST(test_report_timeline_from_snapshots)
{
    tm_snapshot *v[3] = {tm_test_load("trend-3.json"), tm_test_load("trend-1.json"), tm_test_load("trend-2.json")};
    json_t *d = data_of(v, 3), *tl = timeline_of(d, 0), *samples = json_object_get(tl, "samples");

    ck_assert_str_eq(json_string_value(json_object_get(tl, "source")), "snapshots");
    ck_assert_int_eq(json_array_size(samples), 3);
    /* in seq order, at their own times (0.5 s apart), with their heaps */
    for (size_t i = 0; i < 3; i++) {
        json_t *smp = json_array_get(samples, i);
        tm_snapshot *s = v[i == 0 ? 1 : i == 1 ? 2 : 0];

        ck_assert_int_eq(json_integer_value(json_array_get(smp, 0)), (json_int_t)i * 500000000);
        ck_assert_int_eq(json_integer_value(json_array_get(smp, 1)), (json_int_t)s->memory.current);
    }
    ck_assert_int_eq(json_array_size(json_object_get(d, "procs")), 1);
    json_decref(d);
    for (size_t i = 0; i < 3; i++)
        tm_snapshot_free(v[i]);
}
END_TEST

START_TEST(test_report_page_cannot_close_its_script)
{
    json_t *d = json_pack("{s:s, s:[s], s:[s], s:[]}", "title", "t", "paths", "main;</script><b>x</b>", "locs", "",
                          "procs");
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    const char *data;

    ck_assert_int_eq(tm_report_write(d, NULL, fp), 0);
    fclose(fp);
    data = strstr(buf, "id=\"data\">");
    ck_assert_ptr_nonnull(data);
    /* the first end of a script after the data is the data's own */
    ck_assert_ptr_eq(strstr(data, "</script>"), strstr(data, "]}</script>") + 2);
    ck_assert_ptr_nonnull(strstr(data, "<\\/script>"));
    ck_assert_ptr_null(strstr(buf, "src="));
    ck_assert_ptr_null(strstr(buf, "href"));
    free(buf);
    json_decref(d);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("timeline");

    tcase_add_test(tc, test_report_timeline_rows_keyed_to_paths);
    tcase_add_test(tc, test_report_malformed_timeline_refused);
    tcase_add_test(tc, test_report_timeline_from_snapshots);
    suite_add_tcase(s, tc);
    tc = tcase_create("page");
    tcase_add_test(tc, test_report_page_cannot_close_its_script);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(report_suite());
}
