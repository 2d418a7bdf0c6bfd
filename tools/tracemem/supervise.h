/* supervise.h - running the traced program for tracemem run and check:
 * the exec, signal forwarding, waiting for descendants that outlive it
 * (supervise.c).
 */
#ifndef TM_TOOLS_SUPERVISE_H
#define TM_TOOLS_SUPERVISE_H

#include <stddef.h>
#include <sys/types.h>

/* Seconds tracemem waits for descendants still running when the program
 * has exited (--wait-children). */
#define TM_WAIT_CHILDREN_DEFAULT 10.0

typedef struct tm_supervise_opts {
    const char *cmd;      /* "run" or "check", for messages */
    double wait_children; /* seconds; 0: do not wait */
    const char *not_seen; /* what is missing when descendants are not waited
                             for, e.g. "not summarized" */
    int quiet;            /* no line about them (the caller tells) */
    /* Called before tracemem dies of a second SIGINT or SIGTERM while the
     * program still runs (removes temporary files); may be NULL. */
    void (*on_abort)(void *arg);
    void *abort_arg;
    /* Called once the program has started (exec'ed), with its pid and the
     * forwarded signals blocked; may be NULL. */
    void (*on_start)(pid_t pid, void *arg);
    void *start_arg;
} tm_supervise_opts;

typedef struct tm_supervise_result {
    pid_t pid;       /* the program's pid */
    int exec_failed; /* it could not be executed (one line was printed) */
    int left;        /* descendants still running when tracemem stopped waiting */
} tm_supervise_result;

/* Runs 'argv' (PATH searched) and waits for it and then, for at most
 * o->wait_children seconds, for every descendant it left behind
 * (tracemem is their child subreaper meanwhile). Forwards SIGHUP,
 * SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and SIGUSR2 to the program, except
 * those sent by the terminal or by the program's own processes. A second
 * SIGINT or SIGTERM while the program still runs is forwarded too, then
 * tracemem calls o->on_abort and dies of it. Returns the program's exit
 * status (128+N when killed by signal N; 127 not found, 126 not
 * executable), or -1 after printing why when it could not be started.
 *
 * Returns with those signals still blocked, so that a signal arriving
 * after the program has gone waits until the caller has removed its
 * temporary files; the caller then calls tm__supervise_done(). */
int tm__supervise(char **argv, const tm_supervise_opts *o, tm_supervise_result *r);

/* Unblocks the signals tm__supervise() left blocked: a pending one takes
 * its default action now. */
void tm__supervise_done(void);

/* Parses a number of seconds for --wait-children (0 or more, finite);
 * -1 when 'arg' is not one. */
double tm__parse_seconds(const char *arg);

/* Fills 'buf' with why 'prog' (as given to execvp, exit status 'status')
 * wrote no snapshot, as a clause: "it is statically linked, ...". */
void tm__why_no_snapshot(const char *prog, int status, char *buf, size_t size);

#endif /* TM_TOOLS_SUPERVISE_H */
