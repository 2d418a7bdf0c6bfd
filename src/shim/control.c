/* control.c - start-up, environment, signal and interval snapshots, fork,
 * exec and exit.
 *
 * Start-up has two parts. The first allocation of the process reads the
 * environment and starts tracing (tm__early_init), so blocks allocated by
 * the constructors of libraries initialized before the shim are traced too,
 * with empty stacks. The shim's constructor, which runs before the
 * program's own, does the rest (tm__init): unwinder, modules, handlers.
 *
 * The at-exit snapshot is registered with __cxa_atexit from the constructor,
 * with no DSO handle: it is therefore called by exit() after every handler
 * the program registers and after the dynamic linker has run all static
 * destructors (glibc registers _dl_fini later, so it runs earlier). A
 * program that leaves by _exit/_Exit gets the same snapshot from hooks.c.
 *
 * Snapshots asked for by TRACEMEM_SIGNAL or TRACEMEM_INTERVAL are written by
 * the program's own threads, never by a thread of the shim's (see below). */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"
#include "shim/writer.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

struct tm__config tm__cfg = {
    .start = 1,
    .at_exit = TM_AT_EXIT_LEAKS,
    .peak_inaccuracy = 1.0,
    .follow_fork = 1,
    .follow_exec = 1,
    .output = "tracemem.%e.%p.json",
};
atomic_int tm__tracing;

void tm__set_tracing(int on)
{
    if (!on)
        atomic_store(&tm__fast_sampled, 0);
    atomic_store(&tm__tracing, on);
    if (on && tm__cfg.sample_bytes) {
        atomic_store(&tm__fast_sampled, 1);
        /* a tracemem_stop() on another thread meanwhile: off again (the
         * hooks' countdown only counts while both are on) */
        if (!atomic_load(&tm__tracing))
            atomic_store(&tm__fast_sampled, 0);
    }
}
atomic_int tm__nframes = TM_DEFAULT_NFRAMES;
atomic_uint_fast64_t tm__lost;
pid_t tm__pid;

static atomic_int init_state; /* 0 not started, 1 running, 2 done */
static atomic_int early_state;
static atomic_int exit_done;
static int disabled;          /* setuid program, or a child told not to follow */

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);
extern char **environ;

/* --- environment --- */

