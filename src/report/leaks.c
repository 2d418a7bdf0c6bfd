/* leaks.c - loss records from the leaks sections of snapshots, and the
 * output of tracemem leaks (see leaks.h).
 *
 * Invariants of a built tm_leak_report: v[] holds one record per (kind,
 * key) of the selected kinds, sorted biggest first; the shown records
 * (not suppressed) are numbered 1..nshown in that order; 'summary' plus
 * 'suppressed' is the sum of the snapshots' own summaries.
 */
#include "config.h"

#include "report/leaks.h"
#include "report/fold.h"
#include "report/quote.h"

#include <errno.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/render.h"
#include "report/stats.h"

static const char *const phrases[TM_LEAK_NKINDS] = {
    "definitely lost", "indirectly lost", "possibly lost", "still reachable",
};

const char *tm_leak_kind_phrase(tm_leak_kind kind)
{
    return (unsigned)kind < TM_LEAK_NKINDS ? phrases[kind] : "lost";
}

int tm_leak_kinds_parse(const char *list)
{
    char *copy = strdup(list), *save = NULL;
    int kinds = 0;

    if (!copy)
        return -1;
    for (char *k = strtok_r(copy, ",", &save); k;
         k = strtok_r(NULL, ",", &save)) {
        int kind = tm_leak_kind_parse(k);

        if (strcmp(k, "all") == 0) {
            kinds |= TM_LEAK_KINDS_ALL;
        } else if (kind < 0) {
            kinds = 0;
            break;
        } else {
            kinds |= 1 << kind;
        }
    }
    free(copy);
    return kinds ? kinds : -1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash && slash[1] ? slash + 1 : path;
}

/* --- keys --- */

static int system_module(const tm_module *m);

static size_t key_line(const tm_snapshot *snap, const tm_frame *f, int loc, char *buf, size_t cap)
{
    const tm_location *l = tm_frame_loc(f, loc);
    const tm_module *m = tm_snapshot_frame_module(snap, f);
    const char *mod = m ? m->name : f->python ? "python" : "[unknown]";
    int len;

    /* system libraries change with every distribution update: their
     * names are kept, their lines and offsets are not */
    if (m && system_module(m) && m->path[0] == '/')
        len = snprintf(buf, cap, "%s (%s)", l->function ? l->function : "??", mod);
    else if (!l->function && !(l->file && l->line > 0))
        len = snprintf(buf, cap, "%s+0x%" PRIx64, mod, f->offset);
    else if (l->file && l->line > 0)
        len = snprintf(buf, cap, "%s at %s:%" PRId64 " (%s)", l->function ? l->function : "??",
                       base_name(l->file), l->line, mod);
    else
        len = snprintf(buf, cap, "%s (%s)", l->function, mod);
    return len > 0 ? (size_t)len : 0;
}

char *tm_leak_key(const tm_snapshot *snap, const tm_stack *stack)
{
    return tm_stack_key_by(snap, stack, key_line);
}

/* --- building --- */

static int cmp_kind_key(const void *pa, const void *pb)
{
    const tm_leak_record *a = pa, *b = pb;

    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    return strcmp(a->key, b->key);
}

static int cmp_size(const void *pa, const void *pb)
{
    const tm_leak_record *a = pa, *b = pb;

    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks ? -1 : 1;
    return cmp_kind_key(pa, pb);
}

/* Adds the leak stacks of 'snap' to r->v (capacity '*cap'). */
static int add_stacks(tm_leak_report *r, const tm_snapshot *snap, size_t *cap, tm_supp_memo *memo);

static int add_snapshot(tm_leak_report *r, const tm_snapshot *snap,
                        size_t *cap)
{
    for (int k = 0; k < TM_LEAK_NKINDS; k++) {
        r->summary[k].bytes += snap->leak_summary[k].bytes;
        r->summary[k].blocks += snap->leak_summary[k].blocks;
    }
    tm_supp_memo *memo = tm_supp_memo_new(r->supp, snap);
    int rc = add_stacks(r, snap, cap, memo);

    tm_supp_memo_free(memo);
    return rc;
}

