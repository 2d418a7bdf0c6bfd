/* trend.c - growth per stack over a series of snapshots (see trend.h).
 *
 * Stacks are gathered through a hash table of their traceback keys, kept
 * as integers ("stacks as integers" below), so a stack met in several
 * snapshots (or in several traces of one snapshot: other domains) has one
 * entry whose sizes[i] sums what snapshot i holds for it.
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
    /* only the frames changed: the stacks and traces stand */
    return changed ? tm__snapshot_reload_frames(to, err) : 0;
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

/* --- stacks as integers ---
 *
 * Two stacks are one entry when their traceback keys (tm_stack_key(): the
 * lineno key of every logical frame, innermost first, joined by newlines)
 * are equal. Building that string for every stack of every snapshot cost
 * more than loading them (5 s and 438 MB for two 35 MB snapshots), so the
 * keys are never built: each distinct line is interned once (an id), each
 * frame of each snapshot gets the ids of its lines, and a stack is the
 * sequence of its frames' ids - equal sequences, equal keys (a line holds
 * no newline). Entries are found through a hash table of those sequences;
 * the sort compares them as the strings would compare (cmp_keys). Only the
 * steady stacks, which are printed, get their key string.
 */

typedef struct frame_lines {
    uint32_t *start; /* frame f's line ids: ids[start[f]] .. ids[start[f + 1]] */
    uint32_t *ids;
} frame_lines;

typedef struct keyer {
    const tm_snapshot *const *snaps;
    size_t nsnaps;
    frame_lines *fl; /* one per snapshot */
    /* the interned lines: text, and an open-addressing table of ids + 1 */
    char **lines;
    size_t nlines, lines_cap;
    uint32_t *line_slots;
    size_t line_mask;
    /* entries: id + 1 per slot, and each entry's hash */
    size_t *slots;
    size_t mask;
    uint64_t *hashes;
    size_t hashes_cap;
} keyer;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static int grow_lines(keyer *k)
{
    size_t ncap = k->line_mask ? 2 * (k->line_mask + 1) : 4096;
    uint32_t *ns = calloc(ncap, sizeof *ns);

    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < k->nlines; i++) {
        size_t j = hash_bytes(k->lines[i], strlen(k->lines[i])) & (ncap - 1);

        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = (uint32_t)i + 1;
    }
    free(k->line_slots);
    k->line_slots = ns;
    k->line_mask = ncap - 1;
    return 0;
}

/* The id of line 'text' (interned when new), or -1 on ENOMEM. */
static int64_t intern_line(keyer *k, const char *text)
{
    size_t n = strlen(text), j;
    uint64_t h = hash_bytes(text, n);

    if ((k->nlines + 1) * 2 > k->line_mask + 1 && grow_lines(k))
        return -1;
    for (j = h & k->line_mask; k->line_slots[j]; j = (j + 1) & k->line_mask)
        if (strcmp(k->lines[k->line_slots[j] - 1], text) == 0)
            return k->line_slots[j] - 1;
    if (k->nlines == k->lines_cap) {
        size_t ncap = k->lines_cap ? 2 * k->lines_cap : 1024;
        char **nl = realloc(k->lines, ncap * sizeof *nl);

        if (!nl)
            return -1;
        k->lines = nl;
        k->lines_cap = ncap;
    }
    if (!(k->lines[k->nlines] = strdup(text)))
        return -1;
    k->line_slots[j] = (uint32_t)++k->nlines;
    return (int64_t)k->nlines - 1;
}

/* The line ids of every frame of snapshot 'i'. */
static int frame_lines_of(keyer *k, size_t i)
{
    const tm_snapshot *snap = k->snaps[i];
    frame_lines *fl = &k->fl[i];
    size_t nids = 0;
    char buf[TM_KEY_MAX];

    for (size_t f = 0; f < snap->nframes; f++)
        nids += tm_frame_nlocs(&snap->frames[f]);
    if (!(fl->start = malloc((snap->nframes + 1) * sizeof *fl->start)) ||
        !(fl->ids = malloc((nids ? nids : 1) * sizeof *fl->ids)))
        return -ENOMEM;
    nids = 0;
    for (size_t f = 0; f < snap->nframes; f++) {
        const tm_frame *fr = &snap->frames[f];

        fl->start[f] = (uint32_t)nids;
        for (int l = -1; l < (int)fr->ninlined; l++) {
            int64_t id = intern_line(k, tm_location_key(snap, fr, l, TM_BY_LINENO, buf, sizeof buf));

            if (id < 0)
                return -ENOMEM;
            fl->ids[nids++] = (uint32_t)id;
        }
    }
    fl->start[snap->nframes] = (uint32_t)nids;
    return 0;
}

