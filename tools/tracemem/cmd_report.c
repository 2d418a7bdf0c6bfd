/* cmd_report.c - tracemem report: one self-contained HTML page of a run
 * (report/report.h) from one or more snapshots.
 */
#include "config.h"

#include "builtin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outfile.h"
#include "report/report.h"

static const char usage[] = "usage: tracemem report FILE... -o OUT.html [--title TEXT]\n"
                            "                       " TM_VIEW_USAGE "\n"
                            "Writes one self-contained page (no network) about the run the snapshots\n"
                            "FILE... come from: summary, memory over time (heap and RSS from the\n"
                            "snapshot's timeline, or the snapshots' own times), the flame graph of a\n"
                            "time range chosen on the chart, the top sites, the leaks by kind, and\n"
                            "the collector's section of a librcgc program.\n";

typedef struct args {
    const char *out, *title;
    char **files;
    size_t nfiles;
} args;

static int parse(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"title", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         TM_VIEW_LONGOPTS, {0},
    };
    const char *ext;
    struct stat st;
    int opt, m;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            a->out = optarg;
            break;
        case 't':
            a->title = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            if ((m = tm__view_option("report", opt, optarg)) >= 0) {
                if (m)
                    return m;
                break;
            }
            return tm__usage_error("report", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind < 1)
        return tm__usage_error("report", "expected one or more snapshot FILEs");
    a->files = argv + optind;
    a->nfiles = (size_t)(argc - optind);
    if (!a->out)
        return tm__usage_error("report", "-o OUT.html is required");
    ext = strrchr(a->out, '.');
    if (strcmp(a->out, "-") != 0 && !(ext && (strcmp(ext, ".html") == 0 || strcmp(ext, ".htm") == 0)) &&
        !(stat(a->out, &st) == 0 && !S_ISREG(st.st_mode)))
        return tm__usage_error("report", "-o: '%s' must end in .html", a->out);
    return 0;
}

/* Writes the page of 'snaps' to 'out' (tm_report_data(), tm_report_write());
 * prints what went wrong. Returns TM_EXIT_OK or TM_EXIT_USAGE. */
int tm__write_report(tm_snapshot *const *snaps, size_t n, const char *title, const char *out)
{
    tm_report_opts o = {title};
    tm_error err = {""};
    tm_outfile f;
    json_t *data;
    long bad;
    int rc;

    if (!(data = tm_report_data(snaps, n, &o, &bad, &err))) {
        tm__eprintf("tracemem: %s: %s\n", bad >= 0 ? snaps[bad]->file : tm_outfile_name(out), err.what);
        return TM_EXIT_USAGE;
    }
    if (tm__outfile_open(&f, out)) {
        json_decref(data);
        return TM_EXIT_USAGE;
    }
    rc = tm_report_write(data, &o, f.fp);
    json_decref(data);
    if (rc == -EIO && f.error)
        rc = 0;
    else if (rc)
        tm__eprintf("tracemem: %s: cannot write the report: %s\n", tm_outfile_name(out), strerror(-rc));
    return tm__outfile_close(&f, rc == 0) ? TM_EXIT_USAGE : TM_EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
    args a = {0};
    tm_snapshot **snaps;
    int rc;

    if ((rc = parse(argc, argv, &a)))
        return rc < 0 ? TM_EXIT_OK : rc;
    if (!(snaps = calloc(a.nfiles, sizeof *snaps))) {
        tm__eprintf("tracemem: out of memory\n");
        return TM_EXIT_USAGE;
    }
    if ((rc = tm__load_many((const char *const *)a.files, a.nfiles, 1, snaps)))
        goto out;
    rc = tm__write_report(snaps, a.nfiles, a.title, a.out);
    for (size_t i = 0; i < a.nfiles; i++)
        tm_snapshot_free(snaps[i]);
out:
    free(snaps);
    return rc;
}

int tm__run_report(const char *out, char *const *paths, size_t n, int quiet)
{
    tm_snapshot **snaps;
    int rc;

    if (n == 0)
        return 0; /* nothing was written: the summary said so */
    if (!(snaps = calloc(n, sizeof *snaps))) {
        tm__eprintf("tracemem: %s: out of memory\n", out);
        return TM_EXIT_USAGE;
    }
    if (!(rc = tm__load_many((const char *const *)paths, n, 1, snaps))) {
        rc = tm__write_report(snaps, n, NULL, out);
        for (size_t i = 0; i < n; i++)
            tm_snapshot_free(snaps[i]);
    }
    free(snaps);
    if (!rc && !quiet)
        tm__eprintf("%-13s%s\n", "  report:", tm_outfile_name(out));
    return rc;
}
