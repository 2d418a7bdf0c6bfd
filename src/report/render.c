/* render.c - text and JSON output of tracemem top and tracemem diff.
 *
 * The JSON layout is an interface (see render.h and the man pages): keys
 * are only ever added, never renamed or removed.
 */
#include "config.h"

#include "report/render.h"
#include "report/fold.h"
#include "report/quote.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

char *tm_format_size(char *buf, size_t len, double size, int sign)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};

    for (int i = 0; i < 5; i++) {
        double a = size < 0 ? -size : size;

        if (a < 100 && i > 0) {
            snprintf(buf, len, sign ? "%+.1f %s" : "%.1f %s", size, units[i]);
            return buf;
        }
        if (a < 10 * 1024 || i == 4) {
            snprintf(buf, len, sign ? "%+.0f %s" : "%.0f %s", size, units[i]);
            return buf;
        }
        size /= 1024;
    }
    return buf;
}

char *tm_format_location(const tm_snapshot *snap, const tm_frame *frame, int loc, char *buf, size_t len)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const tm_module *m = tm_snapshot_frame_module(snap, frame);
    char shortened[2048];
    const char *fn = l->function ? tm_view_name(snap, l->function, shortened, sizeof shortened) : "??";
    /* every logical frame but the last is code inlined into the next */
    const char *inl = loc + 1 < (int)frame->ninlined ? " [inlined]" : "";

    if (frame->python)
        snprintf(buf, len, "%s at %s:%" PRId64 " (python)", fn, l->file ? l->file : "??", l->line);
    else if (l->file && l->line > 0)
        snprintf(buf, len, "%s at %s:%" PRId64 " (%s)%s", fn, l->file, l->line, m ? m->name : "[unknown]",
                 inl);
    else if (m)
        snprintf(buf, len, "%s (%s+0x%" PRIx64 ")%s", fn, m->name, frame->offset, inl);
    else
        snprintf(buf, len, "%s (0x%" PRIx64 ")%s", fn, frame->offset, inl);
    return buf;
}

void tm_print_stack(FILE *fp, const tm_snapshot *snap, const tm_stack *stack, const char *indent)
{
    char line[4096];

    for (size_t i = 0; i < stack->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = -1; l < (int)f->ninlined; l++) {
            fputs(indent, fp);
            tm_fputs_quoted(tm_format_location(snap, f, l, line, sizeof line), fp);
            fputc('\n', fp);
        }
    }
    if (stack->depth > stack->nframes)
        fprintf(fp, "%s... %" PRIu64 " more frame%s\n", indent, stack->depth - stack->nframes,
                stack->depth - stack->nframes > 1 ? "s" : "");
    if (stack->caller_only)
        fprintf(fp, "%s(only the caller is known: allocated before tracemem could unwind)\n", indent);
    if (stack->nframes == 0)
        fprintf(fp, "%s[no frames]\n", indent);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *tm_location_json(const tm_snapshot *snap, const tm_frame *frame, int loc)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const tm_module *m = tm_snapshot_frame_module(snap, frame);
    json_t *j = json_pack("{s:o, s:o, s:I, s:o, s:I, s:b}", "function", str_or_null(l->function), "file",
                          str_or_null(l->file), "line", (json_int_t)l->line, "module",
                          str_or_null(m ? m->name : NULL), "offset", (json_int_t)frame->offset, "inlined",
                          loc + 1 < (int)frame->ninlined);

    if (j && frame->python)
        json_object_set_new(j, "kind", json_string("python"));
    return j;
}

json_t *tm_stack_json(const tm_snapshot *snap, const tm_stack *stack)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < stack->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = -1; l < (int)f->ninlined; l++)
            json_array_append_new(arr, tm_location_json(snap, f, l));
    }
    return arr;
}

/* The "frames" of a stat, per the grouping. */
static json_t *stat_frames(const tm_stats *st, const tm_stat *s)
{
    const tm_snapshot *snap = st->snap;
    const tm_stack *stack = &snap->stacks[s->stack];

    if (st->opts.by == TM_BY_TRACEBACK)
        return tm_stack_json(snap, stack);
    if ((st->opts.by != TM_BY_LINENO && st->opts.by != TM_BY_FUNCTION) || s->frame == SIZE_MAX)
        return json_array();
    return json_pack("[o]", tm_location_json(snap, tm_stack_frame(snap, stack, s->frame), s->loc));
}