static int keyer_init(keyer *k, const tm_snapshot *const *snaps, size_t n)
{
    memset(k, 0, sizeof *k);
    k->snaps = snaps;
    k->nsnaps = n;
    if (!(k->fl = calloc(n, sizeof *k->fl)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* the same snapshot twice in a series shares its ids */
        size_t same = 0;

        while (same < i && snaps[same] != snaps[i])
            same++;
        if (same < i)
            continue;
        if (frame_lines_of(k, i))
            return -ENOMEM;
    }
    return 0;
}

static const frame_lines *lines_of(const keyer *k, size_t i)
{
    size_t same = 0;

    if (k->fl[i].start)
        return &k->fl[i];
    while (k->snaps[same] != k->snaps[i])
        same++;
    return &k->fl[same];
}

static void keyer_free(keyer *k)
{
    for (size_t i = 0; k->fl && i < k->nsnaps; i++) {
        free(k->fl[i].start);
        free(k->fl[i].ids);
    }
    free(k->fl);
    for (size_t i = 0; i < k->nlines; i++)
        free(k->lines[i]);
    free(k->lines);
    free(k->line_slots);
    free(k->slots);
    free(k->hashes);
    memset(k, 0, sizeof *k);
}

/* Walks the line ids of stack 'stack' of snapshot 'snap' (series index). */
typedef struct line_iter {
    const frame_lines *fl;
    const tm_stack *st;
    size_t frame; /* position in st->frames */
    uint32_t at, end;
} line_iter;

static void iter_init(line_iter *it, const keyer *k, size_t snap, size_t stack)
{
    it->fl = lines_of(k, snap);
    it->st = &k->snaps[snap]->stacks[stack];
    it->frame = 0;
    it->at = it->end = 0;
}

/* The next line id, or -1 at the end. */
static int64_t iter_next(line_iter *it)
{
    while (it->at == it->end) {
        if (it->frame == it->st->nframes)
            return -1;
        uint32_t f = it->st->frames[it->frame++];

        it->at = it->fl->start[f];
        it->end = it->fl->start[f + 1];
    }
    return it->fl->ids[it->at++];
}

static int iter_more(const line_iter *it)
{
    if (it->at < it->end)
        return 1;
    for (size_t i = it->frame; i < it->st->nframes; i++)
        if (it->fl->start[it->st->frames[i]] < it->fl->start[it->st->frames[i] + 1])
            return 1;
    return 0;
}

static uint64_t stack_hash(const keyer *k, size_t snap, size_t stack)
{
    line_iter it;
    uint64_t h = 0x51ed270b27e5f1a3ull;
    int64_t id;

    iter_init(&it, k, snap, stack);
    while ((id = iter_next(&it)) >= 0)
        h = mix(h, (uint64_t)id);
    return h;
}

static int same_key(const keyer *k, size_t sa, size_t a, size_t sb, size_t b)
{
    line_iter ia, ib;
    int64_t x, y;

    iter_init(&ia, k, sa, a);
    iter_init(&ib, k, sb, b);
    do {
        x = iter_next(&ia);
        y = iter_next(&ib);
        if (x != y)
            return 0;
    } while (x >= 0);
    return 1;
}

/* strcmp() of the two stacks' key strings, from their line ids: the first
 * lines that differ decide, and where one of them is a prefix of the
 * other, the character after it in the joined key ('\n' before a next
 * line, the end of the key after the last one). "[no frames]", the key of
 * a stack without frames, is compared as that string. */
static int cmp_keys(const keyer *k, size_t sa, size_t a, size_t sb, size_t b)
{
    static const char none[] = "[no frames]";
    line_iter ia, ib;
    int64_t x, y;

    iter_init(&ia, k, sa, a);
    iter_init(&ib, k, sb, b);
    x = iter_next(&ia);
    y = iter_next(&ib);
    if (x < 0 || y < 0) { /* a stack without lines: "[no frames]" */
        const char *pa = x < 0 ? none : k->lines[x], *pb = y < 0 ? none : k->lines[y];
        int c = strcmp(pa, pb);

        if (c || (x < 0 && y < 0))
            return c ? c : 0;
        /* "[no frames]" equals a first line: the longer key is greater */
        return x < 0 ? -1 : 1;
    }
    for (;;) {
        if (x != y) {
            const unsigned char *pa = (const unsigned char *)k->lines[x];
            const unsigned char *pb = (const unsigned char *)k->lines[y];
            size_t i = 0;

            while (pa[i] && pa[i] == pb[i])
                i++;
            unsigned ca = pa[i] ? pa[i] : iter_more(&ia) ? '\n' : 0;
            unsigned cb = pb[i] ? pb[i] : iter_more(&ib) ? '\n' : 0;

            return ca < cb ? -1 : ca > cb ? 1 : 0;
        }
        x = iter_next(&ia);
        y = iter_next(&ib);
        if (x < 0 || y < 0)
            return x < 0 && y < 0 ? 0 : x < 0 ? -1 : 1;
    }
}

static int grow_slots(keyer *k, const tm_trend *t)
{
    size_t ncap = k->mask ? 2 * (k->mask + 1) : 1024;
    size_t *ns = calloc(ncap, sizeof *ns);

    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = k->hashes[i] & (ncap - 1);

        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = i + 1;
    }
    free(k->slots);
    k->slots = ns;
    k->mask = ncap - 1;
    return 0;
}

