/* cmd_attach.c - tracemem attach PID: traces a running process for a while
 * and leaves it running.
 *
 * inject.c makes one of the process's threads load libtracemem.so and call
 * its start (src/shim/attach.c); then this command waits for the duration,
 * Ctrl-C (SIGINT, SIGTERM, SIGHUP) or the process's end, makes a thread
 * call the shim's stop, which writes the last snapshot and leaves the hooks
 * inert, and summarizes what was written as run does (cmd_run.c). A
 * process that exits meanwhile writes its at-exit snapshot itself. */
#define _GNU_SOURCE
#include "config.h"

#include "builtin.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "supervise.h"

#define DEFAULT_TEMPLATE "tracemem.%e.%p.json.gz"

static const char usage[] = "usage: tracemem attach [-o TEMPLATE] [-n NFRAMES] [--duration SECONDS]\n"
                            "                       [--interval SECONDS] [--sample BYTES] [-q]\n"
                            "                       [--format text|json] " TM_VIEW_USAGE "\n"
                            "                       PID\n"
                            "Loads libtracemem.so into the running process PID, traces its allocations\n"
                            "until the duration ends or Ctrl-C, writes a snapshot, detaches (the process\n"
                            "runs on) and prints a summary like run's. See tracemem-attach(1).\n";

enum { OPT_DURATION = 256, OPT_INTERVAL, OPT_SAMPLE, OPT_FORMAT };

typedef struct attach_args {
    const char *output;
    const char *nframes, *interval, *sample;
    double duration; /* 0: until Ctrl-C */
    int quiet;
    tm_format format;
    pid_t pid;
} attach_args;

static volatile sig_atomic_t stop_asked;

