/* cmd_check.c - tracemem check: the CI leak gate (SPEC section 7).
 *
 * Reads snapshot FILEs, or runs PROGRAM under the shim with a leak check
 * at exit into a private directory and reads what every process of the
 * run wrote (the latest checked snapshot of each). Exit status: PROGRAM's
 * own status when it is not 0 (the report is still written); else 0 when
 * the gate passed, 1 when it failed, 2 for usage errors, unreadable or
 * invalid input and snapshots without a leak check.
 */
#include "config.h"

#include "builtin.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/gate.h"
#include "supervise.h"

static const char usage[] =
    "usage: tracemem check [--kinds LIST] [--max-leaked-bytes N]\n"
    "                      [--max-leaked-blocks N] [--max-peak BYTES]\n"
    "                      [--suppressions FILE]...\n"
    "                      [--baseline FILE] [--update-baseline FILE]\n"
    "                      [--format text|json|junit|sarif|github] [-o FILE]\n"
    "                      [--wait-children SECONDS] [--no-default-suppressions]\n"
    "                      " TM_VIEW_USAGE "\n"
    "                      (FILE... | -- PROGRAM [ARGS...])\n"
    "Fails (exit 1) when the leaks not suppressed exceed the limits (default\n"
    "0 bytes and 0 blocks of kinds definite,indirect) or, with --baseline,\n"
    "when a leak stack is new or grew. With PROGRAM, a non-zero exit status\n"
    "of PROGRAM is kept as tracemem's own. See tracemem-check(1).\n";

typedef struct check_args {
    unsigned kinds;
    tm_gate_opts gate;
    int have_limit;
    tm_suppressions supp;
    int no_default_supp;    /* --no-default-suppressions */
    tm_baseline baseline;
    const char *update;
    tm_gate_format format;
    const char *output;
    char **files;           /* FILE... or NULL */
    int nfiles;
    char **program;         /* PROGRAM ARGS..., or NULL */
    double wait_children;   /* for descendants of PROGRAM, seconds */
} check_args;

enum { OPT_KINDS = 256, OPT_MAX_BYTES, OPT_MAX_BLOCKS, OPT_SUPP,
       OPT_BASELINE, OPT_UPDATE, OPT_WAIT, OPT_NO_DEFAULT, OPT_MAX_PEAK };

static int limit_option(const char *name, const char *arg, int64_t *out)
{
    long long v = tm__parse_count(arg);

    if (v < 0)
        return tm__usage_error("check", "%s: '%s' is not a non-negative "
                               "number", name, arg);
    *out = v;
    return 0;
}

static int load_baseline(check_args *a, const char *path)
{
    tm_error err = { "" };

    if (tm_baseline_load(&a->baseline, path, &err) == 0) {
        a->gate.baseline = &a->baseline;
        a->gate.baseline_file = path;
        return 0;
    }
    tm__eprintf("tracemem: %s\n", err.what);
    return TM_EXIT_USAGE;
}

static int check_option(check_args *a, int opt, const char *arg)
{
    int v;

    if ((v = tm__view_option("check", opt, arg)) >= 0)
        return v;
    switch (opt) {
    case OPT_KINDS:
        if ((v = tm_leak_kinds_parse(arg)) < 0)
            return tm__usage_error("check", "--kinds: '%s' is not a list of "
                                   "definite, indirect, possible, "
                                   "reachable, all", arg);
        a->kinds = (unsigned)v;
        return 0;
    case OPT_MAX_BYTES:
        a->have_limit = 1;
        return limit_option("--max-leaked-bytes", arg, &a->gate.max_bytes);
    case OPT_MAX_BLOCKS:
        a->have_limit = 1;
        return limit_option("--max-leaked-blocks", arg, &a->gate.max_blocks);
    case OPT_SUPP: return tm__load_suppressions(&a->supp, arg);
    case OPT_NO_DEFAULT: a->no_default_supp = 1; return 0;
    case OPT_MAX_PEAK:
        if ((a->gate.max_peak = tm__parse_bytes(arg)) <= 0)
            return tm__usage_error("check", "--max-peak: '%s' is not a positive number of bytes (K, M, G "
                                   "allowed)", arg);
        return 0;
    case OPT_BASELINE:
        if (a->gate.baseline)
            return tm__usage_error("check", "--baseline given twice");
        return load_baseline(a, arg);
    case OPT_UPDATE: a->update = arg; return 0;
    case OPT_WAIT:
        if ((a->wait_children = tm__parse_seconds(arg)) < 0)
            return tm__usage_error("check", "--wait-children: '%s' is not a "
                                   "number of seconds", arg);
        return 0;
    case 'o': a->output = arg; return 0;
    case 'F':
        if ((v = tm_gate_format_parse(arg)) < 0)
            return tm__usage_error("check", "--format: unknown format '%s' "
                                   "(text, json, junit, sarif, github)", arg);
        a->format = (tm_gate_format)v;
        return 0;
    }
    return tm__usage_error("check", "bad option '%s'", arg ? arg : "?");
}

