/* cli.c - helpers shared by the tracemem subcommands: error messages,
 * loading snapshots for a command, and the grouping/filter options of top
 * and diff.
 */
#include "config.h"

#include "builtin.h"

#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "report/hints.h"
#include "report/quote.h"
#include "report/symbolize.h"

void tm__eprintf(const char *fmt, ...)
{
    va_list ap;
    char *msg;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("tracemem: out of memory\n", stderr);
        return;
    }
    /* one line: a newline from a file or function name is escaped too */
    if (n > 0 && msg[n - 1] == '\n') {
        tm_fputn_quoted(msg, (size_t)n - 1, stderr);
        fputc('\n', stderr);
    } else {
        tm_fputs_quoted(msg, stderr);
    }
    free(msg);
}

int tm__usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    tm__eprintf("tracemem %s: %s (see 'tracemem %s --help')\n", cmd, msg ? msg : "out of memory", cmd);
    free(msg);
    return TM_EXIT_USAGE;
}

/* The modules opened by this command: two snapshots of one program (diff,
 * flamegraph --diff) open each module once. */
static tm_symcache *cache;

static void free_cache(void)
{
    tm_symcache_free(cache);
    cache = NULL;
}

static int symbolize(tm_snapshot *snap, tm_error *err)
{
    if (!cache && (cache = tm_symcache_new()))
        atexit(free_cache);
    return cache ? tm_symbolize_cached(snap, 0, cache, stderr, NULL, err) : tm_symbolize(snap, 0, stderr, err);
}

/* What tm__load() does after reading: symbolizes a raw snapshot (with a
 * note about modules without symbols) and applies the view. 0, or -1 with
 * 'err' filled. */
static int finish_load(tm_snapshot *snap, int symbolize_it, tm_error *err)
{
    static tm_hint_memo memo; /* one note per module for the whole command */
    int raw = symbolize_it && !snap->symbolized;

    if (raw && symbolize(snap, err))
        return -1;
    if (raw)
        tm_symbol_hints(snap, stderr, &memo);
    if (symbolize_it)
        tm__apply_view(snap);
    return 0;
}

int tm__load(const char *path, int symbolize_it, tm_snapshot **out)
{
    tm_error err = {""};

    if (tm_snapshot_load_lean(path, out, &err) || finish_load(*out, symbolize_it, &err)) {
        tm__eprintf("tracemem: %s: %s\n", path, err.what);
        tm_snapshot_free(*out);
        *out = NULL;
        return TM_EXIT_USAGE;
    }
    return 0;
}

/* Snapshot files read by two threads (symbolized afterwards, in order). */
typedef struct loads {
    const char *const *paths;
    tm_snapshot **out;
    int *rc;
    tm_error *err;
    size_t n;
    size_t next; /* atomic */
} loads;

static void *load_worker(void *arg)
{
    loads *l = arg;
    size_t i;

    while ((i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED)) < l->n)
        l->rc[i] = tm_snapshot_load_lean(l->paths[i], &l->out[i], &l->err[i]);
    return NULL;
}

int tm__load_many(const char *const *paths, size_t n, int symbolize_it, tm_snapshot **out)
{
    loads l = {.paths = paths, .out = out, .n = n};
    int rc = 0, two;
    pthread_t t;

    if (!(l.rc = calloc(n + 1, sizeof *l.rc)) || !(l.err = calloc(n + 1, sizeof *l.err))) {
        free(l.rc);
        return tm__usage_error("load", "out of memory");
    }
    two = n > 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1 && pthread_create(&t, NULL, load_worker, &l) == 0;
    load_worker(&l);
    if (two)
        pthread_join(t, NULL);
    /* as loading one after the other would: the first bad file is the
     * one error line */
    for (size_t i = 0; i < n; i++) {
        if (!rc && (l.rc[i] || finish_load(out[i], symbolize_it, &l.err[i]))) {
            tm__eprintf("tracemem: %s: %s\n", paths[i], l.err[i].what);
            rc = TM_EXIT_USAGE;
        }
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            tm_snapshot_free(out[i]);
            out[i] = NULL;
        }
    free(l.rc);
    free(l.err);
    return rc;
}

/* --- the view --- */

tm_view_opts tm__view;
static const char **alloc_fns;

int tm__view_option(const char *cmd, int opt, const char *arg)
{
    const char **v;

    switch (opt) {
    case TM_OPT_ALLOC_FN:
        if (!*arg)
            return tm__usage_error(cmd, "--alloc-fn: empty pattern");
        if (!(v = realloc(alloc_fns, (tm__view.nalloc_fns + 1) * sizeof *v)))
            return tm__usage_error(cmd, "out of memory");
        alloc_fns = v;
        v[tm__view.nalloc_fns++] = arg;
        tm__view.alloc_fns = v;
        return 0;
    case TM_OPT_KEEP_ALLOC:
        tm__view.keep_alloc_frames = 1;
        return 0;
    case TM_OPT_FULL_NAMES:
        tm__view.full_names = 1;
        return 0;
    }
    return -1;
}

/* On a terminal, names longer than it leaves room for are elided in the
 * middle: no line runs over the screen because of one template. */
static size_t terminal_name_width(void)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    long w = 0;

    if (!isatty(STDOUT_FILENO))
        return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        w = ws.ws_col;
    else if (cols)
        w = atol(cols);
    if (w <= 0)
        w = 80;
    return w > 80 ? (size_t)w - 30 : 50;
}

