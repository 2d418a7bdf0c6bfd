/* check_timeline.c - Check suite "timeline": the loader reads a timeline
 * with its values, rejects bad ones naming the key, and the text chart
 * marks the peak once, in ASCII and in UTF-8, within its width.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/chart.h"
#include "report/snapshot.h"
#include "report/timeline.h"

static tm_snapshot *with_timeline(const char *timeline_json)
{
    static char path[4096];
    tm_snapshot *s;
    tm_error err = {""};
    json_t *root, *tl;

    snprintf(path, sizeof path, "%s/%s", TM_TEST_DATA, "cli-a.json");
    root = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(root);
    tl = json_loads(timeline_json, 0, NULL);
    ck_assert_ptr_nonnull(tl);
    json_object_set_new(root, "timeline", tl);
    s = NULL;
    if (tm_snapshot_from_json(root, "t.json", &s, &err) != 0)
        s = NULL;
    json_decref(root);
    return s;
}

static const char good[] = "{\"resolution_ns\": 10, \"start_ns\": 7,"
                           " \"samples\": [[0, 100, 500, 0, 1], [10, 300, 500, 0, 3], [20, 200, 500, 0, 2],"
                           "               [30, 50, 500, 4096, 1]],"
                           " \"stacks\": [[0, 1, 100, 100], [1, 2, 200, 200], [2, 1, 0, 100], [3, 2, 50, 250]],"
                           " \"events\": [[10, \"peak\", \"300\"], [30, \"snapshot\", \"exit\"]]}";

START_TEST(test_timeline_loads_values)
{
    tm_snapshot *s = with_timeline(good);
    tm_timeline tl;
    tm_error err = {""};
    uint64_t live[16];

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tm_timeline_load(s, &tl, &err), 0);
    ck_assert_int_eq(tl.present, 1);
    ck_assert_uint_eq(tl.resolution_ns, 10);
    ck_assert_int_eq(tl.start_ns, 7);
    ck_assert_uint_eq(tl.nsamples, 4);
    ck_assert_uint_eq(tl.samples[1].heap, 300);
    ck_assert_uint_eq(tl.samples[3].mapped, 4096);
    ck_assert_uint_eq(tl.nrows, 4);
    ck_assert_uint_eq(tl.nevents, 2);
    ck_assert_str_eq(tl.events[1].kind, "snapshot");
    ck_assert_str_eq(tl.events[1].label, "exit");
    ck_assert_uint_ge(s->nstacks, 3);
    tm_timeline_live_at(&tl, 1, live, s->nstacks);
    ck_assert_uint_eq(live[1], 100);
    ck_assert_uint_eq(live[2], 200);
    tm_timeline_live_at(&tl, 2, live, s->nstacks);
    ck_assert_uint_eq(live[1], 0);
    ck_assert_uint_eq(live[2], 200); /* holds until its next row */
    tm_timeline_free(&tl);
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_timeline_absent_is_fine)
{
    static char path[4096];
    tm_snapshot *s;
    tm_timeline tl;
    tm_error err = {""};

    snprintf(path, sizeof path, "%s/%s", TM_TEST_DATA, "cli-a.json");
    ck_assert_int_eq(tm_snapshot_load(path, &s, &err), 0);
    ck_assert_int_eq(tm_timeline_load(s, &tl, &err), 0);
    ck_assert_int_eq(tl.present, 0);
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_timeline_rejects_bad_input)
{
    static const char *const bad[][2] = {
        {"[]", "timeline: not an object"},
        {"{\"start_ns\": 0, \"samples\": []}", "timeline.resolution_ns"},
        {"{\"resolution_ns\": 1, \"start_ns\": 0, \"samples\": [[5, 1, 1, 1, 1], [5, 1, 1, 1, 1]]}",
         "timeline.samples[1]: t_ns 5 is not after"},
        {"{\"resolution_ns\": 1, \"start_ns\": 0, \"samples\": [[5, -1, 1, 1, 1]]}",
         "timeline.samples[0]: heap is not a non-negative integer"},
        {"{\"resolution_ns\": 1, \"start_ns\": 0, \"samples\": [[5, 1, 1, 1, 1]], \"stacks\": [[1, 0, 0, 0]]}",
         "timeline.stacks[0]: sample_index 1 out of range"},
        {"{\"resolution_ns\": 1, \"start_ns\": 0, \"samples\": [[5, 1, 1, 1, 1]], \"events\": [[0, 1, \"x\"]]}",
         "timeline.events[0]: kind and label are not strings"},
    };
    tm_error err = {""};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *tl = json_loads(bad[i][0], JSON_DECODE_ANY, NULL);
        static char path[4096];
        tm_snapshot *t = NULL;

        snprintf(path, sizeof path, "%s/%s", TM_TEST_DATA, "cli-a.json");
        json_t *root = json_load_file(path, 0, NULL);
        ck_assert_ptr_nonnull(root);
        json_object_set_new(root, "timeline", tl);
        ck_assert_int_eq(tm_snapshot_from_json(root, "t.json", &t, &err), -EINVAL);
        ck_assert_msg(strstr(err.what, bad[i][1]) != NULL, "case %zu: '%s'", i, err.what);
        json_decref(root);
    }
}
END_TEST

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