/* Parses argv; everything after the first "--" is PROGRAM. Returns 0,
 * TM_EXIT_USAGE, or -1 after --help. */
static int parse_check(int argc, char **argv, check_args *a)
{
    static const struct option longopts[] = {
        { "kinds", required_argument, NULL, OPT_KINDS },
        { "max-leaked-bytes", required_argument, NULL, OPT_MAX_BYTES },
        { "max-leaked-blocks", required_argument, NULL, OPT_MAX_BLOCKS },
        { "max-peak", required_argument, NULL, OPT_MAX_PEAK },
        { "suppressions", required_argument, NULL, OPT_SUPP },
        { "baseline", required_argument, NULL, OPT_BASELINE },
        { "update-baseline", required_argument, NULL, OPT_UPDATE },
        { "format", required_argument, NULL, 'F' },
        { "output", required_argument, NULL, 'o' },
        { "wait-children", required_argument, NULL, OPT_WAIT },
        { "no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT },
        { "help", no_argument, NULL, 'h' },
        TM_VIEW_LONGOPTS,
        { 0 },
    };
    int opt, rc, nopt = argc;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            nopt = i;
            a->program = argv + i + 1;
            break;
        }
    opterr = 0;
    while ((opt = getopt_long(nopt, argv, "o:h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return -1;
        }
        if (opt == '?' || opt == ':')
            return tm__usage_error("check", "bad option '%s'",
                                   argv[optind - 1]);
        if ((rc = check_option(a, opt, optarg)))
            return rc;
    }
    a->files = argv + optind;
    a->nfiles = nopt - optind;
    if (a->program && (!*a->program || a->nfiles))
        return tm__usage_error("check", a->nfiles ? "give FILE or -- PROGRAM,"
                               " not both" : "expected a PROGRAM after --");
    if (!a->program && a->nfiles < 1)
        return tm__usage_error("check", "expected a snapshot FILE or -- "
                               "PROGRAM [ARGS...]");
    if (a->have_limit) {    /* a limit not given is then no limit */
        a->gate.max_bytes = a->gate.max_bytes == -2 ? -1 : a->gate.max_bytes;
        a->gate.max_blocks = a->gate.max_blocks == -2 ? -1 : a->gate.max_blocks;
    } else {
        a->gate.max_bytes = a->gate.max_blocks = 0;
    }
    return a->no_default_supp ? 0 : tm__add_default_suppressions(&a->supp);
}

/* --- the snapshots --- */

typedef struct snaps {
    size_t n;
    tm_snapshot **v;
} snaps;

static void snaps_free(snaps *s)
{
    for (size_t i = 0; i < s->n; i++)
        tm_snapshot_free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int snaps_add(snaps *s, tm_snapshot *snap)
{
    tm_snapshot **v = realloc(s->v, (s->n + 1) * sizeof *v);

    if (!v) {
        tm_snapshot_free(snap);
        tm__eprintf("tracemem: check: out of memory\n");
        return TM_EXIT_USAGE;
    }
    s->v = v;
    v[s->n++] = snap;
    return 0;
}

static int checked(const tm_snapshot *s)
{
    return s->has_leaks && s->leaks_checked;
}

/* The index in s->v[0..n) of the snapshot of 'pid', or n. */
static size_t find_pid(const snaps *s, size_t n, int64_t pid)
{
    size_t j;

    for (j = 0; j < n && s->v[j]->pid != pid; j++)
        ;
    return j;
}

/* Keeps the latest snapshot (highest sequence number) of each process;
 * the others are freed. A process whose latest snapshot was written at
 * exit or by tracemem_leak_check() without a leak check (the shim could
 * not do it and said why) makes the result unusable: returns the number
 * of such processes after printing a line for each. Snapshots without a
 * check taken for other reasons (signal, interval) are just skipped. */
static int latest_per_process(snaps *s, const char *prog)
{
    size_t n = 0;
    int failed = 0;

    for (size_t i = 0; i < s->n; i++) {
        tm_snapshot *cur = s->v[i];
        size_t j = find_pid(s, n, cur->pid);
        int check_reason = cur->reason && (strcmp(cur->reason, "exit") == 0 ||
                                           strcmp(cur->reason, "leak-check") == 0);

        if (!checked(cur) && !check_reason) {
            tm_snapshot_free(cur);
        } else if (j == n) {
            s->v[n++] = cur;
        } else if (cur->seq > s->v[j]->seq) {
            tm_snapshot_free(s->v[j]);
            s->v[j] = cur;
        } else {
            tm_snapshot_free(cur);
        }
    }
    s->n = n;
    for (size_t i = 0; i < n; i++)
        if (!checked(s->v[i])) {
            tm__eprintf("tracemem: %s: the leak check of process %" PRId64
                        " (%s) failed, nothing to gate on\n", prog,
                        s->v[i]->pid, s->v[i]->exe ? s->v[i]->exe : "?");
            failed++;
        }
    return failed;
}

/* Loads and symbolizes every snapshot in 'dir', then removes the files
 * and the directory. */
static int collect_dir(const char *dir, snaps *s)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    int rc = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        tm_snapshot *snap;

        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            (int)sizeof path)
            continue;
        if (rc == 0 && len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 &&
            (rc = tm__load(path, 1, &snap)) == 0)
            rc = snaps_add(s, snap);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
    return rc;
}

