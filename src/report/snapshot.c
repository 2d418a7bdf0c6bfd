/* snapshot.c - loading, validating and writing tracemem snapshots.
 *
 * Validation is complete before anything else looks at a snapshot: every
 * key the model uses has the right JSON type and range, and every index
 * (trace -> stack -> frame -> module, peak and leak stacks) is in range.
 * After tm_snapshot_reindex() succeeds, code may index the arrays without
 * checks. Errors name the offending element ("stacks[4].frames[2]: index
 * 99 out of range (40 frames)") so a user can find it in the file.
 */
#include "config.h"

#include "report/snapshot.h"
#include "report/fastjson.h"
#include "report/infile.h"
#include "report/outfile.h"
#include "report/pgzip.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "report/timeline.h"

int tm__error_set(tm_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->what, sizeof err->what, fmt, ap);
        va_end(ap);
    }
    return code;
}

static const char *const leak_kind_names[TM_LEAK_NKINDS] = {
    "definite",
    "indirect",
    "possible",
    "reachable",
};

const char *tm_leak_kind_name(tm_leak_kind kind)
{
    if ((unsigned)kind >= TM_LEAK_NKINDS)
        return NULL;
    return leak_kind_names[kind];
}

int tm_leak_kind_parse(const char *name)
{
    for (int i = 0; i < TM_LEAK_NKINDS; i++)
        if (strcmp(name, leak_kind_names[i]) == 0)
            return i;
    return -1;
}

const tm_module *tm_snapshot_frame_module(const tm_snapshot *snap, const tm_frame *frame)
{
    if (frame->module < 0)
        return NULL;
    return &snap->modules[frame->module];
}

/* --- typed access with error messages --- */

#define EBAD(...) tm__error_set(err, -EINVAL, __VA_ARGS__)

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* Integer member 'key' of 'obj' (context 'where') in [min, INT64_MAX].
 * Absent: error when 'required', else '*out' = 0. */
static int get_int(const json_t *obj, const char *where, const char *key, int required, int64_t min,
                   int64_t *out, tm_error *err)
{
    json_t *v = json_object_get(obj, key);

    *out = 0;
    if (!v) {
        if (required)
            return EBAD("%s: missing \"%s\"", where, key);
        return 0;
    }
    if (!json_is_integer(v))
        return EBAD("%s.%s: expected an integer, got %s", where, key, type_name(v));
    *out = json_integer_value(v);
    if (*out < min)
        return EBAD("%s.%s: %lld is out of range", where, key, (long long)*out);
    return 0;
}

static int get_u64(const json_t *obj, const char *where, const char *key, int required, uint64_t *out,
                   tm_error *err)
{
    int64_t v;
    int rc = get_int(obj, where, key, required, 0, &v, err);

    *out = (uint64_t)v;
    return rc;
}

/* String member; NULL when absent and not required (or JSON null). */
static int get_str(const json_t *obj, const char *where, const char *key, int required, const char **out,
                   tm_error *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || (json_is_null(v) && !required)) {
        if (required)
            return EBAD("%s: missing \"%s\"", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return EBAD("%s.%s: expected a string, got %s", where, key, type_name(v));
    *out = json_string_value(v);
    return 0;
}

/* Member of a given JSON type; NULL when absent and not required. */
static int get_typed(const json_t *obj, const char *where, const char *key, json_type type, int required,
                     json_t **out, tm_error *err)
{
    static const char *const want[] = {
        [JSON_OBJECT] = "an object",
        [JSON_ARRAY] = "an array",
    };
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v) {
        if (required && !*where)
            return EBAD("missing \"%s\"", key);
        if (required)
            return EBAD("%s: missing \"%s\"", where, key);
        return 0;
    }
    if (json_typeof(v) != type)
        return EBAD("%s%s%s: expected %s, got %s", where, *where ? "." : "", key, want[type], type_name(v));
    *out = v;
    return 0;
}

static int check_index(const char *where, int64_t idx, size_t n, const char *what, tm_error *err)
{
    if (idx < 0 || (uint64_t)idx >= n)
        return EBAD("%s: index %lld out of range (%zu %s)", where, (long long)idx, n, what);
    return 0;
}

/* Allocates 'n' zeroed elements (at least one, so NULL means failure). */
static void *alloc_array(size_t n, size_t size, tm_error *err)
{
    void *p = calloc(n ? n : 1, size);

    if (!p)
        tm__error_set(err, -ENOMEM, "out of memory");
    return p;
}

/* Writes "<prefix>[<i>]<suffix>" into 'buf' (the name of an element for
 * error messages); by hand, as it runs for every element loaded and
 * snprintf() was a good part of loading. */