static int add_stacks(tm_leak_report *r, const tm_snapshot *snap, size_t *cap, tm_supp_memo *memo)
{
    for (size_t i = 0; i < snap->nleak_stacks; i++) {
        const tm_leak_stack *ls = &snap->leak_stacks[i];
        const tm_stack *st = &snap->stacks[ls->stack];
        /* suppressions name the frames as recorded, allocator and all */
        long s = tm_suppressions_match_memo(r->supp, snap, tm_snapshot_raw_stack(snap, ls->stack), ls->kind,
                                            memo);
        tm_leak_record *rec;

        if (s >= 0) {
            r->supp->v[s].hit_stacks++;
            r->supp->v[s].hit_blocks += ls->blocks;
            r->supp->v[s].hit_bytes += ls->bytes;
            r->suppressed.bytes += ls->bytes;
            r->suppressed.blocks += ls->blocks;
            r->summary[ls->kind].bytes -= ls->bytes < r->summary[ls->kind].bytes
                                              ? ls->bytes
                                              : r->summary[ls->kind].bytes;
            r->summary[ls->kind].blocks -=
                ls->blocks < r->summary[ls->kind].blocks
                    ? ls->blocks
                    : r->summary[ls->kind].blocks;
        }
        if (!(r->kinds & (1u << ls->kind)))
            continue;
        if (r->n == *cap) {
            size_t ncap = *cap ? 2 * *cap : 16;
            tm_leak_record *v = realloc(r->v, ncap * sizeof *v);

            if (!v)
                return -ENOMEM;
            r->v = v;
            *cap = ncap;
        }
        rec = memset(&r->v[r->n], 0, sizeof *rec);
        rec->snap = snap;
        rec->stack = ls->stack;
        rec->kind = ls->kind;
        rec->bytes = ls->bytes;
        rec->blocks = ls->blocks;
        rec->suppression = s;
        if (!(rec->key = tm_leak_key(snap, st)))
            return -ENOMEM;
        r->n++;
    }
    return 0;
}

/* Merges records with the same kind and key (r->v sorted by them). */
static void merge(tm_leak_report *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++) {
        tm_leak_record *last = n ? &r->v[n - 1] : NULL;

        if (last && cmp_kind_key(last, &r->v[i]) == 0) {
            last->bytes += r->v[i].bytes;
            last->blocks += r->v[i].blocks;
            if (last->suppression < 0)
                last->suppression = r->v[i].suppression;
            free(r->v[i].key);
            continue;
        }
        r->v[n++] = r->v[i];
    }
    r->n = n;
}

int tm_leak_report_build(tm_leak_report *r, tm_snapshot *const *snaps,
                         size_t nsnaps, unsigned kinds, tm_suppressions *supp)
{
    size_t cap = 0;
    int rc = 0;

    memset(r, 0, sizeof *r);
    r->snaps = snaps;
    r->nsnaps = nsnaps;
    r->kinds = kinds;
    r->supp = supp;
    r->checked = nsnaps > 0;
    for (size_t i = 0; i < nsnaps && rc == 0; i++) {
        r->checked &= snaps[i]->has_leaks && snaps[i]->leaks_checked;
        if (snaps[i]->sampling_bytes > r->sampling_bytes)
            r->sampling_bytes = snaps[i]->sampling_bytes;
        r->threads_not_stopped += snaps[i]->leaks_threads_not_stopped;
        rc = add_snapshot(r, snaps[i], &cap);
    }
    if (rc) {
        tm_leak_report_free(r);
        return rc;
    }
    if (r->n) {
        qsort(r->v, r->n, sizeof *r->v, cmp_kind_key);
        merge(r);
        qsort(r->v, r->n, sizeof *r->v, cmp_size);
    }
    for (size_t i = 0; i < r->n; i++) {
        r->v[i].status = r->v[i].suppression >= 0 ? TM_REC_SUPPRESSED
                                                  : TM_REC_SHOWN;
        if (r->v[i].suppression < 0)
            r->v[i].number = ++r->nshown;
    }
    return 0;
}