/* Removes 'dir' and what is in it (tm__supervise's on_abort). */
static void remove_dir(void *arg)
{
    const char *dir = arg;
    char path[4400];

    /* a process still running may add a file meanwhile */
    for (int tries = 0; tries < 3; tries++) {
        DIR *d = opendir(dir);
        struct dirent *e;

        if (!d)
            return;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name) <
                    (int)sizeof path)
                unlink(path);
        closedir(d);
        if (rmdir(dir) == 0 || errno != ENOTEMPTY)
            return;
    }
}

/* Runs a->program under the shim; returns its status, or -1 when it could
 * not be run at all. */
static int run_checked(check_args *a, snaps *s)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], output[4200], why[512];
    const char *vars[][2] = {
        { "TRACEMEM_OUTPUT", output },
        { "TRACEMEM_AT_EXIT", "leaks" },
        { NULL, NULL },
    };
    tm_supervise_opts so = {
        .cmd = "check", .wait_children = a->wait_children,
        .not_seen = "what they write from now on is not checked",
        .on_abort = remove_dir, .abort_arg = dir,
    };
    tm_supervise_result sr;
    int status, rc;

    snprintf(dir, sizeof dir, "%s/tracemem-check.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        tm__eprintf("tracemem: %s: cannot create: %s\n", dir,
                    strerror(errno));
        return -1;
    }
    snprintf(output, sizeof output, "%s/tracemem.%%e.%%p.%%n.json", dir);
    status = tm__run_under_shim(a->program, vars, &so, &sr);
    rc = collect_dir(dir, s);
    /* the directory is gone: a signal from now on may take its course */
    tm__supervise_done();
    if (sr.exec_failed)
        return status;  /* 127 or 126, said in one line */
    if (rc || status < 0)
        return -1;
    if (latest_per_process(s, a->program[0]) && status == 0)
        return -1;
    if (s->n == 0 && status == 0) {
        tm__why_no_snapshot(a->program[0], status, why, sizeof why);
        tm__eprintf("tracemem: %s: no leak check was written: %s\n",
                    a->program[0], why);
        return -1;
    }
    return status;
}

static int load_files(check_args *a, snaps *s)
{
    for (int i = 0; i < a->nfiles; i++) {
        tm_snapshot *snap;
        int rc;

        if ((rc = tm__load(a->files[i], 1, &snap)) ||
            (rc = snaps_add(s, snap)))
            return rc;
        if (!checked(snap)) {
            tm__eprintf("tracemem: %s: leaks were not checked in this "
                        "snapshot (nothing to gate on; take it with "
                        "TRACEMEM_AT_EXIT=leaks or tracemem_leak_check())\n",
                        a->files[i]);
            return TM_EXIT_USAGE;
        }
    }
    return 0;
}

/* 1 when there is nothing to judge: no snapshot, or one without a leak
 * check (the reasons were printed). */
