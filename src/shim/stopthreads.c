/* stopthreads.c - holding the program's other threads still for a leak scan.
 *
 * A leak scan reads every thread's registers and stack; a thread that runs
 * meanwhile can move the only pointer to a block from a place not yet read
 * to one already read and make the scan report a false leak. Two ways:
 *
 *  - ptrace, LeakSanitizer's StopTheWorld (the default): a tracer task
 *    attaches to every thread and reads its registers. It stops threads
 *    whatever their signal mask, and the kernel restarts the system call a
 *    thread was in, so sleeping threads see no EINTR.
 *  - a signal (the fallback when ptrace is refused: seccomp, a non-dumpable
 *    process; or TRACEMEM_LEAK_STOP=signal): every
 *    other thread is sent TM_STOP_SIGNAL, whose handler copies the
 *    interrupted context's registers and stack pointer into the thread's
 *    slot and waits on a futex until the scan is over. A thread in
 *    nanosleep/poll/epoll_wait then returns EINTR early, as with any
 *    signal, and a thread blocking the signal cannot be stopped.
 *
 * Invariants and choices of the signal way:
 *  - The handler is installed only while a scan runs and the previous action
 *    is restored after it, except when a signal we sent may still be pending
 *    (a thread that did not take it within the timeout): then our handler
 *    stays, because the signal's default action would kill the process. A
 *    signal of that number not sent by us (si_code SI_QUEUE with our pid and
 *    our cookie) is passed on to the program's handler.
 *  - Threads are signalled with rt_tgsigqueueinfo and a cookie, so a late
 *    delivery of our own signal is recognised and ignored.
 *  - Slots are mapped once per scan with room for twice the threads seen at
 *    the start; the handler only ever reads 'cur' and writes its own slot.
 *  - New threads created before their creator parked are found by listing
 *    /proc/self/task again until no new one appears.
 *  - A thread that blocks the signal is asked again for 100 ms (threads
 *    being created or exiting block every signal for a moment), or up to
 *    two seconds while it runs or waits for a CPU (on a loaded machine a
 *    thread being created can wait longer than 100 ms for one); one that
 *    still blocks it, or does not park within two seconds, is
 *    "unstoppable": if /proc/self/task/T/syscall shows it blocked in a
 *    system call we take its stack pointer and the call's arguments from
 *    there; if it runs user code nothing is known (state RUNNING), and the
 *    caller decides (leakscan.c leaves the result unchecked).
 *  - Under another tracer (gdb, strace: TracerPid in /proc/self/status) the
 *    signal is not sent at all: gdb would stop the program on it and gdb
 *    -batch kill it there. Every thread is judged as an unstoppable one.
 *  - Nothing here allocates or takes a shim lock: /proc is read with
 *    open/read/getdents64 into stack buffers and slots come from tm__map(). */
#define _GNU_SOURCE
#include "shim/shim.h"
#include "shim/leakscan.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <elf.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define TM_STOP_SIGNAL (SIGRTMAX - 2)
#define WAIT_NS (2000000000LL)   /* for threads to take the signal */
#define BLOCKED_NS (100000000LL) /* for threads to unblock it */

static _Atomic(struct tm__world *) cur;
static atomic_int parking;
static atomic_int inside;
static struct sigaction old_action;
static int stay_installed; /* our handler kept because a signal may be pending */
static const int cookie;

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void pause_briefly(void)
{
    struct timespec t = {0, 500000};
    nanosleep(&t, NULL);
}

static void chain(int sig, siginfo_t *si, void *ctx)
{
    if (old_action.sa_flags & SA_SIGINFO) {
        if (old_action.sa_sigaction)
            old_action.sa_sigaction(sig, si, ctx);
    } else if (old_action.sa_handler != SIG_IGN && old_action.sa_handler != SIG_DFL) {
        old_action.sa_handler(sig);
    }
}

