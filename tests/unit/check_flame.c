/* check_flame.c - Check suite "flame": folding (frame order, inlined
 * frames, names of unknown frames, merging of paths), the four metrics,
 * and the SVG/HTML flame graph (widths, colours, differential graphs), on
 * tests/data/cli-a.json (see check_stats.c for its traces) and hand-made
 * folded stacks.
 *
 * Live folded stacks of cli-a.json, worked out by hand:
 *   t0 + t1   main;build_tree;alloc_node  1500 (tree.c:40 and :41 fold together)
 *   t2        main;foo_alloc              4096
 *   t3        main;read_config             300 (read_config inlined into main)
 *   t4        main;0x7fff1234               64 (no module)
 *   t5        main;build_tree;build_tree   200
 *   total 6160
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/flame.h"
#include "test_data.h"

static tm_snapshot *a;

static void setup(void)
{
    a = tm_test_load("cli-a.json");
}

static void teardown(void)
{
    tm_snapshot_free(a);
}

/* The folded lines of 'snap' under 'metric' as one string. */
static char *folded_text(const tm_snapshot *snap, tm_metric metric, unsigned kinds)
{
    tm_folded f;
    tm_error err = {""};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (tm_folded_compute(snap, metric, kinds, &f, &err))
        ck_abort_msg("tm_folded_compute: %s", err.what);
    ck_assert_int_eq(tm_folded_write(&f, fp), 0);
    fclose(fp);
    tm_folded_free(&f);
    return buf;
}

static void reindex(void)
{
    tm_error err = {""};

    if (tm_snapshot_reindex(a, &err))
        ck_abort_msg("reindex: %s", err.what);
}

/* --- folding --- */

START_TEST(test_flame_folds_outer_to_inner)
{
    char *t = folded_text(a, TM_METRIC_LIVE, TM_FLAME_DEFAULT_KINDS);

    ck_assert_str_eq(t, "main;0x7fff1234 64\n"
                        "main;build_tree;alloc_node 1500\n"
                        "main;build_tree;build_tree 200\n"
                        "main;foo_alloc 4096\n"
                        "main;read_config 300\n");
    free(t);
}
END_TEST

START_TEST(test_flame_folds_total)
{
    tm_folded f;

    ck_assert_int_eq(tm_folded_compute(a, TM_METRIC_LIVE, 0, &f, NULL), 0);
    ck_assert_uint_eq(f.total, 6160);
    ck_assert_uint_eq(f.n, 5);
    /* t0 (10 blocks) and t1 (5) share a folded path */
    ck_assert_str_eq(f.v[1].path, "main;build_tree;alloc_node");
    ck_assert_uint_eq(f.v[1].count, 15);
    tm_folded_free(&f);
}
END_TEST

START_TEST(test_flame_unknown_function_is_module_offset)
{
    json_t *fr = json_array_get(json_object_get(a->root, "frames"), 3);
    char *t;

    json_object_del(fr, "function"); /* foo_alloc, libfoo.so.1+0x500 */
    reindex();
    t = folded_text(a, TM_METRIC_LIVE, 0);
    ck_assert_ptr_nonnull(strstr(t, "\nmain;libfoo.so.1+0x500 4096\n"));
    free(t);
}
END_TEST

START_TEST(test_flame_names_are_sanitized)
{
    json_t *fr = json_array_get(json_object_get(a->root, "frames"), 3);
    char *t;

    json_object_set_new(fr, "function", json_string("op;x\ny"));
    reindex();
    t = folded_text(a, TM_METRIC_LIVE, 0);
    ck_assert_ptr_nonnull(strstr(t, "\nmain;op:x y 4096\n"));
    free(t);
}
END_TEST

START_TEST(test_flame_empty_stack)
{
    tm_stack st = {.nframes = 0, .frames = NULL, .depth = 0};
    char *k = tm_fold_stack(a, &st);

    ck_assert_str_eq(k, "[no frames]");
    free(k);
}
END_TEST

/* --- metrics --- */

