/* cmd_top.c - tracemem top: tracemalloc's Snapshot.statistics(). */
#include "config.h"

#include "builtin.h"
#include "outfile.h"

#include <stdlib.h>

#include "report/render.h"

static const char usage[] = "usage: tracemem top FILE [--by lineno|filename|function|module|traceback]\n"
                            "                    [--cumulative] [-n N] [--include PATTERN]...\n"
                            "                    [--exclude PATTERN]... [--all-frames] [--domain N]\n"
                            "                    [--peak] [--sort size|count|allocations|temporary]\n"
                            "                    [--format text|json] " TM_VIEW_USAGE "\n"
                            "Shows where the live (or, with --peak, the peak) memory of a snapshot\n"
                            "was allocated, grouped and sorted like Python's tracemalloc.\n";

static int show(const tm_snapshot *snap, const tm_stats_args *a)
{
    tm_error err = {""};
    tm_stats st;

    if (tm_stats_compute(snap, &a->opts, &st, &err)) {
        tm__eprintf("tracemem: %s: %s\n", snap->file, err.what);
        return TM_EXIT_USAGE;
    }
    if (a->format == TM_FORMAT_JSON) {
        json_t *j = tm_render_top_json(&st, (size_t)a->limit);

        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        tm_render_top_text(stdout, &st, (size_t)a->limit);
    }
    tm_stats_free(&st);
    return tm__stdout_done(TM_EXIT_OK);
}

int cmd_top(int argc, char **argv)
{
    tm_stats_args a;
    tm_snapshot *snap = NULL;
    int rc;

    tm__stats_args_init(&a);
    if ((rc = tm__stats_parse("top", usage, argc, argv, &a, 1, "one snapshot FILE")) >= 0)
        goto out;
    if ((rc = tm__load(argv[optind], 1, &snap)))
        goto out;
    rc = show(snap, &a);
out:
    tm_snapshot_free(snap);
    tm__stats_args_free(&a);
    return rc;
}
