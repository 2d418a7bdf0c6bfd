/* export.c - speedscope and pprof output of a snapshot (see export.h).
 *
 * Both formats share their strings and frames between samples through
 * tables; a jansson object serves as the string -> index map of each
 * table (jansson hashes its keys), and the table itself only borrows the
 * snapshot's strings, which live as long as the snapshot's root.
 */
#include "config.h"

#include "report/export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "report/protobuf.h"
#include "report/stats.h"
#include "report/trend.h"

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

int tm_export_format_parse(const char *name)
{
    static const char *const names[] = {"folded", "speedscope", "pprof"};

    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return -1;
}

/* The index of 'key' in 'map', adding it as 'next' when new; -1 on ENOMEM. */
static json_int_t intern(json_t *map, const char *key, json_int_t next)
{
    json_t *v = json_object_get(map, key);

    if (v)
        return json_integer_value(v);
    if (json_object_set_new(map, key, json_integer(next)))
        return -1;
    return next;
}

/* --- speedscope --- */

/* The index of the speedscope frame for logical frame 'loc' of 'f' in
 * 'frames' (a JSON array), interned through 'map'; -1 on ENOMEM. */
static json_int_t speedscope_frame(const tm_snapshot *snap, const tm_frame *f, int loc, json_t *frames,
                                   json_t *map)
{
    const tm_location *l = tm_frame_loc(f, loc);
    char name[1024], key[2048];
    json_int_t i, n = (json_int_t)json_array_size(frames);
    json_t *fr;

    tm_fold_name(snap, f, loc, name, sizeof name);
    snprintf(key, sizeof key, "%s\x1f%s\x1f%" PRId64, name, l->file ? l->file : "", l->line);
    if ((i = intern(map, key, n)) != n)
        return i;
    fr = json_pack("{s:s}", "name", name);
    if (fr && l->file)
        json_object_set_new(fr, "file", json_string(l->file));
    if (fr && l->file && l->line > 0)
        json_object_set_new(fr, "line", json_integer(l->line));
    if (!fr || json_array_append_new(frames, fr))
        return -1;
    return n;
}

/* The sample of 'stack': frame indexes, outermost first. */
static json_t *speedscope_sample(const tm_snapshot *snap, const tm_stack *stack, json_t *frames, json_t *map)
{
    json_t *s = json_array();

    if (s && stack->nframes == 0) {
        /* like folding: a stack without frames still has a name */
        json_int_t k = intern(map, "[no frames]", (json_int_t)json_array_size(frames));

        if (k < 0 ||
            ((size_t)k == json_array_size(frames) &&
             json_array_append_new(frames, json_pack("{s:s}", "name", "[no frames]"))) ||
            json_array_append_new(s, json_integer(k))) {
            json_decref(s);
            return NULL;
        }
    }
    for (size_t i = stack->nframes; s && i-- > 0;) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = (int)f->ninlined - 1; l >= -1; l--) {
            json_int_t k = speedscope_frame(snap, f, l, frames, map);

            if (k < 0 || json_array_append_new(s, json_integer(k))) {
                json_decref(s);
                return NULL;
            }
        }
    }
    return s;
}

json_t *tm_export_speedscope(const tm_snapshot *snap, tm_metric metric, unsigned kinds, tm_error *err)
{
    json_t *doc = NULL, *frames = json_array(), *map = json_object();
    json_t *samples = json_array(), *weights = json_array();
    uint64_t total = 0;
    tm_weight *w = NULL;
    size_t nw = 0;
    char name[1024];

    if (tm_metric_weights(snap, metric, kinds, &w, &nw, err))
        goto out;
    if (!frames || !map || !samples || !weights)
        goto out_nomem;
    for (size_t i = 0; i < nw; i++) {
        json_t *s = speedscope_sample(snap, &snap->stacks[w[i].stack], frames, map);

        if (!s || json_array_append_new(samples, s) ||
            json_array_append_new(weights, json_integer((json_int_t)w[i].value)))
            goto out_nomem;
        total += w[i].value;
    }
    snprintf(name, sizeof name, "%s (pid %" PRId64 ") %s %s", snap->exe ? snap->exe : snap->file,
             snap->pid, tm_metric_name(metric), metric == TM_METRIC_TEMPORARY ? "allocations" : "bytes");
    doc = json_pack("{s:s, s:{s:O}, s:[{s:s, s:s, s:s, s:i, s:I, s:O, s:O}],"
                    " s:s, s:i, s:s}",
                    "$schema", SPEEDSCOPE_SCHEMA, "shared", "frames", frames, "profiles", "type", "sampled",
                    "name", name, "unit", metric == TM_METRIC_TEMPORARY ? "none" : "bytes", "startValue", 0, "endValue", (json_int_t)total, "samples",
                    samples, "weights", weights, "name", name, "activeProfileIndex", 0, "exporter",
                    "tracemem " PACKAGE_VERSION);
    if (!doc)
        goto out_nomem;
    goto out;
out_nomem:
    tm__error_set(err, -ENOMEM, "out of memory");
out:
    free(w);
    json_decref(frames);
    json_decref(map);
    json_decref(samples);
    json_decref(weights);
    return doc;
}

