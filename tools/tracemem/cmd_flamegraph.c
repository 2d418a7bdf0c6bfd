/* cmd_flamegraph.c - tracemem flamegraph: an SVG or HTML flame graph of a
 * snapshot, or a differential one against an older snapshot.
 */
#include "config.h"

#include "builtin.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "outfile.h"
#include "report/flame.h"
#include "report/leaks.h"
#include "report/render.h"

static const char usage[] = "usage: tracemem flamegraph FILE [--diff OLD]\n"
                            "                           [--metric live|peak|allocations|leaked|temporary]\n"
                            "                           [--kinds LIST] [--by-call-site]\n"
                            "                           [--title TEXT] [--width PIXELS] -o OUT\n"
                            "                           " TM_VIEW_USAGE "\n"
                            "Draws a flame graph of where the memory of a snapshot was allocated:\n"
                            "OUT.svg is a standalone SVG, OUT.html a page with click-to-zoom and\n"
                            "search. With --diff, widths are FILE's and colours the change since\n"
                            "OLD (red: grew, blue: shrank, on a logarithmic scale; a path gone since\n"
                            "OLD is drawn as wide as it was, outlined). Tooltips give each frame's\n"
                            "file:line; --by-call-site keeps the calls of a function from different\n"
                            "lines apart and labels them with their file:line. The default metric is\n"
                            "live; leaked counts the --kinds of leaks (default definite,indirect).\n";

typedef struct args {
    const char *file, *old, *out, *title;
    tm_metric metric;
    int kinds; /* -1: not given */
    double width;
    int html;
    int call_sites;
} args;

static int parse(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {
        {"diff", required_argument, NULL, 'd'},  {"metric", required_argument, NULL, 'm'},
        {"kinds", required_argument, NULL, 'k'}, {"output", required_argument, NULL, 'o'},
        {"title", required_argument, NULL, 't'}, {"width", required_argument, NULL, 'w'},
        {"by-call-site", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'}, TM_VIEW_LONGOPTS, {0},
    };
    const char *ext;
    struct stat st;
    long long v;
    int opt, m;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            a->old = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 't':
            a->title = optarg;
            break;
        case 'C':
            a->call_sites = 1;
            break;
        case 'm':
            if ((m = tm_metric_parse(optarg)) < 0)
                return tm__usage_error("flamegraph",
                                       "--metric: unknown "
                                       "metric '%s' (live, peak, allocations, "
                                       "leaked, temporary)",
                                       optarg);
            a->metric = (tm_metric)m;
            break;
        case 'k':
            if ((a->kinds = tm_leak_kinds_parse(optarg)) < 0)
                return tm__usage_error("flamegraph",
                                       "--kinds: bad list '%s' (definite, indirect, possible, "
                                       "reachable, all)",
                                       optarg);
            break;
        case 'w':
            if ((v = tm__parse_count(optarg)) < 100 || v > 100000)
                return tm__usage_error("flamegraph",
                                       "--width: '%s' is not a "
                                       "width in pixels (100..100000)",
                                       optarg);
            a->width = (double)v;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            if ((m = tm__view_option("flamegraph", opt, optarg)) >= 0) {
                if (m)
                    return m;
                break;
            }
            return tm__usage_error("flamegraph", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return tm__usage_error("flamegraph", "expected one snapshot FILE");
    a->file = argv[optind];
    if (a->kinds >= 0 && a->metric != TM_METRIC_LEAKED)
        return tm__usage_error("flamegraph", "--kinds applies to --metric leaked only");
    if (!a->out)
        return tm__usage_error("flamegraph", "-o OUT is required");
    ext = strrchr(a->out, '.');
    if (ext && (strcmp(ext, ".html") == 0 || strcmp(ext, ".htm") == 0))
        a->html = 1;
    else if (strcmp(a->out, "-") != 0 && !(ext && strcmp(ext, ".svg") == 0) &&
             !(stat(a->out, &st) == 0 && !S_ISREG(st.st_mode))) /* /dev/null, a FIFO: SVG */
        return tm__usage_error("flamegraph",
                               "-o: '%s' must end in .svg or "
                               ".html",
                               a->out);
    return 0;
}

static int fold(const tm_snapshot *snap, const args *a, tm_folded *out)
{
    tm_error err = {""};

    unsigned kinds = a->kinds < 0 ? TM_FLAME_DEFAULT_KINDS : (unsigned)a->kinds;

    /* a call site's box is named with its location already */
    if (tm_folded_compute_ex(snap, a->metric, kinds, a->call_sites ? TM_FOLD_CALL_SITES : TM_FOLD_LOCS, out,
                             &err)) {
        tm__eprintf("tracemem: %s: %s\n", snap->file, err.what);
        return TM_EXIT_USAGE;
    }
    return 0;
}

static int draw(const args *a, const tm_snapshot *snap, const tm_folded *now, const tm_folded *old)
{
    const char *what = tm_metric_name(a->metric);
    char title[1024], sub[1024], size[32];
    tm_flame_opts o = {0};
    tm_outfile out;
    int rc;

    snprintf(title, sizeof title, "%s %s of %s (pid %" PRId64 ")%s", what,
             a->metric == TM_METRIC_TEMPORARY ? "allocations" : "bytes", snap->exe ? snap->exe : a->file, snap->pid,
             old ? ": change since OLD" : "");
    if (a->metric == TM_METRIC_TEMPORARY) {
        snprintf(size, sizeof size, "%" PRIu64, (uint64_t)now->total);
        o.unit = "temporary allocations";
    } else {
        tm_format_size(size, sizeof size, (double)now->total, 0);
    }
    if (old)
        snprintf(sub, sizeof sub,
                 "%s vs OLD %s; %s in NEW; red grew, blue shrank, "
                 "outlined: gone",
                 a->file, a->old, size);
    else
        snprintf(sub, sizeof sub, "%s, seq %" PRId64 ", %s; total %s", a->file, snap->seq,
                 snap->time ? snap->time : "no time", size);
    o.title = a->title ? a->title : title;
    o.subtitle = sub;
    o.html = a->html;
    o.width = a->width;
    if (tm__outfile_open(&out, a->out))
        return TM_EXIT_USAGE;
    rc = tm_flame_write(now, old, &o, out.fp);
    if (rc == -EIO && out.error) /* write(2) failed: the close says how, once */
        rc = 0;
    else if (rc)
        tm__eprintf("tracemem: %s: cannot write the flame graph: %s\n", tm_outfile_name(a->out), strerror(-rc));
    return tm__outfile_close(&out, rc == 0) ? TM_EXIT_USAGE : TM_EXIT_OK;
}

int cmd_flamegraph(int argc, char **argv)
{
    args a = {.kinds = -1};
    tm_snapshot *snap = NULL, *oldsnap = NULL;
    tm_folded now = {0}, old = {0};
    int rc;

    if ((rc = parse(argc, argv, &a)))
        return rc < 0 ? TM_EXIT_OK : rc;
    if ((rc = tm__load(a.file, 1, &snap)) || (a.old && (rc = tm__load(a.old, 1, &oldsnap))))
        goto out;
    if ((rc = fold(snap, &a, &now)) || (oldsnap && (rc = fold(oldsnap, &a, &old))))
        goto out;
    rc = draw(&a, snap, &now, oldsnap ? &old : NULL);
out:
    tm_folded_free(&now);
    tm_folded_free(&old);
    tm_snapshot_free(snap);
    tm_snapshot_free(oldsnap);
    return rc;
}
