/* cmd_gc.c - tracemem gc: the librcgc section of a snapshot (SPEC 7, 8):
 * per-generation statistics, collections, live objects by type and the
 * recent collections.
 */
#include "config.h"

#include "builtin.h"
#include "outfile.h"

#include "report/gc.h"

static const char usage[] = "usage: tracemem gc FILE [--format text|json]\n"
                            "Shows the collector statistics that librcgc wrote into the snapshot:\n"
                            "thresholds and counts, the mode, collections and pauses per generation\n"
                            "with a histogram of the pauses, the garbage list,\n"
                            "live objects by type and the recent collections.\n";

static int show(const char *path, int as_json)
{
    tm_snapshot *snap = NULL;
    char why[256];
    int rc = tm__load(path, 0, &snap);
    if (rc)
        return rc;
    const json_t *gc = json_object_get(snap->root, "gc");
    if (!gc) {
        tm__eprintf("tracemem: %s: no gc section (the program did not use librcgc)\n", path);
        rc = TM_EXIT_USAGE;
    } else if (tm_gc_validate(gc, why, sizeof why)) {
        tm__eprintf("tracemem: %s: %s\n", path, why);
        rc = TM_EXIT_USAGE;
    } else {
        tm_gc_print(stdout, gc, as_json);
        rc = tm__stdout_done(TM_EXIT_OK);
    }
    tm_snapshot_free(snap);
    return rc;
}

int cmd_gc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}, {0}};
    int opt, format = TM_FORMAT_TEXT;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return TM_EXIT_OK;
        case 'F':
            if ((format = tm__format_parse(optarg)) < 0)
                return tm__usage_error("gc", "unknown format '%s'", optarg);
            break;
        default:
            return tm__usage_error("gc", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return tm__usage_error("gc", "expected one FILE");
    return show(argv[optind], format == TM_FORMAT_JSON);
}
