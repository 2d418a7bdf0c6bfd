/* trend.c - growth per stack over a series of snapshots (see trend.h).
 *
 * Stacks are gathered through a jansson object mapping each traceback key
 * to its position in tm_trend.v, so a stack met in several snapshots (or
 * in several traces of one snapshot: other domains) has one entry whose
 * sizes[i] sums what snapshot i holds for it.
 */
#include "config.h"

#include "report/trend.h"
#include "report/timeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/stats.h"
#include "report/symbolize.h"

int tm_time_parse(const char *iso, double *seconds)
{
    struct tm tm;
    int n = 0;
    double frac = 0;
    const char *p;

    memset(&tm, 0, sizeof tm);
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n == 0)
        return -EINVAL;
    p = iso + n;
    if (*p == '.') {
        double scale = 0.1;

        if (p[1] < '0' || p[1] > '9')
            return -EINVAL;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -EINVAL;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *seconds = (double)timegm(&tm) + frac;
    return 0;
}

/* --- the fit --- */

int tm_fit_line(const double *x, const double *y, size_t n, tm_fit *out)
{
    double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;

    memset(out, 0, sizeof *out);
    if (n < 2)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx == 0)
        return -EINVAL;
    out->slope = sxy / sxx;
    out->intercept = my - out->slope * mx;
    out->r2 = syy == 0 ? 0 : sxy * sxy / (sxx * syy);
    return 0;
}

size_t tm_trend_decreases(const double *y, size_t n)
{
    size_t d = 0;

    for (size_t i = 1; i < n; i++)
        d += y[i] < y[i - 1];
    return d;
}

int tm_trend_steady(const double *y, size_t n, const tm_fit *fit, uint64_t min_growth)
{
    double growth;

    if (n < 2)
        return 0;
    growth = y[n - 1] - y[0];
    return growth > 0 && growth >= (double)min_growth && fit->slope > 0 &&
           tm_trend_decreases(y, n) <= (n - 1) / 10 && fit->r2 >= TM_TREND_MIN_R2;
}

/* --- series --- */

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int tm_trend_same_process(tm_snapshot *const *snaps, size_t n, size_t *bad, tm_error *err)
{
    for (size_t i = 1; i < n; i++) {
        const tm_snapshot *a = snaps[0], *b = snaps[i];

        if (a->pid != b->pid || !same_str(a->exe, b->exe)) {
            *bad = i;
            return tm__error_set(err, -EINVAL,
                                 "not the same process as %s: pid %lld (%s) "
                                 "instead of pid %lld (%s)",
                                 a->file, (long long)b->pid, b->exe ? b->exe : "no exe", (long long)a->pid,
                                 a->exe ? a->exe : "no exe");
        }
    }
    return 0;
}

static int series_cmp(const void *pa, const void *pb)
{
    const tm_snapshot *a = *(tm_snapshot *const *)pa;
    const tm_snapshot *b = *(tm_snapshot *const *)pb;
    double ta = 0, tb = 0;

    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    if (a->time && b->time && !tm_time_parse(a->time, &ta) && !tm_time_parse(b->time, &tb) && ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(a->file, b->file);
}

/* "PATH\x1fOFFSET": a frame's identity within one process. */
static void frame_id(const tm_snapshot *snap, const tm_frame *f, char *buf, size_t len)
{
    const tm_module *m = tm_snapshot_frame_module(snap, f);

    snprintf(buf, len, "%s\x1f%llx", m ? m->path : "", (unsigned long long)f->offset);
}

/* Gives the raw frames of 'to' the symbols of the same frames in 'from'. */
static int copy_symbols(const tm_snapshot *from, tm_snapshot *to, tm_error *err)
{
    static const char *const keys[] = {"function", "file", "line", "inlined"};
    json_t *map = json_object(), *src = json_object_get(from->root, "frames");
    json_t *dst = json_object_get(to->root, "frames");
    char id[4200];
    int rc = 0, changed = 0;

    if (!map)
        return tm__error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < from->nframes && !rc; i++) {
        const tm_frame *f = &from->frames[i];

        if (!f->loc.function && !f->loc.file)
            continue;
        frame_id(from, f, id, sizeof id);
        if (json_object_set(map, id, json_array_get(src, i)))
            rc = -ENOMEM;
    }
    for (size_t i = 0; i < to->nframes && !rc; i++) {
        const tm_frame *f = &to->frames[i];
        json_t *sym, *fr = json_array_get(dst, i);

        if (f->loc.function || f->loc.file)
            continue;
        frame_id(to, f, id, sizeof id);
        if (!(sym = json_object_get(map, id)))
            continue;
        for (size_t k = 0; k < sizeof keys / sizeof *keys && !rc; k++) {
            json_t *v = json_object_get(sym, keys[k]);

            /* shared, not copied: the values are never edited */
            if (v && json_object_set(fr, keys[k], v))
                rc = -ENOMEM;
        }
        changed = 1;
    }
    json_decref(map);
    if (rc)
        return tm__error_set(err, rc, "out of memory");
    return changed ? tm_snapshot_reindex(to, err) : 0;
}

