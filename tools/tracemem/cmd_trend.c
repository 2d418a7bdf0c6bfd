/* cmd_trend.c - tracemem trend: which stacks grow steadily over a series
 * of snapshots of one process, and how fast.
 *
 * JSON output (an interface, documented in tracemem-trend(1)):
 *
 *   {"format": "tracemem-trend", "version": 1, "pid", "exe", "source",
 *    "min_growth", "min_r2",
 *    "snapshots": [{"file", "seq", "time", "seconds", "current"}],
 *    "left_out": [FILE], "steady": N, "omitted": N,
 *    "stacks": [{"key", "growth", "first", "last", "slope_per_snapshot",
 *                "slope_per_second", "r2", "decreases", "sizes": [...],
 *                "frames": [FRAME]}]}
 *
 * where "source" is "snapshots", or "timeline" for one snapshot's timeline
 * (then each of "snapshots" is a point: {"file", "seconds", "current"}),
 * "seconds" and "slope_per_second" are null when the snapshots have
 * no usable times, "left_out" lists the exit snapshots not used, and FRAME
 * is render.h's.
 *
 * An exit snapshot is left out of a series that has two others (unless
 * --keep-exit): what a program frees while it shuts down is not a trend,
 * and would hide every steady growth before it.
 */
#include "config.h"

#include "builtin.h"
#include "outfile.h"
#include "report/quote.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/render.h"
#include "report/trend.h"
#include "report/timeline.h"

static const char usage[] = "usage: tracemem trend FILE... [--min-growth BYTES] [-n N]\n"
                            "                      [--keep-exit] [--format text|json]\n"
                            "                      [--fail-above BYTES_PER_SECOND]\n"
                            "                      " TM_VIEW_USAGE "\n"
                            "Fits the live bytes of each stack over a series of snapshots of one\n"
                            "process (TRACEMEM_INTERVAL or TRACEMEM_SIGNAL snapshots) and shows the\n"
                            "stacks that grow steadily, biggest growth first: by how much per\n"
                            "snapshot and per second. BYTES may end in K, M or G (powers of 1024);\n"
                            "-n shows at most N stacks (default 10, 0: all). The exit snapshot\n"
                            "is left out unless --keep-exit. A single FILE with a timeline (the\n"
                            "shim writes one by default) gives the growth over time within it.\n";


static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* The exit snapshots left out of the series. */
typedef struct left_out {
    size_t n;
    const tm_snapshot **v;
} left_out;

static json_t *render_json(const tm_trend *t, size_t limit, const left_out *lo)
{
    const tm_snapshot *s0 = t->snaps[0];
    json_t *snaps = json_array(), *stacks = json_array(), *left = json_array();
    size_t shown = 0;

    for (size_t i = 0; i < t->nsnaps; i++) {
        const tm_snapshot *s = t->snaps[i];

        if (t->current) /* one snapshot's timeline: its samples */
            json_array_append_new(snaps, json_pack("{s:s, s:o, s:I}", "file", s->file, "seconds",
                                                   num_or_null(t->seconds[i]), "current",
                                                   (json_int_t)t->current[i]));
        else
            json_array_append_new(snaps, json_pack("{s:s, s:I, s:s?, s:o, s:I}", "file", s->file, "seq",
                                                   (json_int_t)s->seq, "time", s->time, "seconds",
                                                   num_or_null(t->seconds[i]), "current",
                                                   (json_int_t)s->memory.current));
    }
    for (size_t i = 0; i < t->nsteady && (!limit || shown < limit); i++) {
        const tm_trend_stack *st = &t->v[i];
        const tm_snapshot *s = t->snaps[st->snap];
        json_t *sizes = json_array();

        for (size_t k = 0; k < t->nsnaps; k++)
            json_array_append_new(sizes, json_integer((json_int_t)st->sizes[k]));
        json_array_append_new(stacks,
                              json_pack("{s:s, s:I, s:I, s:I, s:f, s:o, s:f, s:I, s:o, s:o}", "key", st->key,
                                        "growth", (json_int_t)st->growth, "first", (json_int_t)st->sizes[0],
                                        "last", (json_int_t)st->sizes[t->nsnaps - 1], "slope_per_snapshot",
                                        st->slope, "slope_per_second", num_or_null(st->slope_per_second),
                                        "r2", st->r2, "decreases", (json_int_t)st->decreases, "sizes", sizes,
                                        "frames", tm_stack_json(s, &s->stacks[st->stack])));
        shown++;
    }
    for (size_t i = 0; i < lo->n; i++)
        json_array_append_new(left, json_string(lo->v[i]->file));
    return json_pack("{s:s, s:i, s:I, s:s?, s:s, s:I, s:f, s:o, s:o, s:I, s:I, s:o}", "format",
                     "tracemem-trend", "version", 1, "pid", (json_int_t)s0->pid, "exe", s0->exe, "source",
                     t->current ? "timeline" : "snapshots", "min_growth", (json_int_t)t->min_growth, "min_r2",
                     TM_TREND_MIN_R2, "snapshots", snaps, "left_out", left, "steady", (json_int_t)t->nsteady,
                     "omitted", (json_int_t)(t->nsteady - shown), "stacks", stacks);
}

