/* gc.c - the "gc" section of snapshots written by librcgc (SPEC section 8):
 * validation, the `tracemem gc` report and the growth of live objects by
 * type for `tracemem diff`.
 *
 * Everything reads the section through jansson and tolerates malformed
 * input: tm_gc_print refuses an invalid section with a reason; the diff
 * treats what it cannot read as empty.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/gc.h"
#include "report/quote.h"

#define NGEN 3

/* --- validation --- */

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && cap)
        vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

static int check_triple(const json_t *gc, const char *key, char *why, size_t cap)
{
    const json_t *a = json_object_get(gc, key);
    if (!json_is_array(a) || json_array_size(a) != NGEN)
        return bad(why, cap, "gc.%s is not an array of 3 numbers", key);
    for (size_t i = 0; i < NGEN; i++)
        if (!json_is_integer(json_array_get(a, i)))
            return bad(why, cap, "gc.%s[%zu] is not an integer", key, i);
    return 0;
}

static int check_generations(const json_t *gc, char *why, size_t cap)
{
    static const char *const keys[] = {"collections", "collected", "uncollectable"};
    const json_t *g = json_object_get(gc, "generations");
    if (!json_is_array(g) || json_array_size(g) != NGEN)
        return bad(why, cap, "gc.generations is not an array of 3 objects");
    for (size_t i = 0; i < NGEN; i++) {
        const json_t *e = json_array_get(g, i);
        for (size_t k = 0; k < 3; k++)
            if (!is_count(json_object_get(e, keys[k])))
                return bad(why, cap, "gc.generations[%zu].%s is not a count", i, keys[k]);
        if (!json_is_number(json_object_get(e, "seconds")))
            return bad(why, cap, "gc.generations[%zu].seconds is not a number", i);
    }
    return 0;
}

static int check_types(const json_t *gc, char *why, size_t cap)
{
    const json_t *t = json_object_get(gc, "types");
    size_t i;
    const json_t *e;
    if (!json_is_array(t))
        return bad(why, cap, "gc.types is not an array");
    json_array_foreach(t, i, e) {
        if (!json_is_string(json_object_get(e, "name")))
            return bad(why, cap, "gc.types[%zu].name is not a string", i);
        if (!is_count(json_object_get(e, "count")) || !is_count(json_object_get(e, "bytes")))
            return bad(why, cap, "gc.types[%zu] needs count and bytes", i);
    }
    return 0;
}

static int check_events(const json_t *gc, char *why, size_t cap)
{
    const json_t *t = json_object_get(gc, "events");
    size_t i;
    const json_t *e;
    if (!t)
        return 0; /* optional */
    if (!json_is_array(t))
        return bad(why, cap, "gc.events is not an array");
    json_array_foreach(t, i, e) {
        json_int_t g = json_integer_value(json_object_get(e, "generation"));
        if (!json_is_integer(json_object_get(e, "generation")) || g < 0 || g >= NGEN ||
            !is_count(json_object_get(e, "collected")) ||
            !is_count(json_object_get(e, "uncollectable")) ||
            !json_is_number(json_object_get(e, "seconds")) ||
            !json_is_number(json_object_get(e, "time")))
            return bad(why, cap, "gc.events[%zu] is malformed", i);
    }
    return 0;
}

static int check_pause(const json_t *e, size_t i, char *why, size_t cap)
{
    static const char *const keys[] = {"seconds", "p50", "p90", "p99", "max"};
    if (!is_count(json_object_get(e, "count")))
        return bad(why, cap, "gc.pauses[%zu].count is not a count", i);
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const json_t *v = json_object_get(e, keys[k]);
        if (!json_is_number(v) || json_number_value(v) < 0)
            return bad(why, cap, "gc.pauses[%zu].%s is not a number of seconds", i, keys[k]);
    }
    const json_t *h = json_object_get(e, "histogram"), *b;
    size_t j;
    if (!json_is_array(h))
        return bad(why, cap, "gc.pauses[%zu].histogram is not an array", i);
    json_array_foreach(h, j, b) {
        const json_t *le = json_object_get(b, "le");
        if (!json_is_number(le) || json_number_value(le) < 0 ||
            !is_count(json_object_get(b, "count")))
            return bad(why, cap, "gc.pauses[%zu].histogram[%zu] is malformed", i, j);
    }
    return 0;
}

