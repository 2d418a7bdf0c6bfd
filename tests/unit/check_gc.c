/* check_gc.c - Check suite "gc": the report library's reading of librcgc's
 * gc section (src/report/gc.c): validation, `tracemem gc` text and JSON,
 * and the growth of live objects by type used by `tracemem diff`.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/gc.h"

static const char old_text[] =
    "{\"enabled\":true,\"thresholds\":[700,10,10],\"counts\":[5,1,0],"
    "\"generations\":[{\"collections\":10,\"collected\":4,\"uncollectable\":0,\"seconds\":0.5},"
    "{\"collections\":1,\"collected\":0,\"uncollectable\":0,\"seconds\":0.25},"
    "{\"collections\":0,\"collected\":0,\"uncollectable\":0,\"seconds\":0}],"
    "\"garbage\":0,\"frozen\":0,"
    "\"types\":[{\"name\":\"dict\",\"count\":10,\"bytes\":640},"
    "{\"name\":\"list\",\"count\":100,\"bytes\":4800},"
    "{\"name\":\"gone\",\"count\":3,\"bytes\":96}],"
    "\"events\":[{\"generation\":1,\"collected\":0,\"uncollectable\":0,\"seconds\":0.25,"
    "\"time\":1795311971.5}]}";

static const char new_text[] =
    "{\"enabled\":false,\"thresholds\":[700,10,10],\"counts\":[7,2,1],"
    "\"generations\":[{\"collections\":30,\"collected\":9,\"uncollectable\":0,\"seconds\":0.75},"
    "{\"collections\":3,\"collected\":1,\"uncollectable\":0,\"seconds\":0.5},"
    "{\"collections\":1,\"collected\":20,\"uncollectable\":2,\"seconds\":0.125}],"
    "\"garbage\":2,\"frozen\":4,"
    "\"types\":[{\"name\":\"list\",\"count\":90,\"bytes\":4320},"
    "{\"name\":\"dict\",\"count\":60,\"bytes\":3840},"
    "{\"name\":\"Node\",\"count\":1,\"bytes\":64}],"
    "\"events\":[]}";

/* old_text with the incremental mode's keys */
static const char pauses_keys[] =
    "{\"incremental\":true,\"old_scans\":3,\"pauses\":["
    "{\"count\":2,\"seconds\":0.000003,\"p50\":0.0000015,\"p90\":0.0000015,"
    "\"p99\":0.0000015,\"max\":0.0000015,\"histogram\":[{\"le\":0.0000015,\"count\":2}]},"
    "{\"count\":5,\"seconds\":0.01,\"p50\":0.0009,\"p90\":0.003,\"p99\":0.003,"
    "\"max\":0.0025,\"histogram\":[{\"le\":0.0009,\"count\":4},{\"le\":0.003,\"count\":1}]},"
    "{\"count\":0,\"seconds\":0,\"p50\":0,\"p90\":0,\"p99\":0,\"max\":0,\"histogram\":[]}]}";

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

/* Runs tm_gc_print into a file and returns the text (caller frees). */
static char *capture(int (*fn)(FILE *, const json_t *, int), const json_t *gc, int as_json,
                     int *rc)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    *rc = fn(f, gc, as_json);
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    rewind(f);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static int print_diff(FILE *f, const json_t *pair, int unused)
{
    (void)unused;
    tm_gc_diff_print(f, json_array_get(pair, 0), json_array_get(pair, 1));
    return 0;
}

START_TEST(test_gc_validate_accepts_section)
{
    json_t *o = load(old_text), *n = load(new_text);
    char why[128] = "";
    ck_assert_int_eq(tm_gc_validate(o, why, sizeof why), 0);
    ck_assert_int_eq(tm_gc_validate(n, why, sizeof why), 0);
    json_decref(o);
    json_decref(n);
}
END_TEST