static void render_text(FILE *fp, const tm_trend *t, size_t limit, const left_out *lo)
{
    const tm_snapshot *s0 = t->snaps[0], *sn = t->snaps[t->nsnaps - 1];
    double span = t->seconds[t->nsnaps - 1];
    char a[32], b[32], c[32], d[32], e[32];
    size_t shown = 0;

    if (t->current) {
        fprintf(fp, "timeline of ");
        tm_fputs_quoted(s0->exe ? s0->exe : "?", fp);
        fprintf(fp, " (pid %" PRId64 ") in ", s0->pid);
        tm_fputs_quoted(s0->file, fp);
        fprintf(fp, ": %zu points over %.2f s; heap %s -> %s\n", t->nsnaps, span,
                tm_format_size(a, sizeof a, (double)t->current[0], 0),
                tm_format_size(b, sizeof b, (double)t->current[t->nsnaps - 1], 0));
    } else {
        fprintf(fp, "%zu snapshots of ", t->nsnaps);
        tm_fputs_quoted(s0->exe ? s0->exe : "?", fp);
        fprintf(fp, " (pid %" PRId64 "), seq %" PRId64 "..%" PRId64, s0->pid, s0->seq, sn->seq);
        if (!isnan(span))
            fprintf(fp, " over %.2f s", span);
        fprintf(fp, "; current %s -> %s\n", tm_format_size(a, sizeof a, (double)s0->memory.current, 0),
                tm_format_size(b, sizeof b, (double)sn->memory.current, 0));
    }
    for (size_t i = 0; i < lo->n; i++) {
        fputs("left out the exit snapshot ", fp);
        tm_fputs_quoted(lo->v[i]->file, fp);
        fputs(" (--keep-exit keeps it)\n", fp);
    }
    fprintf(fp, "%zu stack%s grow%s steadily (growth >= %s, R^2 >= %.1f)%s\n", t->nsteady,
            t->nsteady == 1 ? "" : "s", t->nsteady == 1 ? "s" : "",
            tm_format_size(c, sizeof c, (double)(t->min_growth ? t->min_growth : 1), 0), TM_TREND_MIN_R2,
            t->nsteady ? ":" : ".");
    for (size_t i = 0; i < t->nsteady && (!limit || shown < limit); i++) {
        const tm_trend_stack *st = &t->v[i];
        const tm_snapshot *s = t->snaps[st->snap];

        fprintf(fp, "\n%s: %s per %s", tm_format_size(a, sizeof a, (double)st->growth, 1),
                tm_format_size(b, sizeof b, st->slope, 1), t->current ? "point" : "snapshot");
        if (!isnan(st->slope_per_second))
            fprintf(fp, ", %s/s", tm_format_size(c, sizeof c, st->slope_per_second, 1));
        fprintf(fp, " (R^2 %.3f), %s -> %s\n", st->r2, tm_format_size(d, sizeof d, (double)st->sizes[0], 0),
                tm_format_size(e, sizeof e, (double)st->sizes[t->nsnaps - 1], 0));
        tm_print_stack(fp, s, &s->stacks[st->stack], "    ");
        shown++;
    }
    if (shown < t->nsteady)
        fprintf(fp, "\n%zu more (see -n)\n", t->nsteady - shown);
}