static size_t shown(size_t n, size_t limit)
{
    return limit && limit < n ? limit : n;
}

/* A key as text: C++ template arguments shortened unless --full-names. */
static void put_key(FILE *fp, const tm_snapshot *snap, const char *key)
{
    char small[2048], *buf = small;
    size_t len = strlen(key) + 1;

    if (len > sizeof small && !(buf = malloc(len)))
        buf = NULL;
    tm_fputs_quoted(buf ? tm_view_name(snap, key, buf, buf == small ? sizeof small : len) : key, fp);
    if (buf != small)
        free(buf);
}

/* "size=1.2 KiB, count=3, average=410 B" */
static void print_figures(FILE *fp, const tm_stats *st, const tm_stat *s)
{
    char a[32], b[32];

    fprintf(fp, "size=%s, count=%" PRIu64, tm_format_size(a, sizeof a, (double)s->size, 0), s->count);
    if (s->count)
        fprintf(fp, ", average=%s", tm_format_size(b, sizeof b, (double)s->size / s->count, 0));
    if (st->opts.sort == TM_SORT_ALLOCATIONS)
        fprintf(fp, ", allocations=%" PRIu64 ", allocated=%s", s->allocated_count,
                tm_format_size(a, sizeof a, (double)s->allocated_size, 0));
    if (st->opts.sort == TM_SORT_TEMPORARY)
        fprintf(fp, ", temporary=%" PRIu64 " of %" PRIu64 " allocations", s->temporary, s->allocated_count);
    fputc('\n', fp);
}

void tm_render_top_text(FILE *fp, const tm_stats *st, size_t limit)
{
    size_t n = shown(st->n, limit);
    uint64_t size = 0, count = 0;
    char a[32];

    for (size_t i = 0; i < n; i++) {
        const tm_stat *s = &st->v[i];

        if (st->opts.by == TM_BY_TRACEBACK) {
            fprintf(fp, "#%zu: ", i + 1);
            print_figures(fp, st, s);
            tm_print_stack(fp, st->snap, &st->snap->stacks[s->stack], "    ");
            continue;
        }
        put_key(fp, st->snap, s->key);
        fputs(": ", fp);
        print_figures(fp, st, s);
    }
    for (size_t i = n; i < st->n; i++) {
        size += st->v[i].size;
        count += st->v[i].count;
    }
    if (n < st->n && st->opts.cumulative) /* groups overlap: a sum means nothing */
        fprintf(fp, "%zu other (cumulative groups overlap: not summed)\n", st->n - n);
    else if (n < st->n)
        fprintf(fp, "%zu other: size=%s, count=%" PRIu64 "\n", st->n - n,
                tm_format_size(a, sizeof a, (double)size, 0), count);
    fprintf(fp, "Total: size=%s, count=%" PRIu64 "\n", tm_format_size(a, sizeof a, (double)st->total_size, 0),
            st->total_count);
}

/* The head of a report: format, version, then the options used. */
static json_t *head_json(const char *format, const tm_stats_opts *o)
{
    return json_pack("{s:s, s:i, s:s, s:b, s:b, s:s, s:o}", "format", format, "version", 1, "by",
                     tm_group_by_name(o->by), "cumulative", o->cumulative, "peak", o->peak, "sort",
                     tm_sort_name(o->sort), "domain", o->domain >= 0 ? json_integer(o->domain) : json_null());
}