static void where_at(char *buf, size_t size, const char *prefix, size_t i, const char *suffix)
{
    char digits[24];
    size_t nd = 0, np = strlen(prefix), ns = strlen(suffix);

    do
        digits[nd++] = (char)('0' + i % 10);
    while ((i /= 10) && nd < sizeof digits);
    if (np + nd + ns + 3 > size) {
        np = size > nd + ns + 3 ? size - nd - ns - 3 : 0; /* cut the prefix */
        if (np + nd + ns + 3 > size)
            return;
    }
    memmove(buf, prefix, np); /* 'prefix' may be 'buf' itself */
    buf[np] = '[';
    for (size_t k = 0; k < nd; k++)
        buf[np + 1 + k] = digits[nd - 1 - k];
    buf[np + 1 + nd] = ']';
    memcpy(buf + np + 2 + nd, suffix, ns + 1);
}

/* --- the file's text (tm_snapshot_load) --- */

#define MAX_MEMBERS 256

struct tm__snapshot_text {
    char *text;
    uint32_t *pool;  /* the frames of the stacks read from 'text' */
    int lean;        /* tm_snapshot_load_lean(): 'text' is given back as the
                        fast readers read it, and freed (NULL) after loading */
    int frames_only; /* tm_snapshot_load_frames(): stacks, traces and peak
                        checked, not kept */
    size_t nmembers;
    tm_json_span members[MAX_MEMBERS];
    unsigned char in_tree[MAX_MEMBERS]; /* parsed into 'root' since */
};

/* The member 'key' of the text when it is not in 'root' (read from the
 * text, not parsed into the tree), else NULL. */
static const tm_json_span *raw_member(const tm_snapshot *s, const char *key)
{
    size_t n = strlen(key);

    if (!s->text || !s->text->text || json_object_get(s->root, key))
        return NULL;
    for (size_t i = 0; i < s->text->nmembers; i++) {
        const tm_json_span *m = &s->text->members[i];
        if (m->keylen == n && !memcmp(m->key, key, n))
            return s->text->in_tree[i] ? NULL : m;
    }
    return NULL;
}

static int parse_error(const json_error_t *je, tm_error *err);

/* The members read from the text by the fast readers. */
static const char *const raw_keys[] = {"stacks", "traces", "peak"};

static int is_raw_key(const char *key, size_t n)
{
    for (size_t i = 0; i < sizeof raw_keys / sizeof *raw_keys; i++)
        if (strlen(raw_keys[i]) == n && !memcmp(raw_keys[i], key, n))
            return 1;
    return 0;
}

/* Parses a member of the text into 'root' (the fast reader declined it:
 * the tree's validation then names what is wrong). */
static int adopt_member(tm_snapshot *s, const tm_json_span *m, tm_error *err)
{
    json_error_t je;
    json_t *v;

    if (s->text->lean)
        return -EAGAIN; /* parts of the text may be gone: load it again */
    if (!(v = json_loadb(m->value, m->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je)))
        return parse_error(&je, err);
    if (json_object_setn_new(s->root, m->key, m->keylen, v))
        return tm__error_set(err, -ENOMEM, "out of memory");
    s->text->in_tree[m - s->text->members] = 1; /* removed from the tree later: gone */
    return 0;
}

int tm_snapshot_expand(tm_snapshot *snap, tm_error *err)
{
    const tm_json_span *m;
    int rc;

    if (snap->text && !snap->text->text)
        return tm__error_set(err, -EINVAL, "loaded for reading only: its text is gone");
    for (size_t i = 0; i < sizeof raw_keys / sizeof *raw_keys; i++)
        if ((m = raw_member(snap, raw_keys[i])) && (rc = adopt_member(snap, m, err)))
            return rc;
    return 0;
}

/* --- sections --- */

static int load_header(tm_snapshot *s, tm_error *err)
{
    json_t *root = s->root, *v, *proc, *snap, *mem;
    int rc;

    if (!json_is_object(root))
        return EBAD("not a tracemem snapshot (top level is %s, not an "
                    "object)",
                    type_name(root));
    v = json_object_get(root, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), TM_SNAPSHOT_FORMAT))
        return EBAD("not a tracemem snapshot (\"format\" is not \"%s\")", TM_SNAPSHOT_FORMAT);
    v = json_object_get(root, "version");
    if (!json_is_integer(v))
        return EBAD("\"version\": expected an integer");
    if (json_integer_value(v) != TM_SNAPSHOT_VERSION)
        return EBAD("unsupported snapshot version %lld (this tracemem reads "
                    "version %d)",
                    (long long)json_integer_value(v), TM_SNAPSHOT_VERSION);
    v = json_object_get(root, "symbolized");
    if (v && !json_is_boolean(v))
        return EBAD("symbolized: expected a boolean, got %s", type_name(v));
    s->symbolized = json_is_true(v);

    if ((rc = get_typed(root, "", "process", JSON_OBJECT, 0, &proc, err)) ||
        (rc = get_typed(root, "", "snapshot", JSON_OBJECT, 0, &snap, err)) ||
        (rc = get_typed(root, "", "memory", JSON_OBJECT, 0, &mem, err)))
        return rc;
    if (proc && ((rc = get_int(proc, "process", "pid", 0, 0, &s->pid, err)) ||
                 (rc = get_int(proc, "process", "ppid", 0, 0, &s->ppid, err)) ||
                 (rc = get_str(proc, "process", "exe", 0, &s->exe, err))))
        return rc;
    if (snap && ((rc = get_int(snap, "snapshot", "seq", 0, 0, &s->seq, err)) ||
                 (rc = get_str(snap, "snapshot", "time", 0, &s->time, err)) ||
                 (rc = get_str(snap, "snapshot", "reason", 0, &s->reason, err)) ||
                 (rc = get_int(snap, "snapshot", "nframes", 0, 0, &s->nframes_limit, err)) ||
                 (rc = get_int(snap, "snapshot", "sampling_bytes", 0, 0, &s->sampling_bytes, err))))
        return rc;
    if (mem && ((rc = get_u64(mem, "memory", "current", 0, &s->memory.current, err)) ||
                (rc = get_u64(mem, "memory", "peak", 0, &s->memory.peak, err)) ||
                (rc = get_u64(mem, "memory", "blocks", 0, &s->memory.blocks, err)) ||
                (rc = get_u64(mem, "memory", "overhead", 0, &s->memory.overhead, err)) ||
                (rc = get_u64(mem, "memory", "lost_records", 0, &s->memory.lost_records, err))))
        return rc;
    return 0;
}