static void bad_value(const char *var, const char *value, const char *want, const char *used)
{
    tm__warn("%s=%s is not %s; using %s", var, value, want, used);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static void env_bool(const char *var, int *field)
{
    const char *v = getenv(var);
    if (!v)
        return;
    if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
        *field = v[0] == '1';
    else
        bad_value(var, v, "0 or 1", *field ? "1" : "0");
}

static int signal_number(const char *s)
{
    static const struct {
        const char *name;
        int signo;
    } names[] = {{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                 {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
                 {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU},
                 {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
                 {"POLL", SIGPOLL}, {"PWR", SIGPWR}, {"SYS", SIGSYS}};
    long n;
    if (parse_long(s, 1, SIGRTMAX, &n) == 0)
        return n == SIGKILL || n == SIGSTOP ? -1 : (int)n;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].signo;
    if (strncmp(s, "RTMIN+", 6) == 0 && parse_long(s + 6, 0, SIGRTMAX - SIGRTMIN, &n) == 0)
        return SIGRTMIN + (int)n;
    return -1;
}

static void read_environment(void)
{
    const char *v;
    long n;
    double d;
    if ((v = getenv("TRACEMEM_NFRAMES"))) {
        if (parse_long(v, 1, TM_MAX_NFRAMES, &n) == 0)
            atomic_store(&tm__nframes, (int)n);
        else
            bad_value("TRACEMEM_NFRAMES", v, "a whole number from 1 to 256", "64");
    }
    if ((v = getenv("TRACEMEM_OUTPUT"))) {
        if (*v && strlen(v) < sizeof(tm__cfg.output))
            memcpy(tm__cfg.output, v, strlen(v) + 1);
        else
            bad_value("TRACEMEM_OUTPUT", v, "a usable path template", tm__cfg.output);
    }
    env_bool("TRACEMEM_START", &tm__cfg.start);
    if ((v = getenv("TRACEMEM_AT_EXIT"))) {
        if (strcmp(v, "leaks") == 0)
            tm__cfg.at_exit = TM_AT_EXIT_LEAKS;
        else if (strcmp(v, "snapshot") == 0)
            tm__cfg.at_exit = TM_AT_EXIT_SNAPSHOT;
        else if (strcmp(v, "none") == 0)
            tm__cfg.at_exit = TM_AT_EXIT_NONE;
        else
            bad_value("TRACEMEM_AT_EXIT", v, "leaks, snapshot or none", "leaks");
    }
    if ((v = getenv("TRACEMEM_SIGNAL")) && strcmp(v, "none") != 0) {
        int sig = signal_number(v);
        if (sig > 0)
            tm__cfg.signo = sig;
        else
            bad_value("TRACEMEM_SIGNAL", v, "a signal name or number that can be caught", "none");
    }
    if ((v = getenv("TRACEMEM_INTERVAL"))) {
        if (parse_double(v, 0, 1e9, &d) == 0 && (d == 0 || d >= 0.001))
            tm__cfg.interval = d;
        else
            bad_value("TRACEMEM_INTERVAL", v, "a number of seconds (0 or at least 0.001)", "0");
    }
    if ((v = getenv("TRACEMEM_SAMPLE"))) {
        char *end;
        errno = 0;
        unsigned long long b = strtoull(v, &end, 10);
        if (!errno && end != v && !*end && v[0] != '-')
            tm__cfg.sample_bytes = b;
        else
            bad_value("TRACEMEM_SAMPLE", v, "a number of bytes", "0");
    }
    if ((v = getenv("TRACEMEM_PEAK_INACCURACY"))) {
        if (parse_double(v, 0, 100, &d) == 0)
            tm__cfg.peak_inaccuracy = d;
        else
            bad_value("TRACEMEM_PEAK_INACCURACY", v, "a percentage from 0 to 100", "1");
    }
    env_bool("TRACEMEM_FOLLOW_FORK", &tm__cfg.follow_fork);
    env_bool("TRACEMEM_FOLLOW_EXEC", &tm__cfg.follow_exec);
    if ((v = getenv("TRACEMEM_GZIP_LEVEL"))) {
        if (parse_long(v, 0, 9, &n) == 0)
            tm__gz_level = (int)n;
        else
            bad_value("TRACEMEM_GZIP_LEVEL", v, "a zlib level from 0 to 9", "3");
    }
}

/* TRACEMEM_FOLLOW_EXEC=0: removes only the shim's own entries from
 * LD_PRELOAD, in place, so exec'd programs (whatever exec call they use with
 * this environment) start without it. */
static void drop_own_preload(void)
{
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
            continue;
        char *src = *e + 11, *dst = src;
        while (*src) {
            char *start = src;
            while (*src && *src != ':' && *src != ' ')
                src++;
            size_t len = (size_t)(src - start);
            const char *base = memrchr(start, '/', len);
            base = base ? base + 1 : start;
            size_t blen = len - (size_t)(base - start);
            int ours = blen == 14 && memcmp(base, "libtracemem.so", 14) == 0;
            if (!ours && len) {
                if (dst != *e + 11)
                    *dst++ = ':';
                memmove(dst, start, len);
                dst += len;
            }
            while (*src == ':' || *src == ' ')
                src++;
        }
        *dst = '\0';
        if (dst == *e + 11)
            unsetenv("LD_PRELOAD");
        return;
    }
}

/* --- signal and interval snapshots, without a thread ---
 * A helper thread would make every traced process multithreaded, which
 * changes what it may do (unshare(CLONE_NEWUSER) fails with EINVAL, for
 * one), and in every child that inherits the settings. So the snapshots
 * are written by the program's own threads:
 *  - the signal handler writes the snapshot itself when its thread was not
 *    inside the shim (the writer takes only the shim's locks and never
 *    allocates, so a thread interrupted in the C library's allocator is
 *    no obstacle); otherwise it leaves the request for the hook it
 *    interrupted, which writes the snapshot when it has left its locks;
 *  - periodic snapshots are written by the first hook to run after each
 *    deadline (CLOCK_MONOTONIC_COARSE, read by traced events only while
 *    TRACEMEM_INTERVAL is set). A process that neither allocates nor frees
 *    during an interval writes nothing for it: its heap did not change. */

/* tm__deferred (nonzero: hooks call tm__run_deferred()) is defined in
 * timeline.c, which sets it too and is linked into the unit tests. */
static atomic_int signal_pending;
static atomic_int_least64_t next_due; /* ns, CLOCK_MONOTONIC_COARSE */
static int64_t interval_ns;

static int64_t coarse_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void take(enum tm__reason reason)
{
    if (atomic_load(&tm__tracing) && !atomic_load(&exit_done) && tm__own_process())
        tm__snapshot_write(NULL, reason, NULL);
}

/* Signal snapshots take at most half of the program's time: a signal that
 * comes sooner after the last snapshot than that snapshot took to write is
 * left for a later hook (the kernel merges the ones that come meanwhile).
 * Without this, signals faster than snapshots (SIGALRM every 500 us, and a
 * snapshot that grew with its timeline) kept the program in its handler
 * for good. CLOCK_MONOTONIC: the coarse clock ticks in milliseconds. */
static atomic_int_least64_t signal_free_at;

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* take(), and how long it took (ns). */
static int64_t take_timed(enum tm__reason reason)
{
    int64_t t0 = mono_ns();
    take(reason);
    return mono_ns() - t0;
}

static void take_signal(void)
{
    if (mono_ns() < atomic_load(&signal_free_at)) {
        atomic_store(&signal_pending, 1);
        atomic_store(&tm__deferred, 1);
        return;
    }
    int64_t took = take_timed(TM_REASON_SIGNAL);
    atomic_store(&signal_free_at, mono_ns() + took);
}

/* With TRACEMEM_INTERVAL a thread reads CLOCK_MONOTONIC_COARSE at one
 * traced event in skip_clock + 1. The skip doubles (0, 1, 3, 7, 15) while
 * two reads in a row are closer than 1/64 of the interval and drops to 0
 * when they are not: a busy thread reads the clock rarely (the read is a
 * tenth of a hook's cost) yet still at least every 1/64 of a tick, one
 * that allocates rarely reads it every time, and after a pause a deadline
 * is met at most 15 events late (a skip of 255 left a shell that allocates
 * a few times per loop without its interval snapshots). The timeline
 * counts the same way, per thread, in its allocation counter (timeline.c). */
static __thread unsigned skip_clock TM_TLS;
static __thread int64_t last_clock TM_TLS;
/* skip_clock's doubling level lives in its upper 16 bits (TLS is scarce
 * when the shim is dlopen'd by tracemem attach) */

static int interval_due(int64_t now)
{
    if (interval_ns <= 0)
        return 0;
    int64_t due = atomic_load_explicit(&next_due, memory_order_relaxed);
    if (now < due)
        return 0;
    int64_t next = due + interval_ns;
    if (next <= now)
        next = now + interval_ns; /* a long pause: skip the missed ones */
    return atomic_compare_exchange_strong(&next_due, &due, next);
}

/* From a hook, after it set tm__in_hook back to 0. The timeline sets
 * tm__deferred when a sample is due (timeline.c, from the allocation's
 * cheap countdown), so with neither TRACEMEM_INTERVAL nor a signal the
 * hooks do not come here at all. */
void tm__run_deferred(void)
{
    if (!tm__in_hook && TM_UNLIKELY(atomic_load_explicit(&tm__attach_pending, memory_order_relaxed))) {
        tm__in_hook = 1;
        tm__attach_repatch();
        tm__in_hook = 0;
    }
    if (tm__in_hook || (!atomic_load_explicit(&signal_pending, memory_order_relaxed) && interval_ns > 0 &&
                        (skip_clock & 0xffff) > 0 && skip_clock--))
        return;
    int saved = errno;
    tm__in_hook = 1;
    if (interval_ns <= 0)
        atomic_store(&tm__deferred, 0); /* before the check: a signal now sets it again */
    if (atomic_exchange(&signal_pending, 0))
        take_signal();
    int64_t now = coarse_ns();
    if (interval_ns > 0) {
        unsigned level = skip_clock >> 16;
        level = now - last_clock < interval_ns / 64 ? (level < 15 ? 2 * level + 1 : 15) : 0;
        skip_clock = level << 16 | level;
        last_clock = now;
        if (interval_due(now)) {
            /* like signal snapshots, at most half of the program's time:
             * the next one waits at least as long as this one took (a
             * 24 MB snapshot every 0.15 s kept python3 in its snapshots
             * for minutes, and wrote 44 GB) */
            int64_t after = coarse_ns() + take_timed(TM_REASON_INTERVAL);
            int64_t due = atomic_load(&next_due);
            while (due < after && !atomic_compare_exchange_weak(&next_due, &due, after))
                ;
        }
    }
    if (tm__timeline_due(now) && atomic_load(&tm__tracing) && tm__own_process())
        tm__timeline_sample(now);
    tm__in_hook = 0;
    errno = saved;
}

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    if (!tm__in_hook && atomic_load(&init_state) == 2) {
        tm__in_hook = 1;
        take_signal();
        tm__in_hook = 0;
    } else {
        atomic_store(&signal_pending, 1);
        atomic_store(&tm__deferred, 1);
    }
    errno = saved;
}

static void setup_snapshots(void)
{
    if (tm__cfg.interval > 0) {
        interval_ns = (int64_t)(tm__cfg.interval * 1e9);
        atomic_store(&next_due, coarse_ns() + interval_ns);
    }
    tm__timeline_init();
    if (interval_ns > 0)
        atomic_store(&tm__deferred, 1);
    if (tm__cfg.signo) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(tm__cfg.signo, &sa, NULL);
    }
}