START_TEST(test_flame_metric_allocations)
{
    char *t = folded_text(a, TM_METRIC_ALLOCATIONS, 0);

    /* foo_alloc: t2 8192 + t6 100000 (freed, but allocated) */
    ck_assert_str_eq(t, "main;0x7fff1234 64\n"
                        "main;build_tree;alloc_node 2500\n"
                        "main;build_tree;build_tree 200\n"
                        "main;foo_alloc 108192\n"
                        "main;read_config 300\n");
    free(t);
}
END_TEST

START_TEST(test_flame_metric_peak)
{
    char *t = folded_text(a, TM_METRIC_PEAK, 0);

    ck_assert_str_eq(t, "main;build_tree;alloc_node 5000\n"
                        "main;foo_alloc 4096\n");
    free(t);
}
END_TEST

START_TEST(test_flame_metric_leaked_kinds)
{
    json_t *leaks = json_object_get(a->root, "leaks");
    char *t;

    json_object_set_new(leaks, "checked", json_true());
    json_object_set_new(leaks, "stacks",
                        json_pack("[{s:i, s:s, s:i, s:i}, {s:i, s:s, s:i, s:i}, {s:i, s:s, s:i, s:i}]",
                                  "stack", 0, "kind", "definite", "bytes", 100, "blocks", 1, "stack", 2,
                                  "kind", "indirect", "bytes", 50, "blocks", 1, "stack", 3, "kind",
                                  "reachable", "bytes", 999, "blocks", 1));
    reindex();
    t = folded_text(a, TM_METRIC_LEAKED, TM_FLAME_DEFAULT_KINDS);
    ck_assert_str_eq(t, "main;build_tree;alloc_node 100\n"
                        "main;foo_alloc 50\n");
    free(t);
    t = folded_text(a, TM_METRIC_LEAKED, 1u << TM_LEAK_REACHABLE);
    ck_assert_str_eq(t, "main;read_config 999\n");
    free(t);
}
END_TEST

START_TEST(test_flame_metric_missing_data)
{
    tm_folded f;
    tm_error err = {""};

    /* cli-a.json: leaks.checked is false */
    ck_assert_int_eq(tm_folded_compute(a, TM_METRIC_LEAKED, 0, &f, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.what, "no leak check"));
    ck_assert_int_eq(tm_snapshot_expand(a, &err), 0);
    json_object_del(a->root, "peak");
    reindex();
    ck_assert_int_eq(tm_folded_compute(a, TM_METRIC_PEAK, 0, &f, &err), -EINVAL);
    ck_assert_str_eq(err.what, "no peak record in this snapshot");
}
END_TEST

START_TEST(test_flame_metric_names)
{
    ck_assert_int_eq(tm_metric_parse("live"), TM_METRIC_LIVE);
    ck_assert_int_eq(tm_metric_parse("leaked"), TM_METRIC_LEAKED);
    ck_assert_int_eq(tm_metric_parse("size"), -1);
    ck_assert_str_eq(tm_metric_name(TM_METRIC_ALLOCATIONS), "allocations");
}
END_TEST

/* --- graphs --- */

static char *graph(const tm_folded *now, const tm_folded *old, int html)
{
    tm_flame_opts o = {.title = "T", .html = html};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    ck_assert_int_eq(tm_flame_write(now, old, &o, fp), 0);
    fclose(fp);
    return buf;
}

/* The value of attribute 'attr' of the <rect> of the frame whose tooltip
 * starts with 'title'. */
static char *rect_attr(const char *svg, const char *title, const char *attr, char *buf, size_t len)
{
    char pat[256];
    const char *p, *r;

    snprintf(pat, sizeof pat, "<title>%s", title);
    p = strstr(svg, pat);
    ck_assert_msg(p != NULL, "no frame '%s'", title);
    r = strstr(p, "<rect");
    snprintf(pat, sizeof pat, " %s=\"", attr);
    p = strstr(r, pat) + strlen(pat);
    snprintf(buf, len, "%.*s", (int)strcspn(p, "\""), p);
    return buf;
}

