/* leakscan.h - between the leak scan (leakscan.c) and the code that stops
 * the program's other threads for it (stopthreads.c). */
#ifndef TM_LEAKSCAN_H
#define TM_LEAKSCAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Words of machine state kept per stopped thread (the general registers of
 * its signal context; only read as candidate pointers). */
#define TM_REGS_MAX 32

enum tm__thread_state {
    TM_THREAD_SENT,       /* signal sent, not parked (yet) */
    TM_THREAD_BLOCKING,   /* blocks the signal (for now: a thread being born
                             or exiting has every signal blocked) */
    TM_THREAD_PARKED,     /* parked in the handler: sp and regs valid */
    TM_THREAD_IN_SYSCALL, /* could not be stopped, blocked in a system call:
                             sp and the call's arguments from /proc */
    TM_THREAD_RUNNING,    /* could not be stopped and runs: nothing known */
    TM_THREAD_GONE,       /* exited before it could be signalled */
    TM_THREAD_TRACED,     /* attached by the tracer (stopthreads.c only) */
};

struct tm__thread {
    pid_t tid;
    int state;    /* enum tm__thread_state, atomically written by the handler */
    uintptr_t sp; /* stack pointer when stopped (0: unknown) */
    uintptr_t regs[TM_REGS_MAX];
    int nregs;
    int pending; /* signal a traced thread was stopped with, re-injected */
};

/* The program's threads other than the caller. */
struct tm__world {
    struct tm__thread *threads; /* tm__map()ed */
    size_t n, cap;
    int unstoppable; /* threads not parked (IN_SYSCALL or RUNNING) */
    int running;     /* of those, threads running user code */
    int handler_installed;
    int traced;          /* stopped by the ptrace tracer */
    const void *scratch; /* the tracer's stack: not a root */
    size_t scratch_len;
};

/* Parks every other thread of the process in a signal handler (at most
 * about two seconds of waiting), recording its registers and stack pointer.
 * Threads that cannot be stopped are described as well as /proc allows.
 * Takes no lock of the shim and does not allocate. Returns 0 or -errno
 * (nothing is stopped then). */
int tm__world_stop(struct tm__world *w);
/* Lets the parked threads go on and restores the signal's previous action;
 * releases 'w'. */
void tm__world_resume(struct tm__world *w);

/* --- a helper task for the scan (worker.c) ---
 * A clone() of the scanning thread that shares its memory but is no thread
 * of the program (not in /proc/self/task, never gets a signal, calls no
 * libc function); it exists only between tm__helper_start() and
 * tm__helper_stop(), which the scan calls while the program is stopped. */
struct tm__helper {
    pid_t pid, parent;
    void *stack; /* tm__map()ed: not a root */
    size_t stack_len;
    atomic_uint seq, done; /* jobs posted, jobs finished (futex words) */
    atomic_int alive;      /* cleared by the kernel when the task exits */
    void (*fn)(void *);
    void *arg;
};

/* Creates the helper; 0, or -errno (clone refused: run single-threaded). */
int tm__helper_start(struct tm__helper *h);
/* Runs fn(arg) on the helper; what fn runs may not call libc (no errno, no
 * allocation, no lazy binding) and must use tm__helper_sleep/wake to wait. */
void tm__helper_post(struct tm__helper *h, void (*fn)(void *), void *arg);
/* Waits for the job posted last; 0, or -ECHILD when the helper died. */
int tm__helper_join(struct tm__helper *h);
/* Ends and reaps the helper (after its last job returned). */
void tm__helper_stop(struct tm__helper *h);
/* futex wait while '*word' == 'seen', at most 'ns'; and wake its waiters.
 * Safe on the helper (no errno). */
void tm__helper_sleep(atomic_uint *word, unsigned seen, long ns);
void tm__helper_wake(atomic_uint *word);
/* Faults in the pages of [p, p + len) now (MADV_POPULATE_WRITE; nothing on
 * kernels before 5.14): one system call instead of a fault per page.
 * Safe on the helper. */
void tm__populate(void *p, size_t len);
/* CPUs this thread may run on (sched_getaffinity), at least 1. */
int tm__cpus_online(void);

#endif
