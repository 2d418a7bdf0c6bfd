/* leakscan.h - between the leak scan (leakscan.c) and the code that stops
 * the program's other threads for it (stopthreads.c). */
#ifndef TM_LEAKSCAN_H
#define TM_LEAKSCAN_H

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

#endif