static int load_modules(tm_snapshot *s, tm_error *err)
{
    json_t *arr, *m;
    size_t i;
    char where[64];
    int rc;

    if ((rc = get_typed(s->root, "", "modules", JSON_ARRAY, 1, &arr, err)))
        return rc;
    s->nmodules = json_array_size(arr);
    if (!(s->modules = alloc_array(s->nmodules, sizeof *s->modules, err)))
        return -ENOMEM;
    json_array_foreach(arr, i, m)
    {
        tm_module *mod = &s->modules[i];
        const char *slash;

        where_at(where, sizeof where, "modules", i, "");
        if (!json_is_object(m))
            return EBAD("%s: expected an object, got %s", where, type_name(m));
        if ((rc = get_str(m, where, "path", 1, &mod->path, err)) ||
            (rc = get_str(m, where, "build_id", 0, &mod->build_id, err)) ||
            (rc = get_u64(m, where, "base", 1, &mod->base, err)) ||
            (rc = get_u64(m, where, "size", 0, &mod->size, err)))
            return rc;
        if (!mod->build_id)
            mod->build_id = "";
        slash = strrchr(mod->path, '/');
        mod->name = slash && slash[1] ? slash + 1 : mod->path;
    }
    return 0;
}

/* Reads a {function, file, line} object into 'loc'. */
static int load_location(const json_t *obj, const char *where, tm_location *loc, tm_error *err)
{
    int rc;

    if ((rc = get_str(obj, where, "function", 0, &loc->function, err)) ||
        (rc = get_str(obj, where, "file", 0, &loc->file, err)) ||
        (rc = get_int(obj, where, "line", 0, 0, &loc->line, err)))
        return rc;
    return 0;
}

static int load_inlined(tm_frame *f, const json_t *frame, const char *where, tm_error *err)
{
    json_t *arr, *e;
    size_t i;
    char ewhere[96];
    int rc;

    if ((rc = get_typed(frame, where, "inlined", JSON_ARRAY, 0, &arr, err)))
        return rc;
    if (!arr || json_array_size(arr) == 0)
        return 0;
    f->ninlined = json_array_size(arr);
    if (!(f->inlined = alloc_array(f->ninlined, sizeof *f->inlined, err)))
        return -ENOMEM;
    json_array_foreach(arr, i, e)
    {
        snprintf(ewhere, sizeof ewhere, "%s.inlined", where);
        where_at(ewhere, sizeof ewhere, ewhere, i, "");
        if (!json_is_object(e))
            return EBAD("%s: expected an object, got %s", ewhere, type_name(e));
        if ((rc = load_location(e, ewhere, &f->inlined[i], err)))
            return rc;
    }
    return 0;
}

static int load_frames(tm_snapshot *s, tm_error *err)
{
    const char *kind;
    json_t *arr, *fr;
    size_t i;
    char where[64];
    int rc;

    if ((rc = get_typed(s->root, "", "frames", JSON_ARRAY, 1, &arr, err)))
        return rc;
    s->nframes = json_array_size(arr);
    if (s->nframes > UINT32_MAX)
        return EBAD("frames: %zu frames, more than a stack can index", s->nframes);
    if (!(s->frames = alloc_array(s->nframes, sizeof *s->frames, err)))
        return -ENOMEM;
    json_array_foreach(arr, i, fr)
    {
        tm_frame *f = &s->frames[i];

        where_at(where, sizeof where, "frames", i, "");
        if (!json_is_object(fr))
            return EBAD("%s: expected an object, got %s", where, type_name(fr));
        if ((rc = get_int(fr, where, "module", 1, -1, &f->module, err)) ||
            (rc = get_u64(fr, where, "offset", 1, &f->offset, err)) ||
            (rc = load_location(fr, where, &f->loc, err)) || (rc = load_inlined(f, fr, where, err)) ||
            (rc = get_str(fr, where, "kind", 0, &kind, err)))
            return rc;
        /* another kind than these: a reader of a later format shows its location */
        f->python = kind && strcmp(kind, "python") == 0;
        where_at(where, sizeof where, "frames", i, ".module");
        if (f->module >= 0 && (rc = check_index(where, f->module, s->nmodules, "modules", err)))
            return rc;
    }
    return 0;
}

