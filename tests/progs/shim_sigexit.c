/* shim_sigexit.c - leaves from a signal handler that interrupted the
 * allocator: the main loop allocates and frees without pause until a timer
 * signal's handler calls exit(7) or _exit(8) (argv[1] "exit" or "_exit").
 * The handler interrupts the shim's hooks too, with their locks held; the
 * at-exit snapshot must still be written and the process must end.
 * Mode "snap": no handler of its own; SIGALRM every USEC microseconds
 * for the shim to take (TRACEMEM_SIGNAL=ALRM) while the loop runs for
 * 300 ms, then exit(0).
 * Usage: shim_sigexit exit|_exit|snap [USEC] */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int use_exit;
static void *keep[256];

static void on_alarm(int sig)
{
    (void)sig;
    if (use_exit)
        exit(7);
    _exit(8);
}

static void __attribute__((noinline)) churn(unsigned i)
{
    unsigned k = i & 255;
    free(keep[k]);
    keep[k] = malloc(16 + (i & 127));
    char *p = realloc(NULL, 32);
    free(p);
}

static int snap_mode(long usec)
{
    struct itimerval it = {{usec / 1000000, usec % 1000000}, {usec / 1000000, usec % 1000000}};
    struct timespec t0, t;
    setitimer(ITIMER_REAL, &it, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0;; i++) {
        churn(i);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > 300000000L)
            break;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    exit(0);
}

int main(int argc, char **argv)
{
    use_exit = argc > 1 && strcmp(argv[1], "exit") == 0;
    long usec = argc > 2 ? atol(argv[2]) : 20000;
    if (argc > 1 && strcmp(argv[1], "snap") == 0)
        return snap_mode(usec);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {usec / 1000000, usec % 1000000}};
    setitimer(ITIMER_REAL, &it, NULL);
    for (unsigned i = 0;; i++)
        churn(i);
}