/* --- fork --- */

static int fork_guard;

static void fork_prepare(void)
{
    fork_guard = tm__in_hook;
    tm__in_hook = 1;
    tm__snapshot_lock();
    tm__sections_lock();
    tm__modules_lock();
    tm__peak_lock();
    tm__domain_lock();
    tm__stacks_lock_all();
    tm__live_lock_all();
    tm__py_lock();
}

static void fork_release(void)
{
    tm__py_unlock();
    tm__live_unlock_all();
    tm__stacks_unlock_all();
    tm__domain_unlock();
    tm__peak_unlock();
    tm__modules_unlock();
    tm__sections_unlock();
    tm__snapshot_unlock();
}

static void fork_parent(void)
{
    fork_release();
    tm__in_hook = fork_guard;
}

static void fork_child(void)
{
    tm__figures_rebuild_unlocked();
    fork_release();
    tm__pid = getpid();
    if (!tm__cfg.follow_fork) {
        tm__set_tracing(0);
        disabled = 1;
    } else {
        tm__snapshot_after_fork_child();
        tm__timeline_after_fork_child();
    }
    tm__in_hook = fork_guard;
}

/* --- start and exit --- */

static void at_exit_from(int handler);

/* Run by exit(), after the program's own handlers (registered first, it
 * runs last). */
