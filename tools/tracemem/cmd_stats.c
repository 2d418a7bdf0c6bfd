/* cmd_stats.c - tracemem stats: allocation counts and the size histogram
 * (heaptrack -H, memray stats).
 *
 * Totals come from the traces (allocations, frees, temporary), memory
 * (peak, current) and leaks (leaked: definite + indirect); the histograms
 * from the shim's "sizes" key (tracemem-snapshot(5)): log2 buckets of the
 * live blocks (exact at the snapshot) and of every allocation since
 * tracing started. A snapshot without "sizes" (an older shim) shows the
 * totals only.
 *
 * JSON output (an interface, documented in tracemem-stats(1)):
 *
 *   {"format": "tracemem-stats", "version": 1, "file", "pid", "exe",
 *    "allocations", "allocated_bytes", "frees", "temporary", "peak",
 *    "current", "blocks", "leaked": {"checked", "bytes", "blocks"},
 *    "histogram": {"allocated": [BUCKET], "live": [BUCKET]} or null,
 *    "top_sizes": [{"size", "count"}]}
 *
 *   BUCKET = {"min", "max", "count", "bytes"}   sizes min..max inclusive
 */
#include "config.h"

#include "builtin.h"
#include "outfile.h"

#include <inttypes.h>
#include <string.h>

#include "report/quote.h"
#include "report/render.h"

static const char usage[] = "usage: tracemem stats FILE [--format text|json]\n"
                            "Shows allocation counts (allocations, frees, temporary, peak, current,\n"
                            "leaked), a histogram of allocation sizes in powers of two (every\n"
                            "allocation since start, and the live blocks) and the most frequent\n"
                            "sizes of the live blocks.\n";

#define NBUCKETS 65

typedef struct hist {
    uint64_t count[NBUCKETS], bytes[NBUCKETS];
    uint64_t total_count, total_bytes;
} hist;

typedef struct sizes {
    int present;
    hist allocated, live;
    size_t ntop;
    uint64_t top_size[64], top_count[64];
} sizes;

static int bucket_index(uint64_t lo)
{
    if (lo == 0)
        return 0;
    if (lo & (lo - 1))
        return -1;
    return 1 + __builtin_ctzll(lo);
}

static int load_hist(const json_t *arr, const char *name, hist *h, char *why, size_t len)
{
    size_t i;
    const json_t *e;

    if (!json_is_array(arr)) {
        snprintf(why, len, "sizes.%s: missing or not an array", name);
        return -1;
    }
    json_array_foreach (arr, i, e) {
        const json_t *lo = json_array_get(e, 0), *n = json_array_get(e, 1), *b = json_array_get(e, 2);
        int k;

        if (!json_is_array(e) || json_array_size(e) != 3 || !json_is_integer(lo) || !json_is_integer(n) ||
            !json_is_integer(b) || json_integer_value(lo) < 0 || json_integer_value(n) < 0 ||
            json_integer_value(b) < 0) {
            snprintf(why, len, "sizes.%s[%zu]: not [min, count, bytes] of non-negative integers", name, i);
            return -1;
        }
        if ((k = bucket_index((uint64_t)json_integer_value(lo))) < 0 || h->count[k]) {
            snprintf(why, len, "sizes.%s[%zu]: min %" JSON_INTEGER_FORMAT " is not a new power of two or 0",
                     name, i, json_integer_value(lo));
            return -1;
        }
        h->count[k] = (uint64_t)json_integer_value(n);
        h->bytes[k] = (uint64_t)json_integer_value(b);
        h->total_count += h->count[k];
        h->total_bytes += h->bytes[k];
    }
    return 0;
}