void tm_leak_report_free(tm_leak_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].key);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* --- frames --- */

/* Libraries whose frames are never "the user's code". */
static int system_module(const tm_module *m)
{
    static const char *const dirs[] = { "/lib/", "/lib64/", "/usr/lib/",
                                        "/usr/lib64/", "/usr/libexec/", NULL };
    static const char *const names[] = { "libtracemem.so", "libc.so",
                                          "libstdc++.so", "libgcc_s.so",
                                          "ld-linux", "libc++", NULL };

    if (!m)
        return 1;
    for (int i = 0; dirs[i]; i++)
        if (strncmp(m->path, dirs[i], strlen(dirs[i])) == 0)
            return 1;
    for (int i = 0; names[i]; i++)
        if (strncmp(m->name, names[i], strlen(names[i])) == 0)
            return 1;
    return m->path[0] == '[';   /* [vdso] */
}

static int system_file(const char *file)
{
    return strncmp(file, "/usr/include/", 13) == 0 ||
           strncmp(file, "/usr/lib/", 9) == 0 ||
           strncmp(file, "../sysdeps/", 11) == 0;
}

int tm_leak_user_frame(const tm_snapshot *snap, const tm_stack *stack,
                       const tm_frame **frame, int *loc)
{
    const tm_frame *with_line = NULL;
    int with_line_loc = -1;

    if (stack->nframes == 0)
        return -1;
    for (size_t i = 0; i < stack->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = -1; l < (int)f->ninlined; l++) {
            const tm_location *lc = tm_frame_loc(f, l);

            if (!lc->file || lc->line <= 0)
                continue;
            if (!system_module(tm_snapshot_frame_module(snap, f)) &&
                !system_file(lc->file)) {
                *frame = f;
                *loc = l;
                return 0;
            }
            if (!with_line) {
                with_line = f;
                with_line_loc = l;
            }
        }
    }
    *frame = with_line ? with_line : tm_stack_frame(snap, stack, 0);
    *loc = with_line ? with_line_loc : -1;
    return 0;
}

char *tm_leak_format_frame(const tm_snapshot *snap, const tm_frame *frame,
                           int loc, char *buf, size_t len)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const tm_module *m = tm_snapshot_frame_module(snap, frame);
    char shortened[2048];
    const char *fn = l->function ? tm_view_name(snap, l->function, shortened, sizeof shortened) : "???";

    if (l->file && l->line > 0)
        snprintf(buf, len, "%s (%s:%" PRId64 ")", fn, l->file, l->line);
    else if (l->function && m)
        snprintf(buf, len, "%s (in %s)", fn, m->name);
    else if (m)
        snprintf(buf, len, "%s (in %s+0x%" PRIx64 ")", fn, m->name,
                 frame->offset);
    else
        snprintf(buf, len, "%s (0x%" PRIx64 ")", fn, frame->offset);
    return buf;
}

void tm_leak_print_stack(FILE *fp, const tm_leak_record *rec)
{
    const tm_snapshot *snap = rec->snap;
    const tm_stack *st = &snap->stacks[rec->stack];
    char line[4096];
    int first = 1;

    for (size_t i = 0; i < st->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, st, i);

        for (int l = -1; l < (int)f->ninlined; l++, first = 0)
        {
            fprintf(fp, "   %s ", first ? "at" : "by");
            tm_fputs_quoted(tm_leak_format_frame(snap, f, l, line, sizeof line), fp);
            fputc('\n', fp);
        }
    }
    if (st->depth > st->nframes)
        fprintf(fp, "   ... %" PRIu64 " more frames\n",
                st->depth - st->nframes);
    if (st->caller_only)
        fputs("   (only the caller is known: allocated before tracemem could unwind)\n", fp);
    if (st->nframes == 0)
        fputs("   [no frames]\n", fp);
}

/* --- tracemem leaks: text --- */

