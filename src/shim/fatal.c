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

#include <dlfcn.h>
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
    int saved = tm__in_hook;
    tm__in_hook = 1;
    void *f = dlsym(RTLD_NEXT, "sigaction");
    tm__in_hook = saved;
    __atomic_store_n(&real_sigaction, (int (*)(int, const struct sigaction *, struct sigaction *))f,
                     __ATOMIC_RELEASE);
    return f != NULL;
}

static int sent_by_someone(const siginfo_t *si)
{
    return si->si_code <= 0; /* SI_USER, SI_QUEUE, SI_TKILL ...: not a fault */
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    if (!atomic_exchange(&dying, 1))
        tm__at_fatal_signal(sig);
    /* The default action, as if the shim had never been there. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(sig, &dfl, NULL);
    if (sent_by_someone(si) || sig == SIGABRT) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL); /* delivered here */
    }
    /* a fault: returning runs the faulting instruction again, which now
     * takes the default action with the kernel's own siginfo */
    errno = saved;
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
    if (!resolve())
        return;
    tm__lock_acquire(&view_lock);
    for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
        int sig = fatal_signals[i];
        struct sigaction cur;
        if (sig == tm__cfg.signo || real_sigaction(sig, NULL, &cur) != 0)
            continue;
        if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
            managed[sig] = 1;
            view[sig] = cur;
            install_unlocked(sig);
        }
    }
    tm__lock_release(&view_lock);
}

static int is_dfl(const struct sigaction *a)
{
    return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_DFL;
}

TM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oldact)
{
    if (!resolve()) {
        errno = ENOSYS;
        return -1;
    }
    if (sig <= 0 || sig >= NSIGS || !managed[sig])
        return real_sigaction(sig, act, oldact);
    tm__lock_acquire(&view_lock);
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
    tm__lock_release(&view_lock);
    if (rc == 0 && oldact)
        *oldact = before;
    return rc;
}

static __sighandler_t set_handler(int sig, __sighandler_t handler, int flags, int mask_self)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof(act));
    act.sa_handler = handler;
    act.sa_flags = flags;
    sigemptyset(&act.sa_mask);
    if (mask_self && sig > 0 && sig < NSIGS)
        sigaddset(&act.sa_mask, sig);
    if (handler == SIG_ERR || sigaction(sig, &act, &old) < 0) {
        errno = EINVAL;
        return SIG_ERR;
    }
    return old.sa_handler;
}

/* glibc's signal() is BSD's: handler kept, call restarted, signal masked. */
TM_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESTART, 1);
}

__sighandler_t bsd_signal(int sig, __sighandler_t handler);
TM_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESTART, 1);
}

TM_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
    return set_handler(sig, handler, (int)(SA_RESETHAND | SA_NODEFER), 0);
}

TM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
    return set_handler(sig, handler, (int)(SA_RESETHAND | SA_NODEFER), 0);
}