void tm__apply_view(tm_snapshot *snap)
{
    if (!tm__view.full_names && !tm__view.name_width)
        tm__view.name_width = terminal_name_width();
    if (tm_snapshot_fold(snap, &tm__view))
        tm__eprintf("tracemem: %s: out of memory folding allocation frames; showing the raw stacks\n",
                    snap->file);
}

int tm__format_parse(const char *arg)
{
    if (strcmp(arg, "text") == 0)
        return TM_FORMAT_TEXT;
    if (strcmp(arg, "json") == 0)
        return TM_FORMAT_JSON;
    return -1;
}

int tm__format_file_args(const char *cmd, const char *usage, int argc, char **argv, int *format)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}, {0}};
    int opt;

    *format = TM_FORMAT_TEXT;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return TM_EXIT_OK;
        case 'F':
            if ((*format = tm__format_parse(optarg)) < 0)
                return tm__usage_error(cmd, "unknown format '%s'", optarg);
            break;
        default:
            return tm__usage_error(cmd, "bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return tm__usage_error(cmd, "expected one FILE");
    return -1;
}

/* "4096", "64K", "2M", "1G" -> bytes; -1 when malformed. */
long long tm__parse_bytes(const char *arg)
{
    char *end;
    long long v;
    int shift = 0;

    if (!isdigit((unsigned char)*arg))
        return -1;
    v = strtoll(arg, &end, 10);
    switch (toupper((unsigned char)*end)) {
    case 'K':
        shift = 10;
        end++;
        break;
    case 'M':
        shift = 20;
        end++;
        break;
    case 'G':
        shift = 30;
        end++;
        break;
    }
    if (*end == 'i' && shift)
        end++;
    if ((*end == 'B' || *end == 'b') && shift)
        end++;
    if (*end || v < 0 || v > (LLONG_MAX >> shift))
        return -1;
    return v << shift;
}

long long tm__parse_count(const char *arg)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || v < 0)
        return -1;
    return v;
}

void tm__stats_args_init(tm_stats_args *a)
{
    memset(a, 0, sizeof *a);
    tm_stats_opts_init(&a->opts);
    a->limit = 10;
}

void tm__stats_args_free(tm_stats_args *a)
{
    free(a->filters);
    a->filters = NULL;
}

static int add_filter(const char *cmd, tm_stats_args *a, int inclusive, const char *pattern)
{
    tm_filter *nf = realloc(a->filters, (a->nfilters + 1) * sizeof *nf);

    if (!nf)
        return tm__usage_error(cmd, "out of memory");
    a->filters = nf;
    nf[a->nfilters].inclusive = inclusive;
    nf[a->nfilters].pattern = pattern;
    a->nfilters++;
    a->opts.filters = a->filters;
    a->opts.nfilters = a->nfilters;
    return 0;
}

int tm__stats_parse(const char *cmd, const char *usage, int argc, char **argv, tm_stats_args *a,
                    int nfiles, const char *operands)
{
    static const struct option longopts[] = {TM_STATS_LONGOPTS, {0}};
    int opt, rc;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, TM_STATS_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return TM_EXIT_OK;
        }
        if (opt == '?' || opt == ':')
            return tm__usage_error(cmd, "bad option '%s'", argv[optind - 1]);
        if ((rc = tm__stats_option(cmd, a, opt, optarg)))
            return rc;
    }
    if (argc - optind != nfiles)
        return tm__usage_error(cmd, "expected %s", operands);
    return -1;
}

int tm__stats_option(const char *cmd, tm_stats_args *a, int opt, const char *arg)
{
    long long v;
    int e;

    switch (opt) {
    case 'b':
        if ((e = tm_group_by_parse(arg)) < 0)
            return tm__usage_error(cmd,
                                   "--by: unknown grouping '%s' (lineno, "
                                   "filename, function, module, traceback)",
                                   arg);
        a->opts.by = (tm_group_by)e;
        return 0;
    case 'c':
        a->opts.cumulative = 1;
        return 0;
    case 'a':
        a->opts.all_frames = 1;
        return 0;
    case 'P':
        a->opts.peak = 1;
        return 0;
    case 'i':
        return add_filter(cmd, a, 1, arg);
    case 'x':
        return add_filter(cmd, a, 0, arg);
    case 'D':
        if ((v = tm__parse_count(arg)) < 0)
            return tm__usage_error(cmd,
                                   "--domain: '%s' is not a domain "
                                   "number",
                                   arg);
        a->opts.domain = v;
        return 0;
    case 's':
        if ((e = tm_sort_parse(arg)) < 0)
            return tm__usage_error(cmd,
                                   "--sort: unknown key '%s' (size, "
                                   "count, allocations, temporary)",
                                   arg);
        a->opts.sort = (tm_sort)e;
        return 0;
    case 'n':
        if ((v = tm__parse_count(arg)) < 0 || v > 1000000000)
            return tm__usage_error(cmd, "-n: '%s' is not a count", arg);
        a->limit = (long)v;
        return 0;
    case 'F':
        if ((e = tm__format_parse(arg)) < 0)
            return tm__usage_error(cmd,
                                   "--format: unknown format '%s' (text, "
                                   "json)",
                                   arg);
        a->format = (tm_format)e;
        return 0;
    }
    return tm__view_option(cmd, opt, arg);
}