static void exit_handler(void *arg)
{
    (void)arg;
    at_exit_from(1);
}

int tm__fatal_signo;

void tm__at_fatal_signal(int sig)
{
    tm__fatal_signo = sig;
    tm__at_exit();
}

int tm__own_process(void)
{
    return getpid() == tm__pid;
}

void tm__at_exit(void)
{
    at_exit_from(0);
}

/* 'handler': from exit_handler, inside the C library's exit(). The leak
 * check then scans this thread's stack from the first frame above exit's
 * own (the program's frame that called exit, or the start of the stack
 * once main returned), with that frame's callee-saved registers: the
 * frames of exit and of the shim below it hold no pointer of the
 * program's, only the old words of the frames that returned before exit
 * was called (a dead local array of a function main called), which
 * Valgrind never takes for pointers (it knows they were not written
 * since) and which would keep leaked blocks reachable. From _exit, _Exit
 * and a fatal signal the program's frames are the shim's callers: its own
 * frames up are scanned, as for tracemem_leak_check(). */
static void at_exit_from(int handler)
{
    if (atomic_load(&init_state) != 2 || disabled || !tm__own_process())
        return; /* not started, setuid, or a vfork child about to exec/exit */
    if (atomic_exchange(&exit_done, 1) || !atomic_load(&tm__tracing))
        return;
    int saved_guard = tm__in_hook;
    tm__in_hook = 1;
    /* Inside the shim already: exit or _exit was called from a signal
     * handler that interrupted a hook, which may hold a lock. That frame
     * never resumes; its locks are borrowed rather than waited for. */
    if (saved_guard)
        tm__lock_rescue = 1;
    if (tm__cfg.at_exit == TM_AT_EXIT_SNAPSHOT) {
        tm__snapshot_write(NULL, TM_REASON_EXIT, NULL);
    } else if (tm__cfg.at_exit == TM_AT_EXIT_LEAKS) {
        struct tm__leak_result res;
        memset(&res, 0, sizeof(res));
        uintptr_t sp = 0, regs[TM_EXIT_REGS];
        int rc = handler && tm__exit_frame(&sp, regs) ? tm__leak_scan_above(&res, sp, regs, TM_EXIT_REGS)
                                                      : tm__leak_scan(&res);
        tm__snapshot_write(NULL, TM_REASON_EXIT, rc == 0 ? &res : NULL);
        tm__leak_result_release(&res);
    }
    tm__in_hook = saved_guard;
}