START_TEST(test_gc_validate_rejects_malformed)
{
    static const struct {
        const char *key, *value, *reason;
    } cases[] = {
        {"enabled", "1", "gc.enabled"},
        {"thresholds", "[700,10]", "gc.thresholds"},
        {"counts", "[1,2,\"x\"]", "gc.counts[2]"},
        {"generations", "[{}, {}, {}]", "gc.generations[0].collections"},
        {"types", "[{\"name\":3,\"count\":1,\"bytes\":1}]", "gc.types[0].name"},
        {"types", "[{\"name\":\"a\",\"count\":-1,\"bytes\":1}]", "gc.types[0]"},
        {"events", "[{\"generation\":7}]", "gc.events[0]"},
        {"garbage", "\"many\"", "gc.garbage"},
    };
    char why[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *o = load(old_text);
        json_object_set_new(o, cases[i].key, load(cases[i].value));
        why[0] = '\0';
        ck_assert_int_eq(tm_gc_validate(o, why, sizeof why), -EINVAL);
        ck_assert_msg(strstr(why, cases[i].reason), "case %zu: '%s'", i, why);
        int rc;
        char *out = capture(tm_gc_print, o, 0, &rc);
        ck_assert_int_eq(rc, -EINVAL);
        ck_assert_str_eq(out, ""); /* nothing printed */
        free(out);
        json_decref(o);
    }
    json_t *arr = load("[1]");
    ck_assert_int_eq(tm_gc_validate(arr, why, sizeof why), -EINVAL);
    json_decref(arr);
}
END_TEST

START_TEST(test_gc_print_text)
{
    json_t *o = load(old_text);
    int rc;
    char *out = capture(tm_gc_print, o, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "automatic collection: enabled\n"));
    ck_assert_ptr_nonnull(strstr(out, "thresholds: 700 10 10   counts: 5 1 0\n"));
    ck_assert_ptr_nonnull(strstr(out, "0                    10            4              0     0.5000\n"));
    /* most numerous type first, then the total */
    char *list = strstr(out, "         100           4800  list\n");
    char *dict = strstr(out, "          10            640  dict\n");
    char *gone = strstr(out, "           3             96  gone\n");
    ck_assert(list && dict && gone && list < dict && dict < gone);
    ck_assert_ptr_nonnull(strstr(out, "         113           5536  total\n"));
    ck_assert_ptr_nonnull(strstr(out, "2026-11-22T01:46:11.500Z   1            0              0     0.2500\n"));
    free(out);
    json_decref(o);
}
END_TEST

static json_t *load_with_pauses(void)
{
    json_t *o = load(old_text), *p = load(pauses_keys);
    json_object_update(o, p);
    json_decref(p);
    return o;
}

START_TEST(test_gc_validate_pauses)
{
    static const struct {
        const char *key, *value, *reason;
    } cases[] = {
        {"incremental", "1", "gc.incremental"},
        {"old_scans", "-1", "gc.old_scans"},
        {"pauses", "[{}, {}]", "gc.pauses is not"},
        {"pauses", "[{\"count\":-1}, {}, {}]", "gc.pauses[0].count"},
        {"pauses", "[{\"count\":1,\"seconds\":1,\"p50\":\"x\"}, {}, {}]", "gc.pauses[0].p50"},
        {"pauses",
         "[{\"count\":1,\"seconds\":1,\"p50\":1,\"p90\":1,\"p99\":1,\"max\":1,"
         "\"histogram\":[{\"count\":1}]}, {}, {}]",
         "gc.pauses[0].histogram[0]"},
    };
    char why[128] = "";
    json_t *ok = load_with_pauses();
    ck_assert_int_eq(tm_gc_validate(ok, why, sizeof why), 0);
    json_decref(ok);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *o = load_with_pauses();
        json_object_set_new(o, cases[i].key, load(cases[i].value));
        why[0] = '\0';
        ck_assert_int_eq(tm_gc_validate(o, why, sizeof why), -EINVAL);
        ck_assert_msg(strstr(why, cases[i].reason), "case %zu: '%s'", i, why);
        json_decref(o);
    }
}
END_TEST

/* the pause table and the histogram: one row per doubling, from the
 * first to the last non-empty one, a column per generation, the bar
 * scaled to the fullest row */
START_TEST(test_gc_print_pauses)
{
    json_t *o = load_with_pauses();
    int rc;
    char *out = capture(tm_gc_print, o, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "mode: incremental (old generation scanned through 3 times)\n"));
    ck_assert_ptr_nonnull(strstr(out, "1 increment           5     0.0100     0.9000     3.0000     3.0000     2.5000\n"));
    ck_assert_ptr_nonnull(strstr(out, "0 young               2     0.0000     0.0015"));
    const char *h = strstr(out, "pause histogram:\n");
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(strstr(h, "\n<       2 us          2          0          0  ###############\n"
                                    "<       4 us          0          0          0\n"));
    ck_assert_ptr_nonnull(strstr(h, "\n<   1.024 ms          0          4          0  ##############################\n"
                                    "<   2.048 ms          0          0          0\n"
                                    "<   4.096 ms          0          1          0  ########\n\n"));
    ck_assert_ptr_null(strstr(h, "<       1 us")); /* before the first non-empty row */
    free(out);
    /* without the keys (an older librcgc): no mode line, no pauses */
    json_t *plain = load(old_text);
    out = capture(tm_gc_print, plain, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_null(strstr(out, "mode:"));
    ck_assert_ptr_null(strstr(out, "pauses:"));
    free(out);
    json_decref(plain);
    json_decref(o);
}
END_TEST

