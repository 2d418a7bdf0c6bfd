/* supervise.c - runs the traced program for tracemem run and check and
 * stays its parent until it and what it left behind are gone.
 *
 * Signals. The program runs in tracemem's process group, so what the
 * terminal sends to the foreground group (^C, ^\, a hangup: si_code
 * SI_KERNEL) reaches it directly and is not forwarded. Every other
 * SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 or SIGUSR2 sent to tracemem
 * (kill(1), timeout(1), a CI runner, a container stop) is forwarded to
 * the program, unless the sender is one of the run's own processes. The
 * signals are blocked and taken with sigtimedwait(), so nothing runs in a
 * handler. A second SIGINT or SIGTERM while the program still runs is
 * forwarded as well, then tracemem removes its temporary files and dies
 * of that signal.
 *
 * Descendants. tracemem is a child subreaper (PR_SET_CHILD_SUBREAPER):
 * a process whose parent exits is re-parented to it, so after the
 * program has exited, "tracemem has no child left" means "every
 * descendant has exited and written its snapshots". It waits for that
 * for at most the --wait-children bound (a daemon that detaches on
 * purpose must not make it hang), then says in one line how many were
 * still running.
 */
#include "config.h"

#include "builtin.h"
#include "supervise.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof forwarded / sizeof *forwarded)

/* Restored by tm__supervise_done(). */
static sigset_t saved_mask;
static int blocked;

static void wait_set(sigset_t *s)
{
    sigemptyset(s);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(s, forwarded[i]);
    sigaddset(s, SIGCHLD);
}

/* --- the process tree, from /proc --- */

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;
    long ppid;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything */
    if (!(p = strrchr(buf, ')')) || sscanf(p + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

/* 1 when 'pid' is a descendant of this process. */
static int descendant(pid_t pid)
{
    pid_t self = getpid();

    for (int depth = 0; pid > 1 && depth < 256; depth++)
        if ((pid = parent_of(pid)) == self)
            return 1;
    return 0;
}

/* How many descendants this process has. */
static int count_descendants(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);

        if (*end == '\0' && pid > 1 && descendant((pid_t)pid))
            n++;
    }
    closedir(d);
    return n;
}

/* Sends 'sig' to this process's children (after the program has exited,
 * the descendants re-parented here). */
static void signal_children(int sig)
{
    char path[64], buf[4096], *p, *end;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (p = buf;; p = end) {
        long pid = strtol(p, &end, 10);

        if (end == p)
            break;
        if (pid > 1)
            kill((pid_t)pid, sig);
    }
}

/* --- time --- */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double tm__parse_seconds(const char *arg)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    return v;
}

/* --- starting the program --- */

static int exec_status(int e)
{
    return e == ENOENT || e == ENOTDIR ? 127 : 126;
}

static void exec_error(const char *prog, int e)
{
    struct stat st;

    if (e == ENOENT && !strchr(prog, '/'))
        tm__eprintf("tracemem: %s: command not found\n", prog);
    else if (e == EACCES && stat(prog, &st) == 0 && S_ISDIR(st.st_mode))
        tm__eprintf("tracemem: %s: cannot execute: it is a directory\n", prog);
    else
        tm__eprintf("tracemem: %s: cannot execute: %s\n", prog, strerror(e));
}

/* Forks and execs 'argv' with the original signal mask and SIGCHLD
 * action. Returns its pid, 0 when the exec failed (reaped, reported,
 * '*status' set), -1 when fork failed. */
