/* stats.c - grouping, filtering, sorting and comparing traces.
 *
 * A tm_stats is an array of groups plus an open-addressing index from key
 * to position (slots hold position + 1, 0 = empty; the table is kept at
 * most half full). Cumulative mode adds a trace to each group at most once:
 * tm_stat.last_trace remembers the last trace added, so recursion does not
 * count a block twice (tracemalloc does count it twice; a cumulative size
 * above the total is never useful).
 */
#include "config.h"

#include "report/stats.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX TM_KEY_MAX

typedef struct index {
    size_t cap;    /* power of two */
    size_t *slots; /* position + 1, or 0 */
} index_t;

static const char *const by_names[] = {
    "lineno", "filename", "function", "module", "traceback",
};
static const char *const sort_names[] = {"size", "count", "allocations", "temporary"};

void tm_stats_opts_init(tm_stats_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->by = TM_BY_LINENO;
    opts->sort = TM_SORT_SIZE;
    opts->domain = -1;
}

int tm_group_by_parse(const char *name)
{
    for (size_t i = 0; i < sizeof by_names / sizeof *by_names; i++)
        if (strcmp(name, by_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *tm_group_by_name(tm_group_by by)
{
    return by_names[by];
}

int tm_sort_parse(const char *name)
{
    for (size_t i = 0; i < sizeof sort_names / sizeof *sort_names; i++)
        if (strcmp(name, sort_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *tm_sort_name(tm_sort sort)
{
    return sort_names[sort];
}

/* --- keys --- */

/* A Python frame's module is its file's base name ("decoder.py"). */
static const char *module_name(const tm_snapshot *snap, const tm_frame *f)
{
    const tm_module *m = tm_snapshot_frame_module(snap, f);

    if (f->python && f->loc.file) {
        const char *slash = strrchr(f->loc.file, '/');

        return slash && slash[1] ? slash + 1 : f->loc.file;
    }
    return m ? m->name : NULL;
}

static char *offset_key(const tm_snapshot *snap, const tm_frame *f, char *buf, size_t len)
{
    const char *mod = module_name(snap, f);

    if (mod)
        snprintf(buf, len, "%s+0x%" PRIx64, mod, f->offset);
    else
        snprintf(buf, len, "0x%" PRIx64, f->offset);
    return buf;
}

char *tm_location_key(const tm_snapshot *snap, const tm_frame *frame, int loc, tm_group_by by, char *buf,
                      size_t len)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const char *mod = module_name(snap, frame);

    switch (by) {
    case TM_BY_FILENAME:
        snprintf(buf, len, "%s", l->file ? l->file : mod ? mod : "[unknown]");
        return buf;
    case TM_BY_FUNCTION:
        if (!l->function)
            return offset_key(snap, frame, buf, len);
        snprintf(buf, len, "%s", l->function);
        return buf;
    case TM_BY_MODULE:
        snprintf(buf, len, "%s", mod ? mod : "[unknown]");
        return buf;
    case TM_BY_LINENO:
    case TM_BY_TRACEBACK:
        break;
    }
    if (l->file && l->line > 0)
        snprintf(buf, len, "%s:%" PRId64, l->file, l->line);
    else if (l->function)
        snprintf(buf, len, "%s (%s)", l->function, mod ? mod : "[unknown]");
    else
        offset_key(snap, frame, buf, len);
    return buf;
}

char *tm_stack_key_by(const tm_snapshot *snap, const tm_stack *stack, tm_key_line_fn line)
{
    char *out, *grown;
    size_t n = 0, cap = 1024;

    if (stack->nframes == 0)
        return strdup("[no frames]");
    if (!(out = malloc(cap)))
        return NULL;
    /* each line is written in place after its separator; a line that does
     * not fit grows the buffer and is written again */
    for (size_t i = 0; i < stack->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = -1; l < (int)f->ninlined; l++) {
            size_t sep = i || l >= 0, len;

            while ((len = line(snap, f, l, out + n + sep, cap - n - sep)) >= cap - n - sep) {
                while (len >= cap - n - sep)
                    cap *= 2;
                if (!(grown = realloc(out, cap))) {
                    free(out);
                    return NULL;
                }
                out = grown;
            }
            if (sep)
                out[n] = '\n';
            n += sep + len;
        }
    }
    out[n] = '\0';
    return out;
}

/* A line of a lineno key, as tm_location_key() gives it (at most
 * KEY_MAX - 1 bytes). */
static size_t lineno_line(const tm_snapshot *snap, const tm_frame *f, int loc, char *buf, size_t cap)
{
    char part[KEY_MAX];
    size_t len = strlen(tm_location_key(snap, f, loc, TM_BY_LINENO, part, sizeof part));

    if (len < cap)
        memcpy(buf, part, len + 1);
    return len;
}

/* Without a stdio stream: the traceback grouping builds one key per stack,
 * and a stream's calls were a tenth of tracemem run's summary of a python3
 * snapshot. */
char *tm_stack_key(const tm_snapshot *snap, const tm_stack *stack)
{
    return tm_stack_key_by(snap, stack, lineno_line);
}

int tm_location_match(const tm_snapshot *snap, const tm_frame *frame, int loc, const char *pattern)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const tm_module *m = tm_snapshot_frame_module(snap, frame);

    return (l->file && fnmatch(pattern, l->file, 0) == 0) ||
           (l->function && fnmatch(pattern, l->function, 0) == 0) ||
           (m && (fnmatch(pattern, m->path, 0) == 0 || fnmatch(pattern, m->name, 0) == 0));
}

/* --- filters --- */

/* 1 when 'pattern' matches the innermost logical frame of 'st', or any of
 * them with 'all'. */
static int stack_matches(const tm_snapshot *snap, const tm_stack *st, const char *pattern, int all)
{
    for (size_t i = 0; i < st->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, st, i);

        for (int l = -1; l < (int)f->ninlined; l++) {
            if (tm_location_match(snap, f, l, pattern))
                return 1;
            if (!all)
                return 0;
        }
    }
    return 0;
}

static int trace_kept(const tm_snapshot *snap, const tm_stats_opts *o, const tm_trace *t)
{
    const tm_stack *st = &snap->stacks[t->stack];
    int have_include = 0, included = 0;

    if (o->domain >= 0 ? t->domain != (uint64_t)o->domain : t->domain == TM_DOMAIN_MMAP)
        return 0;
    for (size_t i = 0; i < o->nfilters; i++) {
        const tm_filter *f = &o->filters[i];
        int m = stack_matches(snap, st, f->pattern, o->all_frames);

        if (!f->inclusive && m)
            return 0;
        if (f->inclusive) {
            have_include = 1;
            included |= m;
        }
    }
    return !have_include || included;
}

/* --- the index --- */

/* A word at a time: traceback keys are kilobytes long, and a byte-wise
 * hash of every key (on insert, on each growth and after the sort) was a
 * sixth of tracemem run's summary of a python3 snapshot. */
static uint64_t hash_str(const char *s)
{
    size_t n = strlen(s);
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

/* The slot of 'key' (hash 'h'): where it is, or the empty one where it
 * goes. Keys are kilobytes long and share long prefixes: a slot's own
 * hash is compared before its key. */
static size_t *index_slot(const tm_stats *st, const char *key, uint64_t h)
{
    const index_t *ix = st->index;
    size_t mask = ix->cap - 1, i = h & mask;

    while (ix->slots[i] && (st->v[ix->slots[i] - 1].hash != h || strcmp(st->v[ix->slots[i] - 1].key, key)))
        i = (i + 1) & mask;
    return &ix->slots[i];
}

/* Puts position 'pos' (a key not in the index yet) into an empty slot. */
static void index_put(index_t *ix, uint64_t h, size_t pos)
{
    size_t mask = ix->cap - 1, i = h & mask;

    while (ix->slots[i])
        i = (i + 1) & mask;
    ix->slots[i] = pos + 1;
}

static int index_grow(tm_stats *st)
{
    index_t *ix = st->index;
    size_t *old = ix->slots, oldcap = ix->cap;

    ix->cap = oldcap ? oldcap * 2 : 64;
    if (!(ix->slots = calloc(ix->cap, sizeof *ix->slots))) {
        ix->slots = old;
        ix->cap = oldcap;
        return -ENOMEM;
    }
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            index_put(ix, st->v[old[i] - 1].hash, old[i] - 1);
    free(old);
    return 0;
}

long tm_stats_find(const tm_stats *stats, const char *key)
{
    if (!stats->index || !((index_t *)stats->index)->cap)
        return -1;
    size_t s = *index_slot(stats, key, hash_str(key));

    return s ? (long)s - 1 : -1;
}

/* The group of 'key', created when new; NULL on ENOMEM. */
static tm_stat *group(tm_stats *st, const char *key, size_t *cap)
{
    index_t *ix = st->index;
    uint64_t h = hash_str(key);
    size_t *slot;

    if ((st->n + 1) * 2 > ix->cap && index_grow(st))
        return NULL;
    slot = index_slot(st, key, h);
    if (*slot)
        return &st->v[*slot - 1];
    if (st->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        tm_stat *nv = realloc(st->v, ncap * sizeof *nv);

        if (!nv)
            return NULL;
        st->v = nv;
        *cap = ncap;
    }
    tm_stat *s = &st->v[st->n];

    memset(s, 0, sizeof *s);
    s->last_trace = SIZE_MAX;
    s->hash = h;
    if (!(s->key = strdup(key)))
        return NULL;
    *slot = ++st->n;
    return s;
}

/* --- computing --- */

static void add(tm_stat *s, const tm_trace *t, size_t ti)
{
    s->size += t->size;
    s->count += t->count;
    s->allocated_size += t->allocated_size;
    s->allocated_count += t->allocated_count;
    s->temporary += t->temporary;
    s->last_trace = ti;
}

static void set_origin(tm_stat *s, size_t stack, size_t frame, int loc)
{
    if (s->last_trace != SIZE_MAX)
        return;
    s->stack = stack;
    s->frame = frame;
    s->loc = loc;
}

/* The group of logical frame 'l' of frame 'fi' ('f'). 'fpos' caches the
 * group position (+ 1) of each frame's own location: keys are built and
 * hashed once per frame, not once per occurrence. */
static tm_stat *frame_group(tm_stats *st, size_t fi, const tm_frame *f, int l, size_t *fpos, size_t *cap)
{
    char key[KEY_MAX];
    tm_stat *s;

    if (l < 0 && fpos[fi])
        return &st->v[fpos[fi] - 1];
    tm_location_key(st->snap, f, l, st->opts.by, key, sizeof key);
    if ((s = group(st, key, cap)) && l < 0)
        fpos[fi] = (size_t)(s - st->v) + 1;
    return s;
}

/* The lines of each frame's traceback key, joined as tm_stack_key()
 * joins them: built once per frame, not once per stack the frame is in
 * (snprintf() per line and stack was most of grouping the 87 000 peak
 * stacks of a python3 snapshot). 'key' is the buffer keys are built in. */
typedef struct frame_texts {
    char **text; /* per frame index, NULL until built */
    size_t *len;
    char *key;
    size_t cap;
} frame_texts;

static void frame_texts_free(frame_texts *ft, size_t nframes)
{
    for (size_t i = 0; ft->text && i < nframes; i++)
        free(ft->text[i]);
    free(ft->text);
    free(ft->len);
    free(ft->key);
}

/* Appends the 'n' bytes at 'p' to the key being built ('*len' long). */
static int key_append(frame_texts *ft, size_t *len, const char *p, size_t n)
{
    if (*len + n + 1 > ft->cap) {
        size_t cap = ft->cap ? ft->cap : 4096;
        char *k;

        while (*len + n + 1 > cap)
            cap *= 2;
        if (!(k = realloc(ft->key, cap)))
            return -1;
        ft->key = k;
        ft->cap = cap;
    }
    memcpy(ft->key + *len, p, n);
    *len += n;
    ft->key[*len] = '\0';
    return 0;
}

/* The text of frame 'fi' ('f'): its logical lines, '\n' between them. */
static const char *frame_text(const tm_snapshot *snap, frame_texts *ft, size_t fi, const tm_frame *f,
                              size_t *len)
{
    if (!ft->text[fi]) {
        char part[KEY_MAX], *t = NULL;
        size_t n = 0;

        for (int l = -1; l < (int)f->ninlined; l++) {
            size_t k = lineno_line(snap, f, l, part, sizeof part);
            char *g = realloc(t, n + (l >= 0) + k + 1);

            if (!g) {
                free(t);
                return NULL;
            }
            t = g;
            if (l >= 0)
                t[n++] = '\n';
            memcpy(t + n, part, k + 1);
            n += k;
        }
        ft->text[fi] = t;
        ft->len[fi] = n;
    }
    *len = ft->len[fi];
    return ft->text[fi];
}

/* tm_stack_key() of 'stk' in ft->key (valid until the next call); NULL
 * on ENOMEM. */
static const char *stack_key_cached(const tm_snapshot *snap, frame_texts *ft, const tm_stack *stk)
{
    size_t len = 0;

    for (size_t i = 0; i < stk->nframes; i++) {
        size_t n;
        const char *t = frame_text(snap, ft, stk->frames[i], tm_stack_frame(snap, stk, i), &n);

        if (!t || (i && key_append(ft, &len, "\n", 1)) || key_append(ft, &len, t, n))
            return NULL;
    }
    return ft->key;
}

static int add_trace(tm_stats *st, const tm_trace *t, size_t ti, size_t *fpos, frame_texts *ft, size_t *cap)
{
    const tm_snapshot *snap = st->snap;
    const tm_stack *stk = &snap->stacks[t->stack];
    tm_stat *s;

    if (st->opts.by == TM_BY_TRACEBACK || stk->nframes == 0) {
        const char *k = stk->nframes ? stack_key_cached(snap, ft, stk) : "[no frames]";

        if (!k)
            return -ENOMEM;
        s = group(st, k, cap);
        if (!s)
            return -ENOMEM;
        set_origin(s, t->stack, stk->nframes ? 0 : SIZE_MAX, -1);
        add(s, t, ti);
        return 0;
    }
    for (size_t i = 0; i < stk->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, stk, i);

        for (int l = -1; l < (int)f->ninlined; l++) {
            if (!(s = frame_group(st, stk->frames[i], f, l, fpos, cap)))
                return -ENOMEM;
            set_origin(s, t->stack, i, l);
            if (s->last_trace != ti)
                add(s, t, ti);
            if (!st->opts.cumulative)
                return 0;
        }
    }
    return 0;
}

static int check_opts(const tm_snapshot *snap, const tm_stats_opts *o, tm_error *err)
{
    if (o->cumulative && o->by == TM_BY_TRACEBACK)
        return tm__error_set(err, -EINVAL, "--cumulative cannot be used with --by traceback");
    if (o->peak && (o->sort == TM_SORT_ALLOCATIONS || o->sort == TM_SORT_TEMPORARY))
        return tm__error_set(err, -EINVAL,
                             "--sort %s cannot be used with --peak "
                             "(the peak record has no allocation counts)", tm_sort_name(o->sort));
    if (o->peak && !snap->has_peak)
        return tm__error_set(err, -EINVAL, "no peak record in this snapshot");
    return 0;
}

static int stat_cmp(const tm_stat *a, const tm_stat *b, tm_sort sort)
{
    uint64_t a1 = a->size, b1 = b->size, a2 = a->count, b2 = b->count;

    if (sort == TM_SORT_COUNT) {
        a1 = a->count, b1 = b->count, a2 = a->size, b2 = b->size;
    } else if (sort == TM_SORT_ALLOCATIONS) {
        a1 = a->allocated_count, b1 = b->allocated_count;
        a2 = a->allocated_size, b2 = b->allocated_size;
    } else if (sort == TM_SORT_TEMPORARY) {
        a1 = a->temporary, b1 = b->temporary;
        a2 = a->allocated_count, b2 = b->allocated_count;
    }
    if (a1 != b1)
        return a1 > b1 ? -1 : 1;
    if (a2 != b2)
        return a2 > b2 ? -1 : 1;
    return -strverscmp(a->key, b->key);
}

static int cmp_size(const void *a, const void *b)
{
    return stat_cmp(a, b, TM_SORT_SIZE);
}

static int cmp_count(const void *a, const void *b)
{
    return stat_cmp(a, b, TM_SORT_COUNT);
}

static int cmp_alloc(const void *a, const void *b)
{
    return stat_cmp(a, b, TM_SORT_ALLOCATIONS);
}

static int cmp_temp(const void *a, const void *b)
{
    return stat_cmp(a, b, TM_SORT_TEMPORARY);
}

/* The 'top' first groups of 'st' in order, the others after them: each
 * group is compared with the last of the best so far (a smaller size
 * decides most of them at once), and the best are kept sorted. */
static void sort_top(tm_stats *st, size_t top, int (*cmp)(const void *, const void *))
{
    size_t n = 0;

    for (size_t i = 0; i < st->n; i++) {
        tm_stat t;
        size_t j;

        if (n == top && cmp(&st->v[i], &st->v[n - 1]) >= 0)
            continue;
        /* v[i] joins the best: v[n] (or the worst, v[top - 1]) goes
         * where v[i] was */
        t = st->v[i];
        if (n < top) {
            st->v[i] = st->v[n];
            j = n++;
        } else {
            st->v[i] = st->v[n - 1];
            j = n - 1;
        }
        for (; j > 0 && cmp(&t, &st->v[j - 1]) < 0; j--)
            st->v[j] = st->v[j - 1];
        st->v[j] = t;
    }
}

/* Sorts and rebuilds the index (positions moved). */
static int sort_stats(tm_stats *st)
{
    static int (*const cmp[])(const void *, const void *) = {
        cmp_size,
        cmp_count,
        cmp_alloc,
        cmp_temp,
    };
    index_t *ix = st->index;

    if (st->opts.top && st->opts.top < st->n)
        sort_top(st, st->opts.top, cmp[st->opts.sort]);
    else if (st->n) /* qsort(NULL, 0) is undefined */
        qsort(st->v, st->n, sizeof *st->v, cmp[st->opts.sort]);
    memset(ix->slots, 0, ix->cap * sizeof *ix->slots);
    for (size_t i = 0; i < st->n; i++)
        index_put(ix, st->v[i].hash, i);
    return 0;
}

int tm_stats_compute(const tm_snapshot *snap, const tm_stats_opts *opts, tm_stats *out, tm_error *err)
{
    const tm_trace *traces = opts->peak ? snap->peak_traces : snap->traces;
    size_t ntraces = opts->peak ? snap->npeak_traces : snap->ntraces;
    size_t cap = 0, *fpos = NULL;
    frame_texts ft = {NULL, NULL, NULL, 0};
    int rc;

    memset(out, 0, sizeof *out);
    out->snap = snap;
    out->opts = *opts;
    if ((rc = check_opts(snap, opts, err)))
        return rc;
    if (!(out->index = calloc(1, sizeof(index_t))) || index_grow(out) ||
        !(fpos = calloc(snap->nframes + 1, sizeof *fpos)))
        goto out_nomem;
    if (opts->by == TM_BY_TRACEBACK && (!(ft.text = calloc(snap->nframes + 1, sizeof *ft.text)) ||
                                        !(ft.len = calloc(snap->nframes + 1, sizeof *ft.len))))
        goto out_nomem;
    for (size_t i = 0; i < ntraces; i++) {
        const tm_trace *t = &traces[i];

        if (!trace_kept(snap, opts, t))
            continue;
        /* the totals are those of every trace the filters keep, whatever
         * the sort; only the groups leave out traces with nothing to show */
        out->total_size += t->size;
        out->total_count += t->count;
        out->total_allocated_size += t->allocated_size;
        out->total_allocated_count += t->allocated_count;
        out->total_temporary += t->temporary;
        if (opts->sort == TM_SORT_ALLOCATIONS   ? t->allocated_count == 0
            : opts->sort == TM_SORT_TEMPORARY ? t->temporary == 0
                                              : t->count == 0)
            continue;
        if (add_trace(out, t, i, fpos, &ft, &cap))
            goto out_nomem;
    }
    free(fpos);
    frame_texts_free(&ft, snap->nframes);
    sort_stats(out);
    return 0;
out_nomem:
    free(fpos);
    frame_texts_free(&ft, snap->nframes);
    tm_stats_free(out);
    return tm__error_set(err, -ENOMEM, "out of memory");
}

void tm_stats_free(tm_stats *stats)
{
    index_t *ix = stats->index;

    for (size_t i = 0; i < stats->n; i++)
        free(stats->v[i].key);
    free(stats->v);
    if (ix)
        free(ix->slots);
    free(ix);
    stats->v = NULL;
    stats->index = NULL;
    stats->n = 0;
}

/* --- compare_to --- */

static uint64_t uabs(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static int diff_cmp(const void *pa, const void *pb, void *arg)
{
    const tm_stat_diff *a = pa, *b = pb;
    tm_sort diff_sort = *(const tm_sort *)arg;
    uint64_t ka[4] = {uabs(a->size_diff), a->size, uabs(a->count_diff), a->count};
    uint64_t kb[4] = {uabs(b->size_diff), b->size, uabs(b->count_diff), b->count};

    if (diff_sort == TM_SORT_COUNT) {
        ka[0] = uabs(a->count_diff), ka[1] = a->count;
        ka[2] = uabs(a->size_diff), ka[3] = a->size;
        kb[0] = uabs(b->count_diff), kb[1] = b->count;
        kb[2] = uabs(b->size_diff), kb[3] = b->size;
    } else if (diff_sort == TM_SORT_ALLOCATIONS) {
        ka[0] = uabs(a->allocated_count_diff), ka[1] = a->allocated_count;
        ka[2] = uabs(a->size_diff), ka[3] = a->size;
        kb[0] = uabs(b->allocated_count_diff), kb[1] = b->allocated_count;
        kb[2] = uabs(b->size_diff), kb[3] = b->size;
    }
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] > kb[i] ? -1 : 1;
    return -strverscmp(a->key, b->key);
}

int tm_stats_compare(const tm_stats *old_stats, const tm_stats *new_stats, tm_diff *out)
{
    size_t n = 0;

    memset(out, 0, sizeof *out);
    if (!(out->v = calloc(old_stats->n + new_stats->n + 1, sizeof *out->v)))
        return -ENOMEM;
    for (size_t i = 0; i < new_stats->n; i++) {
        const tm_stat *s = &new_stats->v[i];
        long o = tm_stats_find(old_stats, s->key);
        const tm_stat *os = o >= 0 ? &old_stats->v[o] : NULL;
        tm_stat_diff *d = &out->v[n++];

        d->key = s->key;
        d->size = s->size;
        d->count = s->count;
        d->allocated_count = s->allocated_count;
        d->size_diff = (int64_t)(s->size - (os ? os->size : 0));
        d->count_diff = (int64_t)(s->count - (os ? os->count : 0));
        d->allocated_count_diff = (int64_t)(s->allocated_count - (os ? os->allocated_count : 0));
        d->from = new_stats;
        d->idx = i;
    }
    for (size_t i = 0; i < old_stats->n; i++) {
        const tm_stat *s = &old_stats->v[i];
        tm_stat_diff *d;

        if (tm_stats_find(new_stats, s->key) >= 0)
            continue;
        d = &out->v[n++];
        d->key = s->key;
        d->size_diff = -(int64_t)s->size;
        d->count_diff = -(int64_t)s->count;
        d->allocated_count_diff = -(int64_t)s->allocated_count;
        d->from = old_stats;
        d->idx = i;
    }
    out->n = n;
    out->total_size_diff = (int64_t)(new_stats->total_size - old_stats->total_size);
    out->total_count_diff = (int64_t)(new_stats->total_count - old_stats->total_count);
    if (n)
        qsort_r(out->v, n, sizeof *out->v, diff_cmp, (void *)&new_stats->opts.sort);
    return 0;
}

void tm_diff_free(tm_diff *diff)
{
    free(diff->v);
    diff->v = NULL;
    diff->n = 0;
}
