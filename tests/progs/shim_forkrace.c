/* shim_forkrace.c - forks while other threads allocate, shrink with
 * realloc (in place, so the address stays valid) and free without pause.
 * Each child frees every block the threads held at the fork, then leaves
 * with _exit(0); under the shim each writes a snapshot of what is left,
 * which must add up (no negative live figure, live no more than
 * allocated, the stacks' live bytes equal memory.current) whatever the
 * other threads were doing at the fork. Usage: shim_forkrace NFORKS */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSLOTS 32

static atomic_int stop;
/* Every pointer here is NULL or a block the thread owns: a block is
 * published after malloc returns and unpublished before free. */
static void *_Atomic slots[2][NSLOTS];
static size_t sizes[2][NSLOTS];

static void *churn(void *arg)
{
    long me = (long)arg;
    unsigned seed = (unsigned)me + 1;
    while (!atomic_load(&stop)) {
        unsigned i = (seed = seed * 1103515245u + 12345u) >> 16 & (NSLOTS - 1);
        void *p = atomic_load(&slots[me][i]);
        if (!p) {
            sizes[me][i] = 512 + ((seed >> 8) & 1023);
            atomic_store(&slots[me][i], malloc(sizes[me][i]));
        } else if ((seed & 1) && sizes[me][i] > 64) {
            sizes[me][i] /= 2; /* glibc shrinks in place: p stays valid */
            if (realloc(p, sizes[me][i]) != p)
                abort();
        } else {
            atomic_store(&slots[me][i], NULL);
            free(p);
        }
    }
    for (int i = 0; i < NSLOTS; i++)
        free(atomic_exchange(&slots[me][i], NULL));
    return NULL;
}

static void child(void)
{
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < NSLOTS; i++)
            free(atomic_load(&slots[t][i]));
    _exit(0);
}

int main(int argc, char **argv)
{
    int nforks = argc > 1 ? atoi(argv[1]) : 100;
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, (void *)i);
    int failed = 0;
    for (int i = 0; i < nforks; i++) {
        pid_t pid = fork();
        if (pid == 0)
            child();
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("%d forks, %d failed\n", nforks, failed);
    return failed != 0;
}