static pid_t start(char **argv, const struct sigaction *chld, int *status)
{
    int fds[2], e = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        fprintf(stderr, "tracemem: cannot create a pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    if ((pid = fork()) < 0) {
        fprintf(stderr, "tracemem: cannot fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        sigaction(SIGCHLD, chld, NULL);
        signal(SIGPIPE, SIG_DFL); /* main() ignores it; the program must not */
        sigprocmask(SIG_SETMASK, &saved_mask, NULL);
        execvp(argv[0], argv);
        e = errno;
        if (write(fds[1], &e, sizeof e) < 0)
            _exit(126);
        _exit(exec_status(e));
    }
    close(fds[1]);
    /* the forwarded signals are blocked: read() is not interrupted */
    while ((n = read(fds[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(fds[0]);
    if (n == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        exec_error(argv[0], e);
        *status = exec_status(e);
        return 0;
    }
    return pid;
}

/* --- waiting --- */

static int decode(int st)
{
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Dies of 'sig' (after the program's owner asked twice). */
static void die(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t one;

    sigaction(sig, &dfl, NULL);
    sigemptyset(&one);
    sigaddset(&one, sig);
    raise(sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    _exit(128 + sig);
}

/* What to do with a signal sent to tracemem. 'pid' is the program, 0 once
 * it has exited. Returns 1 to stop waiting for descendants. */
static int on_signal(int sig, const siginfo_t *si, pid_t pid, int *stops, const tm_supervise_opts *o)
{
    if (si->si_code == SI_KERNEL)
        return 0; /* the terminal's: the whole process group has it */
    if (si->si_pid > 0 && descendant(si->si_pid))
        return 0; /* the run's own processes: do not bounce it back */
    if (pid)
        kill(pid, sig);
    else
        signal_children(sig);
    if ((sig != SIGINT && sig != SIGTERM) || ++*stops < 2)
        return 0;
    if (!pid)
        return 1;
    fprintf(stderr, "tracemem: %s: second SIG%s: exiting without waiting for pid %d any longer\n", o->cmd,
            sigabbrev_np(sig), (int)pid);
    if (o->on_abort)
        o->on_abort(o->abort_arg);
    die(sig);
    return 1;
}

/* Reaps every child that has exited; sets '*status' when one is 'pid'.
 * Returns 0 when children remain, -1 when there is none left. */
static int reap(pid_t pid, int *status)
{
    pid_t w;
    int st;

    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
        if (w == pid)
            *status = decode(st);
    return w < 0 && errno == ECHILD ? -1 : 0;
}

static void wait_all(pid_t pid, const tm_supervise_opts *o, int *status, int *cut_short)
{
    sigset_t set;
    siginfo_t si;
    double deadline = 0;
    int stops = 0, sig;

    wait_set(&set);
    for (;;) {
        struct timespec ts, *tp = NULL;

        if (reap(pid, status) < 0)
            return;
        if (*status >= 0) {
            double left;

            if (!deadline)
                deadline = now() + o->wait_children;
            if ((left = deadline - now()) <= 0) {
                *cut_short = 1;
                return;
            }
            ts.tv_sec = (time_t)left;
            ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
            tp = &ts;
        }
        if ((sig = sigtimedwait(&set, &si, tp)) < 0 || sig == SIGCHLD)
            continue;
        if (on_signal(sig, &si, *status >= 0 ? 0 : pid, &stops, o)) {
            *cut_short = 1;
            return;
        }
    }
}

int tm__supervise(char **argv, const tm_supervise_opts *o, tm_supervise_result *r)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, chld;
    sigset_t set;
    int status = -1, cut_short = 0;
    pid_t pid;

    memset(r, 0, sizeof *r);
    wait_set(&set);
    sigprocmask(SIG_BLOCK, &set, &saved_mask);
    blocked = 1;
    /* an inherited SIG_IGN would reap the program behind our back */
    sigaction(SIGCHLD, &dfl, &chld);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid = start(argv, &chld, &status);
    if (pid <= 0) {
        r->exec_failed = pid == 0;
        goto out;
    }
    r->pid = pid;
    if (o->on_start)
        o->on_start(pid, o->start_arg);
    wait_all(pid, o, &status, &cut_short);
    if (cut_short && (r->left = count_descendants()) > 0 && !o->quiet)
        fprintf(stderr,
                "tracemem: %s: %d process%s started by %s %s still running after %g s and %s not "
                "waited for (%s; see --wait-children)\n",
                o->cmd, r->left, r->left == 1 ? "" : "es", argv[0], r->left == 1 ? "was" : "were",
                o->wait_children, r->left == 1 ? "was" : "were", o->not_seen);
out:
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    sigaction(SIGCHLD, &chld, NULL);
    return status;
}

void tm__supervise_done(void)
{
    if (blocked)
        sigprocmask(SIG_SETMASK, &saved_mask, NULL);
    blocked = 0;
}

/* --- why nothing was written --- */

/* The file execvp() runs for 'prog'; a new string or NULL. */
static char *resolve(const char *prog)
{
    const char *path = getenv("PATH"), *p, *colon;
    struct stat st;
    char *f;

    if (strchr(prog, '/'))
        return strdup(prog);
    for (p = path && *path ? path : "/bin:/usr/bin"; p; p = colon ? colon + 1 : NULL) {
        int len;

        colon = strchr(p, ':');
        len = colon ? (int)(colon - p) : (int)strlen(p);
        if (asprintf(&f, "%.*s%s%s", len, p, len ? "/" : "", prog) < 0)
            return NULL;
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0)
            return f;
        free(f);
    }
    return NULL;
}

/* 1 when 'fd' is an ELF file without a program interpreter (statically
 * linked), 0 when it has one, -1 when it is not ELF. */
static int elf_static(int fd)
{
    unsigned char id[EI_NIDENT];
    Elf64_Ehdr e64;
    Elf32_Ehdr e32;
    uint64_t off;
    unsigned num, entsize;

    if (pread(fd, id, sizeof id, 0) != (ssize_t)sizeof id || memcmp(id, ELFMAG, SELFMAG) != 0)
        return -1;
    if (id[EI_CLASS] == ELFCLASS64) {
        if (pread(fd, &e64, sizeof e64, 0) != (ssize_t)sizeof e64)
            return -1;
        off = e64.e_phoff, num = e64.e_phnum, entsize = e64.e_phentsize;
    } else {
        if (pread(fd, &e32, sizeof e32, 0) != (ssize_t)sizeof e32)
            return -1;
        off = e32.e_phoff, num = e32.e_phnum, entsize = e32.e_phentsize;
    }
    for (unsigned i = 0; i < num && i < 4096; i++) {
        uint32_t type; /* p_type comes first in both classes */

        if (pread(fd, &type, sizeof type, (off_t)(off + (uint64_t)i * entsize)) != (ssize_t)sizeof type)
            return -1;
        if (type == PT_INTERP)
            return 0;
    }
    return 1;
}

/* The interpreter of a "#!" script on 'fd'; a new string or NULL. */
static char *script_interp(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    size_t len;
    char *p;

    if (n < 3 || buf[0] != '#' || buf[1] != '!')
        return NULL;
    buf[n] = '\0';
    for (p = buf + 2; *p == ' ' || *p == '\t'; p++)
        ;
    len = strcspn(p, " \t\n");
    return len ? strndup(p, len) : NULL;
}

void tm__why_no_snapshot(const char *prog, int status, char *buf, size_t size)
{
    const char *at_exit = getenv("TRACEMEM_AT_EXIT");
    char *file = resolve(prog), *interp = NULL;
    struct stat st;
    int fd = -1, stat_ok;

    if (status == 128 + SIGKILL) {
        snprintf(buf, size, "%s was killed by SIGKILL, which leaves no time to write one", prog);
        goto out;
    }
    if (file && (fd = open(file, O_RDONLY | O_CLOEXEC)) >= 0 && (interp = script_interp(fd))) {
        close(fd);
        fd = open(interp, O_RDONLY | O_CLOEXEC);
    }
    stat_ok = fd >= 0 && fstat(fd, &st) == 0;
    if (stat_ok && elf_static(fd) == 1)
        snprintf(buf, size,
                 "%s%s%s%s is statically linked, and libtracemem.so can only be preloaded into "
                 "dynamically linked programs",
                 interp ? interp : prog, interp ? ", the interpreter of " : "", interp ? prog : "",
                 interp ? "," : "");
    else if (stat_ok && (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
                         ((st.st_mode & S_ISGID) && st.st_gid != getgid())))
        snprintf(buf, size,
                 "%s is set-user-ID or set-group-ID, and the dynamic loader ignores LD_PRELOAD for "
                 "such programs",
                 prog);
    else if (at_exit && strcmp(at_exit, "none") == 0)
        snprintf(buf, size, "TRACEMEM_AT_EXIT=none is set");
    else
        snprintf(buf, size,
                 "%s did not load libtracemem.so or left before writing one (statically linked "
                 "and set-user-ID programs cannot be traced)",
                 prog);
out:
    if (fd >= 0)
        close(fd);
    free(interp);
    free(file);
}
