/* gate.c - baselines and the gate's verdict (see gate.h).
 *
 * A loaded baseline keeps one entry per (kind, key): duplicates in the
 * file are added up when loading, so lookups can stop at the first hit.
 */
#include "config.h"

#include "report/gate.h"
#include "report/infile.h"
#include "report/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASELINE_FORMAT "tracemem-baseline"

/* --- loading --- */

void tm_baseline_free(tm_baseline *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].key);
    free(b->v);
    b->v = NULL;
    b->n = 0;
}

const tm_baseline_entry *tm_baseline_find(const tm_baseline *b,
                                          tm_leak_kind kind, const char *key)
{
    for (size_t i = 0; b && i < b->n; i++)
        if (b->v[i].kind == kind && strcmp(b->v[i].key, key) == 0)
            return &b->v[i];
    return NULL;
}

/* The "stack" array of an entry joined with '\n'; NULL when it is not an
 * array of strings ('*bad' set) or on ENOMEM. */
static char *join_stack(const json_t *stack, int *bad)
{
    char *out = NULL;
    size_t len = 0, i;
    json_t *v;
    FILE *fp;

    *bad = !json_is_array(stack) || json_array_size(stack) == 0;
    if (*bad || !(fp = open_memstream(&out, &len)))
        return NULL;
    json_array_foreach(stack, i, v) {
        if (!json_is_string(v)) {
            *bad = 1;
            break;
        }
        fprintf(fp, "%s%s", i ? "\n" : "", json_string_value(v));
    }
    if (fclose(fp) || *bad) {
        free(out);
        return NULL;
    }
    return out;
}

static int add_entry(tm_baseline *b, const json_t *e, size_t i,
                     const char *name, tm_error *err)
{
    json_t *kind = json_object_get(e, "kind"), *bytes, *blocks;
    tm_baseline_entry *v, *old;
    int k, bad;
    char *key;

    bytes = json_object_get(e, "bytes");
    blocks = json_object_get(e, "blocks");
    if (!json_is_object(e) || !json_is_string(kind) ||
        (k = tm_leak_kind_parse(json_string_value(kind))) < 0)
        return tm__error_set(err, -EINVAL, "%s: leaks[%zu]: expected an "
                             "object with a leak \"kind\"", name, i);
    if (!json_is_integer(bytes) || json_integer_value(bytes) < 0 ||
        !json_is_integer(blocks) || json_integer_value(blocks) < 0)
        return tm__error_set(err, -EINVAL, "%s: leaks[%zu]: \"bytes\" and "
                             "\"blocks\" must be non-negative integers", name,
                             i);
    if (!(key = join_stack(json_object_get(e, "stack"), &bad)))
        return bad ? tm__error_set(err, -EINVAL, "%s: leaks[%zu].stack: "
                                   "expected a non-empty array of strings",
                                   name, i)
                   : tm__error_set(err, -ENOMEM, "out of memory");
    if ((old = (tm_baseline_entry *)tm_baseline_find(b, (tm_leak_kind)k,
                                                      key))) {
        old->bytes += (uint64_t)json_integer_value(bytes);
        old->blocks += (uint64_t)json_integer_value(blocks);
        free(key);
        return 0;
    }
    if (!(v = realloc(b->v, (b->n + 1) * sizeof *v))) {
        free(key);
        return tm__error_set(err, -ENOMEM, "out of memory");
    }
    b->v = v;
    v[b->n++] = (tm_baseline_entry){ key, (tm_leak_kind)k,
                                     (uint64_t)json_integer_value(bytes),
                                     (uint64_t)json_integer_value(blocks) };
    return 0;
}

int tm_baseline_from_json(tm_baseline *b, const json_t *root,
                          const char *name, tm_error *err)
{
    json_t *fmt = json_object_get(root, "format");
    json_t *ver = json_object_get(root, "version");
    json_t *leaks = json_object_get(root, "leaks"), *e;
    size_t i;
    int rc = 0;

    memset(b, 0, sizeof *b);
    if (!json_is_string(fmt) ||
        strcmp(json_string_value(fmt), BASELINE_FORMAT) != 0)
        return tm__error_set(err, -EINVAL, "%s: not a tracemem baseline "
                             "(\"format\" is not \"%s\")", name,
                             BASELINE_FORMAT);
    if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        return tm__error_set(err, -EINVAL, "%s: unsupported baseline "
                             "version (this tracemem reads version 1)", name);
    if (!json_is_array(leaks))
        return tm__error_set(err, -EINVAL, "%s: \"leaks\": expected an "
                             "array", name);
    json_array_foreach(leaks, i, e) {
        if ((rc = add_entry(b, e, i, name, err)))
            break;
    }
    if (rc)
        tm_baseline_free(b);
    return rc;
}

int tm_baseline_load(tm_baseline *b, const char *path, tm_error *err)
{
    tm_error e = { "" };
    json_error_t jerr;
    json_t *root;
    size_t len;
    char *text;
    int rc;

    memset(b, 0, sizeof *b);
    if ((rc = tm_infile_read(path, 0, TM_BASELINE_MAX_BYTES, &text, &len, &e)))
        return tm__error_set(err, rc, "%s: %s", path, e.what);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return tm__error_set(err, -EINVAL, "%s:%d: %s", path, jerr.line,
                             jerr.text);
    rc = tm_baseline_from_json(b, root, path, err);
    json_decref(root);
    return rc;
}

/* --- writing --- */

static json_t *split_key(const char *key)
{
    json_t *arr = json_array();

    while (arr) {
        size_t n = strcspn(key, "\n");

        json_array_append_new(arr, json_stringn(key, n));
        if (!key[n])
            break;
        key += n + 1;
    }
    return arr;
}