/* optional (snapshots of librcgc before the incremental mode lack them) */
static int check_pauses(const json_t *gc, char *why, size_t cap)
{
    const json_t *p = json_object_get(gc, "pauses");
    const json_t *inc = json_object_get(gc, "incremental"), *scans = json_object_get(gc, "old_scans");
    int rc;
    if (inc && !json_is_boolean(inc))
        return bad(why, cap, "gc.incremental is not a boolean");
    if (scans && !is_count(scans))
        return bad(why, cap, "gc.old_scans is not a count");
    if (!p)
        return 0;
    if (!json_is_array(p) || json_array_size(p) != NGEN)
        return bad(why, cap, "gc.pauses is not an array of 3 objects");
    for (size_t i = 0; i < NGEN; i++)
        if ((rc = check_pause(json_array_get(p, i), i, why, cap)))
            return rc;
    return 0;
}

int tm_gc_validate(const json_t *gc, char *why, size_t cap)
{
    int rc;
    if (!json_is_object(gc))
        return bad(why, cap, "gc section is not an object");
    if (!json_is_boolean(json_object_get(gc, "enabled")))
        return bad(why, cap, "gc.enabled is not a boolean");
    if ((rc = check_triple(gc, "thresholds", why, cap)) || (rc = check_triple(gc, "counts", why, cap)) ||
        (rc = check_generations(gc, why, cap)) || (rc = check_types(gc, why, cap)) ||
        (rc = check_events(gc, why, cap)) || (rc = check_pauses(gc, why, cap)))
        return rc;
    if (!is_count(json_object_get(gc, "garbage")) || !is_count(json_object_get(gc, "frozen")))
        return bad(why, cap, "gc.garbage and gc.frozen must be counts");
    return 0;
}

/* --- helpers --- */

