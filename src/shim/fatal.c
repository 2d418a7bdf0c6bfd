/* fatal.c - the final snapshot of a process that dies of a signal.
 *
 * A program that ends by abort(), a crash or a kill leaves through no exit
 * handler; Valgrind still reports its leaks. The shim catches every signal
 * whose default action ends the process (while the program leaves it at
 * SIG_DFL), writes the at-exit snapshot with its leak check, then lets the
 * default action happen as it would have: the fault is re-executed (or the
 * signal raised again) with SIG_DFL, so the exit status, the core dump and
 * what the parent sees are those of an untraced run.
 *
 * The program must not see the difference either: sigaction() and signal()
 * are interposed so that, for those signals, a query answers what the
 * program last set (SIG_DFL, its flags and mask), setting SIG_DFL keeps
 * the shim's handler in place, and setting anything else replaces it (the
 * program then handles the signal; its own re-raise with SIG_DFL is caught
 * again). Not taken over: SIGKILL and SIGSTOP (cannot be), SIGTRAP (the
 * debugger's), the real-time signals (threading libraries use them), the
 * TRACEMEM_SIGNAL signal, and any signal ignored or handled when the shim
 * starts. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"

#include <linux/futex.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int fatal_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGBUS,    SIGFPE,
                                    SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,   SIGXCPU,
                                    SIGXFSZ, SIGVTALRM, SIGPROF, SIGSYS,  SIGIO,   SIGPWR,    SIGSTKFLT};

#define NSIGS 65

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static tm__lock view_lock;
static uint8_t managed[NSIGS];         /* 1: taken over while the program wants SIG_DFL */
static uint8_t hidden[NSIGS];          /* 1: the shim's handler is installed now */
static struct sigaction view[NSIGS];   /* what the program last set (SIG_DFL) */
static atomic_int dying;

static int resolve(void)
{
    if (__atomic_load_n(&real_sigaction, __ATOMIC_ACQUIRE))
        return 1;
    void *f = tm__next_symbol("sigaction");
    __atomic_store_n(&real_sigaction, (int (*)(int, const struct sigaction *, struct sigaction *))f,
                     __ATOMIC_RELEASE);
    return f != NULL;
}

/* 1 for a synchronous fault of the instruction the handler returns to:
 * running it again takes the default action with the kernel's own
 * siginfo. Everything else (kill, raise, abort, the terminal's ^C, timers,
 * RLIMIT_CPU, SIGIO, seccomp's SIGSYS, a machine check reported late) is
 * raised again instead. */
static int refaults(int sig, const siginfo_t *si)
{
    if (sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE)
        return 0;
    if (si->si_code <= 0 || si->si_code == SI_KERNEL)
        return 0;
#ifdef BUS_MCEERR_AO
    if (sig == SIGBUS && si->si_code == BUS_MCEERR_AO)
        return 0;
#endif
    return 1;
}

static void default_action(int sig, const siginfo_t *si)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(sig, &dfl, NULL);
    if (!refaults(sig, si)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL); /* delivered here */
    }
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    if (!tm__own_process()) {
        /* a vfork child: the memory here is its parent's */
        default_action(sig, si);
        errno = saved;
        return;
    }
    if (atomic_exchange(&dying, 1)) {
        /* Another thread is writing the final snapshot; the process ends
         * when it is done. Wait rather than end it now. */
        for (;;)
            syscall(SYS_futex, &dying, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    }
    tm__at_fatal_signal(sig);
    default_action(sig, si);
    errno = saved;
}

static int is_dfl(const struct sigaction *a)
{
    return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_DFL;
}

/* view_lock is taken with every signal blocked: a handler that calls
 * sigaction() or signal() must not find it held by its own thread. */
static void view_enter(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
    tm__lock_acquire(&view_lock);
}

static void view_leave(const sigset_t *old)
{
    tm__lock_release(&view_lock);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void install_unlocked(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (real_sigaction(sig, &sa, NULL) == 0)
        hidden[sig] = 1;
}

void tm__fatal_init(void)
{
    /* the first process of a PID namespace ignores signals left at SIG_DFL:
     * a handler would make them deliverable */
    if (getpid() == 1 || !resolve())
        return;
    sigset_t old;
    view_enter(&old);
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
        int sig = fatal_signals[i];
        struct sigaction cur;
        if (sig == tm__cfg.signo || real_sigaction(sig, NULL, &cur) != 0)
            continue;
        if (is_dfl(&cur)) {
            managed[sig] = 1;
            view[sig] = cur;
            install_unlocked(sig);
        }
    }
    view_leave(&old);
}

TM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oldact)
{
    if (!resolve()) {
        errno = ENOSYS;
        return -1;
    }
    if (sig <= 0 || sig >= NSIGS || !managed[sig] || !tm__own_process())
        return real_sigaction(sig, act, oldact);
    sigset_t old;
    view_enter(&old);
    int rc = 0;
    struct sigaction before;
    if (hidden[sig])
        before = view[sig];
    else
        rc = real_sigaction(sig, NULL, &before);
    if (rc == 0 && act) {
        if (is_dfl(act) && !atomic_load(&dying)) {
            view[sig] = *act;
            if (!hidden[sig])
                install_unlocked(sig);
        } else {
            rc = real_sigaction(sig, act, NULL);
            if (rc == 0)
                hidden[sig] = 0;
        }
    }
    view_leave(&old);
    if (rc == 0 && oldact)
        *oldact = before;
    return rc;
}

typedef __sighandler_t (*signal_fn)(int, __sighandler_t);

/* signal() and its variants: the C library's own, with its flags (and
 * siginterrupt()'s), except where the program sets SIG_DFL on a signal
 * the shim holds, which only changes what the program will be told.
 * When the C library's call replaces the shim's handler, the view is
 * dropped. */
static __sighandler_t set_handler(const char *name, signal_fn *real, int sig, __sighandler_t handler)
{
    signal_fn fn = __atomic_load_n(real, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = (signal_fn)tm__next_symbol(name);
        __atomic_store_n(real, fn, __ATOMIC_RELEASE);
    }
    if (!fn || !resolve()) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    if (sig <= 0 || sig >= NSIGS || !managed[sig] || !tm__own_process())
        return fn(sig, handler);
    if (handler == SIG_DFL) {
        struct sigaction act, old;
        memset(&act, 0, sizeof(act));
        act.sa_handler = SIG_DFL;
        sigemptyset(&act.sa_mask);
        return sigaction(sig, &act, &old) < 0 ? SIG_ERR : old.sa_handler;
    }
    sigset_t mask;
    view_enter(&mask);
    int was_hidden = hidden[sig];
    __sighandler_t prev = fn(sig, handler);
    if (prev != SIG_ERR) {
        hidden[sig] = 0;
        if (was_hidden)
            prev = view[sig].sa_handler;
    }
    view_leave(&mask);
    return prev;
}

static signal_fn real_signal, real_bsd_signal, real_sysv_signal, real___sysv_signal;

TM_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
    return set_handler("signal", &real_signal, sig, handler);
}

__sighandler_t bsd_signal(int sig, __sighandler_t handler);
TM_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
    return set_handler("bsd_signal", &real_bsd_signal, sig, handler);
}

TM_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
    return set_handler("sysv_signal", &real_sysv_signal, sig, handler);
}

TM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
    return set_handler("__sysv_signal", &real___sysv_signal, sig, handler);
}
