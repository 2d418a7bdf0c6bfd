/* main.c - the tracemem command: dispatches to cmd_<name>() through a
 * table, like git's builtins. Exit status: 0 success, 1 a gate failed,
 * 2 usage error or unreadable/invalid input (SPEC section 7); run keeps
 * the traced program's status.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "outfile.h"

struct cmd_struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

/* New commands (leaks, check, gc, ...) add a line here. */
static const struct cmd_struct commands[] = {
    {"run", cmd_run, "run a program under the shim and summarize"},
    {"symbolize", cmd_symbolize, "add function/file/line to a snapshot"},
    {"top", cmd_top, "where memory was allocated (tracemalloc statistics)"},
    {"diff", cmd_diff, "what grew between two snapshots (compare_to)"},
    {"leaks", cmd_leaks, "leaked blocks by stack and kind, Valgrind-style"},
    {"check", cmd_check, "CI leak gate: limits, suppressions, baselines"},
    {"flamegraph", cmd_flamegraph, "SVG/HTML flame graph, or a differential one"},
    {"export", cmd_export, "folded stacks, speedscope or pprof profile"},
    {"trend", cmd_trend, "stacks that grow steadily over snapshots, or one's timeline"},
    {"gc", cmd_gc, "librcgc collector statistics and live objects by type"},
    {"stats", cmd_stats, "allocation counts and the size histogram"},
    {"attach", cmd_attach, "trace a running process for a while, then detach"},
    {"rss", cmd_rss, "where the resident memory went: heap, mappings, stacks, libraries"},
    {"report", cmd_report, "one HTML page: summary, memory over time, flame graph, leaks"},
};

static void usage(FILE *fp)
{
    fputs("usage: tracemem [--version] [-h|--help] COMMAND [ARGS...]\n\n"
          "Commands:\n",
          fp);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].help);
    fputs("\nSee 'tracemem COMMAND --help' and tracemem(1).\n", fp);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : NULL;

    /* a closed pipe is a write error reported like any other (EPIPE),
     * not a silent death; programs run under the shim get SIGPIPE back
     * (cmd_run.c) */
    signal(SIGPIPE, SIG_IGN);
    if (!name) {
        usage(stderr);
        return TM_EXIT_USAGE;
    }
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return tm__stdout_done(TM_EXIT_OK);
    }
    if (strcmp(name, "--version") == 0) {
        printf("tracemem %s\n", PACKAGE_VERSION);
        return tm__stdout_done(TM_EXIT_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            int rc = commands[i].fn(argc - 1, argv + 1);

            /* what the command did not check itself (--help): a failed
             * write to stdout is an error too */
            return rc == TM_EXIT_OK || rc == TM_EXIT_FAIL ? tm__stdout_done(rc) : rc;
        }
    }
    tm__eprintf("tracemem: '%s' is not a tracemem command (see "
                "'tracemem --help')\n",
                name);
    return TM_EXIT_USAGE;
}