static void on_stop(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static int parse_attach(int argc, char **argv, attach_args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"nframes", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"sample", required_argument, NULL, OPT_SAMPLE},
        {"quiet", no_argument, NULL, 'q'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        TM_VIEW_LONGOPTS,
        {0},
    };
    long long v;
    double d;
    char *end;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+o:n:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            if (!*optarg || strchr(optarg, '\n'))
                return tm__usage_error("attach", "-o: '%s' is not a usable path template", optarg);
            a->output = optarg;
            break;
        case 'n':
            v = tm__parse_count(optarg);
            if (v < 1 || v > 256)
                return tm__usage_error("attach", "-n: '%s' is not a number of frames in 1..256", optarg);
            a->nframes = optarg;
            break;
        case OPT_DURATION:
            if ((a->duration = tm__parse_seconds(optarg)) < 0)
                return tm__usage_error("attach", "--duration: '%s' is not a number of seconds", optarg);
            break;
        case OPT_INTERVAL:
            d = tm__parse_seconds(optarg);
            if (d < 0 || (d > 0 && d < 0.001) || d > 1e9)
                return tm__usage_error(
                    "attach", "--interval: '%s' is not a number of seconds (0, or 0.001 to 1e9)", optarg);
            a->interval = optarg;
            break;
        case OPT_SAMPLE:
            if (tm__parse_count(optarg) < 0)
                return tm__usage_error("attach", "--sample: '%s' is not a number of bytes", optarg);
            a->sample = optarg;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case OPT_FORMAT:
            if ((v = tm__format_parse(optarg)) < 0)
                return tm__usage_error("attach", "--format: unknown format '%s' (text, json)", optarg);
            a->format = (tm_format)v;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            if ((v = tm__view_option("attach", opt, optarg)) >= 0) {
                if (v)
                    return (int)v;
                break;
            }
            return tm__usage_error("attach", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tm__usage_error("attach", "expected the PID of a running process");
    if (optind + 1 < argc)
        return tm__usage_error("attach", "unexpected argument '%s' after the PID", argv[optind + 1]);
    errno = 0;
    v = strtoll(argv[optind], &end, 10);
    if (errno || end == argv[optind] || *end || v < 1 || v > INT_MAX)
        return tm__usage_error("attach", "'%s' is not a process id", argv[optind]);
    a->pid = (pid_t)v;
    return 0;
}

/* Refusals, with one line: 0 when the process may be attached to. */
static int refuse(pid_t pid, const tm_inject_probe *p)
{
    char advice[256];

    if (p->denied) {
        tm__eprintf("tracemem: %d: not allowed to trace it: %s\n", (int)pid,
                    tm__inject_advice(advice, sizeof advice));
        return TM_EXIT_USAGE;
    }
    if (!p->dynamic) {
        tm__eprintf(
            "tracemem: %d: %s is statically linked (no dynamic linker in the process): attach needs a "
            "dynamically linked program\n",
            (int)pid, p->exe);
        return TM_EXIT_USAGE;
    }
    if (p->has_shim && !p->shim_late) {
        tm__eprintf(
            "tracemem: %d: %s already runs with libtracemem.so preloaded: it writes its own snapshots "
            "(TRACEMEM_SIGNAL, TRACEMEM_INTERVAL, tracemem_take_snapshot)\n",
            (int)pid, p->exe);
        return TM_EXIT_USAGE;
    }
    if (p->shim_active) {
        tm__eprintf("tracemem: %d: another tracemem attach is tracing %s\n", (int)pid, p->exe);
        return TM_EXIT_USAGE;
    }
    if (p->stopped) {
        tm__eprintf(
            "tracemem: %d: %s is stopped (or traced by a debugger); continue it first (kill -CONT %d)\n",
            (int)pid, p->exe, (int)pid);
        return TM_EXIT_USAGE;
    }
    return 0;
}

/* Waits for the duration, a stop signal or the process's end: 1 when the
 * process ended. */
static int wait_attached(pid_t pid, double duration)
{
    struct timespec t0, t;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (stop_asked)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double spent = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (duration > 0 && spent >= duration)
            break;
        int ms = 200;
        if (duration > 0 && (duration - spent) * 1000 < ms)
            ms = (int)((duration - spent) * 1000) + 1;
        if (pidfd >= 0) {
            struct pollfd pfd = {pidfd, POLLIN, 0};
            if (poll(&pfd, 1, ms) > 0) {
                close(pidfd);
                return 1;
            }
        } else {
            tm_inject_probe p;
            if (tm__inject_probe(pid, &p) == -ESRCH)
                return 1;
            struct timespec d = {0, ms * 1000000L};
            nanosleep(&d, NULL);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return 0;
}

static char *make_conf(const attach_args *a, const char *output)
{
    char *conf = NULL;
    if (asprintf(&conf, "output=%s\n%s%s%s%s%s%s%s%s%s", output, a->nframes ? "nframes=" : "",
                 a->nframes ? a->nframes : "", a->nframes ? "\n" : "", a->interval ? "interval=" : "",
                 a->interval ? a->interval : "", a->interval ? "\n" : "", a->sample ? "sample=" : "",
                 a->sample ? a->sample : "", a->sample ? "\n" : "") < 0)
        return NULL;
    return conf;
}

int cmd_attach(int argc, char **argv)
{
    attach_args a = {0};
    tm_inject_probe probe;
    struct timespec start, now;
    struct sigaction sa, old_int, old_term, old_hup;
    char err[1024], cwd[PATH_MAX], *output = NULL, *conf = NULL, *shim = NULL, label[320];
    int rc, exited, result = 0;

    if ((rc = parse_attach(argc, argv, &a)))
        return rc < 0 ? TM_EXIT_OK : rc;
    if (!a.output)
        a.output = getenv("TRACEMEM_OUTPUT") && *getenv("TRACEMEM_OUTPUT") ? getenv("TRACEMEM_OUTPUT")
                                                                           : DEFAULT_TEMPLATE;
#if !defined(__x86_64__)
    tm__eprintf("tracemem: attach is implemented for x86-64 only\n");
    return TM_EXIT_USAGE;
#endif
    if (tm__inject_probe(a.pid, &probe) == -ESRCH) {
        tm__eprintf("tracemem: %d: no such process\n", (int)a.pid);
        return TM_EXIT_USAGE;
    }
    if ((rc = refuse(a.pid, &probe)))
        return rc;
    if (!(shim = tm__find_shim()) || access(shim, R_OK) != 0) {
        tm__eprintf("tracemem: %s: cannot find the shim (set TRACEMEM_SHIM)\n",
                    shim ? shim : "libtracemem.so");
        free(shim);
        return TM_EXIT_USAGE;
    }
    /* the process writes the files: anchor a relative template here */
    if (a.output[0] != '/' && getcwd(cwd, sizeof cwd) && asprintf(&output, "%s/%s", cwd, a.output) > 0)
        a.output = output;
    if (!(conf = make_conf(&a, a.output))) {
        rc = TM_EXIT_USAGE;
        goto out;
    }
    snprintf(label, sizeof label, "%s (pid %d)", probe.exe, (int)a.pid);

    /* Ctrl-C ends the tracing, not this command; it is held back while a
     * thread of the process is borrowed */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    clock_gettime(CLOCK_REALTIME_COARSE, &start);
    clock_gettime(CLOCK_REALTIME, &now);
    rc = tm__inject_start(a.pid, shim, conf, err, sizeof err);
    if (rc == -2) {
        tm__eprintf("tracemem: %d: the process exited while tracemem attached to it\n", (int)a.pid);
        rc = TM_EXIT_USAGE;
        goto out_signals;
    }
    if (rc) {
        tm__eprintf("tracemem: %d: cannot attach: %s\n", (int)a.pid, err);
        rc = TM_EXIT_USAGE;
        goto out_signals;
    }
    if (!a.quiet) {
        if (a.duration > 0)
            tm__eprintf("tracemem: attached to %s; tracing for %g s (Ctrl-C stops earlier)\n", label,
                        a.duration);
        else
            tm__eprintf("tracemem: attached to %s; tracing until Ctrl-C\n", label);
    }
    exited = wait_attached(a.pid, a.duration);
    if (!exited) {
        rc = tm__inject_stop(a.pid, &result, err, sizeof err);
        if (rc == -2) {
            exited = 1;
        } else if (rc) {
            tm__eprintf("tracemem: %d: cannot detach cleanly: %s\n", (int)a.pid, err);
        } else if (result < 0) {
            tm__eprintf("tracemem: %d: the last snapshot could not be written: %s\n", (int)a.pid,
                        strerror(-result));
        }
    }
    if (!a.quiet) {
        if (exited)
            tm__eprintf("tracemem: %s exited while attached; its at-exit snapshot is summarized\n", label);
        else if (!rc)
            tm__eprintf("tracemem: detached from %s; it runs on\n", label);
    }
    tm__summarize(a.output, &start, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, a.pid, label, -1, 0,
                  a.quiet, a.format);
    rc = rc && !exited ? TM_EXIT_USAGE : TM_EXIT_OK;
out_signals:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
out:
    free(conf);
    free(shim);
    free(output);
    return rc;
}
