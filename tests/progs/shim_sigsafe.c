/* shim_sigsafe.c - signals around the shim's own signal handling and
 * locks; each mode must behave exactly as untraced (shim_sigsafe.sh).
 *
 *  alarm     SIGALRM at its default action ends pause(): status 142
 *  prof      SIGPROF from ITIMER_PROF during a busy loop: status 155
 *  sigset    a handler calls signal(SIGUSR1, SIG_DFL) while the main loop
 *            queries sigaction(SIGUSR2) without pause: prints "done"
 *  forkexit  fork()s without pause until a SIGALRM handler calls exit(7)
 *  sbrkexit  moves the break without pause until a handler calls exit(3)
 *  sigintr   siginterrupt(SIGALRM, 1) then signal(): read() gets EINTR
 *  smallstack  a thread with a 16 KiB stack allocates without pause
 *  threads   four threads fault at once: status 139
 *  vfork     a vfork child dies of SIGTERM, then the parent: status 143 */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static int exit_code;

static void timer(int which, long usec, long interval)
{
    struct itimerval it = {{interval / 1000000, interval % 1000000}, {usec / 1000000, usec % 1000000}};
    setitimer(which, &it, NULL);
}

static void on_exit_signal(int sig)
{
    (void)sig;
    exit(exit_code);
}

static void on_count(int sig)
{
    (void)sig;
    signal(SIGUSR1, SIG_DFL);
    hits++;
}

static void on_nothing(int sig)
{
    (void)sig;
}

static void *alloc_loop(void *arg)
{
    for (int i = 0; i < 200000; i++) {
        void *volatile p = malloc(32);
        free(p);
    }
    return arg;
}

static pthread_barrier_t together;

static void *fault(void *arg)
{
    pthread_barrier_wait(&together);
    *(volatile int *)(uintptr_t)16 = 1;
    return arg;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    void *volatile keep = malloc(100);
    (void)keep;
    if (!strcmp(m, "alarm")) {
        timer(ITIMER_REAL, 50000, 0);
        pause();
    } else if (!strcmp(m, "prof")) {
        timer(ITIMER_PROF, 50000, 0);
        for (volatile unsigned long i = 0;; i++)
            ;
    } else if (!strcmp(m, "sigset")) {
        struct sigaction o;
        signal(SIGALRM, on_count);
        timer(ITIMER_REAL, 100, 100);
        while (hits < 2000)
            sigaction(SIGUSR2, NULL, &o);
        timer(ITIMER_REAL, 0, 0);
        printf("done\n");
    } else if (!strcmp(m, "forkexit") || !strcmp(m, "sbrkexit")) {
        exit_code = m[0] == 'f' ? 7 : 3;
        signal(SIGALRM, on_exit_signal);
        timer(ITIMER_REAL, 100000 + (getpid() % 7) * 13000, 0);
        for (;;) {
            if (m[0] == 'f') {
                pid_t p = fork();
                if (p == 0)
                    _exit(0);
                if (p > 0)
                    waitpid(p, NULL, 0);
            } else {
                sbrk(4096);
                sbrk(-4096);
            }
        }
    } else if (!strcmp(m, "sigintr")) {
        int fds[2];
        char c;
        if (pipe(fds))
            return 1;
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        siginterrupt(SIGALRM, 1); /* still in programs */
        signal(SIGALRM, on_nothing);
        timer(ITIMER_REAL, 50000, 0);
        ssize_t n = read(fds[0], &c, 1);
        printf("read %zd: %s\n", n, strerror(errno));
    } else if (!strcmp(m, "smallstack")) {
        pthread_attr_t at;
        pthread_t t;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 16384);
        pthread_create(&t, &at, alloc_loop, NULL);
        pthread_join(t, NULL);
        printf("done\n");
    } else if (!strcmp(m, "threads")) {
        pthread_t t[4];
        pthread_barrier_init(&together, NULL, 4);
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, fault, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    } else if (!strcmp(m, "vfork")) {
        pid_t c = vfork();
        if (c == 0) {
            kill(getpid(), SIGTERM);
            _exit(1);
        }
        waitpid(c, NULL, 0);
        kill(getpid(), SIGTERM);
        pause();
    }
    return 0;
}