static void save_context(struct tm__thread *t, const ucontext_t *uc)
{
#if defined(__x86_64__)
    int n = NGREG < TM_REGS_MAX ? NGREG : TM_REGS_MAX;
    for (int i = 0; i < n; i++)
        t->regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
    t->nregs = n;
    t->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    for (int i = 0; i < 31 && i < TM_REGS_MAX; i++)
        t->regs[i] = (uintptr_t)uc->uc_mcontext.regs[i];
    t->nregs = 31;
    t->sp = (uintptr_t)uc->uc_mcontext.sp;
#else
#error "leak scan: registers of a signal context are not known for this architecture"
#endif
}

static void on_stop(int sig, siginfo_t *si, void *ctx)
{
    int saved = errno;
    atomic_fetch_add(&inside, 1);
    int ours = si->si_code == SI_QUEUE && si->si_pid == getpid() && si->si_value.sival_ptr == (void *)&cookie;
    struct tm__world *w = atomic_load(&cur);
    if (ours && w && atomic_load(&parking)) {
        pid_t tid = (pid_t)syscall(SYS_gettid);
        for (size_t i = 0; i < w->n; i++) {
            struct tm__thread *t = &w->threads[i];
            if (t->tid != tid)
                continue;
            save_context(t, ctx);
            __atomic_store_n(&t->state, TM_THREAD_PARKED, __ATOMIC_RELEASE);
            break;
        }
        while (atomic_load(&parking))
            syscall(SYS_futex, &parking, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    }
    atomic_fetch_sub(&inside, 1);
    errno = saved;
    if (!ours)
        chain(sig, si, ctx);
}

/* open/read/close without libc's wrappers: they are cancellation points,
 * which touch the calling thread's struct pthread, and the tracer task
 * shares the scanning thread's. */
static int sys_open(const char *path, int flags)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | flags);
}

/* Reads a small /proc file into 'buf'; returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = sys_open(path, 0);
    if (fd < 0)
        return -1;
    size_t len = 0;
    long n;
    while (len + 1 < cap && (n = syscall(SYS_read, fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    syscall(SYS_close, fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static uint64_t parse_hex(const char **s)
{
    const char *p = *s;
    uint64_t v = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    for (;; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0)
            break;
        v = v * 16 + (uint64_t)d;
    }
    *s = p;
    return v;
}

/* 1 when thread 'tid' has our signal blocked; '*runnable' then says
 * whether it is running or waiting for a CPU (not asleep). */
static int blocks_signal(pid_t tid, int *runnable)
{
    char path[64], buf[4096];
    *runnable = 0;
    tm__snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return 0;
    const char *p = strstr(buf, "\nSigBlk:");
    if (!p)
        return 0;
    p += 8;
    uint64_t mask = parse_hex(&p);
    const char *st = strstr(buf, "\nState:\t");
    *runnable = st && st[8] == 'R';
    return (mask >> (TM_STOP_SIGNAL - 1)) & 1;
}

/* Describes a thread we could not stop from /proc/self/task/T/syscall:
 * "nr a1 .. a6 sp pc" while in a system call, "running" otherwise. */
static void describe_unstoppable(struct tm__thread *t)
{
    char path[64], buf[512];
    tm__snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)t->tid);
    if (read_small(path, buf, sizeof(buf)) <= 0) {
        t->state = TM_THREAD_GONE; /* exited meanwhile */
        return;
    }
    t->state = TM_THREAD_RUNNING;
    if (buf[0] == 'r')
        return;
    if (buf[0] == '-') /* blocked, but not in a system call */
        return;
    const char *p = buf;
    uint64_t f[9];
    int n = 0;
    while (n < 9 && *p && *p != '\n') {
        f[n] = n == 0 ? (uint64_t)strtoull(p, (char **)&p, 10) : parse_hex(&p);
        n++;
        while (*p == ' ')
            p++;
    }
    if (n < 9)
        return;
    for (int i = 1; i <= 6; i++)
        t->regs[t->nregs++] = (uintptr_t)f[i];
    t->sp = (uintptr_t)f[7];
    t->state = TM_THREAD_IN_SYSCALL;
}

/* 1 for a thread that has exited but is still listed: the main thread
 * after pthread_exit() stays a zombie while the others run. It has no
 * registers or stack left to read and cannot be stopped. */
