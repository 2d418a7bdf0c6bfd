/* cmd_symbolize.c - tracemem symbolize: writes the snapshot with function,
 * file, line and inlined frames added (in place, atomically, by default).
 */
#include "config.h"

#include "builtin.h"

#include "report/outfile.h"
#include "report/symbolize.h"

static const char usage[] = "usage: tracemem symbolize FILE [-o OUT]\n"
                            "Adds function, file, line and inlined frames to every frame of a raw\n"
                            "snapshot, using the binaries and their debug files on this machine.\n"
                            "Writes FILE in place (atomically) unless -o OUT is given (- is stdout).\n";

int cmd_symbolize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *out = NULL;
    tm_snapshot *snap = NULL;
    tm_symcache *cache;
    tm_error err = {""};
    size_t added = 0;
    int opt, rc, was;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return TM_EXIT_OK;
        default:
            return tm__usage_error("symbolize", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return tm__usage_error("symbolize", "expected one snapshot FILE");
    /* not tm__load(): its lean load drops the text this writes from; the
     * stacks and traces are checked but not kept (written from the text) */
    if (tm_snapshot_load_frames(argv[optind], &snap, &err)) {
        tm__eprintf("tracemem: %s: %s\n", argv[optind], err.what);
        return TM_EXIT_USAGE;
    }
    was = snap->symbolized;
    if (!(cache = tm_symcache_new())) {
        tm__eprintf("tracemem: %s: out of memory\n", argv[optind]);
        tm_snapshot_free(snap);
        return TM_EXIT_USAGE;
    }
    rc = tm_symbolize_cached(snap, 1, cache, stderr, &added, &err);
    /* in place, a symbolized file that gained nothing is left as it is:
     * symbolizing twice costs the reading */
    if (!rc && (out || added || !was))
        rc = tm_snapshot_write(snap, out ? out : argv[optind], &err);
    if (rc) {
        tm__eprintf("tracemem: %s: %s\n", tm_outfile_name(out ? out : argv[optind]), err.what);
        rc = TM_EXIT_USAGE;
    }
    tm_symcache_free(cache);
    tm_snapshot_free(snap);
    return rc;
}