json_t *tm_render_top_json(const tm_stats *st, size_t limit)
{
    size_t n = shown(st->n, limit);
    json_t *root = head_json("tracemem-top", &st->opts), *arr = json_array();

    json_object_set_new(root, "snapshot", json_string(st->snap->file));
    json_object_set_new(root, "total",
                        json_pack("{s:I, s:I, s:I, s:I, s:I}", "size", (json_int_t)st->total_size, "count",
                                  (json_int_t)st->total_count, "allocated_size",
                                  (json_int_t)st->total_allocated_size, "allocated_count",
                                  (json_int_t)st->total_allocated_count, "temporary",
                                  (json_int_t)st->total_temporary));
    json_object_set_new(root, "omitted", json_integer((json_int_t)(st->n - n)));
    for (size_t i = 0; i < n; i++) {
        const tm_stat *s = &st->v[i];

        json_array_append_new(
            arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "key", s->key, "size", (json_int_t)s->size,
                           "count", (json_int_t)s->count, "allocated_size", (json_int_t)s->allocated_size,
                           "allocated_count", (json_int_t)s->allocated_count, "temporary",
                           (json_int_t)s->temporary, "frames", stat_frames(st, s)));
    }
    json_object_set_new(root, "stats", arr);
    return root;
}

/* "size=1.2 KiB (+1.2 KiB), count=3 (+3), average=410 B" */
static void print_diff_figures(FILE *fp, const tm_stat_diff *d)
{
    char a[32], b[32];

    fprintf(fp, "size=%s (%s), count=%" PRIu64 " (%+" PRId64 ")",
            tm_format_size(a, sizeof a, (double)d->size, 0),
            tm_format_size(b, sizeof b, (double)d->size_diff, 1), d->count, d->count_diff);
    if (d->count)
        fprintf(fp, ", average=%s", tm_format_size(a, sizeof a, (double)d->size / d->count, 0));
    fputc('\n', fp);
}

void tm_render_diff_text(FILE *fp, const tm_diff *diff, const tm_stats *new_stats, size_t limit)
{
    size_t n = shown(diff->n, limit);
    char a[32];

    for (size_t i = 0; i < n; i++) {
        const tm_stat_diff *d = &diff->v[i];
        const tm_stat *s = &d->from->v[d->idx];

        if (new_stats->opts.by == TM_BY_TRACEBACK) {
            fprintf(fp, "#%zu: ", i + 1);
            print_diff_figures(fp, d);
            tm_print_stack(fp, d->from->snap, &d->from->snap->stacks[s->stack], "    ");
            continue;
        }
        put_key(fp, d->from->snap, d->key);
        fputs(": ", fp);
        print_diff_figures(fp, d);
    }
    if (n < diff->n)
        fprintf(fp, "%zu other\n", diff->n - n);
    fprintf(fp, "Total: size=%s", tm_format_size(a, sizeof a, (double)new_stats->total_size, 0));
    fprintf(fp, " (%s), count=%" PRIu64 " (%+" PRId64 ")\n",
            tm_format_size(a, sizeof a, (double)diff->total_size_diff, 1), new_stats->total_count,
            diff->total_count_diff);
}

json_t *tm_render_diff_json(const tm_diff *diff, const tm_stats *old_stats, const tm_stats *new_stats,
                            size_t limit)
{
    size_t n = shown(diff->n, limit);
    json_t *root = head_json("tracemem-diff", &new_stats->opts);
    json_t *arr = json_array();

    json_object_set_new(root, "old", json_string(old_stats->snap->file));
    json_object_set_new(root, "new", json_string(new_stats->snap->file));
    json_object_set_new(root, "total",
                        json_pack("{s:I, s:I}", "size_diff", (json_int_t)diff->total_size_diff, "count_diff",
                                  (json_int_t)diff->total_count_diff));
    json_object_set_new(root, "omitted", json_integer((json_int_t)(diff->n - n)));
    for (size_t i = 0; i < n; i++) {
        const tm_stat_diff *d = &diff->v[i];

        json_array_append_new(arr,
                              json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "key", d->key, "size",
                                        (json_int_t)d->size, "size_diff", (json_int_t)d->size_diff, "count",
                                        (json_int_t)d->count, "count_diff", (json_int_t)d->count_diff,
                                        "allocated_count", (json_int_t)d->allocated_count,
                                        "allocated_count_diff", (json_int_t)d->allocated_count_diff, "frames",
                                        stat_frames(d->from, &d->from->v[d->idx])));
    }
    json_object_set_new(root, "stats", arr);
    return root;
}