static int zombie(pid_t tid)
{
    char path[64], buf[512];
    tm__snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return 1; /* gone */
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static int known(const struct tm__world *w, pid_t tid)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->threads[i].tid == tid)
            return 1;
    return 0;
}

/* Lists /proc/self/task; with 'w' NULL only counts. Returns the number of
 * threads added (or counted), or -errno. */
static long list_threads(struct tm__world *w, pid_t pid, pid_t self)
{
    char path[64];
    tm__snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    int fd = sys_open(path, O_DIRECTORY);
    if (fd < 0)
        return -errno;
    char buf[4096];
    long added = 0, n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            const char *name = buf + off + 19; /* d_ino, d_off, d_reclen, d_type */
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof(reclen));
            off += reclen;
            pid_t tid = (pid_t)strtol(name, NULL, 10);
            if (tid <= 0 || tid == self || (w && !known(w, tid) && zombie(tid)))
                continue;
            if (!w) {
                added++;
            } else if (!known(w, tid) && w->n < w->cap) {
                memset(&w->threads[w->n], 0, sizeof(w->threads[0]));
                w->threads[w->n].tid = tid;
                w->threads[w->n].state = TM_THREAD_SENT;
                w->n++;
                added++;
            }
        }
    }
    syscall(SYS_close, fd);
    return n < 0 ? -EIO : added;
}

/* Signals thread 't'; 1 when it blocks the signal while runnable. */
static int send(struct tm__thread *t, pid_t pid)
{
    int runnable;
    if (blocks_signal(t->tid, &runnable)) {
        t->state = TM_THREAD_BLOCKING;
        return runnable;
    }
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = TM_STOP_SIGNAL;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)&cookie;
    t->state = TM_THREAD_SENT;
    if (syscall(SYS_rt_tgsigqueueinfo, pid, t->tid, TM_STOP_SIGNAL, &si) < 0)
        t->state = TM_THREAD_GONE;
    return 0;
}

/* Signals the threads listed from 'first' on, and once more those that
 * blocked the signal last time; returns how many still block it, and in
 * '*runnable' how many of those are running or waiting for a CPU. */
static int signal_threads(struct tm__world *w, size_t first, int *runnable)
{
    pid_t pid = getpid();
    int blocking = 0;
    *runnable = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct tm__thread *t = &w->threads[i];
        if (i >= first || t->state == TM_THREAD_BLOCKING)
            *runnable += send(t, pid);
        blocking += t->state == TM_THREAD_BLOCKING;
    }
    return blocking;
}

/* Waits until every signalled thread parked or the deadline passed. */
static void wait_parked(struct tm__world *w, long deadline)
{
    for (;;) {
        int waiting = 0;
        for (size_t i = 0; i < w->n; i++)
            if (__atomic_load_n(&w->threads[i].state, __ATOMIC_ACQUIRE) == TM_THREAD_SENT)
                waiting++;
        if (!waiting || now_ns() > deadline)
            return;
        pause_briefly();
    }
}

static int install(void)
{
    if (stay_installed)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_stop;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    return sigaction(TM_STOP_SIGNAL, &sa, &old_action) < 0 ? -errno : 0;
}

/* Describes the threads that did not park and counts them. */
static void count_unstoppable(struct tm__world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct tm__thread *t = &w->threads[i];
        int st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
        if (st != TM_THREAD_SENT && st != TM_THREAD_BLOCKING)
            continue;
        if (st == TM_THREAD_SENT)
            stay_installed = 1; /* our signal may still arrive */
        describe_unstoppable(t);
        if (t->state == TM_THREAD_GONE)
            continue;
        w->unstoppable++;
        w->running += t->state == TM_THREAD_RUNNING;
    }
}