static json_int_t ival(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Sums and differences of counts from a file saturate instead of
 * overflowing (signed overflow is undefined; a hostile or corrupt
 * snapshot can hold any integer). */
static json_int_t sat_add(json_int_t a, json_int_t b)
{
    json_int_t r;

    if (!__builtin_add_overflow(a, b, &r))
        return r;
    return b > 0 ? LLONG_MAX : LLONG_MIN;
}

static json_int_t sat_sub(json_int_t a, json_int_t b)
{
    json_int_t r;

    if (!__builtin_sub_overflow(a, b, &r))
        return r;
    return b < 0 ? LLONG_MAX : LLONG_MIN;
}

static json_int_t nth(const json_t *a, size_t i)
{
    const json_t *v = json_array_get(a, i);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int cmp_count_desc(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    json_int_t cx = ival(x, "count"), cy = ival(y, "count");
    if (cx != cy)
        return cx > cy ? -1 : 1;
    json_int_t bx = ival(x, "bytes"), by = ival(y, "bytes");
    if (bx != by)
        return bx > by ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

/* A new array of the (valid) types, most numerous first. */
static json_t *sorted_types(const json_t *gc)
{
    const json_t *t = json_object_get(gc, "types");
    size_t n = json_array_size(t);
    json_t **v = malloc((n ? n : 1) * sizeof *v), *out = json_array();
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(t, i);
    qsort(v, n, sizeof *v, cmp_count_desc);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

static void iso_time(double t, char *buf, size_t cap)
{
    /* up to year 9999; a larger double converts to time_t undefined */
    time_t s = t > 0 && t < 253402300800.0 ? (time_t)t : 0;
    struct tm tm;
    if (s <= 0 || !gmtime_r(&s, &tm)) {
        snprintf(buf, cap, "-");
        return;
    }
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)((t - (double)s) * 1000) % 1000);
}

/* --- tracemem gc --- */

#define HIST_ROWS 40
#define HIST_BAR 30

/* The row of the pause histogram for a bucket bound 'le' (seconds): one
 * row per doubling, row r holding pauses below 2^r us (row 0: below 1 us),
 * the last row the rest. */
static int hist_row(double le)
{
    int r = 0;
    for (double b = 1e-6; r < HIST_ROWS - 1 && le > b * 1.0000001; b *= 2)
        r++;
    return r;
}

static void print_bound(FILE *out, int r)
{
    double us = (double)(1ull << r);
    if (r == HIST_ROWS - 1)
        fprintf(out, "%12s", "more");
    else if (us < 1000)
        fprintf(out, "< %7.0f us", us);
    else if (us < 1e6)
        fprintf(out, "< %7.3f ms", us / 1e3);
    else
        fprintf(out, "< %8.3f s", us / 1e6);
}

/* The pause figures per generation and one histogram of all pauses, a
 * column of counts per generation. */
static void print_pauses(FILE *out, const json_t *gc)
{
    const json_t *p = json_object_get(gc, "pauses");
    if (!p)
        return;
    int incremental = json_is_true(json_object_get(gc, "incremental"));
    static const char *const classic_names[NGEN] = {"0", "1", "2"};
    static const char *const inc_names[NGEN] = {"0 young", "1 increment", "2 full"};
    const char *const *names = incremental ? inc_names : classic_names;
    fprintf(out, "\npauses:\n%-12s %10s %10s %10s %10s %10s %10s\n", "generation", "count",
            "total s", "p50 ms", "p90 ms", "p99 ms", "max ms");
    json_int_t rows[HIST_ROWS][NGEN];
    memset(rows, 0, sizeof rows);
    for (size_t i = 0; i < NGEN; i++) {
        const json_t *e = json_array_get(p, i), *b;
        fprintf(out, "%-12s %10lld %10.4f %10.4f %10.4f %10.4f %10.4f\n", names[i],
                (long long)ival(e, "count"), json_number_value(json_object_get(e, "seconds")),
                json_number_value(json_object_get(e, "p50")) * 1e3,
                json_number_value(json_object_get(e, "p90")) * 1e3,
                json_number_value(json_object_get(e, "p99")) * 1e3,
                json_number_value(json_object_get(e, "max")) * 1e3);
        size_t j;
        json_array_foreach(json_object_get(e, "histogram"), j, b) {
            int r = hist_row(json_number_value(json_object_get(b, "le")));
            rows[r][i] = sat_add(rows[r][i], ival(b, "count"));
        }
    }
    int lo = HIST_ROWS, hi = -1;
    json_int_t most = 0;
    for (int r = 0; r < HIST_ROWS; r++) {
        json_int_t n = sat_add(sat_add(rows[r][0], rows[r][1]), rows[r][2]);
        if (!n)
            continue;
        lo = r < lo ? r : lo;
        hi = r;
        most = n > most ? n : most;
    }
    if (hi < 0)
        return;
    fprintf(out, "\npause histogram:\n%12s %10s %10s %10s  %s\n", "pause", "gen 0", "gen 1",
            "gen 2", "all");
    for (int r = lo; r <= hi; r++) {
        json_int_t n = sat_add(sat_add(rows[r][0], rows[r][1]), rows[r][2]);
        int bar = (int)((double)n / (double)most * HIST_BAR + 0.5);
        if (n && !bar)
            bar = 1;
        print_bound(out, r);
        fprintf(out, " %10lld %10lld %10lld", (long long)rows[r][0], (long long)rows[r][1],
                (long long)rows[r][2]);
        if (bar)
            fputs("  ", out);
        for (int k = 0; k < bar; k++)
            fputc('#', out);
        fputc('\n', out);
    }
}

static void print_text(FILE *out, const json_t *gc)
{
    const json_t *th = json_object_get(gc, "thresholds"), *c = json_object_get(gc, "counts");
    fprintf(out, "automatic collection: %s\n",
            json_is_true(json_object_get(gc, "enabled")) ? "enabled" : "disabled");
    fprintf(out, "thresholds: %lld %lld %lld   counts: %lld %lld %lld\n",
            (long long)nth(th, 0), (long long)nth(th, 1), (long long)nth(th, 2),
            (long long)nth(c, 0), (long long)nth(c, 1), (long long)nth(c, 2));
    fprintf(out, "garbage list: %lld   frozen: %lld\n", (long long)ival(gc, "garbage"),
            (long long)ival(gc, "frozen"));
    const json_t *inc = json_object_get(gc, "incremental");
    if (inc)
        fprintf(out, "mode: %s (old generation scanned through %lld times)\n",
                json_is_true(inc) ? "incremental" : "classic", (long long)ival(gc, "old_scans"));
    fputc('\n', out);

    fprintf(out, "%-10s %12s %12s %14s %10s\n", "generation", "collections", "collected",
            "uncollectable", "seconds");
    const json_t *g = json_object_get(gc, "generations");
    for (size_t i = 0; i < NGEN; i++) {
        const json_t *e = json_array_get(g, i);
        fprintf(out, "%-10zu %12lld %12lld %14lld %10.4f\n", i, (long long)ival(e, "collections"),
                (long long)ival(e, "collected"), (long long)ival(e, "uncollectable"),
                json_number_value(json_object_get(e, "seconds")));
    }

    print_pauses(out, gc);

    json_t *types = sorted_types(gc);
    size_t i;
    json_t *e;
    json_int_t tc = 0, tb = 0;
    fprintf(out, "\nlive objects by type:\n%12s %14s  %s\n", "count", "bytes", "type");
    json_array_foreach(types, i, e) {
        fprintf(out, "%12lld %14lld  ", (long long)ival(e, "count"), (long long)ival(e, "bytes"));
        tm_fputs_quoted(json_string_value(json_object_get(e, "name")), out);
        fputc('\n', out);
        tc = sat_add(tc, ival(e, "count"));
        tb = sat_add(tb, ival(e, "bytes"));
    }
    fprintf(out, "%12lld %14lld  total\n", (long long)tc, (long long)tb);
    json_decref(types);

    const json_t *ev = json_object_get(gc, "events");
    if (json_array_size(ev)) {
        char when[40];
        fprintf(out, "\nrecent collections (oldest first):\n%-24s %3s %12s %14s %10s\n", "time",
                "gen", "collected", "uncollectable", "seconds");
        json_array_foreach(ev, i, e) {
            iso_time(json_number_value(json_object_get(e, "time")), when, sizeof when);
            fprintf(out, "%-24s %3lld %12lld %14lld %10.4f\n", when,
                    (long long)ival(e, "generation"), (long long)ival(e, "collected"),
                    (long long)ival(e, "uncollectable"),
                    json_number_value(json_object_get(e, "seconds")));
        }
    }
}

int tm_gc_print(FILE *out, const json_t *gc, int as_json)
{
    if (tm_gc_validate(gc, NULL, 0))
        return -EINVAL;
    if (as_json) {
        json_t *copy = json_deep_copy(gc);
        json_object_set_new(copy, "types", sorted_types(gc));
        json_dumpf(copy, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(copy);
    } else {
        print_text(out, gc);
    }
    return ferror(out) ? -EIO : 0;
}

/* --- growth by type --- */

/* Adds count/bytes of the valid entries of 'types' into 'acc' (name ->
 * [old count, old bytes, new count, new bytes]) at offset 'at'. */
static void accumulate(json_t *acc, const json_t *types, size_t at)
{
    size_t i;
    const json_t *e;
    if (!json_is_array(types))
        return;
    json_array_foreach(types, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!name)
            continue;
        json_t *row = json_object_get(acc, name);
        if (!row) {
            row = json_pack("[IIII]", (json_int_t)0, (json_int_t)0, (json_int_t)0, (json_int_t)0);
            json_object_set_new(acc, name, row);
        }
        json_array_set_new(row, at, json_integer(sat_add(nth(row, at), ival(e, "count"))));
        json_array_set_new(row, at + 1, json_integer(sat_add(nth(row, at + 1), ival(e, "bytes"))));
    }
}

static json_int_t absv(json_int_t v)
{
    return v == LLONG_MIN ? LLONG_MAX : v < 0 ? -v : v;
}

static int cmp_growth(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    json_int_t cx = absv(ival(x, "count_diff")), cy = absv(ival(y, "count_diff"));
    if (cx != cy)
        return cx > cy ? -1 : 1;
    json_int_t bx = absv(ival(x, "bytes_diff")), by = absv(ival(y, "bytes_diff"));
    if (bx != by)
        return bx > by ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "type")),
                  json_string_value(json_object_get(y, "type")));
}