/* The growth of the steady stacks together, bytes per second (the gate
 * of --fail-above); NAN when the snapshots' times are unknown. */
static double steady_rate(const tm_trend *t)
{
    double sum = 0;

    for (size_t i = 0; i < t->nsteady; i++) {
        if (isnan(t->v[i].slope_per_second))
            return NAN;
        sum += t->v[i].slope_per_second > 0 ? t->v[i].slope_per_second : 0;
    }
    return t->nsteady || t->nsnaps < 2 || !isnan(t->seconds[t->nsnaps - 1]) ? sum : NAN;
}

static void free_snaps(tm_snapshot **snaps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tm_snapshot_free(snaps[i]);
    free(snaps);
}

/* Puts the snapshots of the series in 'used' and returns how many: all of
 * them, or, unless 'keep_exit', all but the exit snapshots (listed in 'lo')
 * when that leaves two or more. */
static size_t split_exit(tm_snapshot **snaps, size_t n, int keep_exit, tm_snapshot **used, left_out *lo)
{
    size_t nused = 0;

    for (size_t i = 0; i < n; i++)
        if (keep_exit || !snaps[i]->reason || strcmp(snaps[i]->reason, "exit") != 0)
            used[nused++] = snaps[i];
    if (nused == n || nused < 2) {
        memcpy(used, snaps, n * sizeof *snaps);
        return n;
    }
    for (size_t i = 0; i < n; i++)
        if (snaps[i]->reason && strcmp(snaps[i]->reason, "exit") == 0)
            lo->v[lo->n++] = snaps[i];
    return nused;
}

