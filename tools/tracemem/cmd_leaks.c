/* cmd_leaks.c - tracemem leaks: the leaks section of a snapshot as loss
 * records, Valgrind-style, with suppressions. */
#include "config.h"

#include "builtin.h"
#include "outfile.h"

#include <stdlib.h>
#include <string.h>

#include "report/leaks.h"

static const char usage[] =
    "usage: tracemem leaks FILE [--kinds LIST] [--suppressions FILE]...\n"
    "                      [--gen-suppressions] [--no-default-suppressions]\n"
    "                      [--format text|json] " TM_VIEW_USAGE "\n"
    "Lists the leaked blocks of a snapshot grouped by allocation stack and\n"
    "kind, biggest first, with a LEAK SUMMARY. --kinds is a comma-separated\n"
    "list of definite, indirect, possible, reachable or all (default\n"
    "definite,indirect,possible).\n";

#define KINDS_LEAKS (TM_KINDS_CHECK | (1u << TM_LEAK_POSSIBLE))

enum { OPT_KINDS = 256, OPT_SUPP, OPT_GEN, OPT_NO_DEFAULT };

int tm__load_suppressions(tm_suppressions *supp, const char *path)
{
    tm_error err = { "" };

    if (tm_suppressions_load(supp, path, &err) == 0)
        return 0;
    tm__eprintf("tracemem: %s\n", err.what);
    return TM_EXIT_USAGE;
}

int tm__add_default_suppressions(tm_suppressions *supp)
{
    tm_error err = { "" };

    if (tm_suppressions_add_defaults(supp, &err) == 0)
        return 0;
    tm__eprintf("tracemem: %s\n", err.what);
    return TM_EXIT_USAGE;
}

static int show(tm_snapshot *snap, unsigned kinds, tm_suppressions *supp,
                int gen, tm_format format)
{
    tm_leak_report r;

    if (tm_leak_report_build(&r, &snap, 1, kinds, supp)) {
        tm__eprintf("tracemem: %s: out of memory\n", snap->file);
        return TM_EXIT_USAGE;
    }
    if (gen) {
        tm_leak_render_suppressions(stdout, &r);
    } else if (format == TM_FORMAT_JSON) {
        json_t *j = tm_leak_render_json(&r);

        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        tm_leak_render_text(stdout, &r);
    }
    tm_leak_report_free(&r);
    return tm__stdout_done(TM_EXIT_OK);
}

typedef struct leaks_args {
    unsigned kinds;
    tm_suppressions supp;
    int gen;
    int no_default_supp;
    tm_format format;
} leaks_args;

static int leaks_option(leaks_args *a, int opt, const char *arg)
{
    int v;

    if ((v = tm__view_option("leaks", opt, arg)) >= 0)
        return v;
    switch (opt) {
    case OPT_KINDS:
        if ((v = tm_leak_kinds_parse(arg)) < 0)
            return tm__usage_error("leaks", "--kinds: '%s' is not a list of "
                                   "definite, indirect, possible, "
                                   "reachable, all", arg);
        a->kinds = (unsigned)v;
        return 0;
    case OPT_SUPP: return tm__load_suppressions(&a->supp, arg);
    case OPT_GEN: a->gen = 1; return 0;
    case OPT_NO_DEFAULT: a->no_default_supp = 1; return 0;
    case 'F':
        if ((v = tm__format_parse(arg)) < 0)
            return tm__usage_error("leaks", "--format: unknown format '%s' "
                                   "(text, json)", arg);
        a->format = (tm_format)v;
        return 0;
    }
    return TM_EXIT_USAGE;
}

int cmd_leaks(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "kinds", required_argument, NULL, OPT_KINDS },
        { "suppressions", required_argument, NULL, OPT_SUPP },
        { "gen-suppressions", no_argument, NULL, OPT_GEN },
        { "no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT },
        { "format", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        TM_VIEW_LONGOPTS,
        { 0 },
    };
    leaks_args a = { KINDS_LEAKS, { 0, NULL }, 0, 0, TM_FORMAT_TEXT };
    tm_snapshot *snap = NULL;
    int opt, rc = 0;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            goto out;
        }
        if (opt == '?' || opt == ':')
            rc = tm__usage_error("leaks", "bad option '%s'", argv[optind - 1]);
        else
            rc = leaks_option(&a, opt, optarg);
        if (rc)
            goto out;
    }
    if (argc - optind != 1) {
        rc = tm__usage_error("leaks", "expected one snapshot FILE");
        goto out;
    }
    if (!a.no_default_supp && (rc = tm__add_default_suppressions(&a.supp)))
        goto out;
    if ((rc = tm__load(argv[optind], 1, &snap)))
        goto out;
    rc = show(snap, a.kinds, &a.supp, a.gen, a.format);
out:
    tm_snapshot_free(snap);
    tm_suppressions_free(&a.supp);
    return rc;
}