static json_t *generation_diffs(const json_t *old_gc, const json_t *new_gc)
{
    static const char *const keys[] = {"collections", "collected", "uncollectable"};
    const json_t *og = json_object_get(old_gc, "generations"),
                 *ng = json_object_get(new_gc, "generations");
    json_t *out = json_array();
    for (size_t i = 0; i < NGEN; i++) {
        json_t *d = json_object();
        for (size_t k = 0; k < 3; k++) {
            char key[32];
            snprintf(key, sizeof key, "%s_diff", keys[k]);
            json_object_set_new(d, key, json_integer(sat_sub(ival(json_array_get(ng, i), keys[k]),
                                                             ival(json_array_get(og, i), keys[k]))));
        }
        json_array_append_new(out, d);
    }
    return out;
}

json_t *tm_gc_diff_json(const json_t *old_gc, const json_t *new_gc)
{
    json_t *acc = json_object(), *rows = json_array(), *row;
    const char *name;
    accumulate(acc, json_object_get(old_gc, "types"), 0);
    accumulate(acc, json_object_get(new_gc, "types"), 2);
    size_t n = json_object_size(acc), i = 0;
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    json_object_foreach(acc, name, row) {
        v[i++] = json_pack("{s:s,s:I,s:I,s:I,s:I}", "type", name, "count", nth(row, 2),
                           "count_diff", sat_sub(nth(row, 2), nth(row, 0)), "bytes", nth(row, 3),
                           "bytes_diff", sat_sub(nth(row, 3), nth(row, 1)));
    }
    qsort(v, n, sizeof *v, cmp_growth);
    for (i = 0; i < n; i++)
        json_array_append_new(rows, v[i]);
    free(v);
    json_decref(acc);
    json_int_t g_old = ival(old_gc, "garbage"), g_new = ival(new_gc, "garbage");
    return json_pack("{s:o,s:o,s:I,s:I}", "types", rows, "generations",
                     generation_diffs(old_gc, new_gc), "garbage", g_new, "garbage_diff",
                     sat_sub(g_new, g_old));
}