START_TEST(test_flame_svg_widths)
{
    tm_folded f;
    char *svg, w[64];

    tm_folded_compute(a, TM_METRIC_LIVE, 0, &f, NULL);
    svg = graph(&f, NULL, 0);
    ck_assert_ptr_nonnull(strstr(svg, "<?xml"));
    /* 1200 pixels less two pads of 10: 1180 for the whole 6160 bytes */
    ck_assert_str_eq(rect_attr(svg, "all (6,160 bytes, 100.00%)", "width", w, sizeof w), "1180.00");
    ck_assert_str_eq(rect_attr(svg, "foo_alloc (4,096 bytes, 66.49%)", "width", w, sizeof w), "784.62");
    ck_assert_str_eq(rect_attr(svg, "build_tree (1,700 bytes", "width", w, sizeof w), "325.65");
    /* children of build_tree, by name: alloc_node then build_tree */
    ck_assert_str_eq(rect_attr(svg, "alloc_node (1,500", "x", w, sizeof w), "22.26");
    ck_assert_str_eq(rect_attr(svg, "build_tree (200", "x", w, sizeof w), "309.60");
    free(svg);
    tm_folded_free(&f);
}
END_TEST

START_TEST(test_flame_svg_min_width_and_escaping)
{
    tm_fold v[] = {{"main;big", 1000000, 1, NULL}, {"main;tiny", 1, 1, NULL}, {"main;a<b>&\"c\"", 500000, 1, NULL}};
    tm_folded f = {3, v, 1500001};
    char *svg = graph(&f, NULL, 0);

    /* 1 byte of 1.5 MB is 0.0008 px: left out */
    ck_assert_ptr_null(strstr(svg, "tiny"));
    ck_assert_ptr_nonnull(strstr(svg, "<title>a&lt;b&gt;&amp;&quot;c&quot; ("));
    free(svg);
}
END_TEST

