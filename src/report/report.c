/* report.c - the data of tracemem report's page (see report.h); the page
 * itself is report_page.c.
 *
 * Paths are interned in one table shared by every process (the index of
 * each folded line with its locations kept in a JSON object used as a
 * hash: one path called from two lines is two entries), so the
 * page builds one tree per flame graph from small integer rows. The
 * snapshot's "timeline" is read from the parsed root and checked before
 * any of it is used: a malformed one is an error naming the snapshot, not
 * a page that draws nonsense.
 */
#include "config.h"

#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/flame.h"
#include "report/gc.h"
#include "report/stats.h"

#define MAX_SITES 500
#define MAX_LEAKS 200

static const char *const kind_names[TM_LEAK_NKINDS] = {"definite", "indirect", "possible", "reachable"};

typedef struct ctx {
    json_t *paths; /* array of folded lines */
    json_t *locs;  /* array, parallel */
    json_t *index; /* object: folded line -> its index */
    tm_error *err;
} ctx;

/* The index of the folded line of stack 'si' of 'snap', added when new;
 * -1 when out of memory. */
static json_int_t intern(ctx *c, const tm_snapshot *snap, size_t si)
{
    char *path, *locs, *key = NULL;
    json_t *have;
    json_int_t k = -1;

    if (tm_fold_stack_ex(snap, &snap->stacks[si], 0, &path, &locs))
        return -1;
    /* a path and its locations: the lines of a leak's stack are its own */
    if (asprintf(&key, "%s\n%s", path, locs) < 0) {
        key = NULL;
        goto out;
    }
    if ((have = json_object_get(c->index, key))) {
        k = json_integer_value(have);
    } else {
        k = (json_int_t)json_array_size(c->paths);
        if (json_array_append_new(c->paths, json_string(path)) ||
            json_array_append_new(c->locs, json_string(locs)) ||
            json_object_set_new(c->index, key, json_integer(k)))
            k = -1;
    }
out:
    free(key);
    free(path);
    free(locs);
    return k;
}

/* ISO 8601 UTC ("2026-01-01T00:00:00.25Z") -> ns since the epoch; -1 when
 * it is not one. */
static int64_t iso_ns(const char *s)
{
    struct tm tm = {0};
    double sec;
    int n = 0;

    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%lf%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &sec, &n) != 6 || sec < 0 || sec >= 61)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_sec = (int)sec;
    return (int64_t)timegm(&tm) * 1000000000 + (int64_t)llround((sec - floor(sec)) * 1e9);
}

/* --- the timeline --- */

static int is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Checks the snapshot's "timeline" (see HELPERS/tracemem-snapshot(5)) and
 * copies what the page uses into 'tl'. Returns 0, -EINVAL with 'err'
 * saying what is wrong, or -ENOMEM. */