static int load_sizes(const tm_snapshot *snap, sizes *s, char *why, size_t len)
{
    const json_t *j = json_object_get(snap->root, "sizes"), *top, *e;
    size_t i;

    memset(s, 0, sizeof *s);
    if (!j)
        return 0;
    if (!json_is_object(j)) {
        snprintf(why, len, "sizes: not an object");
        return -1;
    }
    if (load_hist(json_object_get(j, "allocated"), "allocated", &s->allocated, why, len) ||
        load_hist(json_object_get(j, "live"), "live", &s->live, why, len))
        return -1;
    top = json_object_get(j, "live_top");
    if (top && !json_is_array(top)) {
        snprintf(why, len, "sizes.live_top: not an array");
        return -1;
    }
    json_array_foreach (top, i, e) {
        const json_t *sz = json_array_get(e, 0), *n = json_array_get(e, 1);

        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(sz) || !json_is_integer(n) ||
            json_integer_value(sz) < 0 || json_integer_value(n) < 0) {
            snprintf(why, len, "sizes.live_top[%zu]: not [size, count] of non-negative integers", i);
            return -1;
        }
        if (s->ntop < 64) {
            s->top_size[s->ntop] = (uint64_t)json_integer_value(sz);
            s->top_count[s->ntop++] = (uint64_t)json_integer_value(n);
        }
    }
    s->present = 1;
    return 0;
}

typedef struct totals {
    uint64_t allocations, allocated_bytes, frees, temporary, blocks;
    uint64_t leaked_bytes, leaked_blocks;
} totals;

static void compute(const tm_snapshot *snap, const sizes *sz, totals *t)
{
    uint64_t traced = 0, traced_bytes = 0;

    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < snap->ntraces; i++) {
        const tm_trace *tr = &snap->traces[i];

        if (tr->domain != 0)
            continue;
        traced += tr->allocated_count;
        traced_bytes += tr->allocated_size;
        t->blocks += tr->count;
        t->temporary += tr->temporary;
    }
    /* the histogram counts every allocation, sampled or not */
    t->allocations = sz->present ? sz->allocated.total_count : traced;
    t->allocated_bytes = sz->present ? sz->allocated.total_bytes : traced_bytes;
    t->frees = t->allocations > t->blocks ? t->allocations - t->blocks : 0;
    if (snap->leaks_checked) {
        t->leaked_bytes = snap->leak_summary[TM_LEAK_DEFINITE].bytes + snap->leak_summary[TM_LEAK_INDIRECT].bytes;
        t->leaked_blocks =
            snap->leak_summary[TM_LEAK_DEFINITE].blocks + snap->leak_summary[TM_LEAK_INDIRECT].blocks;
    }
}

static uint64_t bucket_min(int k)
{
    return k ? 1ull << (k - 1) : 0;
}

static uint64_t bucket_max(int k)
{
    return k == 0 ? 0 : k == 64 ? UINT64_MAX : (1ull << k) - 1;
}

static json_t *hist_json(const hist *h)
{
    json_t *a = json_array();

    for (int k = 0; k < NBUCKETS; k++)
        if (h->count[k])
            json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:I}", "min", (json_int_t)bucket_min(k), "max",
                                               (json_int_t)(k == 64 ? INT64_MAX : (int64_t)bucket_max(k)),
                                               "count", (json_int_t)h->count[k], "bytes",
                                               (json_int_t)h->bytes[k]));
    return a;
}

static void print_json(const tm_snapshot *snap, const sizes *sz, const totals *t)
{
    json_t *top = json_array(), *j;

    for (size_t i = 0; i < sz->ntop; i++)
        json_array_append_new(top, json_pack("{s:I, s:I}", "size", (json_int_t)sz->top_size[i], "count",
                                             (json_int_t)sz->top_count[i]));
    j = json_pack("{s:s, s:i, s:s, s:I, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:b, s:I, s:I}, s:o, s:o}",
                  "format", "tracemem-stats", "version", 1, "file", snap->file, "pid", (json_int_t)snap->pid,
                  "exe", snap->exe, "allocations", (json_int_t)t->allocations, "allocated_bytes",
                  (json_int_t)t->allocated_bytes, "frees", (json_int_t)t->frees, "temporary",
                  (json_int_t)t->temporary, "peak", (json_int_t)snap->memory.peak, "current",
                  (json_int_t)snap->memory.current, "blocks", (json_int_t)t->blocks, "leaked", "checked",
                  snap->leaks_checked, "bytes", (json_int_t)t->leaked_bytes, "blocks",
                  (json_int_t)t->leaked_blocks, "histogram",
                  sz->present ? json_pack("{s:o, s:o}", "allocated", hist_json(&sz->allocated), "live",
                                          hist_json(&sz->live))
                              : json_null(),
                  "top_sizes", top);
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
}