/* --- pprof --- */

/* profile.proto field numbers */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE,
    PROFILE_MAPPING,
    PROFILE_LOCATION,
    PROFILE_FUNCTION,
    PROFILE_STRING_TABLE,
    PROFILE_TIME_NANOS = 9,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD,
    PROFILE_COMMENT,
    PROFILE_DEFAULT_SAMPLE_TYPE,
};

typedef struct pprof {
    const tm_snapshot *snap;
    tm_pb out, msg, sub, scratch;
    json_t *strmap, *funcmap;
    const char **strings; /* borrowed, in string table order */
    size_t nstrings, capstrings;
    uint64_t nfunctions;
    int nomem;
} pprof;

/* The string table index of 's'. */
static int64_t str(pprof *p, const char *s)
{
    json_int_t i = intern(p->strmap, s, (json_int_t)p->nstrings);

    if (i < 0) {
        p->nomem = 1;
        return 0;
    }
    if ((size_t)i == p->nstrings) {
        if (p->nstrings == p->capstrings) {
            size_t ncap = p->capstrings ? 2 * p->capstrings : 256;
            const char **nv = realloc(p->strings, ncap * sizeof *nv);

            if (!nv) {
                p->nomem = 1;
                return 0;
            }
            p->strings = nv;
            p->capstrings = ncap;
        }
        p->strings[p->nstrings++] = s;
    }
    return i;
}

static void value_type(pprof *p, unsigned field, const char *type, const char *unit)
{
    tm__pb_reset(&p->sub);
    tm__pb_int(&p->sub, 1, str(p, type));
    tm__pb_int(&p->sub, 2, str(p, unit));
    tm__pb_message(&p->out, field, &p->sub);
}

/* The id of the function named 'name' in 'file' (may be NULL), writing
 * its Function message the first time. */
static uint64_t function_id(pprof *p, const char *name, const char *file)
{
    char key[2048];
    json_int_t id;

    snprintf(key, sizeof key, "%s\x1f%s", name, file ? file : "");
    id = intern(p->funcmap, key, (json_int_t)p->nfunctions + 1);
    if (id < 0) {
        p->nomem = 1;
        return 0;
    }
    if ((uint64_t)id == p->nfunctions + 1) {
        p->nfunctions++;
        tm__pb_reset(&p->sub);
        tm__pb_uint(&p->sub, 1, (uint64_t)id);
        tm__pb_int(&p->sub, 2, str(p, name));
        tm__pb_int(&p->sub, 3, str(p, name));
        tm__pb_int(&p->sub, 4, str(p, file ? file : ""));
        tm__pb_message(&p->out, PROFILE_FUNCTION, &p->sub);
    }
    return (uint64_t)id;
}

/* The snapshot has the load bias and the span of the segments, not the
 * lowest segment address: a mapping starts at the bias and ends past both
 * the span and the highest frame, so that the addresses of a non-PIE
 * executable (bias 0, code at 0x400000) stay inside their mapping. */
static uint64_t mapping_end(const tm_snapshot *snap, size_t module)
{
    const tm_module *m = &snap->modules[module];
    uint64_t end = m->base + m->size;

    for (size_t i = 0; i < snap->nframes; i++) {
        const tm_frame *f = &snap->frames[i];

        if (f->module == (int64_t)module && m->base + f->offset >= end)
            end = m->base + f->offset + 1;
    }
    return end;
}

