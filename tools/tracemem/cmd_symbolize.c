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
    tm_error err = {""};
    int opt, rc;

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
    if ((rc = tm__load(argv[optind], 0, &snap)))
        return rc;
    if (!out)
        out = argv[optind];
    if (tm_symbolize(snap, 1, stderr, &err) || tm_snapshot_write(snap, out, &err)) {
        tm__eprintf("tracemem: %s: %s\n", tm_outfile_name(out), err.what);
        rc = TM_EXIT_USAGE;
    }
    tm_snapshot_free(snap);
    return rc;
}
