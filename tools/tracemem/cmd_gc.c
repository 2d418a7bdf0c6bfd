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
    int format, rc = tm__format_file_args("gc", usage, argc, argv, &format);

    if (rc >= 0)
        return rc;
    return show(argv[optind], format == TM_FORMAT_JSON);
}