static int unchecked(const snaps *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!checked(s->v[i]))
            return 1;
    return s->n == 0;
}

/* 1 when a snapshot was sampled: its leak figures are estimates (blocks
 * not sampled were neither scanned nor counted), not a basis for a gate
 * (said once, with the file). */
static int sampled(const snaps *s, const char *program)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i]->sampling_bytes > 0) {
            tm__eprintf("tracemem: %s: %s (TRACEMEM_SAMPLE=%lld): "
                        "its leak figures are estimates, not counts; gate on a "
                        "run without sampling\n",
                        program ? program : s->v[i]->file,
                        program ? "the run was sampled" : "a sampled snapshot",
                        (long long)s->v[i]->sampling_bytes);
            return 1;
        }
    }
    return 0;
}

/* --- judging and writing --- */

static int update_baseline(check_args *a, tm_leak_report *r)
{
    tm_error err = { "" };
    json_t *j;
    int rc;

    if (tm_baseline_write(r, a->update, &err)) {
        tm__eprintf("tracemem: %s\n", err.what);
        return TM_EXIT_USAGE;
    }
    if (a->gate.baseline)
        return 0;
    /* no --baseline: judged against the baseline just written */
    j = tm_baseline_json(r);
    rc = tm_baseline_from_json(&a->baseline, j, a->update, &err);
    json_decref(j);
    if (rc) {
        tm__eprintf("tracemem: %s\n", err.what);
        return TM_EXIT_USAGE;
    }
    a->gate.baseline = &a->baseline;
    a->gate.baseline_file = a->update;
    return 0;
}

static int write_report(check_args *a, tm_leak_report *r, tm_gate *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    tm_error err = { "" };
    int rc = 0;

    if (!fp) {
        tm__eprintf("tracemem: check: out of memory\n");
        return TM_EXIT_USAGE;
    }
    tm_gate_render(fp, r, g, a->format);
    if (fclose(fp) ||
        tm_write_file_atomic(a->output ? a->output : "-", text, len, &err)) {
        tm__eprintf("tracemem: %s\n", err.what[0] ? err.what
                                                      : "check: out of memory");
        rc = TM_EXIT_USAGE;
    }
    free(text);
    return rc;
}

static int judge(check_args *a, snaps *s, int status)
{
    tm_leak_report r;
    tm_gate g = { 0 };
    int rc;

    if (tm_leak_report_build(&r, s->v, s->n, a->kinds, &a->supp)) {
        tm__eprintf("tracemem: check: out of memory\n");
        return TM_EXIT_USAGE;
    }
    if (a->update && (rc = update_baseline(a, &r)))
        goto out;
    tm_gate_eval(&r, &a->gate, &g);
    g.argv = a->program;
    g.status = status;
    if ((rc = write_report(a, &r, &g)))
        goto out;
    rc = g.failed ? TM_EXIT_FAIL : TM_EXIT_OK;
out:
    tm_leak_report_free(&r);
    return rc;
}

int cmd_check(int argc, char **argv)
{
    check_args a = { .kinds = TM_KINDS_CHECK,
                     .gate = { .max_bytes = -2, .max_blocks = -2, .max_peak = -1 },
                     .wait_children = TM_WAIT_CHILDREN_DEFAULT };
    snaps s = { 0, NULL };
    int rc, status = 0;

    if ((rc = parse_check(argc, argv, &a)))
        goto out;
    if (a.program) {
        if ((status = run_checked(&a, &s)) < 0) {
            rc = TM_EXIT_USAGE;
            goto out;
        }
        if (!s.n && status > 128)
            tm__eprintf("tracemem: %s: was killed by signal %d (%s) "
                        "before its leak check\n", a.program[0], status - 128,
                        strsignal(status - 128));
        else if (!s.n && status && status != 126 && status != 127)
            tm__eprintf("tracemem: %s: exited with status %d before "
                        "its leak check\n", a.program[0], status);
    } else if ((rc = load_files(&a, &s))) {
        goto out;
    }
    /* no report at all rather than one that passes without a check */
    rc = unchecked(&s) || sampled(&s, a.program ? a.program[0] : NULL) ? TM_EXIT_USAGE
                                                                      : judge(&a, &s, status);
    if (status)
        rc = status;    /* the program's failure is kept */
out:
    snaps_free(&s);
    tm_suppressions_free(&a.supp);
    tm_baseline_free(&a.baseline);
    return rc < 0 ? TM_EXIT_OK : rc;
}