/* --- ptrace: a tracer task attaches to every thread (LSan's way) ---
 * The tracer is a clone() sharing our memory, files and TLS pointer (so it
 * calls nothing of libc but system call wrappers); it PTRACE_SEIZEs and
 * PTRACE_INTERRUPTs each thread, reads its registers, reports, waits to be
 * told to let go, detaches (re-injecting a signal that a thread was
 * stopped with) and exits. A stopped thread's interrupted system call is
 * restarted by the kernel, unlike after a signal handler (nanosleep, poll
 * ...), so the program sees no EINTR. Any refusal (gdb attached, seccomp,
 * not dumpable, Yama) makes the caller fall back to the signal. */

enum { TRACER_WAIT, TRACER_GO, TRACER_STOPPED, TRACER_FAILED, TRACER_RELEASE };

struct tracer {
    struct tm__world *w;
    pid_t pid, self;  /* the process, the scanning thread */
    atomic_int phase; /* TRACER_* */
};

static void futex_wait_ne(atomic_int *word, int value_seen, long ns)
{
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    syscall(SYS_futex, word, FUTEX_WAIT, value_seen, &t, NULL, 0);
}

static void set_phase(struct tracer *tr, int phase)
{
    atomic_store(&tr->phase, phase);
    syscall(SYS_futex, &tr->phase, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
}

static void read_regs(struct tm__thread *t)
{
    struct user_regs_struct regs;
    struct iovec io = {&regs, sizeof(regs)};
    if (syscall(SYS_ptrace, PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &io) < 0)
        return; /* sp 0: the whole stack mapping is scanned */
    size_t n = io.iov_len / sizeof(uintptr_t);
    n = n < TM_REGS_MAX ? n : TM_REGS_MAX;
    memcpy(t->regs, &regs, n * sizeof(uintptr_t));
    t->nregs = (int)n;
#if defined(__x86_64__)
    t->sp = (uintptr_t)regs.rsp;
#elif defined(__aarch64__)
    t->sp = (uintptr_t)regs.sp;
#endif
}

/* Waits (polling, until 'deadline') for a traced thread to stop. */
static int wait_stop(pid_t tid, int *status, long deadline)
{
    for (;;) {
        long r = syscall(SYS_wait4, tid, status, __WALL | WNOHANG, NULL);
        if (r == tid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ns() > deadline)
            return -1;
        pause_briefly();
    }
}

/* Attaches to and stops one thread; -EPERM when ptrace is refused. A
 * thread that does not stop in time (a vfork parent, uninterruptible
 * sleep) is left BLOCKING: the kernel detaches it when the tracer exits. */
static int seize(struct tm__thread *t, long deadline)
{
    if (syscall(SYS_ptrace, PTRACE_SEIZE, t->tid, NULL, NULL) < 0) {
        t->state = TM_THREAD_GONE;
        return errno == ESRCH ? 0 : -EPERM;
    }
    syscall(SYS_ptrace, PTRACE_INTERRUPT, t->tid, NULL, NULL);
    int status;
    if (wait_stop(t->tid, &status, deadline) < 0) {
        t->state = TM_THREAD_BLOCKING;
        return 0;
    }
    if (!WIFSTOPPED(status)) {
        t->state = TM_THREAD_GONE;
        return 0;
    }
    /* Stopped by our interrupt, or at a signal: that one goes back on detach. */
    t->nregs = 0;
    if ((status >> 16) != PTRACE_EVENT_STOP && WSTOPSIG(status) != SIGTRAP)
        t->pending = WSTOPSIG(status);
    read_regs(t);
    t->state = TM_THREAD_TRACED;
    return 0;
}

static void detach_all(struct tm__world *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->threads[i].state == TM_THREAD_TRACED)
            syscall(SYS_ptrace, PTRACE_DETACH, w->threads[i].tid, NULL, (void *)(long)w->threads[i].pending);
}