static void mappings(pprof *p)
{
    for (size_t i = 0; i < p->snap->nmodules; i++) {
        const tm_module *m = &p->snap->modules[i];
        int sym = p->snap->symbolized;

        tm__pb_reset(&p->msg);
        tm__pb_uint(&p->msg, 1, i + 1);
        tm__pb_uint(&p->msg, 2, m->base);
        tm__pb_uint(&p->msg, 3, mapping_end(p->snap, i));
        tm__pb_uint(&p->msg, 4, 0);
        tm__pb_int(&p->msg, 5, str(p, m->path));
        tm__pb_int(&p->msg, 6, str(p, m->build_id));
        tm__pb_uint(&p->msg, 7, sym);
        tm__pb_uint(&p->msg, 8, sym);
        tm__pb_uint(&p->msg, 9, sym);
        tm__pb_uint(&p->msg, 10, sym);
        tm__pb_message(&p->out, PROFILE_MAPPING, &p->msg);
    }
}

/* One Location per frame, id = frame index + 1. Functions are written as
 * they are first met, so the Function messages are interleaved with the
 * Location ones: repeated fields need not be contiguous. */
static void locations(pprof *p)
{
    for (size_t i = 0; i < p->snap->nframes; i++) {
        const tm_frame *f = &p->snap->frames[i];
        const tm_module *m = tm_snapshot_frame_module(p->snap, f);
        tm_pb line = {0};

        tm__pb_reset(&p->msg);
        tm__pb_uint(&p->msg, 1, i + 1);
        tm__pb_uint(&p->msg, 2, m ? (uint64_t)f->module + 1 : 0);
        tm__pb_uint(&p->msg, 3, m ? m->base + f->offset : f->offset);
        for (int l = -1; l < (int)f->ninlined; l++) {
            const tm_location *loc = tm_frame_loc(f, l);
            uint64_t fid;

            if (!loc->function)
                continue;
            fid = function_id(p, loc->function, loc->file);
            tm__pb_reset(&line);
            tm__pb_uint(&line, 1, fid);
            tm__pb_int(&line, 2, loc->line);
            tm__pb_message(&p->msg, 4, &line);
        }
        tm__pb_free(&line);
        tm__pb_message(&p->out, PROFILE_LOCATION, &p->msg);
    }
}

static void samples(pprof *p)
{
    uint64_t *ids = NULL;
    size_t cap = 0;

    for (size_t i = 0; i < p->snap->ntraces; i++) {
        const tm_trace *t = &p->snap->traces[i];
        const tm_stack *st = &p->snap->stacks[t->stack];
        int64_t v[4] = {(int64_t)t->size, (int64_t)t->count, (int64_t)t->allocated_size,
                        (int64_t)t->allocated_count};

        if ((!v[0] && !v[1] && !v[2] && !v[3]) || t->domain == TM_DOMAIN_MMAP)
            continue; /* mapped memory is not heap memory: tracemem rss */
        if (st->nframes > cap) {
            uint64_t *n = realloc(ids, st->nframes * sizeof *n);

            if (!n) {
                p->nomem = 1;
                break;
            }
            ids = n;
            cap = st->nframes;
        }
        for (size_t k = 0; k < st->nframes; k++)
            ids[k] = st->frames[k] + 1;
        tm__pb_reset(&p->msg);
        tm__pb_packed_uint(&p->msg, 1, ids, st->nframes, &p->scratch);
        tm__pb_packed_int(&p->msg, 2, v, 4, &p->scratch);
        if (t->domain) {
            tm__pb_reset(&p->sub);
            tm__pb_int(&p->sub, 1, str(p, "domain"));
            tm__pb_int(&p->sub, 3, (int64_t)t->domain);
            tm__pb_message(&p->msg, 3, &p->sub);
        }
        tm__pb_message(&p->out, PROFILE_SAMPLE, &p->msg);
    }
    free(ids);
}

