/* cmd_diff.c - tracemem diff: tracemalloc's Snapshot.compare_to(), plus
 * the growth of live objects by type when both snapshots carry librcgc's
 * gc section.
 */
#include "config.h"

#include "builtin.h"
#include "outfile.h"

#include <stdlib.h>

#include "report/gc.h"
#include "report/render.h"

static const char usage[] = "usage: tracemem diff OLD NEW [--by lineno|filename|function|module|"
                            "traceback]\n"
                            "                     [--cumulative] [-n N] [--include PATTERN]...\n"
                            "                     [--exclude PATTERN]... [--all-frames] [--domain N]\n"
                            "                     [--peak] [--sort size|count|allocations|temporary]\n"
                            "                     [--format text|json] " TM_VIEW_USAGE "\n"
                            "Shows what grew and what shrank between two snapshots, per key, like\n"
                            "tracemalloc's compare_to(); keys only in OLD are shown with size 0.\n";

/* librcgc's gc sections (SPEC section 8) of both snapshots: 1 when both
 * have one, so diff shows the growth by object type next to the growth
 * by stack (report/gc.h). */
static int gc_sections(const tm_snapshot *o, const tm_snapshot *n, json_t **og, json_t **ng)
{
    *og = json_object_get(o->root, "gc");
    *ng = json_object_get(n->root, "gc");
    return json_is_object(*og) && json_is_object(*ng);
}

static void print_json(const tm_diff *d, const tm_stats *os, const tm_stats *ns, long limit)
{
    json_t *j = tm_render_diff_json(d, os, ns, (size_t)limit), *og, *ng;

    if (gc_sections(os->snap, ns->snap, &og, &ng))
        json_object_set_new(j, "gc", tm_gc_diff_json(og, ng));
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
}

static void print_text(const tm_diff *d, const tm_stats *ns, long limit, const tm_snapshot *old)
{
    json_t *og, *ng;

    tm_render_diff_text(stdout, d, ns, (size_t)limit);
    if (gc_sections(old, ns->snap, &og, &ng)) {
        fputs("\nGrowth of live objects by type (gc):\n", stdout);
        tm_gc_diff_print(stdout, og, ng);
    }
}

static int compare(const tm_snapshot *o, const tm_snapshot *n, const tm_stats_args *a)
{
    tm_error err = {""};
    tm_stats os, ns;
    tm_diff d;
    int rc = TM_EXIT_USAGE;

    if (tm_stats_compute(o, &a->opts, &os, &err)) {
        tm__eprintf("tracemem: %s: %s\n", o->file, err.what);
        return rc;
    }
    if (tm_stats_compute(n, &a->opts, &ns, &err)) {
        tm__eprintf("tracemem: %s: %s\n", n->file, err.what);
        goto out_old;
    }
    if (tm_stats_compare(&os, &ns, &d)) {
        tm__eprintf("tracemem: diff: out of memory\n");
        goto out_new;
    }
    if (a->format == TM_FORMAT_JSON)
        print_json(&d, &os, &ns, a->limit);
    else
        print_text(&d, &ns, a->limit, o);
    rc = tm__stdout_done(TM_EXIT_OK);
    tm_diff_free(&d);
out_new:
    tm_stats_free(&ns);
out_old:
    tm_stats_free(&os);
    return rc;
}

int cmd_diff(int argc, char **argv)
{
    tm_stats_args a;
    tm_snapshot *o = NULL, *n = NULL;
    int rc;

    tm__stats_args_init(&a);
    if ((rc = tm__stats_parse("diff", usage, argc, argv, &a, 2, "two snapshots, OLD and NEW")) >= 0)
        goto out;
    tm_snapshot *both[2] = {NULL, NULL};

    if ((rc = tm__load_many((const char *const *)argv + optind, 2, 1, both)))
        goto out;
    o = both[0];
    n = both[1];
    rc = compare(o, n, &a);
out:
    tm_snapshot_free(o);
    tm_snapshot_free(n);
    tm__stats_args_free(&a);
    return rc;
}