int tm_trend_symbolize(tm_snapshot *const *snaps, size_t n, FILE *warn, tm_error *err)
{
    size_t last = 0;
    int rc;

    if (n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (series_cmp(&snaps[i], &snaps[last]) > 0)
            last = i;
    if ((rc = tm_symbolize(snaps[last], 0, warn, err)))
        return rc;
    for (size_t i = 0; i < n; i++)
        if (i != last && (rc = copy_symbols(snaps[last], snaps[i], err)))
            return rc;
    return 0;
}

/* The times of the series in seconds since its first snapshot, all NAN
 * when one is missing or unreadable. */
static void series_seconds(tm_trend *t)
{
    double t0 = 0;

    for (size_t i = 0; i < t->nsnaps; i++) {
        const char *iso = t->snaps[i]->time;

        if (!iso || tm_time_parse(iso, &t->seconds[i])) {
            for (size_t k = 0; k < t->nsnaps; k++)
                t->seconds[k] = NAN;
            return;
        }
        if (i == 0)
            t0 = t->seconds[0];
        /* an epoch time in a double is good to about 0.2 us: round the
         * difference to what the snapshot times can say */
        t->seconds[i] = round((t->seconds[i] - t0) * 1e6) / 1e6;
    }
}

/* The entry of 'key' (new ones get zeroed sizes). NULL on ENOMEM. */
static tm_trend_stack *entry(tm_trend *t, json_t *index, const char *key, size_t *cap)
{
    json_t *pos = json_object_get(index, key);
    tm_trend_stack *s;

    if (pos)
        return &t->v[json_integer_value(pos)];
    if (t->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        tm_trend_stack *nv = realloc(t->v, ncap * sizeof *nv);

        if (!nv)
            return NULL;
        t->v = nv;
        *cap = ncap;
    }
    s = &t->v[t->n];
    memset(s, 0, sizeof *s);
    s->sizes = calloc(t->nsnaps, sizeof *s->sizes);
    s->key = strdup(key);
    if (!s->sizes || !s->key || json_object_set_new(index, key, json_integer((json_int_t)t->n))) {
        free(s->sizes);
        free(s->key);
        return NULL;
    }
    t->n++;
    return s;
}

static int gather(tm_trend *t)
{
    json_t *index = json_object();
    size_t cap = 0;
    int rc = 0;

    if (!index)
        return -ENOMEM;
    for (size_t i = 0; i < t->nsnaps && !rc; i++) {
        const tm_snapshot *snap = t->snaps[i];

        for (size_t k = 0; k < snap->ntraces && !rc; k++) {
            const tm_trace *tr = &snap->traces[k];

            if (tr->domain == TM_DOMAIN_MMAP)
                continue; /* the heap's trend */
            char *key = tm_stack_key(snap, &snap->stacks[tr->stack]);
            tm_trend_stack *s = key ? entry(t, index, key, &cap) : NULL;

            free(key);
            if (!s) {
                rc = -ENOMEM;
                break;
            }
            s->sizes[i] += tr->size;
            s->snap = i;
            s->stack = tr->stack;
        }
    }
    json_decref(index);
    return rc;
}

static void fit_stack(tm_trend *t, tm_trend_stack *s, double *x, double *y)
{
    tm_fit fit, fit_t;

    for (size_t i = 0; i < t->nsnaps; i++) {
        x[i] = (double)i;
        y[i] = (double)s->sizes[i];
    }
    s->growth = (int64_t)(s->sizes[t->nsnaps - 1] - s->sizes[0]);
    tm_fit_line(x, y, t->nsnaps, &fit);
    s->slope = fit.slope;
    s->r2 = fit.r2;
    s->decreases = tm_trend_decreases(y, t->nsnaps);
    s->steady = tm_trend_steady(y, t->nsnaps, &fit, t->min_growth);
    s->slope_per_second =
        !isnan(t->seconds[0]) && tm_fit_line(t->seconds, y, t->nsnaps, &fit_t) == 0 ? fit_t.slope : NAN;
}

static int stack_cmp(const void *pa, const void *pb)
{
    const tm_trend_stack *a = pa, *b = pb;

    if (a->steady != b->steady)
        return a->steady ? -1 : 1;
    if (a->growth != b->growth)
        return a->growth > b->growth ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* Fits every stack of 'out' (x and y: scratch of a point per sample), counts
 * the steady ones and sorts the stacks by stack_cmp. */
static void fit_all(tm_trend *out, double *x, double *y)
{
    for (size_t i = 0; i < out->n; i++) {
        fit_stack(out, &out->v[i], x, y);
        out->nsteady += out->v[i].steady;
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, stack_cmp);
}

int tm_trend_compute(tm_snapshot *const *snaps, size_t n, uint64_t min_growth, tm_trend *out, tm_error *err)
{
    double *x = NULL, *y = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (n < 2)
        return tm__error_set(err, -EINVAL,
                             "a trend needs at least two "
                             "snapshots");
    out->nsnaps = n;
    out->min_growth = min_growth;
    out->snaps = malloc(n * sizeof *out->snaps);
    out->seconds = malloc(n * sizeof *out->seconds);
    x = malloc(n * sizeof *x);
    y = malloc(n * sizeof *y);
    if (!out->snaps || !out->seconds || !x || !y) {
        rc = -ENOMEM;
        goto out_free;
    }
    memcpy(out->snaps, snaps, n * sizeof *snaps);
    qsort(out->snaps, n, sizeof *out->snaps, series_cmp);
    series_seconds(out);
    if ((rc = gather(out)))
        goto out_free;
    fit_all(out, x, y);
out_free:
    free(x);
    free(y);
    if (rc) {
        tm_trend_free(out);
        return tm__error_set(err, rc, "out of memory");
    }
    return 0;
}

void tm_trend_free(tm_trend *trend)
{
    if (!trend)
        return;
    for (size_t i = 0; i < trend->n; i++) {
        free(trend->v[i].key);
        free(trend->v[i].sizes);
    }
    free(trend->v);
    free(trend->snaps);
    free(trend->seconds);
    free(trend->current);
    memset(trend, 0, sizeof *trend);
}

/* --- one snapshot's timeline as a series --- */

int tm_trend_timeline(tm_snapshot *snap, const tm_timeline *tl, uint64_t min_growth, tm_trend *out, tm_error *err)
{
    size_t npts, *pts = NULL, *entry_of = NULL;
    uint64_t *live = NULL;
    double *x = NULL, *y = NULL;
    json_t *index = NULL;
    size_t cap = 0;
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (!tl->present || tl->nsamples < 2)
        return tm__error_set(err, -EINVAL, "a trend needs at least two snapshots, or one with a timeline of "
                                           "two samples or more");
    npts = tl->nsamples < TM_TREND_TIMELINE_POINTS ? tl->nsamples : TM_TREND_TIMELINE_POINTS;
    out->nsnaps = npts;
    out->min_growth = min_growth;
    out->snaps = malloc(npts * sizeof *out->snaps);
    out->seconds = malloc(npts * sizeof *out->seconds);
    out->current = malloc(npts * sizeof *out->current);
    pts = malloc(npts * sizeof *pts);
    live = calloc(snap->nstacks ? snap->nstacks : 1, sizeof *live);
    entry_of = calloc(snap->nstacks ? snap->nstacks : 1, sizeof *entry_of);
    x = malloc(npts * sizeof *x);
    y = malloc(npts * sizeof *y);
    index = json_object();
    if (!out->snaps || !out->seconds || !out->current || !pts || !live || !entry_of || !x || !y || !index) {
        rc = -ENOMEM;
        goto out_free;
    }
    for (size_t k = 0; k < npts; k++) {
        pts[k] = (size_t)(((double)k * (double)(tl->nsamples - 1)) / (double)(npts - 1) + 0.5);
        out->snaps[k] = snap;
        out->seconds[k] = (double)tl->samples[pts[k]].t_ns / 1e9;
        out->current[k] = tl->samples[pts[k]].heap;
    }
    /* stacks with the same traceback key are one entry (0: none yet) */
    for (size_t r = 0, k = 0; k < npts; k++) {
        for (; r < tl->nrows && tl->rows[r].sample <= pts[k]; r++) {
            size_t st = tl->rows[r].stack;

            live[st] = tl->rows[r].live;
            if (!entry_of[st]) {
                char *key = tm_stack_key(snap, &snap->stacks[st]);
                tm_trend_stack *e = key ? entry(out, index, key, &cap) : NULL;

                free(key);
                if (!e) {
                    rc = -ENOMEM;
                    goto out_free;
                }
                entry_of[st] = (size_t)(e - out->v) + 1;
                e->snap = 0;
                e->stack = st;
            }
        }
        for (size_t st = 0; st < snap->nstacks; st++)
            if (entry_of[st])
                out->v[entry_of[st] - 1].sizes[k] += live[st];
    }
    fit_all(out, x, y);
out_free:
    json_decref(index);
    free(pts);
    free(live);
    free(entry_of);
    free(x);
    free(y);
    if (rc) {
        tm_trend_free(out);
        return tm__error_set(err, rc, "out of memory");
    }
    return 0;
}