static void print_kinds(FILE *fp, unsigned kinds)
{
    const char *sep = "";

    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        if (kinds & (1u << k)) {
            fprintf(fp, "%s%s", sep, tm_leak_kind_name((tm_leak_kind)k));
            sep = ",";
        }
}

static void print_unchecked(FILE *fp, const tm_leak_report *r)
{
    for (size_t i = 0; i < r->nsnaps; i++) {
        const tm_snapshot *s = r->snaps[i];

        if (s->has_leaks && s->leaks_checked)
            continue;
        fputs("LEAKS NOT CHECKED in ", fp);
        tm_fputs_quoted(s->file, fp);
        fputs(": the snapshot has no leak "
              "check, so nothing is known about leaks\n"
              "   (leaks are checked at exit with TRACEMEM_AT_EXIT=leaks, "
              "the default, or by tracemem_leak_check())\n", fp);
    }
}

void tm_leak_print_suppressions(FILE *fp, const tm_leak_report *r)
{
    int header = 0;

    for (size_t i = 0; r->supp && i < r->supp->n; i++) {
        const tm_suppression *s = &r->supp->v[i];

        if (!s->hit_stacks)
            continue;
        if (!header++)
            fprintf(fp, "\nSuppressions used:\n  %8s %8s %12s  %s\n",
                    "stacks", "blocks", "bytes", "suppression");
        fprintf(fp, "  %8" PRIu64 " %8" PRIu64 " %12" PRIu64 "  ",
                s->hit_stacks, s->hit_blocks, s->hit_bytes);
        tm_fputs_quoted(s->name, fp);
        fputs(" (", fp);
        tm_fputs_quoted(s->file, fp);
        fprintf(fp, ":%d)\n", s->line);
    }
}

static void print_summary(FILE *fp, const tm_leak_report *r)
{
    static const char *const labels[TM_LEAK_NKINDS] = {
        "definitely lost", "indirectly lost", "  possibly lost",
        "still reachable",
    };

    fputs("LEAK SUMMARY:\n", fp);
    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        fprintf(fp, "   %s: %" PRIu64 " bytes in %" PRIu64 " blocks\n",
                labels[k], r->summary[k].bytes, r->summary[k].blocks);
    fprintf(fp, "        suppressed: %" PRIu64 " bytes in %" PRIu64
            " blocks\n", r->suppressed.bytes, r->suppressed.blocks);
    tm_leak_print_caveats(fp, r);
}

void tm_leak_print_caveats(FILE *fp, const tm_leak_report *r)
{
    if (r->sampling_bytes > 0)
        fprintf(fp, "   estimates: sampled every %" PRId64 " bytes on average "
                "(TRACEMEM_SAMPLE); blocks not sampled were not scanned, so "
                "these are estimates, not counts\n", r->sampling_bytes);
    if (r->threads_not_stopped > 0)
        fprintf(fp, "   partial: %" PRId64 " thread(s) could not be stopped; "
                "their registers were not read, so a block whose only "
                "pointer was there is counted as lost\n",
                r->threads_not_stopped);
}

void tm_leak_render_text(FILE *fp, const tm_leak_report *r)
{
    if (!r->checked) {
        print_unchecked(fp, r);
        if (r->nsnaps == 1)
            return;
    }
    for (size_t i = 0; i < r->n; i++) {
        const tm_leak_record *rec = &r->v[i];

        if (!rec->number)
            continue;
        fprintf(fp, "%" PRIu64 " bytes in %" PRIu64 " blocks are %s in loss "
                "record %zu of %zu\n", rec->bytes, rec->blocks,
                tm_leak_kind_phrase(rec->kind), rec->number, r->nshown);
        tm_leak_print_stack(fp, rec);
        fputc('\n', fp);
    }
    if (!r->nshown) {
        fputs("No leaks of the kinds ", fp);
        print_kinds(fp, r->kinds);
        fputs(" were found.\n\n", fp);
    }
    print_summary(fp, r);
    tm_leak_print_suppressions(fp, r);
}

/* --- tracemem leaks: JSON --- */