static int tracer_main(void *arg)
{
    struct tracer *tr = arg;
    struct tm__world *w = tr->w;
    /* If the process dies under the scan (a signal), the tracer must go too,
     * or the threads it holds would keep the process a zombie for ever. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != tr->pid)
        return 0;
    while (atomic_load(&tr->phase) == TRACER_WAIT)
        futex_wait_ne(&tr->phase, TRACER_WAIT, 100000000L);
    size_t first = 0;
    int rc = 0;
    long deadline = now_ns() + WAIT_NS / 2; /* the caller waits WAIT_NS */
    while (rc == 0 && list_threads(w, tr->pid, tr->self) > 0) {
        for (; first < w->n && rc == 0; first++)
            rc = seize(&w->threads[first], deadline);
    }
    for (size_t i = 0; i < w->n && rc == 0; i++)
        if (w->threads[i].state == TM_THREAD_TRACED)
            w->threads[i].state = TM_THREAD_PARKED;
    int go = TRACER_GO;
    if (rc < 0 || !atomic_compare_exchange_strong(&tr->phase, &go, TRACER_STOPPED)) {
        for (size_t i = 0; i < w->n; i++)
            if (w->threads[i].state == TM_THREAD_PARKED)
                w->threads[i].state = TM_THREAD_TRACED;
        detach_all(w); /* refused, or the caller gave up waiting */
        set_phase(tr, TRACER_FAILED);
        return 0;
    }
    syscall(SYS_futex, &tr->phase, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
    while (atomic_load(&tr->phase) != TRACER_RELEASE && getppid() == tr->pid)
        futex_wait_ne(&tr->phase, TRACER_STOPPED, 1000000000L);
    for (size_t i = 0; i < w->n; i++)
        if (w->threads[i].state == TM_THREAD_PARKED)
            w->threads[i].state = TM_THREAD_TRACED;
    detach_all(w);
    return 0;
}

#define TRACER_STACK (64 * 1024)
static struct tracer tracer;
static pid_t tracer_pid;
static void *tracer_stack;

static void reap_tracer(void)
{
    int status;
    while (syscall(SYS_wait4, tracer_pid, &status, __WALL, NULL) < 0 && errno == EINTR)
        ;
    tm__unmap(tracer_stack, TRACER_STACK);
    tracer_pid = 0;
}

/* 1 when Yama's ptrace_scope 1 lets only declared tracers attach. */
static int yama_restricted(void)
{
    char buf[16];
    return read_small("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf)) > 0 && buf[0] == '1';
}

/* 0 with every listed thread stopped by the tracer, or -errno. */
static int ptrace_stop(struct tm__world *w, pid_t pid, pid_t self)
{
    tracer_stack = tm__map(TRACER_STACK);
    if (!tracer_stack)
        return -ENOMEM;
    tracer = (struct tracer){.w = w, .pid = pid, .self = self};
    /* Bind what the tracer calls now: lazy binding on its stack would touch
     * the scanning thread's TLS (they share it) at the wrong moment. */
    now_ns();
    pause_briefly();
    atomic_store(&tracer.phase, TRACER_WAIT);
    tracer_pid = clone(tracer_main, (char *)tracer_stack + TRACER_STACK - 64,
                       CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED, &tracer);
    if (tracer_pid < 0) {
        tm__unmap(tracer_stack, TRACER_STACK);
        return -EAGAIN;
    }
    int yama = yama_restricted();
    if (yama)
        prctl(PR_SET_PTRACER, tracer_pid, 0, 0, 0);
    set_phase(&tracer, TRACER_GO);
    long deadline = now_ns() + WAIT_NS;
    int phase;
    while ((phase = atomic_load(&tracer.phase)) == TRACER_GO && now_ns() < deadline)
        futex_wait_ne(&tracer.phase, TRACER_GO, 10000000L);
    if (yama) /* the tracer is attached now; the program's own setting is not known */
        prctl(PR_SET_PTRACER, 0, 0, 0, 0);
    if (phase == TRACER_STOPPED)
        return 0;
    set_phase(&tracer, TRACER_RELEASE); /* failed or late: let everything go */
    reap_tracer();
    return -EPERM;
}

static int stop_mode_signal(void)
{
    const char *v = getenv("TRACEMEM_LEAK_STOP");
    return v && strcmp(v, "signal") == 0;
}

/* 1 when another tracer (gdb, strace) is attached to the process: our
 * signal would then stop the program in the debugger (gdb -batch kills it
 * there), so the threads are only looked at, not stopped. */
static int other_tracer(void)
{
    char buf[4096];
    ssize_t n = read_small("/proc/self/status", buf, sizeof(buf));
    if (n <= 0)
        return 0;
    const char *p = memmem(buf, (size_t)n, "\nTracerPid:", 11);
    if (!p)
        return 0;
    p += 11;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p >= '1' && *p <= '9';
}

/* --- stopping and resuming --- */

/* Under another tracer: every other thread is judged from /proc like one
 * that blocks the stop signal (in a system call: its whole stack is
 * scanned; running user code: the caller leaves the result unchecked). */
static int observe_only(struct tm__world *w, pid_t pid, pid_t self)
{
    long rc = list_threads(w, pid, self);
    if (rc < 0)
        return (int)rc;
    for (size_t i = 0; i < w->n; i++)
        w->threads[i].state = TM_THREAD_BLOCKING;
    count_unstoppable(w);
    return 0;
}

static int signal_stop(struct tm__world *w, pid_t pid, pid_t self)
{
    int rc = install();
    if (rc < 0)
        return rc;
    w->handler_installed = 1;
    atomic_store(&parking, 1);
    atomic_store(&cur, w);
    long deadline = now_ns() + WAIT_NS, patience = now_ns() + BLOCKED_NS;
    size_t first = 0;
    for (;;) {
        long added = list_threads(w, pid, self);
        int runnable, blocking = signal_threads(w, first, &runnable);
        first = w->n;
        wait_parked(w, deadline);
        /* a thread that blocks the signal asleep is judged after 'patience';
         * one that is running or waits for a CPU (a thread starting or
         * exiting on a loaded machine) is asked until the deadline */
        if (now_ns() > deadline || (added <= 0 && (!blocking || (now_ns() > patience && !runnable))))
            break;
        if (blocking)
            pause_briefly();
    }
    count_unstoppable(w);
    return 0;
}

int tm__world_stop(struct tm__world *w)
{
    memset(w, 0, sizeof(*w));
    pid_t pid = getpid(), self = (pid_t)syscall(SYS_gettid);
    long count = list_threads(NULL, pid, self);
    if (count < 0)
        return (int)count;
    w->cap = (size_t)count * 2 + 64;
    w->threads = tm__map(w->cap * sizeof(*w->threads));
    if (!w->threads)
        return -ENOMEM;
    if (count == 0)
        return 0;
    if (!stop_mode_signal() && ptrace_stop(w, pid, self) == 0) {
        w->traced = 1;
        w->scratch = tracer_stack;
        w->scratch_len = TRACER_STACK;
        count_unstoppable(w);
        return 0;
    }
    w->n = 0; /* start over with the signal, or by looking only */
    int rc = !stop_mode_signal() && other_tracer() ? observe_only(w, pid, self) : signal_stop(w, pid, self);
    if (rc < 0) {
        tm__unmap(w->threads, w->cap * sizeof(*w->threads));
        memset(w, 0, sizeof(*w));
    }
    return rc;
}

void tm__world_resume(struct tm__world *w)
{
    if (!w->threads)
        return;
    if (w->traced) {
        set_phase(&tracer, TRACER_RELEASE);
        reap_tracer();
        tm__unmap(w->threads, w->cap * sizeof(*w->threads));
        memset(w, 0, sizeof(*w));
        return;
    }
    if (!w->handler_installed) {
        tm__unmap(w->threads, w->cap * sizeof(*w->threads));
        memset(w, 0, sizeof(*w));
        return;
    }
    atomic_store(&parking, 0);
    syscall(SYS_futex, &parking, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
    long deadline = now_ns() + WAIT_NS;
    while (atomic_load(&inside) > 0 && now_ns() < deadline)
        pause_briefly();
    atomic_store(&cur, NULL);
    if (w->handler_installed && !stay_installed)
        sigaction(TM_STOP_SIGNAL, &old_action, NULL);
    if (atomic_load(&inside) == 0)
        tm__unmap(w->threads, w->cap * sizeof(*w->threads));
    memset(w, 0, sizeof(*w));
}