START_TEST(test_timeline_chart_marks_the_peak)
{
    tm_snapshot *s = with_timeline(good);
    tm_timeline tl;
    tm_error err = {""};
    char *ascii, *utf8;

    ck_assert_int_eq(tm_timeline_load(s, &tl, &err), 0);
    ascii = tm_chart_render(&tl, 40, 4, 0);
    utf8 = tm_chart_render(&tl, 40, 4, 1);
    ck_assert_ptr_nonnull(ascii);
    ck_assert_ptr_nonnull(utf8);
    ck_assert_msg(strstr(ascii, "  heap over time: peak 300 B at 0.00 s\n  (: heap, # the peak, . RSS)\n") == ascii,
                  "%s", ascii);
    ck_assert_uint_eq(count(ascii, "^"), 1);
    ck_assert_uint_eq(count(utf8, "\xe2\x96\xb2"), 2); /* ▲: the legend and the axis */
    ck_assert_uint_gt(count(utf8, "\xe2\x96\x88"), 0); /* █ */
    for (const unsigned char *p = (const unsigned char *)ascii; *p; p++)
        ck_assert_uint_lt(*p, 128);
    /* every line within the width; the '#' column is the '^' column */
    const char *axis = strstr(ascii, "      0 +");
    ck_assert_ptr_nonnull(axis);
    size_t col = (size_t)(strchr(axis, '^') - axis);
    for (const char *l = ascii; *l; l = strchr(l, '\n') + 1) {
        size_t len = (size_t)(strchr(l, '\n') - l);
        const char *h = memchr(l, '#', len);

        ck_assert_uint_le(len, 40);
        if (h && l < axis && strncmp(l, "  (", 3) != 0)
            ck_assert_uint_eq((size_t)(h - l), col);
    }
    ck_assert_ptr_null(tm_chart_render(&(tm_timeline){.present = 1, .nsamples = 1, .samples = tl.samples}, 40, 4, 0));
    free(ascii);
    free(utf8);
    tm_timeline_free(&tl);
    tm_snapshot_free(s);
}
END_TEST

static Suite *timeline_suite(void)
{
    Suite *s = suite_create("timeline");
    TCase *load = tcase_create("load"), *chart = tcase_create("chart");

    tcase_add_test(load, test_timeline_loads_values);
    tcase_add_test(load, test_timeline_absent_is_fine);
    tcase_add_test(load, test_timeline_rejects_bad_input);
    tcase_add_test(chart, test_timeline_chart_marks_the_peak);
    suite_add_tcase(s, load);
    suite_add_tcase(s, chart);
    return s;
}

int main(void)
{
    return check_main(timeline_suite());
}