json_t *tm_leak_suppressions_json(const tm_leak_report *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && r->supp && i < r->supp->n; i++) {
        const tm_suppression *s = &r->supp->v[i];

        if (s->builtin && !s->hit_stacks)
            continue;
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:i, s:s, s:I, s:I, s:I}", "name",
                           s->name, "file", s->file, "line", s->line, "format",
                           s->format == TM_SUPP_LSAN ? "lsan" : "valgrind",
                           "stacks", (json_int_t)s->hit_stacks, "blocks",
                           (json_int_t)s->hit_blocks, "bytes",
                           (json_int_t)s->hit_bytes));
    }
    return arr;
}

static json_t *total_json(const tm_leak_total *t)
{
    return json_pack("{s:I, s:I}", "bytes", (json_int_t)t->bytes, "blocks",
                     (json_int_t)t->blocks);
}

static json_t *record_json(const tm_leak_report *r, const tm_leak_record *rec)
{
    const tm_suppression *s =
        rec->suppression >= 0 ? &r->supp->v[rec->suppression] : NULL;

    return json_pack("{s:o, s:s, s:I, s:I, s:s, s:o, s:o}", "record",
                     rec->number ? json_integer((json_int_t)rec->number)
                                 : json_null(),
                     "kind", tm_leak_kind_name(rec->kind), "bytes",
                     (json_int_t)rec->bytes, "blocks", (json_int_t)rec->blocks,
                     "key", rec->key, "suppressed_by",
                     s ? json_string(s->name) : json_null(), "frames",
                     tm_stack_json(rec->snap, &rec->snap->stacks[rec->stack]));
}

json_t *tm_leak_render_json(const tm_leak_report *r)
{
    json_t *snaps = json_array(), *kinds = json_array(), *records = json_array();
    json_t *summary = json_object();

    for (size_t i = 0; i < r->nsnaps; i++)
        json_array_append_new(snaps, json_string(r->snaps[i]->file));
    for (int k = 0; k < TM_LEAK_NKINDS; k++) {
        if (r->kinds & (1u << k))
            json_array_append_new(kinds,
                                  json_string(tm_leak_kind_name((tm_leak_kind)k)));
        json_object_set_new(summary, tm_leak_kind_name((tm_leak_kind)k),
                            total_json(&r->summary[k]));
    }
    json_object_set_new(summary, "suppressed", total_json(&r->suppressed));
    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(records, record_json(r, &r->v[i]));
    json_t *j = json_pack("{s:s, s:i, s:o, s:b, s:o, s:o, s:o, s:o}", "format",
                          "tracemem-leaks", "version", 1, "snapshots", snaps,
                          "checked", r->checked, "kinds", kinds, "summary", summary,
                          "records", records, "suppressions",
                          tm_leak_suppressions_json(r));
    if (j && r->sampling_bytes > 0)
        json_object_set_new(j, "estimated_sampling_bytes", json_integer(r->sampling_bytes));
    if (j && r->threads_not_stopped > 0)
        json_object_set_new(j, "partial_threads_not_stopped", json_integer(r->threads_not_stopped));
    return j;
}

/* --- tracemem leaks --gen-suppressions --- */

/* A name for a Valgrind glob: '*', '?' and '\' quoted. A control
 * character (a newline would end the line) and white space at either end
 * (the reader trims lines) cannot be written as themselves: each is
 * written as '?', which matches it, so the suppression read back still
 * matches the stack it was made from. */
static void put_glob(FILE *fp, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (tm_is_control(c) || (isspace(c) && (i == 0 || i == len - 1))) {
            fputc('?', fp);
            continue;
        }
        if (strchr("*?\\", c))
            fputc('\\', fp);
        fputc(c, fp);
    }
}

/* Like fputs(), with control characters written as 'as' (the name line of
 * a Valgrind block, a LeakSanitizer pattern: neither has escapes). */
static void put_plain(FILE *fp, const char *s, int as)
{
    for (; *s; s++)
        fputc(tm_is_control((unsigned char)*s) ? as : *s, fp);
}

#define GEN_FRAMES (TM_SUPP_MAX_FRAMES - 1)     /* after the fun:* line */