static void header(pprof *p)
{
    const tm_snapshot *s = p->snap;
    double t;

    str(p, ""); /* string_table[0] must be "" */
    value_type(p, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
    value_type(p, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    value_type(p, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    value_type(p, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    value_type(p, PROFILE_PERIOD_TYPE, "space", "bytes");
    tm__pb_int(&p->out, PROFILE_PERIOD, s->sampling_bytes > 0 ? s->sampling_bytes : 1);
    /* nanoseconds fit int64_t until 2262: a later time is left out */
    if (s->time && tm_time_parse(s->time, &t) == 0 && t > -9.2e9 && t < 9.2e9)
        tm__pb_int(&p->out, PROFILE_TIME_NANOS, (int64_t)(t * 1e9 + 0.5));
    tm__pb_int(&p->out, PROFILE_DEFAULT_SAMPLE_TYPE, str(p, "inuse_space"));
}

static void string_table(pprof *p)
{
    for (size_t i = 0; i < p->nstrings; i++)
        tm__pb_string(&p->out, PROFILE_STRING_TABLE, p->strings[i]);
}

int tm_export_pprof_proto(const tm_snapshot *snap, unsigned char **out, size_t *len, tm_error *err)
{
    pprof p = {.snap = snap};
    char comment[1024];
    int rc = 0;

    *out = NULL;
    *len = 0;
    p.strmap = json_object();
    p.funcmap = json_object();
    if (!p.strmap || !p.funcmap) {
        rc = tm__error_set(err, -ENOMEM, "out of memory");
        goto out_free;
    }
    header(&p);
    snprintf(comment, sizeof comment, "tracemem snapshot of %s (pid %" PRId64 ", seq %" PRId64 ")",
             snap->exe ? snap->exe : "?", snap->pid, snap->seq);
    tm__pb_int(&p.out, PROFILE_COMMENT, str(&p, comment));
    mappings(&p);
    locations(&p);
    samples(&p);
    string_table(&p); /* borrows 'comment': written before it goes */
    if (p.nomem || tm__pb_failed(&p.out) || tm__pb_failed(&p.msg) || tm__pb_failed(&p.sub) ||
        tm__pb_failed(&p.scratch)) {
        rc = tm__error_set(err, -ENOMEM, "out of memory");
        goto out_free;
    }
    *out = p.out.data;
    *len = p.out.len;
    p.out.data = NULL;
out_free:
    tm__pb_free(&p.out);
    tm__pb_free(&p.msg);
    tm__pb_free(&p.sub);
    tm__pb_free(&p.scratch);
    json_decref(p.strmap);
    json_decref(p.funcmap);
    free(p.strings);
    return rc;
}

int tm_gzip_write(const void *data, size_t len, FILE *fp, tm_error *err)
{
    unsigned char buf[16384];
    z_stream z;
    int zrc, rc = 0;

    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer around the deflate data */
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return tm__error_set(err, -ENOMEM, "zlib: cannot start compression");
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    if ((size_t)z.avail_in != len) {
        rc = tm__error_set(err, -EFBIG, "profile too large to compress");
        goto out_end;
    }
    do {
        z.next_out = buf;
        z.avail_out = sizeof buf;
        zrc = deflate(&z, Z_FINISH);
        if (zrc == Z_STREAM_ERROR) {
            rc = tm__error_set(err, -EIO, "zlib: compression failed");
            goto out_end;
        }
        if (fwrite(buf, 1, sizeof buf - z.avail_out, fp) != sizeof buf - z.avail_out) {
            rc = tm__error_set(err, -EIO, "write error");
            goto out_end;
        }
    } while (zrc != Z_STREAM_END);
out_end:
    deflateEnd(&z);
    return rc;
}

int tm_export_write(const tm_snapshot *snap, tm_export_format format, tm_metric metric, unsigned kinds,
                    FILE *fp, tm_error *err)
{
    tm_folded folded;
    unsigned char *proto;
    size_t len;
    tm_error local;
    json_t *doc;
    int rc;

    if (!err)
        err = &local;
    switch (format) {
    case TM_EXPORT_FOLDED:
        if ((rc = tm_folded_compute(snap, metric, kinds, &folded, err)))
            return rc;
        rc = tm_folded_write(&folded, fp);
        tm_folded_free(&folded);
        return rc ? tm__error_set(err, rc, "write error") : 0;
    case TM_EXPORT_SPEEDSCOPE:
        if (!(doc = tm_export_speedscope(snap, metric, kinds, err)))
            return strcmp(err->what, "out of memory") == 0 ? -ENOMEM : -EINVAL;
        rc = json_dumpf(doc, fp, JSON_COMPACT) || fputc('\n', fp) == EOF;
        json_decref(doc);
        return rc ? tm__error_set(err, -EIO, "write error") : 0;
    case TM_EXPORT_PPROF:
        if ((rc = tm_export_pprof_proto(snap, &proto, &len, err)))
            return rc;
        rc = tm_gzip_write(proto, len, fp, err);
        free(proto);
        return rc;
    }
    return tm__error_set(err, -EINVAL, "unknown export format");
}