START_TEST(test_flame_svg_label_keeps_utf8_whole)
{
    /* "x" and six 2-byte "\u00e9": 13 bytes */
    tm_fold v[] = {{"x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10, 1, NULL}};
    tm_folded f = {1, v, 10};
    tm_flame_opts o = {.width = 100};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    ck_assert_int_eq(tm_flame_write(&f, NULL, &o, fp), 0);
    fclose(fp);
    /* 80 px fit (80 - 6) / 7 = 10 bytes: 8 and "..", but byte 8 is inside
     * the fourth character, so the label keeps 7 */
    ck_assert_ptr_nonnull(strstr(buf, ">x\xc3\xa9\xc3\xa9\xc3\xa9..</text>"));
    free(buf);
}
END_TEST

START_TEST(test_flame_colors)
{
    char c1[8], c2[8];

    ck_assert_str_eq(tm_flame_color("malloc_wrapper", c1), tm_flame_color("malloc_wrapper", c2));
    ck_assert_int_eq(c1[0], '#');
    ck_assert_int_ge(strtol((char[]){c1[1], c1[2], 0}, NULL, 16), 205);
    ck_assert_str_eq(tm_flame_diff_color(100, 100, c1), "#ff1e1e");
    /* logarithmic: half the largest change is most of the colour */
    ck_assert_str_eq(tm_flame_diff_color(-50, 100, c1), "#3a3aff");
    /* +11 KiB next to -2.3 MiB is still clearly red */
    ck_assert_str_eq(tm_flame_diff_color(11 << 10, 2411724, c1), "#ff6363");
    ck_assert_str_eq(tm_flame_diff_color(0, 100, c1), "#e6e6e6");
}
END_TEST

START_TEST(test_flame_diff_graph)
{
    tm_fold nv[] = {{"a;b", 10, 1, NULL}, {"a;c", 5, 1, NULL}};
    tm_fold ov[] = {{"a;b", 4, 1, NULL}, {"a;d", 3, 1, NULL}};
    tm_folded now = {2, nv, 15}, old = {2, ov, 7};
    char *svg = graph(&now, &old, 0), c[16];

    /* widths are the larger of NEW and OLD per path: d (only in OLD) is
     * drawn as wide as it was (3 of 10 + 5 + 3), blue, outlined */
    ck_assert_str_eq(rect_attr(svg, "d (0 bytes, 0.00%; -3 bytes) gone", "width", c, sizeof c), "196.67");
    ck_assert_str_eq(rect_attr(svg, "d (0 bytes", "stroke-dasharray", c, sizeof c), "3,2");
    ck_assert_str_eq(rect_attr(svg, "d (0 bytes", "fill", c, sizeof c), "#6464ff");
    ck_assert_str_eq(rect_attr(svg, "a (15 bytes, 100.00%; +8 bytes)", "fill", c, sizeof c), "#ff1e1e");
    ck_assert_str_eq(rect_attr(svg, "b (10 bytes, 66.67%; +6 bytes)", "fill", c, sizeof c), "#ff3434");
    ck_assert_str_eq(rect_attr(svg, "c (5 bytes, 33.33%; +5 bytes)", "fill", c, sizeof c), "#ff4141");
    free(svg);
}
END_TEST

START_TEST(test_flame_diff_shrink_is_blue)
{
    tm_fold nv[] = {{"a;b", 2, 1, NULL}, {"a;c", 8, 1, NULL}};
    tm_fold ov[] = {{"a;b", 6, 1, NULL}, {"a;c", 8, 1, NULL}};
    tm_folded now = {2, nv, 10}, old = {2, ov, 14};
    char *svg = graph(&now, &old, 0), c[16];

    ck_assert_str_eq(rect_attr(svg, "b (2 bytes, 20.00%; -4 bytes)", "fill", c, sizeof c), "#1e1eff");
    ck_assert_str_eq(rect_attr(svg, "c (8 bytes, 80.00%; +0 bytes)", "fill", c, sizeof c), "#e6e6e6");
    free(svg);
}
END_TEST

START_TEST(test_flame_html_is_self_contained)
{
    tm_fold v[] = {{"main;f", 10, 1, NULL}};
    tm_folded f = {1, v, 10};
    char *html = graph(&f, NULL, 1);

    ck_assert_ptr_nonnull(strstr(html, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(html, "<svg "));
    ck_assert_ptr_nonnull(strstr(html, "<script>"));
    ck_assert_ptr_nonnull(strstr(html, "id=\"search\""));
    ck_assert_ptr_null(strstr(html, "src="));
    ck_assert_ptr_null(strstr(html, "href"));
    ck_assert_ptr_null(strstr(html, "https:"));
    ck_assert_ptr_null(strstr(html, "<?xml"));
    free(html);
}
END_TEST

static Suite *flame_suite(void)
{
    Suite *s = suite_create("flame");
    TCase *tc = tcase_create("folding");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flame_folds_outer_to_inner);
    tcase_add_test(tc, test_flame_folds_total);
    tcase_add_test(tc, test_flame_unknown_function_is_module_offset);
    tcase_add_test(tc, test_flame_names_are_sanitized);
    tcase_add_test(tc, test_flame_empty_stack);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flame_metric_allocations);
    tcase_add_test(tc, test_flame_metric_peak);
    tcase_add_test(tc, test_flame_metric_leaked_kinds);
    tcase_add_test(tc, test_flame_metric_missing_data);
    tcase_add_test(tc, test_flame_metric_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("graphs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flame_svg_widths);
    tcase_add_test(tc, test_flame_svg_min_width_and_escaping);
    tcase_add_test(tc, test_flame_svg_label_keeps_utf8_whole);
    tcase_add_test(tc, test_flame_colors);
    tcase_add_test(tc, test_flame_diff_graph);
    tcase_add_test(tc, test_flame_diff_shrink_is_blue);
    tcase_add_test(tc, test_flame_html_is_self_contained);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(flame_suite());
}