/* The optional "python" section: the CPython interpreter of the process. */
static int load_python(tm_snapshot *s, tm_error *err)
{
    json_t *py;
    int64_t module = -1;
    int rc;

    s->python_module = -1;
    s->python_version = NULL;
    if ((rc = get_typed(s->root, "", "python", JSON_OBJECT, 0, &py, err)) || !py)
        return rc;
    if ((rc = get_str(py, "python", "version", 0, &s->python_version, err)) ||
        (rc = get_int(py, "python", "module", 0, -1, &module, err)))
        return rc;
    if (module >= 0 && (rc = check_index("python.module", module, s->nmodules, "modules", err)))
        return rc;
    s->python_module = module;
    return 0;
}

static int load_stack(tm_snapshot *s, tm_stack *st, const json_t *obj, const char *where, tm_error *err)
{
    json_t *arr, *e;
    size_t j;
    char fwhere[96];
    int rc;

    if (!json_is_object(obj))
        return EBAD("%s: expected an object, got %s", where, type_name(obj));
    if ((rc = get_typed(obj, where, "frames", JSON_ARRAY, 1, &arr, err)) ||
        (rc = get_u64(obj, where, "depth", 0, &st->depth, err)))
        return rc;
    st->nframes = json_array_size(arr);
    if (!(st->frames = alloc_array(st->nframes, sizeof *st->frames, err)))
        return -ENOMEM;
    json_array_foreach(arr, j, e)
    {
        json_int_t v = json_is_integer(e) ? json_integer_value(e) : -1;

        if (v < 0 || (uint64_t)v >= s->nframes) { /* the element's name only for the error */
            snprintf(fwhere, sizeof fwhere, "%s.frames", where);
            where_at(fwhere, sizeof fwhere, fwhere, j, "");
            if (!json_is_integer(e))
                return EBAD("%s: expected an integer, got %s", fwhere, type_name(e));
            return check_index(fwhere, v, s->nframes, "frames", err);
        }
        st->frames[j] = (size_t)v;
    }
    /* depth 0 with one frame: only the caller of the allocation function
     * is known (the shim had no unwinder yet) */
    st->caller_only = st->depth == 0 && st->nframes == 1;
    if (st->depth < st->nframes)
        st->depth = st->nframes;
    return 0;
}

static int load_stacks(tm_snapshot *s, tm_error *err)
{
    json_t *arr, *e;
    size_t i;
    char where[64];
    int rc;

    const tm_json_span *m = raw_member(s, "stacks");
    if (m) {
        rc = tm__fast_stacks(m->value, m->len, s->nframes, s->text->lean, &s->stacks, &s->nstacks,
                             s->text->frames_only ? NULL : &s->text->pool);
        if (rc)
            return rc > 0 ? 0 : tm__error_set(err, rc, "out of memory");
        if ((rc = adopt_member(s, m, err)))
            return rc;
    }
    if ((rc = get_typed(s->root, "", "stacks", JSON_ARRAY, 1, &arr, err)))
        return rc;
    s->nstacks = json_array_size(arr);
    if (!(s->stacks = alloc_array(s->nstacks, sizeof *s->stacks, err)))
        return -ENOMEM;
    json_array_foreach(arr, i, e)
    {
        where_at(where, sizeof where, "stacks", i, "");
        if ((rc = load_stack(s, &s->stacks[i], e, where, err)))
            return rc;
    }
    return 0;
}

/* Loads a traces array ('peak' ones have no allocated_* figures). */
static int load_trace_array(tm_snapshot *s, const json_t *arr, const char *name, int peak, tm_trace **out,
                            size_t *nout, tm_error *err)
{
    json_t *e;
    size_t i;
    char where[64];
    int64_t stack;
    int rc;

    *nout = json_array_size(arr);
    if (!(*out = alloc_array(*nout, sizeof **out, err)))
        return -ENOMEM;
    json_array_foreach(arr, i, e)
    {
        tm_trace *t = &(*out)[i];

        where_at(where, sizeof where, name, i, "");
        if (!json_is_object(e))
            return EBAD("%s: expected an object, got %s", where, type_name(e));
        if ((rc = get_int(e, where, "stack", 1, INT64_MIN, &stack, err)) ||
            (rc = get_u64(e, where, "domain", 0, &t->domain, err)) ||
            (rc = get_u64(e, where, "size", 1, &t->size, err)) ||
            (rc = get_u64(e, where, "count", 1, &t->count, err)))
            return rc;
        if (!peak && ((rc = get_u64(e, where, "allocated_size", 0, &t->allocated_size, err)) ||
                      (rc = get_u64(e, where, "allocated_count", 0, &t->allocated_count, err)) ||
                      (rc = get_u64(e, where, "temporary", 0, &t->temporary, err))))
            return rc;
        where_at(where, sizeof where, name, i, ".stack");
        if ((rc = check_index(where, stack, s->nstacks, "stacks", err)))
            return rc;
        t->stack = (size_t)stack;
    }
    return 0;
}