void tm_gc_diff_print(FILE *out, const json_t *old_gc, const json_t *new_gc)
{
    json_t *d = tm_gc_diff_json(old_gc, new_gc);
    size_t i;
    json_t *e;
    fprintf(out, "%-24s %10s %10s %14s %14s\n", "type", "count", "diff", "bytes", "diff");
    json_array_foreach(json_object_get(d, "types"), i, e) {
        char q[256];

        fprintf(out, "%-24s %10lld %+10lld %14lld %+14lld\n",
                tm_quote(json_string_value(json_object_get(e, "type")), q, sizeof q),
                (long long)ival(e, "count"),
                (long long)ival(e, "count_diff"), (long long)ival(e, "bytes"),
                (long long)ival(e, "bytes_diff"));
    }
    const json_t *g = json_object_get(d, "generations");
    fprintf(out, "collections in between: %lld %lld %lld (generations 0 1 2), "
                 "collected %+lld, uncollectable %+lld, garbage list %+lld\n",
            (long long)ival(json_array_get(g, 0), "collections_diff"),
            (long long)ival(json_array_get(g, 1), "collections_diff"),
            (long long)ival(json_array_get(g, 2), "collections_diff"),
            (long long)(ival(json_array_get(g, 0), "collected_diff") +
                        ival(json_array_get(g, 1), "collected_diff") +
                        ival(json_array_get(g, 2), "collected_diff")),
            (long long)(ival(json_array_get(g, 0), "uncollectable_diff") +
                        ival(json_array_get(g, 1), "uncollectable_diff") +
                        ival(json_array_get(g, 2), "uncollectable_diff")),
            (long long)ival(d, "garbage_diff"));
    json_decref(d);
}
