/* cmd_export.c - tracemem export: a snapshot as folded stacks, a
 * speedscope profile or a gzipped pprof profile.proto.
 */
#include "config.h"

#include "builtin.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "outfile.h"
#include "report/export.h"
#include "report/leaks.h"

static const char usage[] = "usage: tracemem export FILE --to folded|speedscope|pprof [-o OUT]\n"
                            "                       [--metric live|peak|allocations|leaked|temporary]\n"
                            "                       [--kinds LIST] " TM_VIEW_USAGE "\n"
                            "Writes a snapshot for other tools: folded stacks (flamegraph.pl,\n"
                            "inferno), speedscope's JSON format, or a gzipped pprof profile with\n"
                            "inuse_space, inuse_objects, alloc_space and alloc_objects (go tool\n"
                            "pprof, Pyroscope). --metric chooses the bytes of folded and speedscope\n"
                            "output (default live). Without -o, or with -o -, the output goes to\n"
                            "stdout (pprof only when stdout is not a terminal).\n";

int cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"to", required_argument, NULL, 't'},    {"metric", required_argument, NULL, 'm'},
        {"kinds", required_argument, NULL, 'k'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},        TM_VIEW_LONGOPTS, {0},
    };
    const char *out = "-";
    int to = -1, metric = TM_METRIC_LIVE, metric_set = 0, kinds = -1, opt, rc;
    tm_snapshot *snap = NULL;
    tm_error err = {""};
    tm_outfile of;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 't':
            if ((to = tm_export_format_parse(optarg)) < 0)
                return tm__usage_error("export",
                                       "--to: unknown format '%s' "
                                       "(folded, speedscope, pprof)",
                                       optarg);
            break;
        case 'm':
            if ((metric = tm_metric_parse(optarg)) < 0)
                return tm__usage_error("export",
                                       "--metric: unknown metric "
                                       "'%s' (live, peak, allocations, "
                                       "leaked, temporary)",
                                       optarg);
            metric_set = 1;
            break;
        case 'k':
            if ((kinds = tm_leak_kinds_parse(optarg)) < 0)
                return tm__usage_error("export",
                                       "--kinds: bad list '%s' (definite, indirect, possible, "
                                       "reachable, all)",
                                       optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            return TM_EXIT_OK;
        default:
            if ((rc = tm__view_option("export", opt, optarg)) >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return tm__usage_error("export", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return tm__usage_error("export", "expected one snapshot FILE");
    if (to < 0)
        return tm__usage_error("export", "--to FORMAT is required");
    if (kinds >= 0 && metric != TM_METRIC_LEAKED)
        return tm__usage_error("export", "--kinds applies to --metric leaked only");
    if (to == TM_EXPORT_PPROF && metric_set)
        return tm__usage_error("export", "--metric does not apply to pprof "
                                         "(it has all four sample types)");
    /* gzip on a terminal is noise and can upset it; a pipe
     * (go tool pprof /dev/stdin) or a redirection is what was meant */
    if (to == TM_EXPORT_PPROF && strcmp(out, "-") == 0 && isatty(STDOUT_FILENO))
        return tm__usage_error("export", "pprof output is binary: not writing it to a "
                                         "terminal; use -o FILE or a pipe");
    if ((rc = tm__load(argv[optind], 1, &snap)))
        return rc;
    if (tm__outfile_open(&of, out)) {
        rc = TM_EXIT_USAGE;
        goto out_snap;
    }
    if ((rc = tm_export_write(snap, (tm_export_format)to, (tm_metric)metric,
                              kinds < 0 ? TM_FLAME_DEFAULT_KINDS : (unsigned)kinds, of.fp, &err))) {
        /* -EIO: writing OUT failed (reported by the close, with its errno,
         * when write(2) failed); else no such data in FILE */
        if (rc == -EIO && of.error) {
            tm__outfile_close(&of, 1);
        } else {
            tm__eprintf("tracemem: %s: %s\n", rc == -EIO ? tm_outfile_name(out) : argv[optind], err.what);
            tm__outfile_close(&of, 0);
        }
        rc = TM_EXIT_USAGE;
        goto out_snap;
    }
    rc = tm__outfile_close(&of, 1) ? TM_EXIT_USAGE : TM_EXIT_OK;
out_snap:
    tm_snapshot_free(snap);
    return rc;
}