static int timeline_from_snapshot(ctx *c, const tm_snapshot *snap, const json_t *t, json_t *tl)
{
    const json_t *samples = json_object_get(t, "samples"), *rows = json_object_get(t, "stacks"),
                 *events = json_object_get(t, "events");
    json_t *s_out = json_array(), *r_out = json_array(), *e_out = json_array(), *keys = json_array(),
           *keyof = json_object();
    size_t i, ns;
    json_int_t prev_t = -1, prev_s = 0;
    int rc = -ENOMEM;

    if (!s_out || !r_out || !e_out || !keys || !keyof)
        goto out;
    rc = -EINVAL;
    if (!json_is_object(t)) {
        tm__error_set(c->err, rc, "timeline: not an object");
        goto out;
    }
    if (!json_is_array(samples)) {
        tm__error_set(c->err, rc, "timeline: samples: not an array");
        goto out;
    }
    ns = json_array_size(samples);
    for (i = 0; i < ns; i++) {
        const json_t *row = json_array_get(samples, i);

        if (!json_is_array(row) || json_array_size(row) < 5) {
            tm__error_set(c->err, rc, "timeline: samples[%zu]: not an array of 5 numbers", i);
            goto out;
        }
        for (size_t k = 0; k < 5; k++)
            if (!is_count(json_array_get(row, k))) {
                tm__error_set(c->err, rc, "timeline: samples[%zu][%zu]: not a non-negative integer", i, k);
                goto out;
            }
        if (json_integer_value(json_array_get(row, 0)) <= prev_t) {
            tm__error_set(c->err, rc, "timeline: samples[%zu]: t_ns not after the previous sample's", i);
            goto out;
        }
        prev_t = json_integer_value(json_array_get(row, 0));
        if (json_array_append_new(s_out, json_pack("[IIIII]", prev_t, json_integer_value(json_array_get(row, 1)),
                                                   json_integer_value(json_array_get(row, 2)),
                                                   json_integer_value(json_array_get(row, 3)),
                                                   json_integer_value(json_array_get(row, 4))))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if (rows && !json_is_array(rows)) {
        tm__error_set(c->err, rc, "timeline: stacks: not an array");
        goto out;
    }
    for (i = 0; i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i);
        json_int_t si, st, key;
        char name[32];
        json_t *have;

        if (!json_is_array(row) || json_array_size(row) < 4) {
            tm__error_set(c->err, rc, "timeline: stacks[%zu]: not an array of 4 numbers", i);
            goto out;
        }
        for (size_t k = 0; k < 4; k++)
            if (!is_count(json_array_get(row, k))) {
                tm__error_set(c->err, rc, "timeline: stacks[%zu][%zu]: not a non-negative integer", i, k);
                goto out;
            }
        si = json_integer_value(json_array_get(row, 0));
        st = json_integer_value(json_array_get(row, 1));
        if ((size_t)si >= ns || si < prev_s) {
            tm__error_set(c->err, rc, "timeline: stacks[%zu]: sample %" JSON_INTEGER_FORMAT " %s", i, si,
                          (size_t)si >= ns ? "out of range" : "before the previous row's");
            goto out;
        }
        if ((uint64_t)st >= snap->nstacks) {
            tm__error_set(c->err, rc, "timeline: stacks[%zu]: stack %" JSON_INTEGER_FORMAT " out of range", i,
                          st);
            goto out;
        }
        prev_s = si;
        snprintf(name, sizeof name, "%" JSON_INTEGER_FORMAT, st);
        if ((have = json_object_get(keyof, name))) {
            key = json_integer_value(have);
        } else {
            json_int_t p = intern(c, snap, (size_t)st);

            key = (json_int_t)json_array_size(keys);
            if (p < 0 || json_array_append_new(keys, json_integer(p)) ||
                json_object_set_new(keyof, name, json_integer(key))) {
                rc = -ENOMEM;
                goto out;
            }
        }
        if (json_array_append_new(r_out, json_pack("[IIII]", si, key, json_integer_value(json_array_get(row, 2)),
                                                   json_integer_value(json_array_get(row, 3))))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if (events && !json_is_array(events)) {
        tm__error_set(c->err, rc, "timeline: events: not an array");
        goto out;
    }
    for (i = 0; i < json_array_size(events); i++) {
        const json_t *e = json_array_get(events, i);

        if (!json_is_array(e) || json_array_size(e) < 3 || !is_count(json_array_get(e, 0)) ||
            !json_is_string(json_array_get(e, 1)) || !json_is_string(json_array_get(e, 2))) {
            tm__error_set(c->err, rc, "timeline: events[%zu]: not [t_ns, \"kind\", \"label\"]", i);
            goto out;
        }
        if (json_array_append_new(e_out, json_pack("[IOO]", json_integer_value(json_array_get(e, 0)),
                                                   json_array_get(e, 1), json_array_get(e, 2)))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    rc = json_object_set_new(tl, "source", json_string("timeline")) ||
                 json_object_set(tl, "samples", s_out) || json_object_set(tl, "rows", r_out) ||
                 json_object_set(tl, "events", e_out) || json_object_set(tl, "keys", keys)
             ? -ENOMEM
             : 0;
out:
    json_decref(s_out);
    json_decref(r_out);
    json_decref(e_out);
    json_decref(keys);
    json_decref(keyof);
    return rc;
}

/* A timeline made of the process's snapshots 'v' (sorted by seq), one
 * sample at each one's time: heap and blocks from its memory section, rows
 * for the paths whose figures changed since the previous snapshot. */
static int timeline_from_snapshots(ctx *c, tm_snapshot *const *v, size_t n, json_t *tl)
{
    json_t *s_out = json_array(), *r_out = json_array(), *e_out = json_array(), *keys = json_array();
    uint64_t *last = NULL, *cur = NULL; /* live, allocated per path */
    size_t cap = 0;
    int64_t t0 = iso_ns(v[0]->time), prev = -1;
    int rc = -ENOMEM;

    if (!s_out || !r_out || !e_out || !keys)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const tm_snapshot *s = v[i];
        int64_t t = iso_ns(s->time) - t0;
        size_t np;
        char label[64];

        if (t0 < 0 || t <= prev) /* no time, or not after the previous: spaced 1 s apart */
            t = prev + 1000000000;
        prev = t;
        if (json_array_append_new(s_out, json_pack("[IIIII]", (json_int_t)t, (json_int_t)s->memory.current,
                                                   (json_int_t)0, (json_int_t)0, (json_int_t)s->memory.blocks)))
            goto out;
        snprintf(label, sizeof label, "seq %" PRId64 " (%s)", s->seq, s->reason ? s->reason : "?");
        if (json_array_append_new(e_out, json_pack("[Iss]", (json_int_t)t, "snapshot", label)))
            goto out;
        for (size_t k = 0; k < s->ntraces; k++) {
            const tm_trace *tr = &s->traces[k];
            json_int_t p;

            if (tr->domain == TM_DOMAIN_MMAP)
                continue;
            if ((p = intern(c, s, tr->stack)) < 0)
                goto out;
            if ((size_t)p >= cap) {
                size_t ncap = ((size_t)p + 1) * 2;
                uint64_t *nl = realloc(last, ncap * 2 * sizeof *nl), *nc;

                if (!nl)
                    goto out;
                last = nl;
                if (!(nc = realloc(cur, ncap * 2 * sizeof *nc)))
                    goto out;
                cur = nc;
                memset(last + 2 * cap, 0, (ncap - cap) * 2 * sizeof *last);
                memset(cur + 2 * cap, 0, (ncap - cap) * 2 * sizeof *cur);
                cap = ncap;
            }
            cur[2 * p] += tr->size;
            cur[2 * p + 1] += tr->allocated_size;
        }
        np = json_array_size(c->paths);
        for (size_t p = 0; p < np && p < cap; p++) {
            if (cur[2 * p] != last[2 * p] || cur[2 * p + 1] != last[2 * p + 1]) {
                if (json_array_append_new(r_out, json_pack("[IIII]", (json_int_t)i, (json_int_t)p,
                                                           (json_int_t)cur[2 * p], (json_int_t)cur[2 * p + 1])))
                    goto out;
            }
            last[2 * p] = cur[2 * p];
            last[2 * p + 1] = cur[2 * p + 1];
            cur[2 * p] = cur[2 * p + 1] = 0;
        }
    }
    /* keys are the paths themselves */
    for (size_t p = 0; p < json_array_size(c->paths); p++)
        if (json_array_append_new(keys, json_integer((json_int_t)p)))
            goto out;
    rc = json_object_set_new(tl, "source", json_string("snapshots")) ||
                 json_object_set(tl, "samples", s_out) || json_object_set(tl, "rows", r_out) ||
                 json_object_set(tl, "events", e_out) || json_object_set(tl, "keys", keys)
             ? -ENOMEM
             : 0;
out:
    free(last);
    free(cur);
    json_decref(s_out);
    json_decref(r_out);
    json_decref(e_out);
    json_decref(keys);
    return rc;
}

/* --- the last snapshot's figures --- */

static json_t *summary(tm_snapshot *const *v, size_t n)
{
    const tm_snapshot *s = v[n - 1];
    json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:b, s:s, s:s}", "pid", (json_int_t)s->pid, "exe",
                          s->exe ? s->exe : "?", "peak", (json_int_t)s->memory.peak, "current",
                          (json_int_t)s->memory.current, "blocks", (json_int_t)s->memory.blocks, "snapshots",
                          (json_int_t)n, "checked", s->leaks_checked, "time", s->time ? s->time : "", "reason",
                          s->reason ? s->reason : "");
    json_t *files = json_array(), *leaks = json_object();

    if (!o || !files || !leaks)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(files, json_string(v[i]->file ? v[i]->file : "-")))
            goto fail;
    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        if (json_object_set_new(leaks, kind_names[k],
                                json_pack("{s:I, s:I}", "bytes", (json_int_t)s->leak_summary[k].bytes, "blocks",
                                          (json_int_t)s->leak_summary[k].blocks)))
            goto fail;
    if (json_object_set_new(o, "files", files) || json_object_set_new(o, "leaks", leaks))
        goto fail_o;
    return o;
fail:
    json_decref(files);
    json_decref(leaks);
fail_o:
    json_decref(o);
    return NULL;
}

/* [path, bytes, blocks] of what is live at the end, summed per path */
static json_t *live(ctx *c, const tm_snapshot *s)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < s->ntraces; i++) {
        const tm_trace *t = &s->traces[i];
        json_int_t p;

        if (t->domain == TM_DOMAIN_MMAP || t->size == 0)
            continue;
        if ((p = intern(c, s, t->stack)) < 0 ||
            json_array_append_new(a, json_pack("[III]", p, (json_int_t)t->size, (json_int_t)t->count))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Sites by innermost logical frame: "function\tfile:line" -> [function,
 * loc, live, blocks, allocated, allocations, peak]. */
static int site_add(json_t *by, const tm_snapshot *s, const tm_trace *t, int peak)
{
    const tm_stack *st = &s->stacks[t->stack];
    char fn[512], loc[512], key[1100];
    json_t *row;

    if (st->nframes == 0) {
        snprintf(fn, sizeof fn, "[no frames]");
        loc[0] = '\0';
    } else {
        const tm_frame *f = tm_stack_frame(s, st, 0);

        tm_fold_name(s, f, -1, fn, sizeof fn);
        tm_fold_loc(f, -1, 0, loc, sizeof loc);
    }
    snprintf(key, sizeof key, "%s\t%s", fn, loc);
    if (!(row = json_object_get(by, key))) {
        if (!(row = json_pack("[ssIIIII]", fn, loc, (json_int_t)0, (json_int_t)0, (json_int_t)0, (json_int_t)0,
                              (json_int_t)0)) ||
            json_object_set_new(by, key, row))
            return -ENOMEM;
    }
#define BUMP(i, v) json_integer_set(json_array_get(row, i), json_integer_value(json_array_get(row, i)) + (json_int_t)(v))
    if (peak) {
        BUMP(6, t->size);
    } else {
        BUMP(2, t->size);
        BUMP(3, t->count);
        BUMP(4, t->allocated_size);
        BUMP(5, t->allocated_count);
    }
#undef BUMP
    return 0;
}

static int cmp_site(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t kx = json_integer_value(json_array_get(x, 2)) + json_integer_value(json_array_get(x, 4)),
               ky = json_integer_value(json_array_get(y, 2)) + json_integer_value(json_array_get(y, 4));

    return kx < ky ? 1 : kx > ky ? -1 : strcmp(json_string_value(json_array_get(x, 0)),
                                                json_string_value(json_array_get(y, 0)));
}

static json_t *sites(const tm_snapshot *s)
{
    json_t *by = json_object(), *a = json_array(), **v = NULL, *row;
    const char *key;
    size_t n = 0;
    int rc = 0;

    if (!by || !a)
        goto fail;
    for (size_t i = 0; i < s->ntraces && !rc; i++)
        if (s->traces[i].domain != TM_DOMAIN_MMAP)
            rc = site_add(by, s, &s->traces[i], 0);
    for (size_t i = 0; i < s->npeak_traces && !rc; i++)
        if (s->peak_traces[i].domain != TM_DOMAIN_MMAP)
            rc = site_add(by, s, &s->peak_traces[i], 1);
    if (rc || !(v = malloc((json_object_size(by) + 1) * sizeof *v)))
        goto fail;
    json_object_foreach(by, key, row) v[n++] = row;
    qsort(v, n, sizeof *v, cmp_site);
    for (size_t i = 0; i < n && i < MAX_SITES; i++)
        if (json_array_append(a, v[i]))
            goto fail;
    free(v);
    json_decref(by);
    return a;
fail:
    free(v);
    json_decref(by);
    json_decref(a);
    return NULL;
}

static int cmp_leak(const void *a, const void *b)
{
    const tm_leak_stack *x = a, *y = b;

    return x->kind != y->kind ? (int)x->kind - (int)y->kind : x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static json_t *leaks(ctx *c, const tm_snapshot *s)
{
    json_t *a = json_array();
    tm_leak_stack *v = NULL;

    if (!a || (s->nleak_stacks && !(v = malloc(s->nleak_stacks * sizeof *v))))
        goto fail;
    if (s->nleak_stacks) {
        memcpy(v, s->leak_stacks, s->nleak_stacks * sizeof *v);
        qsort(v, s->nleak_stacks, sizeof *v, cmp_leak);
    }
    for (size_t i = 0, per = 0; i < s->nleak_stacks; i++) {
        json_int_t p;

        per = i && v[i].kind == v[i - 1].kind ? per + 1 : 0;
        if (per >= MAX_LEAKS)
            continue;
        if ((p = intern(c, s, v[i].stack)) < 0 ||
            json_array_append_new(a, json_pack("[sIII]", kind_names[v[i].kind], (json_int_t)v[i].bytes,
                                               (json_int_t)v[i].blocks, p)))
            goto fail;
    }
    free(v);
    return a;
fail:
    free(v);
    json_decref(a);
    return NULL;
}

/* --- processes --- */

static int cmp_seq(const void *a, const void *b)
{
    const tm_snapshot *x = *(tm_snapshot *const *)a, *y = *(tm_snapshot *const *)b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The page's data for one process's snapshots 'v' (sorted by seq). */
static json_t *process(ctx *c, tm_snapshot *const *v, size_t n, long *bad_at)
{
    const tm_snapshot *s = v[n - 1];
    const json_t *t = json_object_get(s->root, "timeline");
    json_t *p = json_object(), *tl = json_object(), *gc = json_object_get(s->root, "gc");
    char why[256];
    int rc = 0;

    *bad_at = -1;
    if (!p || !tl)
        goto fail;
    if (t) {
        rc = timeline_from_snapshot(c, s, t, tl);
        if (rc == -EINVAL)
            *bad_at = (long)(n - 1);
    } else if (n > 1) {
        rc = timeline_from_snapshots(c, v, n, tl);
    }
    if (rc)
        goto fail;
    if (json_object_set_new(p, "summary", summary(v, n)) || json_object_set_new(p, "live", live(c, s)) ||
        json_object_set_new(p, "sites", sites(s)) || json_object_set_new(p, "leaks", leaks(c, s)))
        goto fail;
    if (json_object_size(tl) && json_object_set(p, "timeline", tl))
        goto fail;
    if (gc && tm_gc_validate(gc, why, sizeof why) == 0 && json_object_set(p, "gc", gc))
        goto fail;
    json_decref(tl);
    return p;
fail:
    if (!rc)
        tm__error_set(c->err, -ENOMEM, "out of memory");
    json_decref(tl);
    json_decref(p);
    return NULL;
}

json_t *tm_report_data(tm_snapshot *const *snaps, size_t n, const tm_report_opts *o, long *bad, tm_error *err)
{
    ctx c = {json_array(), json_array(), json_object(), err};
    json_t *data = json_object(), *procs = json_array();
    tm_snapshot **v = malloc((n ? n : 1) * sizeof *v);
    char *done = calloc(n ? n : 1, 1);

    *bad = -1;
    if (!c.paths || !c.locs || !c.index || !data || !procs || !v || !done) {
        tm__error_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    /* processes in the order their first snapshot was given */
    for (size_t i = 0; i < n; i++) {
        size_t m = 0;
        long at;
        json_t *p;

        if (done[i])
            continue;
        for (size_t j = i; j < n; j++)
            if (!done[j] && snaps[j]->pid == snaps[i]->pid) {
                done[j] = 1;
                v[m++] = snaps[j];
            }
        qsort(v, m, sizeof *v, cmp_seq);
        if (!(p = process(&c, v, m, &at))) {
            for (size_t j = 0; at >= 0 && j < n; j++)
                if (snaps[j] == v[at])
                    *bad = (long)j;
            goto fail;
        }
        if (json_array_append_new(procs, p)) {
            tm__error_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (json_object_set_new(data, "title", json_string(o && o->title ? o->title : "tracemem report")) ||
        json_object_set(data, "paths", c.paths) || json_object_set(data, "locs", c.locs) ||
        json_object_set(data, "procs", procs)) {
        tm__error_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    json_decref(procs);
    json_decref(c.paths);
    json_decref(c.locs);
    json_decref(c.index);
    free(v);
    free(done);
    return data;
fail:
    json_decref(procs);
    json_decref(data);
    json_decref(c.paths);
    json_decref(c.locs);
    json_decref(c.index);
    free(v);
    free(done);
    return NULL;
}