/* The part of start-up that is safe inside the very first allocation of the
 * process (environment, pid, setuid check): tracing starts there, so blocks
 * allocated by the constructors of libraries initialized before the shim
 * (libstdc++'s emergency pool, an interpreter's start-up) are traced too,
 * with empty stacks until the unwinder is loaded. */
void tm__early_init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&early_state, &expected, 1))
        return;
    int saved_errno = errno, saved_guard = tm__in_hook;
    tm__in_hook = 1;
    if (getauxval(AT_SECURE)) {
        disabled = 1; /* setuid/setgid: stay out of the way entirely */
    } else {
        tm__pid = getpid();
        read_environment();
        if (tm__cfg.start)
            tm__set_tracing(1);
    }
    tm__in_hook = saved_guard;
    errno = saved_errno;
}

/* The rest, from the shim's constructor: loading the unwinder (dlopen),
 * the module map, fork and exit handlers, signal and interval snapshots,
 * the fatal signals. */
void tm__init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
        return;
    int saved_errno = errno;
    tm__in_hook = 1;
    tm__resolve_real();
    tm__early_init();
    if (disabled)
        goto out;
    if (!tm__cfg.follow_exec)
        drop_own_preload();
    tm__unwind_init();
    tm__zlib_init();
    tm__modules_refresh();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    __cxa_atexit(exit_handler, NULL, NULL);
    setup_snapshots();
    if (tm__cfg.at_exit != TM_AT_EXIT_NONE)
        tm__fatal_init();
out:
    atomic_store(&init_state, 2);
    tm__in_hook = 0;
    errno = saved_errno;
}

/* An attach (attach.c): the configuration is in tm__cfg already. */
void tm__init_attached(void)
{
    static int once;
    tm__pid = getpid();
    atomic_store(&early_state, 2);
    if (!once) {
        once = 1;
        tm__unwind_init();
        tm__zlib_init();
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        __cxa_atexit(exit_handler, NULL, NULL);
    }
    tm__modules_refresh();
    interval_ns = 0;
    setup_snapshots();
    atomic_store(&init_state, 2);
}

void tm__stop_attached(void)
{
    interval_ns = 0;
}

int tm__is_disabled(void)
{
    return disabled;
}

__attribute__((constructor(101))) static void shim_constructor(void)
{
    if (tm__attach_loaded_late())
        return; /* tracemem attach: tm__attach_start() starts it */
    tm__init();
}