static int load_traces(tm_snapshot *s, tm_error *err)
{
    json_t *arr, *peak, *parr;
    int rc = 0;

    const tm_json_span *m = raw_member(s, "traces");
    if (m) {
        rc = tm__fast_traces(m->value, m->len, s->nstacks, 0, s->text->lean,
                             s->text->frames_only ? NULL : &s->traces, &s->ntraces);
        if (rc < 0)
            return tm__error_set(err, rc, "out of memory");
        if (rc > 0 && s->text->frames_only)
            s->ntraces = 0; /* checked, not kept */
        if (rc == 0 && (rc = adopt_member(s, m, err)))
            return rc;
    }
    if (!m || (!s->traces && !(rc > 0 && s->text->frames_only))) {
        if ((rc = get_typed(s->root, "", "traces", JSON_ARRAY, 1, &arr, err)) ||
            (rc = load_trace_array(s, arr, "traces", 0, &s->traces, &s->ntraces, err)))
            return rc;
    }
    if ((m = raw_member(s, "peak"))) {
        rc = tm__fast_peak(m->value, m->len, s->nstacks, s->text->lean, &s->peak_current,
                           s->text->frames_only ? NULL : &s->peak_traces, &s->npeak_traces);
        if (rc < 0)
            return tm__error_set(err, rc, "out of memory");
        if (rc > 0) {
            if (s->text->frames_only)
                s->npeak_traces = 0;
            s->has_peak = 1;
            return 0;
        }
        if ((rc = adopt_member(s, m, err)))
            return rc;
    }
    if ((rc = get_typed(s->root, "", "peak", JSON_OBJECT, 0, &peak, err)))
        return rc;
    if (!peak)
        return 0;
    s->has_peak = 1;
    if ((rc = get_u64(peak, "peak", "current", 0, &s->peak_current, err)) ||
        (rc = get_typed(peak, "peak", "traces", JSON_ARRAY, 0, &parr, err)))
        return rc;
    if (!parr)
        return 0;
    return load_trace_array(s, parr, "peak.traces", 1, &s->peak_traces, &s->npeak_traces, err);
}

static int load_leak_summary(tm_snapshot *s, const json_t *leaks, tm_error *err)
{
    json_t *sum, *k;
    char where[64];
    int rc;

    if ((rc = get_typed(leaks, "leaks", "summary", JSON_OBJECT, 0, &sum, err)))
        return rc;
    for (int i = 0; sum && i < TM_LEAK_NKINDS; i++) {
        snprintf(where, sizeof where, "leaks.summary");
        if ((rc = get_typed(sum, where, leak_kind_names[i], JSON_OBJECT, 0, &k, err)))
            return rc;
        if (!k)
            continue;
        snprintf(where, sizeof where, "leaks.summary.%s", leak_kind_names[i]);
        if ((rc = get_u64(k, where, "bytes", 0, &s->leak_summary[i].bytes, err)) ||
            (rc = get_u64(k, where, "blocks", 0, &s->leak_summary[i].blocks, err)))
            return rc;
    }
    return 0;
}