json_t *tm_baseline_json(const tm_leak_report *r)
{
    json_t *kinds = json_array(), *leaks = json_array();

    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        if (r->kinds & (1u << k))
            json_array_append_new(
                kinds, json_string(tm_leak_kind_name((tm_leak_kind)k)));
    for (size_t i = 0; i < r->n; i++) {
        const tm_leak_record *rec = &r->v[i];

        if (rec->suppression >= 0)
            continue;
        json_array_append_new(
            leaks, json_pack("{s:s, s:I, s:I, s:o}", "kind",
                             tm_leak_kind_name(rec->kind), "bytes",
                             (json_int_t)rec->bytes, "blocks",
                             (json_int_t)rec->blocks, "stack",
                             split_key(rec->key)));
    }
    return json_pack("{s:s, s:i, s:o, s:o}", "format", BASELINE_FORMAT,
                     "version", 1, "kinds", kinds, "leaks", leaks);
}

int tm_write_file_atomic(const char *path, const char *data, size_t len,
                         tm_error *err)
{
    tm_error e = { "" };
    int rc = tm_outfile_write(path, data, len, &e);

    if (rc)
        tm__error_set(err, rc, "%s: %s", tm_outfile_name(path), e.what);
    return rc;
}

int tm_baseline_write(const tm_leak_report *r, const char *path,
                      tm_error *err)
{
    json_t *j = tm_baseline_json(r);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    int rc;

    if (!text) {
        json_decref(j);
        return tm__error_set(err, -ENOMEM, "out of memory");
    }
    text = realloc(text, strlen(text) + 2);
    strcat(text, "\n");
    rc = tm_write_file_atomic(path, text, strlen(text), err);
    free(text);
    json_decref(j);
    return rc;
}

/* --- the verdict --- */

const char *tm_rec_status_name(tm_rec_status st)
{
    switch (st) {
    case TM_REC_SHOWN: return "leak";
    case TM_REC_SUPPRESSED: return "suppressed";
    case TM_REC_BASELINE: return "baseline";
    case TM_REC_NEW: return "new";
    case TM_REC_GROWN: return "grown";
    }
    return "leak";
}

/* A baseline written before folding (or with --keep-alloc-frames) holds
 * the recorded stacks: the record's stack as recorded may be there. */
static const tm_baseline_entry *find_raw(const tm_baseline *b, const tm_leak_record *rec)
{
    const tm_baseline_entry *e;
    char *raw;

    if (!rec->snap->raw_stacks || !(raw = tm_leak_key(rec->snap, tm_snapshot_raw_stack(rec->snap, rec->stack))))
        return NULL;
    e = tm_baseline_find(b, rec->kind, raw);
    free(raw);
    return e;
}

static void judge(tm_leak_record *rec, const tm_baseline *b)
{
    const tm_baseline_entry *e;

    rec->gated_bytes = rec->gated_blocks = 0;
    if (rec->suppression >= 0) {
        rec->status = TM_REC_SUPPRESSED;
        return;
    }
    if (!b) {
        rec->status = TM_REC_SHOWN;
        rec->gated_bytes = rec->bytes;
        rec->gated_blocks = rec->blocks;
        return;
    }
    if (!(e = tm_baseline_find(b, rec->kind, rec->key)))
        e = find_raw(b, rec);
    if (!e) {
        rec->status = TM_REC_NEW;
        rec->gated_bytes = rec->bytes;
        rec->gated_blocks = rec->blocks;
        return;
    }
    rec->base_bytes = e->bytes;
    rec->base_blocks = e->blocks;
    rec->status = rec->bytes > e->bytes || rec->blocks > e->blocks
                      ? TM_REC_GROWN
                      : TM_REC_BASELINE;
    rec->gated_bytes = rec->bytes > e->bytes ? rec->bytes - e->bytes : 0;
    rec->gated_blocks = rec->blocks > e->blocks ? rec->blocks - e->blocks : 0;
}

void tm_gate_eval(tm_leak_report *r, const tm_gate_opts *o, tm_gate *g)
{
    g->opts = o;
    g->failed = 0;
    g->bytes = g->blocks = 0;
    g->ncounted = g->nnew = g->ngrown = g->nbaseline = g->nsuppressed = 0;
    for (size_t i = 0; i < r->n; i++) {
        tm_leak_record *rec = &r->v[i];

        judge(rec, o->baseline);
        g->bytes += rec->gated_bytes;
        g->blocks += rec->gated_blocks;
        g->ncounted += rec->gated_bytes || rec->gated_blocks;
        g->nnew += rec->status == TM_REC_NEW;
        g->ngrown += rec->status == TM_REC_GROWN;
        g->nbaseline += rec->status == TM_REC_BASELINE;
        g->nsuppressed += rec->status == TM_REC_SUPPRESSED;
    }
    g->peak = 0;
    g->peak_snap = NULL;
    for (size_t i = 0; i < r->nsnaps; i++)
        if (!g->peak_snap || r->snaps[i]->memory.peak > g->peak) {
            g->peak = r->snaps[i]->memory.peak;
            g->peak_snap = r->snaps[i];
        }
    g->peak_failed = o->max_peak > 0 && g->peak > (uint64_t)o->max_peak;
    g->failed = (o->max_bytes >= 0 && g->bytes > (uint64_t)o->max_bytes) ||
                (o->max_blocks >= 0 && g->blocks > (uint64_t)o->max_blocks) || g->peak_failed;
}
