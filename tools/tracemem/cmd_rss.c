/* cmd_rss.c - tracemem rss: where the resident memory of the process went
 * (report/rss.h). */
#include "config.h"

#include "builtin.h"
#include "outfile.h"

#include <errno.h>
#include <stdlib.h>

#include "report/rss.h"

static const char usage[] = "usage: tracemem rss FILE [-n N] [--format text|json]\n"
                            "                    " TM_VIEW_USAGE "\n"
                            "Splits the resident memory of the process when the snapshot was taken\n"
                            "into the heap (live, freed but kept by malloc, overhead), the program's\n"
                            "own mappings by stack, thread stacks, the executable and libraries,\n"
                            "other files, tracemem's tables and the rest; -n shows the N biggest\n"
                            "mapping stacks (default 5, 0: none). See tracemem-rss(1).\n";

int cmd_rss(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        TM_VIEW_LONGOPTS,
        {0},
    };
    tm_format format = TM_FORMAT_TEXT;
    tm_snapshot *snap = NULL;
    tm_error err = {""};
    long long top = 5;
    tm_rss r;
    int opt, rc, f;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if ((top = tm__parse_count(optarg)) < 0 || top > 1000000)
                return tm__usage_error("rss", "-n: '%s' is not a count", optarg);
            break;
        case 'F':
            if ((f = tm__format_parse(optarg)) < 0)
                return tm__usage_error("rss", "--format: unknown format '%s' (text, json)", optarg);
            format = (tm_format)f;
            break;
        case 'h':
            fputs(usage, stdout);
            return TM_EXIT_OK;
        default:
            if ((rc = tm__view_option("rss", opt, optarg)) >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return tm__usage_error("rss", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return tm__usage_error("rss", "expected one snapshot FILE");
    if ((rc = tm__load(argv[optind], 1, &snap)))
        return rc;
    if ((rc = tm_rss_get(snap, &r, &err))) {
        if (rc == -ENOENT)
            tm__eprintf("tracemem: %s: no rss section (the snapshot was written by a tracemem without it, or "
                        "/proc/self/smaps could not be read)\n",
                        snap->file);
        else
            tm__eprintf("tracemem: %s: %s\n", snap->file, err.what);
        tm_snapshot_free(snap);
        return TM_EXIT_USAGE;
    }
    if (format == TM_FORMAT_JSON) {
        json_t *j = tm_rss_render_json(snap, &r, (size_t)top);

        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        tm_rss_render_text(stdout, snap, &r, (size_t)top);
    }
    tm_snapshot_free(snap);
    return tm__stdout_done(TM_EXIT_OK);
}
