/* timeline.c - loading and checking the snapshot's "timeline" key
 * (timeline.h). */
#include "config.h"

#include "report/timeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An array element that must be a non-negative integer. */
static int elem_u64(const json_t *arr, size_t i, const char *where, const char *name, uint64_t *out,
                    tm_error *err)
{
    const json_t *v = json_array_get(arr, i);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return tm__error_set(err, -EINVAL, "%s: %s is not a non-negative integer", where, name);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int tuple(const json_t *v, size_t n, const char *where, tm_error *err)
{
    if (!json_is_array(v) || json_array_size(v) != n)
        return tm__error_set(err, -EINVAL, "%s: not an array of %zu elements", where, n);
    return 0;
}

static int load_samples(const json_t *arr, tm_timeline *tl, tm_error *err)
{
    static const char *const names[] = {"t_ns", "heap", "rss", "mapped", "blocks"};
    char where[64];
    int rc;

    if (!json_is_array(arr))
        return tm__error_set(err, -EINVAL, "timeline.samples: missing or not an array");
    tl->nsamples = json_array_size(arr);
    if (tl->nsamples && !(tl->samples = calloc(tl->nsamples, sizeof *tl->samples)))
        return tm__error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < tl->nsamples; i++) {
        const json_t *e = json_array_get(arr, i);
        uint64_t v[5];

        snprintf(where, sizeof where, "timeline.samples[%zu]", i);
        if ((rc = tuple(e, 5, where, err)))
            return rc;
        for (size_t k = 0; k < 5; k++)
            if ((rc = elem_u64(e, k, where, names[k], &v[k], err)))
                return rc;
        if (i && v[0] <= tl->samples[i - 1].t_ns)
            return tm__error_set(err, -EINVAL, "%s: t_ns %llu is not after the previous sample's", where,
                                 (unsigned long long)v[0]);
        tl->samples[i] = (tm_timeline_sample){v[0], v[1], v[2], v[3], v[4]};
    }
    return 0;
}

static int load_rows(const json_t *arr, const tm_snapshot *snap, tm_timeline *tl, tm_error *err)
{
    static const char *const names[] = {"sample_index", "stack_index", "live_bytes", "allocated_bytes"};
    char where[64];
    int rc;

    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return tm__error_set(err, -EINVAL, "timeline.stacks: not an array");
    tl->nrows = json_array_size(arr);
    if (tl->nrows && !(tl->rows = calloc(tl->nrows, sizeof *tl->rows)))
        return tm__error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < tl->nrows; i++) {
        const json_t *e = json_array_get(arr, i);
        uint64_t v[4];

        snprintf(where, sizeof where, "timeline.stacks[%zu]", i);
        if ((rc = tuple(e, 4, where, err)))
            return rc;
        for (size_t k = 0; k < 4; k++)
            if ((rc = elem_u64(e, k, where, names[k], &v[k], err)))
                return rc;
        if (v[0] >= tl->nsamples)
            return tm__error_set(err, -EINVAL, "%s: sample_index %llu out of range (%zu samples)", where,
                                 (unsigned long long)v[0], tl->nsamples);
        if (i && v[0] < tl->rows[i - 1].sample)
            return tm__error_set(err, -EINVAL, "%s: rows are not in sample order", where);
        if (v[1] >= snap->nstacks)
            return tm__error_set(err, -EINVAL, "%s: stack_index %llu out of range (%zu stacks)", where,
                                 (unsigned long long)v[1], snap->nstacks);
        tl->rows[i] = (tm_timeline_row){(size_t)v[0], (size_t)v[1], v[2], v[3]};
    }
    return 0;
}

static int load_events(const json_t *arr, tm_timeline *tl, tm_error *err)
{
    char where[64];
    int rc;

    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return tm__error_set(err, -EINVAL, "timeline.events: not an array");
    tl->nevents = json_array_size(arr);
    if (tl->nevents && !(tl->events = calloc(tl->nevents, sizeof *tl->events)))
        return tm__error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < tl->nevents; i++) {
        const json_t *e = json_array_get(arr, i);
        tm_timeline_event *ev = &tl->events[i];

        snprintf(where, sizeof where, "timeline.events[%zu]", i);
        if ((rc = tuple(e, 3, where, err)) || (rc = elem_u64(e, 0, where, "t_ns", &ev->t_ns, err)))
            return rc;
        if (!json_is_string(json_array_get(e, 1)) || !json_is_string(json_array_get(e, 2)))
            return tm__error_set(err, -EINVAL, "%s: kind and label are not strings", where);
        ev->kind = json_string_value(json_array_get(e, 1));
        ev->label = json_string_value(json_array_get(e, 2));
    }
    return 0;
}

int tm_timeline_load(const tm_snapshot *snap, tm_timeline *out, tm_error *err)
{
    const json_t *t = json_object_get(snap->root, "timeline");
    const json_t *res, *start;
    int rc;

    memset(out, 0, sizeof *out);
    if (!t)
        return 0;
    if (!json_is_object(t))
        return tm__error_set(err, -EINVAL, "timeline: not an object");
    res = json_object_get(t, "resolution_ns");
    start = json_object_get(t, "start_ns");
    if (!json_is_integer(res) || json_integer_value(res) <= 0)
        return tm__error_set(err, -EINVAL, "timeline.resolution_ns: missing or not a positive integer");
    if (!json_is_integer(start))
        return tm__error_set(err, -EINVAL, "timeline.start_ns: missing or not an integer");
    out->present = 1;
    out->resolution_ns = (uint64_t)json_integer_value(res);
    out->start_ns = json_integer_value(start);
    if ((rc = load_samples(json_object_get(t, "samples"), out, err)) ||
        (rc = load_rows(json_object_get(t, "stacks"), snap, out, err)) ||
        (rc = load_events(json_object_get(t, "events"), out, err))) {
        tm_timeline_free(out);
        return rc;
    }
    return 0;
}

int tm_timeline_check(const tm_snapshot *snap, tm_error *err)
{
    tm_timeline tl;
    int rc = tm_timeline_load(snap, &tl, err);

    tm_timeline_free(&tl);
    return rc;
}

void tm_timeline_free(tm_timeline *tl)
{
    if (!tl)
        return;
    free(tl->samples);
    free(tl->rows);
    free(tl->events);
    memset(tl, 0, sizeof *tl);
}

void tm_timeline_live_at(const tm_timeline *tl, size_t sample, uint64_t *live, size_t nstacks)
{
    memset(live, 0, nstacks * sizeof *live);
    for (size_t i = 0; i < tl->nrows && tl->rows[i].sample <= sample; i++)
        if (tl->rows[i].stack < nstacks)
            live[tl->rows[i].stack] = tl->rows[i].live;
}