int cmd_trend(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"min-growth", required_argument, NULL, 'g'},
        {"keep-exit", no_argument, NULL, 'K'},
        {"fail-above", required_argument, NULL, 'A'},
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        TM_VIEW_LONGOPTS,
        {0},
    };
    long long min_growth = 0, limit = 10, fail_above = -1;
    tm_format format = TM_FORMAT_TEXT;
    tm_snapshot **snaps = NULL, **used = NULL;
    left_out lo = {0, NULL};
    tm_error err = {""};
    tm_trend t;
    size_t n = 0, nused, bad;
    int opt, rc, f, keep_exit = 0;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'g':
            if ((min_growth = tm__parse_bytes(optarg)) < 0)
                return tm__usage_error("trend",
                                       "--min-growth: '%s' is not a "
                                       "number of bytes",
                                       optarg);
            break;
        case 'K':
            keep_exit = 1;
            break;
        case 'A':
            if ((fail_above = tm__parse_bytes(optarg)) < 0)
                return tm__usage_error("trend",
                                       "--fail-above: '%s' is not a number of bytes (per second)",
                                       optarg);
            break;
        case 'n':
            if ((limit = tm__parse_count(optarg)) < 0)
                return tm__usage_error("trend", "-n: '%s' is not a count", optarg);
            break;
        case 'F':
            if ((f = tm__format_parse(optarg)) < 0)
                return tm__usage_error("trend",
                                       "--format: unknown format "
                                       "'%s' (text, json)",
                                       optarg);
            format = (tm_format)f;
            break;
        case 'h':
            fputs(usage, stdout);
            return TM_EXIT_OK;
        default:
            if ((rc = tm__view_option("trend", opt, optarg)) >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return tm__usage_error("trend", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind < 1)
        return tm__usage_error("trend", "expected a snapshot FILE with a timeline, or two or more "
                                        "snapshot FILEs of one process");
    if (!(snaps = calloc((size_t)(argc - optind), sizeof *snaps)) ||
        !(used = calloc((size_t)(argc - optind), sizeof *used)) ||
        !(lo.v = calloc((size_t)(argc - optind), sizeof *lo.v))) {
        rc = tm__usage_error("trend", "out of memory");
        goto out;
    }
    if ((rc = tm__load_many((const char *const *)argv + optind, (size_t)(argc - optind), 0, snaps)))
        goto out;
    n = (size_t)(argc - optind);
    if (n == 1) { /* one snapshot: its timeline is the series */
        tm_timeline tl;

        if ((rc = tm_timeline_load(snaps[0], &tl, &err)) == 0 && !tl.present)
            rc = tm__error_set(&err, -EINVAL, "no timeline in this snapshot (TRACEMEM_TIMELINE=0?); "
                                              "a trend needs it or two or more snapshots");
        /* the exit snapshot's own sample comes after the program's
         * shutdown freed what it had: left out as the exit snapshot is */
        if (rc == 0 && !keep_exit && snaps[0]->reason && strcmp(snaps[0]->reason, "exit") == 0 &&
            tl.nsamples > 2) {
            tl.nsamples--;
            while (tl.nrows && tl.rows[tl.nrows - 1].sample >= tl.nsamples)
                tl.nrows--;
        }
        if (rc == 0 && (rc = tm_trend_symbolize(snaps, 1, stderr, &err)) == 0) {
            tm__apply_view(snaps[0]);
            rc = tm_trend_timeline(snaps[0], &tl, (uint64_t)min_growth, &t, &err);
        }
        tm_timeline_free(&tl);
        if (rc) {
            tm__eprintf("tracemem: %s: %s\n", snaps[0]->file, err.what);
            rc = TM_EXIT_USAGE;
            goto out;
        }
        goto computed;
    }
    if (tm_trend_same_process(snaps, n, &bad, &err)) {
        tm__eprintf("tracemem: %s: %s\n", snaps[bad]->file, err.what);
        rc = TM_EXIT_USAGE;
        goto out;
    }
    nused = split_exit(snaps, n, keep_exit, used, &lo);
    /* one libdw pass for the whole series, not one per snapshot */
    if (tm_trend_symbolize(used, nused, stderr, &err)) {
        tm__eprintf("tracemem: %s: %s\n", snaps[0]->file, err.what);
        rc = TM_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < nused; i++)
        tm__apply_view(used[i]);
    if (tm_trend_compute(used, nused, (uint64_t)min_growth, &t, &err)) {
        tm__eprintf("tracemem: %s: %s\n", snaps[0]->file, err.what);
        rc = TM_EXIT_USAGE;
        goto out;
    }
computed:;
    double rate = steady_rate(&t);
    if (fail_above >= 0 && isnan(rate)) {
        tm__eprintf("tracemem: %s: --fail-above needs the times of the snapshots, and one is missing\n",
                    snaps[0]->file);
        tm_trend_free(&t);
        rc = TM_EXIT_USAGE;
        goto out;
    }
    int failed = fail_above >= 0 && rate > (double)fail_above;
    if (format == TM_FORMAT_JSON) {
        json_t *j = render_json(&t, (size_t)limit, &lo);

        if (fail_above >= 0)
            json_object_set_new(j, "gate", json_pack("{s:I, s:f, s:b}", "fail_above", (json_int_t)fail_above,
                                                     "rate", rate, "failed", failed));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
        putchar('\n');
        json_decref(j);
    } else {
        render_text(stdout, &t, (size_t)limit, &lo);
        if (fail_above >= 0) {
            char a[32], b[32];

            printf("\ntracemem trend: %s: the steady stacks grow by %s/s in all, %s --fail-above %s/s\n",
                   failed ? "FAILED" : "passed", tm_format_size(a, sizeof a, rate, 0), failed ? "above" : "within",
                   tm_format_size(b, sizeof b, (double)fail_above, 0));
        }
    }
    tm_trend_free(&t);
    rc = tm__stdout_done(failed ? TM_EXIT_FAIL : TM_EXIT_OK);
out:
    free_snaps(snaps, n);
    free(used);
    free(lo.v);
    return rc;
}