static int load_leaks(tm_snapshot *s, tm_error *err)
{
    json_t *leaks, *v, *arr, *e;
    const char *kind;
    char where[64];
    int64_t stack;
    size_t i;
    int rc;

    if ((rc = get_typed(s->root, "", "leaks", JSON_OBJECT, 0, &leaks, err)))
        return rc;
    if (!leaks)
        return 0;
    s->has_leaks = 1;
    v = json_object_get(leaks, "checked");
    if (v && !json_is_boolean(v))
        return EBAD("leaks.checked: expected a boolean, got %s", type_name(v));
    s->leaks_checked = json_is_true(v);
    v = json_object_get(leaks, "partial");
    if (v && !json_is_boolean(v))
        return EBAD("leaks.partial: expected a boolean, got %s", type_name(v));
    if (json_is_true(v)) {
        v = json_object_get(leaks, "threads_not_stopped");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
            return EBAD("leaks.threads_not_stopped: expected a count");
        s->leaks_threads_not_stopped = v ? json_integer_value(v) : 1;
        if (s->leaks_threads_not_stopped == 0)
            s->leaks_threads_not_stopped = 1;
    }
    if ((rc = load_leak_summary(s, leaks, err)) ||
        (rc = get_typed(leaks, "leaks", "stacks", JSON_ARRAY, 0, &arr, err)))
        return rc;
    s->nleak_stacks = json_array_size(arr);
    if (!(s->leak_stacks = alloc_array(s->nleak_stacks, sizeof *s->leak_stacks, err)))
        return -ENOMEM;
    json_array_foreach(arr, i, e)
    {
        tm_leak_stack *l = &s->leak_stacks[i];

        where_at(where, sizeof where, "leaks.stacks", i, "");
        if (!json_is_object(e))
            return EBAD("%s: expected an object, got %s", where, type_name(e));
        if ((rc = get_int(e, where, "stack", 1, INT64_MIN, &stack, err)) ||
            (rc = get_str(e, where, "kind", 1, &kind, err)) ||
            (rc = get_u64(e, where, "bytes", 0, &l->bytes, err)) ||
            (rc = get_u64(e, where, "blocks", 0, &l->blocks, err)))
            return rc;
        if (tm_leak_kind_parse(kind) < 0)
            return EBAD("%s.kind: unknown leak kind \"%s\"", where, kind);
        l->kind = (tm_leak_kind)tm_leak_kind_parse(kind);
        where_at(where, sizeof where, "leaks.stacks", i, ".stack");
        if ((rc = check_index(where, stack, s->nstacks, "stacks", err)))
            return rc;
        l->stack = (size_t)stack;
    }
    return 0;
}

/* --- life cycle --- */

static void clear_model(tm_snapshot *s)
{
    for (size_t i = 0; s->frames && i < s->nframes; i++)
        free(s->frames[i].inlined);
    for (size_t i = 0; s->stacks && i < s->nstacks; i++)
        if (!s->stacks[i].borrowed)
            free(s->stacks[i].frames);
    for (size_t i = 0; s->raw_stacks && i < s->nstacks; i++)
        if (!s->raw_stacks[i].borrowed)
            free(s->raw_stacks[i].frames);
    if (s->text) {
        free(s->text->pool);
        s->text->pool = NULL;
    }
    free(s->raw_stacks);
    free(s->modules);
    free(s->frames);
    free(s->stacks);
    free(s->traces);
    free(s->peak_traces);
    free(s->leak_stacks);

    char *file = s->file;
    json_t *root = s->root;
    struct tm__snapshot_text *text = s->text;

    memset(s, 0, sizeof *s);
    s->file = file;
    s->root = root;
    s->text = text;
}

int tm_snapshot_reindex(tm_snapshot *snap, tm_error *err)
{
    int rc;

    clear_model(snap);
    if ((rc = load_header(snap, err)) || (rc = load_modules(snap, err)) || (rc = load_python(snap, err)) ||
        (rc = load_frames(snap, err)) ||
        (rc = load_stacks(snap, err)) || (rc = load_traces(snap, err)) || (rc = load_leaks(snap, err)) ||
        (rc = tm_timeline_check(snap, err))) {
        clear_model(snap);
        return rc;
    }
    return 0;
}

int tm__snapshot_reload_frames(tm_snapshot *snap, tm_error *err)
{
    size_t n = snap->nframes;
    int rc;

    for (size_t i = 0; snap->frames && i < snap->nframes; i++)
        free(snap->frames[i].inlined);
    free(snap->frames);
    snap->frames = NULL;
    snap->nframes = 0;
    if ((rc = load_frames(snap, err)) == 0 && snap->nframes != n)
        rc = EBAD("frames: %zu frames, not %zu", snap->nframes, n);
    if (rc)
        clear_model(snap);
    return rc;
}

void tm_snapshot_free(tm_snapshot *snap)
{
    if (!snap)
        return;
    clear_model(snap);
    json_decref(snap->root);
    if (snap->text)
        free(snap->text->text);
    free(snap->text);
    free(snap->file);
    free(snap);
}