static void print_range(FILE *fp, int k)
{
    char a[32], b[32];

    if (k == 0)
        fprintf(fp, "  %22s", "0 B");
    else if (k == 1)
        fprintf(fp, "  %22s", "1 B");
    else
        fprintf(fp, "  %9s .. <%-9s", tm_format_size(a, sizeof a, (double)bucket_min(k), 0),
                tm_format_size(b, sizeof b, (double)bucket_max(k) + 1, 0));
}

static void print_hist(FILE *fp, const char *title, const hist *h)
{
    uint64_t max = 0;
    int lo = NBUCKETS, hi = -1;
    char a[32];

    for (int k = 0; k < NBUCKETS; k++)
        if (h->count[k]) {
            if (h->count[k] > max)
                max = h->count[k];
            lo = k < lo ? k : lo;
            hi = k;
        }
    fprintf(fp, "\n%s: %" PRIu64 " blocks, %s\n", title, h->total_count,
            tm_format_size(a, sizeof a, (double)h->total_bytes, 0));
    for (int k = lo; k <= hi; k++) {
        int bar = max ? (int)((h->count[k] * 40 + max - 1) / max) : 0;

        print_range(fp, k);
        fprintf(fp, " %10" PRIu64 " %5.1f%% ", h->count[k],
                h->total_count ? 100.0 * (double)h->count[k] / (double)h->total_count : 0.0);
        for (int i = 0; i < bar; i++)
            fputc('#', fp);
        fputc('\n', fp);
    }
}

static void print_text(const tm_snapshot *snap, const sizes *sz, const totals *t)
{
    char a[32], b[32], c[32];

    tm_fputs_quoted(snap->file, stdout);
    fputs(": ", stdout);
    tm_fputs_quoted(snap->exe ? snap->exe : "?", stdout);
    printf(" (pid %" PRId64 ")\n", snap->pid);
    printf("allocations: %" PRIu64 " (%s)\n", t->allocations, tm_format_size(a, sizeof a, (double)t->allocated_bytes, 0));
    printf("frees:       %" PRIu64 "\n", t->frees);
    printf("temporary:   %" PRIu64 " (%.1f%% of allocations)\n", t->temporary,
           t->allocations ? 100.0 * (double)t->temporary / (double)t->allocations : 0.0);
    printf("peak:        %s\n", tm_format_size(a, sizeof a, (double)snap->memory.peak, 0));
    printf("current:     %s in %" PRIu64 " blocks\n", tm_format_size(b, sizeof b, (double)snap->memory.current, 0),
           t->blocks);
    if (snap->leaks_checked)
        printf("leaked:      %s in %" PRIu64 " blocks (definite and indirect)\n",
               tm_format_size(c, sizeof c, (double)t->leaked_bytes, 0), t->leaked_blocks);
    else
        printf("leaked:      not checked\n");
    if (!sz->present) {
        printf("\nno size histogram: the snapshot has no \"sizes\" key (written by an older shim)\n");
        return;
    }
    print_hist(stdout, "sizes of all allocations", &sz->allocated);
    print_hist(stdout, "sizes of the live blocks", &sz->live);
    if (sz->ntop) {
        printf("\nmost frequent sizes of the live blocks:\n");
        for (size_t i = 0; i < sz->ntop; i++)
            printf("  %12s x %" PRIu64 "\n", tm_format_size(a, sizeof a, (double)sz->top_size[i], 0),
                   sz->top_count[i]);
    }
}

int cmd_stats(int argc, char **argv)
{
    int format, rc;
    tm_snapshot *snap = NULL;
    char why[256];
    sizes sz;
    totals t;

    if ((rc = tm__format_file_args("stats", usage, argc, argv, &format)) >= 0)
        return rc;
    if ((rc = tm__load(argv[optind], 0, &snap)))
        return rc;
    if (load_sizes(snap, &sz, why, sizeof why)) {
        tm__eprintf("tracemem: %s: %s\n", argv[optind], why);
        tm_snapshot_free(snap);
        return TM_EXIT_USAGE;
    }
    compute(snap, &sz, &t);
    if (format == TM_FORMAT_JSON)
        print_json(snap, &sz, &t);
    else
        print_text(snap, &sz, &t);
    tm_snapshot_free(snap);
    return tm__stdout_done(TM_EXIT_OK);
}