/* The entry of stack 'stack' of snapshot 'snap' (series index); a new one
 * gets zeroed sizes and that stack. NULL on ENOMEM. */
static tm_trend_stack *entry(tm_trend *t, keyer *k, size_t snap, size_t stack, size_t *cap)
{
    uint64_t h = stack_hash(k, snap, stack);
    tm_trend_stack *s;
    size_t j;

    if ((t->n + 1) * 2 > k->mask + 1 && grow_slots(k, t))
        return NULL;
    for (j = h & k->mask; k->slots[j]; j = (j + 1) & k->mask) {
        s = &t->v[k->slots[j] - 1];
        if (k->hashes[k->slots[j] - 1] == h && same_key(k, s->snap, s->stack, snap, stack))
            return s;
    }
    if (t->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        tm_trend_stack *nv = realloc(t->v, ncap * sizeof *nv);
        uint64_t *nh = realloc(k->hashes, ncap * sizeof *nh);

        if (nv)
            t->v = nv;
        if (nh)
            k->hashes = nh;
        if (!nv || !nh)
            return NULL;
        *cap = ncap;
    }
    s = &t->v[t->n];
    memset(s, 0, sizeof *s);
    if (!(s->sizes = calloc(t->nsnaps, sizeof *s->sizes)))
        return NULL;
    s->snap = snap;
    s->stack = stack;
    k->hashes[t->n] = h;
    k->slots[j] = ++t->n;
    return s;
}

static int gather(tm_trend *t, keyer *k)
{
    size_t cap = 0, *memo = NULL;
    int rc = 0;

    for (size_t i = 0; i < t->nsnaps && !rc; i++) {
        const tm_snapshot *snap = t->snaps[i];

        /* stack -> entry + 1 within this snapshot (a stack in several
         * domains is looked up once) */
        free(memo);
        if (!(memo = calloc(snap->nstacks ? snap->nstacks : 1, sizeof *memo))) {
            rc = -ENOMEM;
            break;
        }
        for (size_t j = 0; j < snap->ntraces; j++) {
            const tm_trace *tr = &snap->traces[j];
            tm_trend_stack *s;

            if (tr->domain == TM_DOMAIN_MMAP)
                continue; /* the heap's trend */
            if (memo[tr->stack])
                s = &t->v[memo[tr->stack] - 1];
            else if (!(s = entry(t, k, i, tr->stack, &cap))) {
                rc = -ENOMEM;
                break;
            } else
                memo[tr->stack] = (size_t)(s - t->v) + 1;
            s->sizes[i] += tr->size;
            s->snap = i;
            s->stack = tr->stack;
        }
    }
    free(memo);
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

static int stack_cmp(const void *pa, const void *pb, void *arg)
{
    const tm_trend_stack *a = pa, *b = pb;

    if (a->steady != b->steady)
        return a->steady ? -1 : 1;
    if (a->growth != b->growth)
        return a->growth > b->growth ? -1 : 1;
    return cmp_keys(arg, a->snap, a->stack, b->snap, b->stack);
}

/* Fits every stack of 'out' (x and y: scratch of a point per sample), counts
 * the steady ones, sorts the stacks by stack_cmp and gives the steady ones
 * their key. 0 or -ENOMEM. */
static int fit_all(tm_trend *out, keyer *k, double *x, double *y)
{
    for (size_t i = 0; i < out->n; i++) {
        fit_stack(out, &out->v[i], x, y);
        out->nsteady += out->v[i].steady;
    }
    if (out->n)
        qsort_r(out->v, out->n, sizeof *out->v, stack_cmp, k);
    for (size_t i = 0; i < out->nsteady; i++) {
        const tm_snapshot *s = out->snaps[out->v[i].snap];

        if (!(out->v[i].key = tm_stack_key(s, &s->stacks[out->v[i].stack])))
            return -ENOMEM;
    }
    return 0;
}

int tm_trend_compute(tm_snapshot *const *snaps, size_t n, uint64_t min_growth, tm_trend *out, tm_error *err)
{
    double *x = NULL, *y = NULL;
    keyer k = {0};
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
    if ((rc = keyer_init(&k, (const tm_snapshot *const *)out->snaps, n)) || (rc = gather(out, &k)))
        goto out_free;
    rc = fit_all(out, &k, x, y);
out_free:
    keyer_free(&k);
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
    keyer keys = {0};
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
    if (!out->snaps || !out->seconds || !out->current || !pts || !live || !entry_of || !x || !y ||
        keyer_init(&keys, (const tm_snapshot *const *)&snap, 1)) {
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
                tm_trend_stack *e = entry(out, &keys, 0, st, &cap);

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
    rc = fit_all(out, &keys, x, y);
out_free:
    keyer_free(&keys);
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