/* tm_snapshot_from_json(), keeping 'text' (owned; NULL for none) */
static int from_json(json_t *root, struct tm__snapshot_text *text, const char *name, tm_snapshot **out,
                     tm_error *err)
{
    tm_snapshot *s;
    int rc;

    *out = NULL;
    if (!(s = calloc(1, sizeof *s)) || !(s->file = strdup(name))) {
        free(s);
        if (text)
            free(text->text);
        free(text);
        return tm__error_set(err, -ENOMEM, "out of memory");
    }
    s->root = json_incref(root);
    s->text = text;
    if ((rc = tm_snapshot_reindex(s, err))) {
        tm_snapshot_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int tm_snapshot_from_json(json_t *root, const char *name, tm_snapshot **out, tm_error *err)
{
    return from_json(root, NULL, name, out, err);
}

/* Describes a jansson parse error in words a user understands. */
static int parse_error(const json_error_t *je, tm_error *err)
{
    switch (json_error_code(je)) {
    case json_error_premature_end_of_input:
        if (je->position == 0)
            return EBAD("empty file, not a snapshot");
        return EBAD("truncated JSON (input ends at line %d, column %d)", je->line, je->column);
    case json_error_cannot_open_file:
        return tm__error_set(err, -ENOENT, "%s", je->text);
    case json_error_out_of_memory:
        return tm__error_set(err, -ENOMEM, "out of memory");
    case json_error_duplicate_key:
        return EBAD("invalid snapshot: %s (line %d)", je->text, je->line);
    default:
        if (je->position == 0 && je->line <= 1 && je->column <= 0)
            return EBAD("not JSON: %s", je->text);
        return EBAD("not JSON: %s (line %d, column %d)", je->text, je->line, je->column);
    }
}

/* The fast way in: the top level cut into members, each parsed on its
 * own except "stacks" and "traces", which stay text for the fast readers.
 * Returns 1 when the text is not in that plain form (the caller parses it
 * whole, for jansson's error message); otherwise the result of loading,
 * 'text' then belonging to the snapshot (or freed). */
static int load_split(char *text, size_t len, const char *path, int lean, int frames_only, tm_snapshot **out,
                      tm_error *err)
{
    struct tm__snapshot_text *t = malloc(sizeof *t);
    json_t *root = NULL;
    long n;
    int rc;

    if (!t)
        return 1;
    n = tm__json_members(text, len, t->members, MAX_MEMBERS);
    if (n < 0 || !(root = json_object()))
        goto whole;
    t->nmembers = (size_t)n;
    t->text = text;
    t->pool = NULL;
    t->lean = lean;
    t->frames_only = frames_only;
    memset(t->in_tree, 0, sizeof t->in_tree);
    for (size_t i = 0; i < t->nmembers; i++) {
        const tm_json_span *m = &t->members[i];
        json_error_t je;
        json_t *v;

        if (is_raw_key(m->key, m->keylen))
            continue;
        v = json_loadb(m->value, m->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!v || json_object_setn_new(root, m->key, m->keylen, v))
            goto whole;
    }
    rc = from_json(root, t, path, out, err);
    json_decref(root);
    if (rc == 0 && lean) { /* every member is in the model or the tree */
        free(t->text);
        t->text = NULL;
        t->nmembers = 0;
    }
    return rc;
whole:
    json_decref(root);
    free(t);
    return 1;
}

int tm_snapshot_load(const char *path, tm_snapshot **out, tm_error *err)
{
    size_t len;
    char *text;
    int rc;

    *out = NULL;
    if ((rc = tm_infile_read(path, 1, TM_SNAPSHOT_MAX_BYTES, &text, &len, err)))
        return rc;
    return tm_snapshot_from_text(text, len, path, out, err);
}

int tm_snapshot_load_lean(const char *path, tm_snapshot **out, tm_error *err)
{
    size_t len;
    char *text;
    int rc;

    *out = NULL;
    if (strcmp(path, "-") == 0)
        return tm_snapshot_load(path, out, err); /* stdin is read once */
    if ((rc = tm_infile_read(path, 1, TM_SNAPSHOT_MAX_BYTES, &text, &len, err)))
        return rc;
    if ((rc = tm__snapshot_from_text_lean(text, len, path, out, err)) != -EAGAIN)
        return rc;
    return tm_snapshot_load(path, out, err); /* not in the plain form */
}

static int from_text(char *text, size_t len, const char *name, int lean, int frames_only, tm_snapshot **out,
                     tm_error *err);

int tm_snapshot_load_frames(const char *path, tm_snapshot **out, tm_error *err)
{
    size_t len;
    char *text;
    int rc;

    *out = NULL;
    if ((rc = tm_infile_read(path, 1, TM_SNAPSHOT_MAX_BYTES, &text, &len, err)))
        return rc;
    return from_text(text, len, path, 0, 1, out, err);
}

int tm__snapshot_from_text_lean(char *text, size_t len, const char *name, tm_snapshot **out, tm_error *err)
{
    return from_text(text, len, name, 1, 0, out, err);
}

int tm_snapshot_from_text(char *text, size_t len, const char *name, tm_snapshot **out, tm_error *err)
{
    return from_text(text, len, name, 0, 0, out, err);
}

static int from_text(char *text, size_t len, const char *name, int lean, int frames_only, tm_snapshot **out,
                     tm_error *err)
{
    const char *path = name;
    json_error_t je;
    json_t *root;
    int rc;

    *out = NULL;
    if ((rc = load_split(text, len, path, lean, frames_only, out, err)) != 1)
        return rc; /* the text is the snapshot's now, or freed */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root)
        return parse_error(&je, err);
    rc = tm_snapshot_from_json(root, path, out, err);
    json_decref(root);
    return rc;
}

/* jansson hands over every token on its own: gathered here and given to
 * stdio (or to the compressor) in large pieces (fwrite per token was most
 * of the writing time) */
typedef struct dumpbuf {
    FILE *fp;
    tm_pgz *z; /* a name ending in ".gz": compressed on the way */
    size_t n;
    char b[1 << 16];
} dumpbuf;

static int dump_flush(dumpbuf *d)
{
    int rc = d->z ? tm_pgz_write(d->z, d->b, d->n) : d->n && fwrite(d->b, 1, d->n, d->fp) != d->n ? -1 : 0;

    d->n = 0;
    return rc;
}

static int dump_piece(const char *p, size_t n, void *arg)
{
    dumpbuf *d = arg;

    /* pieces larger than the buffer (a member kept as text) go through it
     * in parts, so they are compressed like the rest */
    while (n) {
        size_t k = n < sizeof d->b - d->n ? n : sizeof d->b - d->n;

        memcpy(d->b + d->n, p, k);
        d->n += k;
        p += k;
        n -= k;
        if (d->n == sizeof d->b && dump_flush(d))
            return -1;
    }
    return 0;
}

/* "key": value, the key written by jansson (it escapes) */
static int dump_member(const char *key, size_t keylen, dumpbuf *d, int first)
{
    json_t *k = json_stringn(key, keylen);
    int rc = !k || (!first && dump_piece(",", 1, d)) ||
             json_dump_callback(k, dump_piece, d, JSON_ENCODE_ANY) || dump_piece(":", 1, d);

    json_decref(k);
    return rc ? -1 : 0;
}

/* The document: the tree's members in the file's order, "stacks" and
 * "traces" from the file's text when they were never parsed, and members
 * added since at the end. */
static int dump_document(const tm_snapshot *snap, dumpbuf *d, size_t flags)
{
    const struct tm__snapshot_text *t = snap->text;
    const char *key;
    json_t *v;
    int first = 1;

    if (!t)
        return json_dump_callback(snap->root, dump_piece, d, flags);
    if (dump_piece("{", 1, d))
        return -1;
    for (size_t i = 0; i < t->nmembers; i++) {
        const tm_json_span *m = &t->members[i];

        if ((v = json_object_getn(snap->root, m->key, m->keylen))) {
            if (dump_member(m->key, m->keylen, d, first) || json_dump_callback(v, dump_piece, d, flags | JSON_ENCODE_ANY))
                return -1;
        } else if (is_raw_key(m->key, m->keylen) && !t->in_tree[i]) {
            if (dump_member(m->key, m->keylen, d, first) || dump_piece(m->value, m->len, d))
                return -1;
        } else {
            continue; /* removed from the tree */
        }
        first = 0;
    }
    json_object_foreach(snap->root, key, v)
    {
        size_t n = strlen(key), i;

        for (i = 0; i < t->nmembers; i++)
            if (t->members[i].keylen == n && !memcmp(t->members[i].key, key, n))
                break;
        if (i < t->nmembers)
            continue;
        if (dump_member(key, n, d, first) || json_dump_callback(v, dump_piece, d, flags | JSON_ENCODE_ANY))
            return -1;
        first = 0;
    }
    return dump_piece("}", 1, d);
}

/* zlib's level for the .json.gz files written: 3 deflates python3's 117
 * MB snapshot to 5.6 MB in 0.27 s of CPU, level 6 to 4.5 MB in 0.65 s */
#define TM_SNAPSHOT_GZ_LEVEL 3

/* The document and a newline through a buffer, gzip'd when 'gz'; 0 or -1
 * like json_dumpf(). */
static int dump_buffered(const tm_snapshot *snap, FILE *fp, size_t flags, int gz)
{
    dumpbuf *d = malloc(sizeof *d);
    int rc;

    if (!d)
        return -1;
    d->fp = fp;
    d->n = 0;
    d->z = NULL;
    if (gz && !(d->z = tm_pgz_open(fp, TM_SNAPSHOT_GZ_LEVEL))) {
        free(d);
        return -1;
    }
    rc = dump_document(snap, d, flags);
    if (!rc)
        rc = dump_piece("\n", 1, d);
    if (dump_flush(d))
        rc = -1;
    if (d->z && tm_pgz_close(d->z))
        rc = -1;
    free(d);
    return rc;
}

static int is_gz(const char *path)
{
    size_t n = strlen(path);

    return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

int tm_snapshot_write(const tm_snapshot *snap, const char *path, tm_error *err)
{
    tm_outfile out;
    int rc;

    if (snap->text && !snap->text->text)
        return tm__error_set(err, -EINVAL, "loaded for reading only: its text is gone");
    if ((rc = tm_outfile_open(&out, path, err)))
        return rc;
    /* one line, as the shim writes it: indentation made a symbolized
     * snapshot 1.85 times the raw one (cc1), compact 1.1 times */
    if (dump_buffered(snap, out.fp, JSON_COMPACT, is_gz(path)) &&
        fflush(out.fp) == 0 && !out.error) {
        tm_outfile_close(&out, 0, NULL); /* not a write error: jansson's own */
        return tm__error_set(err, -ENOMEM, "out of memory");
    }
    return tm_outfile_close(&out, 1, err);
}
