/* builtin.h - the tracemem subcommands (git's builtin table) and the small
 * helpers they share.
 *
 * Each cmd_<name>() gets the arguments after "tracemem", argv[0] being the
 * command name, and returns the process exit status: TM_EXIT_OK,
 * TM_EXIT_FAIL (a gate failed) or TM_EXIT_USAGE (usage error, unreadable
 * or invalid input), or the traced program's status for run.
 */
#ifndef TM_TOOLS_BUILTIN_H
#define TM_TOOLS_BUILTIN_H

#include <getopt.h>
#include <stdio.h>
#include <sys/types.h>

#include "report/fold.h"
#include "report/snapshot.h"
#include "report/stats.h"

#define TM_EXIT_OK 0
#define TM_EXIT_FAIL 1
#define TM_EXIT_USAGE 2

/* --- the commands --- */

int cmd_run(int argc, char **argv);
int cmd_symbolize(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_leaks(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_trend(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_rss(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_stats(int argc, char **argv);

/* --- shared helpers (cli.c) --- */

/* fprintf(stderr, ...) for the messages of the command: every control
 * character of the result but a final newline is escaped (report/quote.h),
 * so a file or function name from the input cannot drive the terminal or
 * split the line. */
void tm__eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "tracemem CMD: MESSAGE (see 'tracemem CMD --help')" on stderr and
 * returns TM_EXIT_USAGE. */
int tm__usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Loads 'path' for reading only (tm_snapshot_load_lean(): it cannot be
 * written back) and, when 'symbolize', symbolizes it on the fly if it is
 * raw (warnings on stderr) and applies the view (tm__view). On failure
 * prints "tracemem: FILE: what is wrong" and returns TM_EXIT_USAGE; else
 * 0 and '*out'. */
int tm__load(const char *path, int symbolize, tm_snapshot **out);
/* Loads the 'n' snapshot files 'paths' into 'out' on two threads (then
 * symbolizes them in order when 'symbolize'); on failure prints the first
 * bad file's error line, frees them all and returns TM_EXIT_USAGE. */
int tm__load_many(const char *const *paths, size_t n, int symbolize, tm_snapshot **out);

/* --- the view options of every report command (report/fold.h) --- */

enum { TM_OPT_ALLOC_FN = 0x1000, TM_OPT_KEEP_ALLOC, TM_OPT_FULL_NAMES };
#define TM_VIEW_LONGOPTS                                                     \
    { "alloc-fn", required_argument, NULL, TM_OPT_ALLOC_FN },              \
    { "keep-alloc-frames", no_argument, NULL, TM_OPT_KEEP_ALLOC },         \
    { "full-names", no_argument, NULL, TM_OPT_FULL_NAMES }
#define TM_VIEW_USAGE "[--alloc-fn PATTERN]... [--keep-alloc-frames] [--full-names]"

/* What --alloc-fn, --keep-alloc-frames and --full-names asked for. */
extern tm_view_opts tm__view;

/* Handles view option 'opt' with 'arg' for 'cmd': 0 when handled,
 * TM_EXIT_USAGE after printing an error, -1 when 'opt' is not one. */
int tm__view_option(const char *cmd, int opt, const char *arg);

/* Applies tm__view to 'snap' (after symbolization); a failure (out of
 * memory) leaves the raw stacks, with one line on stderr. */
void tm__apply_view(tm_snapshot *snap);

/* Output formats of --format. */
typedef enum tm_format { TM_FORMAT_TEXT, TM_FORMAT_JSON } tm_format;

/* Parses the argument of --format (text or json); -1 when unknown. */
int tm__format_parse(const char *arg);

/* The arguments of a command that takes -h, --format and one FILE ('gc',
 * 'stats'): -1 when the command goes on with argv[optind] in '*format',
 * else the exit status (help printed, or a usage error). */
int tm__format_file_args(const char *cmd, const char *usage, int argc, char **argv, int *format);

/* Grouping and filter options shared by top and diff. */
typedef struct tm_stats_args {
    tm_stats_opts opts;
    tm_filter *filters;
    size_t nfilters;
    long limit;         /* -n; default 10, 0 = all */
    tm_format format;
} tm_stats_args;

#define TM_STATS_LONGOPTS                                                    \
    { "by", required_argument, NULL, 'b' },                                 \
    { "cumulative", no_argument, NULL, 'c' },                               \
    { "include", required_argument, NULL, 'i' },                            \
    { "exclude", required_argument, NULL, 'x' },                            \
    { "all-frames", no_argument, NULL, 'a' },                               \
    { "domain", required_argument, NULL, 'D' },                             \
    { "peak", no_argument, NULL, 'P' },                                     \
    { "sort", required_argument, NULL, 's' },                               \
    { "format", required_argument, NULL, 'F' },                             \
    { "help", no_argument, NULL, 'h' },                                     \
    TM_VIEW_LONGOPTS
#define TM_STATS_SHORTOPTS "n:h"

void tm__stats_args_init(tm_stats_args *a);
void tm__stats_args_free(tm_stats_args *a);

/* Handles one getopt result 'opt' with 'arg' for 'cmd'. Returns 0 when
 * handled, TM_EXIT_USAGE after printing an error, or -1 when 'opt' is not
 * a stats option. */
int tm__stats_option(const char *cmd, tm_stats_args *a, int opt,
                     const char *arg);

/* Parses the options of top and diff into 'a' (initialized by the caller)
 * and checks that 'nfiles' operands remain ('operands' names them in the
 * error). Returns -1 to go on, or the exit status: TM_EXIT_OK after
 * --help, TM_EXIT_USAGE after printing an error. */
int tm__stats_parse(const char *cmd, const char *usage, int argc, char **argv, tm_stats_args *a,
                    int nfiles, const char *operands);

/* 1 when 'prog' (looked up in $PATH; a script by its "#!" line) is a
 * CPython interpreter (python.c). */
int tm__is_cpython(const char *prog);

/* "4096", "64K", "2M", "1G" (powers of 1024; "KiB", "KB" too) -> bytes;
 * -1 when malformed. */
long long tm__parse_bytes(const char *arg);

/* Parses a non-negative integer; -1 when 'arg' is not one. */
long long tm__parse_count(const char *arg);

/* Runs 'argv' with the shim preloaded and the TRACEMEM_* variables of
 * 'vars' ({name, value} pairs, value NULL: unchanged, ending with a NULL
 * name) set, and waits for it and its descendants as tm__supervise()
 * does with 'o' and 'r' (cmd_run.c, supervise.h). Returns its exit status
 * (128+N when killed by signal N), -1 after printing why when the shim
 * cannot be found or the program cannot be started. */
struct tm_supervise_opts;
struct tm_supervise_result;
int tm__run_under_shim(char **argv, const char *const vars[][2],
                       const struct tm_supervise_opts *o,
                       struct tm_supervise_result *r);

/* The shim: $TRACEMEM_SHIM, the build tree's, or the installed one
 * (cmd_run.c). A new string. */
char *tm__find_shim(void);

/* Finds the snapshots the template 'tmpl' got since 'start' (file times)
 * and 'start_ms' (snapshot.time), symbolizes them in place and prints
 * run's summary for process 'pid' (cmd_run.c). 'status' is the program's
 * exit status, or -1 for attach (the process runs on; figures since the
 * attach). */
#include <stdint.h>
#include <time.h>
void tm__summarize(const char *tmpl, const struct timespec *start, int64_t start_ms, pid_t pid,
                   const char *prog, int status, int left, int quiet, tm_format format);

/* Appends the suppressions of 'path' to 'supp' (cmd_leaks.c); prints
 * "tracemem: FILE:LINE: what is wrong" and returns TM_EXIT_USAGE when
 * the file is unreadable or malformed. */
struct tm_suppressions;
int tm__load_suppressions(struct tm_suppressions *supp, const char *path);
/* Appends the default suppressions (report/defsupp.c) to 'supp'; 0 or
 * TM_EXIT_USAGE after one line (out of memory). */
int tm__add_default_suppressions(struct tm_suppressions *supp);

/* Writes the HTML report of the 'n' loaded snapshots 'snaps' to 'out'
 * with 'title' (may be NULL) (cmd_report.c); prints what went wrong.
 * Returns TM_EXIT_OK or TM_EXIT_USAGE. */
int tm__write_report(tm_snapshot *const *snaps, size_t n, const char *title, const char *out);

/* tracemem run --report: writes the page of the 'n' snapshot files
 * 'paths' to 'out' and, unless 'quiet', prints "  report: OUT" under the
 * summary. A failure is one line on stderr; run's status is unchanged.
 * Returns 0 or TM_EXIT_USAGE. */
int tm__run_report(const char *out, char *const *paths, size_t n, int quiet);

#endif /* TM_TOOLS_BUILTIN_H */
