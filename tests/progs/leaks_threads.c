/* leaks_threads.c - threads still running when the program exits.
 *
 * Every thread keeps one 1000-byte block only on its own stack (reachable)
 * and is caught in a different state by the exit-time scan: sleeping in
 * nanosleep, spinning in user code, blocked in read() with every signal
 * blocked (cannot be stopped by a signal: its whole stack is scanned),
 * allocating and freeing in a loop, and creating and joining threads in a
 * loop. Main leaks one 77-byte block (definite) and one 2-node list of
 * 88-byte nodes (1 definite + 1 indirect), then exits.
 *
 * argv[1] "spin-blocked": one more thread blocks every signal and spins in
 * user code; it cannot be stopped, so the result must be left unchecked.
 * argv[1] "check": tracemem_leak_check() five times while everything runs.
 * argv[1] "eintr": only checks that a thread sleeping in nanosleep() across
 * a tracemem_leak_check() is not woken early: prints "eintr N". */
/* The known answers assume every pointer lives where the source puts it,
 * whatever CFLAGS the build passes after ours. */
#pragma GCC optimize("O0")

#include "tracemem.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int ready;
static int pipefd[2];
static volatile unsigned long sink;

static void *hold(void)
{
    void *volatile p = malloc(1000);
    memset(p, 3, 1000);
    atomic_fetch_add(&ready, 1);
    return p;
}

static void *sleeper(void *arg)
{
    (void)arg;
    void *volatile p = hold();
    for (;;) {
        struct timespec t = {0, 1000000};
        nanosleep(&t, NULL);
    }
    return p;
}

static void *spinner(void *arg)
{
    (void)arg;
    void *volatile p = hold();
    for (;;)
        sink++;
    return p;
}

static void *reader(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    void *volatile p = hold();
    char c;
    while (read(pipefd[0], &c, 1) != 0)
        ;
    return p;
}

static void *churner(void *arg)
{
    (void)arg;
    void *volatile p = hold();
    for (;;) {
        char *q = malloc(64 + sink % 512);
        q[0] = 1;
        free(q);
    }
    return p;
}

static void *nothing(void *arg)
{
    return arg;
}

static void *spawner(void *arg)
{
    (void)arg;
    void *volatile p = hold();
    for (;;) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) == 0)
            pthread_join(t, NULL);
    }
    return p;
}

static void *blocked_spinner(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    void *volatile p = hold();
    for (;;)
        sink++;
    return p;
}

struct node {
    struct node *next;
    char pad[80];
};

static __attribute__((noinline)) void leak(void)
{
    void *volatile lost = malloc(77);
    struct node *a = calloc(1, sizeof(*a));
    a->next = calloc(1, sizeof(*a));
    a = NULL;
    lost = NULL;
    (void)lost;
}

static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof(buf));
}

static int interrupted;

static void *napper(void *arg)
{
    (void)arg;
    struct timespec t = {0, 400000000};
    interrupted = nanosleep(&t, NULL) != 0;
    return NULL;
}

static int eintr(void)
{
    pthread_t t;
    pthread_create(&t, NULL, napper, NULL);
    struct timespec pause_ = {0, 100000000};
    nanosleep(&pause_, NULL);
    tracemem_leak_check(NULL);
    pthread_join(t, NULL);
    printf("eintr %d\n", interrupted);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "exit";
    if (strcmp(mode, "eintr") == 0)
        return eintr();
    void *(*fns[])(void *) = {sleeper, spinner, reader, churner, spawner, blocked_spinner};
    int n = strcmp(mode, "spin-blocked") == 0 ? 6 : 5;
    if (pipe(pipefd) < 0)
        return 2;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        pthread_create(&t, NULL, fns[i], NULL);
        pthread_detach(t);
    }
    while (atomic_load(&ready) < n) {
        struct timespec t = {0, 1000000};
        nanosleep(&t, NULL);
    }
    leak();
    scrub();
    if (strcmp(mode, "check") == 0) {
        for (int i = 0; i < 5; i++)
            printf("leak_check %d\n", tracemem_leak_check(NULL));
        fflush(stdout);
    }
    exit(0);
}
