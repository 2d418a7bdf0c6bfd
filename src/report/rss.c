/* rss.c - the rss section of a snapshot, read and shown (see rss.h). */
#include "config.h"

#include "report/rss.h"
#include "report/render.h"
#include "report/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* What each category is, for the text table. */
static const struct {
    const char *name, *what;
} labels[] = {
    {"heap_live", "heap: live blocks"},
    {"heap_free", "heap: freed, kept by malloc"},
    {"heap_overhead", "heap: headers, padding, unused"},
    {"mmap", "mmap/brk of the program, by stack"},
    {"thread_stacks", "thread stacks"},
    {"modules", "executable and libraries"},
    {"files", "other mapped files"},
    {"tracemem", "tracemem's own tables"},
    {"other", "other (not traced)"},
};

static const char *label(const char *name)
{
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
        if (strcmp(labels[i].name, name) == 0)
            return labels[i].what;
    return name;
}

static int get_u64(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int tm_rss_get(const tm_snapshot *snap, tm_rss *out, tm_error *err)
{
    const json_t *r = json_object_get(snap->root, "rss"), *cats, *m, *c;
    size_t i;

    memset(out, 0, sizeof *out);
    if (!r || json_is_null(r))
        return -ENOENT;
    cats = json_object_get(r, "categories");
    if (!json_is_object(r) || get_u64(r, "kernel_rss", &out->kernel_rss) || get_u64(r, "rss", &out->rss) ||
        get_u64(r, "size", &out->size) || get_u64(r, "swap", &out->swap) || !json_is_array(cats) ||
        json_array_size(cats) > TM_RSS_MAX_CATEGORIES)
        return tm__error_set(err, -EINVAL, "rss: malformed section");
    if (get_u64(r, "kernel_rss_before", &out->kernel_rss_before))
        out->kernel_rss_before = out->kernel_rss; /* written before it existed */
    if ((m = json_object_get(r, "malloc")) && json_is_object(m)) {
        if (get_u64(m, "in_use", &out->malloc_in_use) || get_u64(m, "free", &out->malloc_free) ||
            get_u64(m, "mapped", &out->malloc_mapped))
            return tm__error_set(err, -EINVAL, "rss.malloc: malformed");
        out->have_malloc = 1;
    }
    json_array_foreach(json_object_get(r, "arenas"), i, c)
    {
        uint64_t rss = 0, size = 0;

        if (get_u64(c, "rss", &rss) || get_u64(c, "size", &size))
            return tm__error_set(err, -EINVAL, "rss.arenas[%zu]: malformed", i);
        out->narenas++;
        if (json_is_true(json_object_get(c, "main"))) {
            out->main_rss += rss;
            out->main_size += size;
        } else {
            out->others_rss += rss;
            out->others_size += size;
        }
    }
    json_array_foreach(cats, i, c)
    {
        tm_rss_category *k = &out->v[out->n];
        const json_t *name = json_object_get(c, "name");

        if (!json_is_string(name) || get_u64(c, "rss", &k->rss) || get_u64(c, "size", &k->size))
            return tm__error_set(err, -EINVAL, "rss.categories[%zu]: malformed", i);
        k->name = json_string_value(name);
        out->n++;
    }
    return 0;
}

const tm_rss_category *tm_rss_find(const tm_rss *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return &r->v[i];
    return NULL;
}

const char *tm_rss_advice(const tm_rss *r)
{
    const tm_rss_category *live = tm_rss_find(r, "heap_live"), *fr = tm_rss_find(r, "heap_free");

    if (!live || !fr || fr->rss < (16u << 20) || fr->rss < 2 * live->rss)
        return NULL;
    if (r->narenas > 8)
        return "malloc keeps more freed memory than is live, in many arenas: MALLOC_ARENA_MAX=2 (or "
               "GLIBC_TUNABLES=glibc.malloc.arena_max=2) bounds the arenas that hold it, malloc_trim(0) "
               "returns it to the system now, and M_TRIM_THRESHOLD (mallopt) makes free() return it sooner";
    return "malloc keeps more freed memory than is live: malloc_trim(0) returns it to the system "
           "now, M_TRIM_THRESHOLD (mallopt, or GLIBC_TUNABLES=glibc.malloc.trim_threshold) makes free() "
           "return it sooner, and with many threads MALLOC_ARENA_MAX=2 bounds the arenas that hold it";
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The mmap domain's stacks, biggest first. 0 or -1. */
static int mmap_stats(const tm_snapshot *snap, tm_stats *st)
{
    tm_stats_opts o;

    tm_stats_opts_init(&o);
    o.by = TM_BY_TRACEBACK;
    o.domain = TM_DOMAIN_MMAP;
    return tm_stats_compute(snap, &o, st, NULL) ? -1 : 0;
}

void tm_rss_render_text(FILE *fp, const tm_snapshot *snap, const tm_rss *r, size_t top)
{
    char a[32], b[32], c[32];
    tm_stats st;
    const char *advice = tm_rss_advice(r);

    fprintf(fp, "Resident memory: %s (the kernel: %s), mapped: %s", tm_format_size(a, sizeof a, (double)r->rss, 0),
            tm_format_size(b, sizeof b, (double)r->kernel_rss, 0), tm_format_size(c, sizeof c, (double)r->size, 0));
    if (r->swap)
        fprintf(fp, ", swapped out: %s", tm_format_size(a, sizeof a, (double)r->swap, 0));
    fputs("\n\n", fp);
    fprintf(fp, "  %-36s %10s %6s %10s\n", "", "resident", "", "mapped");
    for (size_t i = 0; i < r->n; i++)
        fprintf(fp, "  %-36s %10s %5.1f%% %10s\n", label(r->v[i].name),
                tm_format_size(a, sizeof a, (double)r->v[i].rss, 0), pct(r->v[i].rss, r->rss),
                tm_format_size(b, sizeof b, (double)r->v[i].size, 0));
    if (r->narenas)
        fprintf(fp, "  malloc's arenas: %zu (the main one %s resident; %s in the others)\n", r->narenas,
                tm_format_size(a, sizeof a, (double)r->main_rss, 0),
                tm_format_size(b, sizeof b, (double)r->others_rss, 0));
    if (!tm_rss_find(r, "heap_free"))
        fputs("  (malloc's free memory was not measured in this snapshot: it was taken in a signal handler "
              "or on the way out of one)\n",
              fp);
    if (advice)
        fprintf(fp, "\n%s.\n", advice);
    if (top && mmap_stats(snap, &st) == 0) {
        if (st.n)
            fputs("\nProgram mappings (mmap, brk) by stack:\n", fp);
        for (size_t i = 0; i < st.n && i < top; i++) {
            fprintf(fp, "#%zu: %s in %" PRIu64 " mapping%s\n", i + 1,
                    tm_format_size(a, sizeof a, (double)st.v[i].size, 0), st.v[i].count,
                    st.v[i].count == 1 ? "" : "s");
            tm_print_stack(fp, snap, &snap->stacks[st.v[i].stack], "    ");
        }
        tm_stats_free(&st);
    }
}

json_t *tm_rss_render_json(const tm_snapshot *snap, const tm_rss *r, size_t top)
{
    json_t *cats = json_array(), *maps = json_array();
    tm_stats st;

    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(cats, json_pack("{s:s, s:s, s:I, s:I}", "name", r->v[i].name, "label",
                                              label(r->v[i].name), "rss", (json_int_t)r->v[i].rss, "size",
                                              (json_int_t)r->v[i].size));
    if (top && mmap_stats(snap, &st) == 0) {
        for (size_t i = 0; i < st.n && i < top; i++)
            json_array_append_new(maps, json_pack("{s:I, s:I, s:o}", "size", (json_int_t)st.v[i].size, "count",
                                                  (json_int_t)st.v[i].count, "frames",
                                                  tm_stack_json(snap, &snap->stacks[st.v[i].stack])));
        tm_stats_free(&st);
    }
    return json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "format", "tracemem-rss",
                     "version", 1, "snapshot", snap->file, "rss", (json_int_t)r->rss, "kernel_rss",
                     (json_int_t)r->kernel_rss, "kernel_rss_before", (json_int_t)r->kernel_rss_before, "size", (json_int_t)r->size, "swap", (json_int_t)r->swap,
                     "malloc",
                     r->have_malloc ? json_pack("{s:I, s:I, s:I}", "in_use", (json_int_t)r->malloc_in_use, "free",
                                                (json_int_t)r->malloc_free, "mapped", (json_int_t)r->malloc_mapped)
                                    : json_null(),
                     "categories", cats, "arenas",
                     json_pack("{s:I, s:I, s:I, s:I, s:I}", "count", (json_int_t)r->narenas, "main_rss",
                               (json_int_t)r->main_rss, "main_size", (json_int_t)r->main_size, "others_rss",
                               (json_int_t)r->others_rss, "others_size", (json_int_t)r->others_size),
                     "mmap", maps, "advice",
                     tm_rss_advice(r) ? json_string(tm_rss_advice(r)) : json_null());
}