START_TEST(test_gc_print_json)
{
    json_t *o = load(old_text);
    int rc;
    char *out = capture(tm_gc_print, o, 1, &rc);
    ck_assert_int_eq(rc, 0);
    json_t *j = load(out);
    json_t *t = json_object_get(j, "types");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 0), "name")), "list");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 2), "name")), "gone");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(j, "counts"), 0)), 5);
    json_decref(j);
    free(out);
    json_decref(o);
}
END_TEST

static json_t *row(json_t *types, size_t i)
{
    return json_array_get(types, i);
}

static void assert_row(json_t *r, const char *type, json_int_t count, json_int_t cd,
                       json_int_t bytes, json_int_t bd)
{
    ck_assert_str_eq(json_string_value(json_object_get(r, "type")), type);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "count")), count);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "count_diff")), cd);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes")), bytes);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes_diff")), bd);
}

START_TEST(test_gc_diff_sorted_by_count_diff)
{
    json_t *o = load(old_text), *n = load(new_text);
    json_t *d = tm_gc_diff_json(o, n);
    json_t *types = json_object_get(d, "types");
    ck_assert_uint_eq(json_array_size(types), 4);
    assert_row(row(types, 0), "dict", 60, 50, 3840, 3200);
    assert_row(row(types, 1), "list", 90, -10, 4320, -480);
    assert_row(row(types, 2), "gone", 0, -3, 0, -96); /* only in OLD: count 0 */
    assert_row(row(types, 3), "Node", 1, 1, 64, 64);
    json_t *g = json_object_get(d, "generations");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(g, 0), "collections_diff")), 20);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(g, 2), "collected_diff")), 20);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(g, 2), "uncollectable_diff")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "garbage_diff")), 2);
    json_decref(d);

    int rc;
    json_t *pair = json_pack("[OO]", o, n);
    char *buf = capture(print_diff, pair, 0, &rc);
    json_decref(pair);
    char *dict = strstr(buf, "dict                             60        +50           3840          +3200\n");
    char *gone = strstr(buf, "gone                              0         -3              0            -96\n");
    ck_assert(dict && gone && dict < gone);
    ck_assert_ptr_nonnull(strstr(buf, "collections in between: 20 2 1 (generations 0 1 2), collected +26, uncollectable +2, garbage list +2\n"));
    free(buf);
    json_decref(o);
    json_decref(n);
}
END_TEST

START_TEST(test_gc_diff_tolerates_malformed)
{
    json_t *o = load("{\"types\": 5, \"generations\": \"x\"}");
    json_t *n = load("{\"types\": [{\"name\": 1}, {\"name\": \"a\", \"count\": \"x\"}, {\"count\": 3},"
                     " {\"name\": \"b\", \"count\": 2, \"bytes\": 32}]}");
    json_t *d = tm_gc_diff_json(o, n);
    json_t *types = json_object_get(d, "types");
    ck_assert_uint_eq(json_array_size(types), 2);
    assert_row(row(types, 0), "b", 2, 2, 32, 32);
    assert_row(row(types, 1), "a", 0, 0, 0, 0);
    json_decref(d);
    d = tm_gc_diff_json(NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(d, "types")), 0);
    json_decref(d);
    json_decref(o);
    json_decref(n);
}
END_TEST

static Suite *gc_suite(void)
{
    Suite *s = suite_create("gc");
    TCase *tc = tcase_create("section");
    tcase_add_test(tc, test_gc_validate_accepts_section);
    tcase_add_test(tc, test_gc_validate_rejects_malformed);
    tcase_add_test(tc, test_gc_print_text);
    tcase_add_test(tc, test_gc_print_json);
    tcase_add_test(tc, test_gc_validate_pauses);
    tcase_add_test(tc, test_gc_print_pauses);
    suite_add_tcase(s, tc);
    tc = tcase_create("diff");
    tcase_add_test(tc, test_gc_diff_sorted_by_count_diff);
    tcase_add_test(tc, test_gc_diff_tolerates_malformed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(gc_suite());
}