static void gen_valgrind(FILE *fp, const tm_leak_record *rec, const char *fn)
{
    const tm_snapshot *snap = rec->snap;
    /* the recorded frames: what the suppression will be matched with */
    const tm_stack *st = tm_snapshot_raw_stack(snap, rec->stack);
    int n = 0, done = 0;

    fprintf(fp, "{\n   tracemem-%zu-%s-", rec->number, tm_leak_kind_name(rec->kind));
    put_plain(fp, fn, '?');
    fprintf(fp, "\n   Memcheck:Leak\n   match-leak-kinds: %s\n   fun:*\n",
            tm_leak_kind_name(rec->kind));
    for (size_t i = 0; i < st->nframes && !done; i++) {
        const tm_frame *f = tm_stack_frame(snap, st, i);
        const tm_module *m = tm_snapshot_frame_module(snap, f);

        for (int l = -1; l < (int)f->ninlined && !done; l++) {
            const char *name = tm_frame_loc(f, l)->function;

            if (name || m) {
                fputs(name ? "   fun:" : "   obj:", fp);
                put_glob(fp, name ? name : m->path);
                fputc('\n', fp);
            } else {
                fputs("   obj:*\n", fp);
            }
            /* below main the frames depend on the C library's version */
            done = ++n == GEN_FRAMES || (name && strcmp(name, "main") == 0);
        }
    }
    fputs("}\n", fp);
}

/* The function LSan's line names: the user frame's, else the first. */
static const char *lsan_function(const tm_leak_record *rec)
{
    const tm_stack *st = &rec->snap->stacks[rec->stack];
    const tm_frame *f;
    int loc;

    if (tm_leak_user_frame(rec->snap, st, &f, &loc) == 0 &&
        tm_frame_loc(f, loc)->function)
        return tm_frame_loc(f, loc)->function;
    for (size_t i = 0; i < st->nframes; i++) {
        f = tm_stack_frame(rec->snap, st, i);
        if (f->loc.function)
            return f->loc.function;
    }
    return NULL;
}

void tm_leak_render_suppressions(FILE *fp, const tm_leak_report *r)
{
    fputs("# Suppressions for tracemem (tracemem-suppressions(5)), Valgrind "
          "and LeakSanitizer.\n# In the Valgrind blocks 'fun:*' stands for "
          "the allocation function (malloc, operator new, ...).\n"
          "# Control characters in names are written as '?' (Valgrind) and\n"
          "# '*' (LeakSanitizer), which match them.\n", fp);
    for (size_t i = 0; i < r->n; i++) {
        const char *fn = lsan_function(&r->v[i]);

        if (!r->v[i].number)
            continue;
        fprintf(fp, "# loss record %zu: %" PRIu64 " bytes in %" PRIu64
                " blocks %s\n", r->v[i].number, r->v[i].bytes,
                r->v[i].blocks, tm_leak_kind_phrase(r->v[i].kind));
        gen_valgrind(fp, &r->v[i], fn ? fn : "unknown");
    }
    fputs("# LeakSanitizer lines (for LSan itself, put them in a file of "
          "their own):\n", fp);
    for (size_t i = 0; i < r->n; i++) {
        const char *fn = lsan_function(&r->v[i]);
        int dup = 0;

        if (!r->v[i].number || !fn)
            continue;
        if (strcmp(fn, "main") == 0) {
            fprintf(fp, "# loss record %zu: no function but main to name "
                    "(leak:^main$ would suppress every leak)\n",
                    r->v[i].number);
            continue;
        }
        for (size_t j = 0; j < i && !dup; j++)
            dup = r->v[j].number && lsan_function(&r->v[j]) &&
                  strcmp(lsan_function(&r->v[j]), fn) == 0;
        if (!dup) {
            /* LSan patterns have no escapes and no '?': a control
             * character becomes '*' (matches it, and a little more) */
            fputs("leak:^", fp);
            put_plain(fp, fn, '*');
            fputs("$\n", fp);
        }
    }
}
