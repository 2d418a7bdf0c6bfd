/* shim_blocked.c - exits with a second thread blocked in pause(): one
 * block leaked (definite), one kept in a global (reachable). Prints
 * "done" and exits 3. For the leak check under a debugger. */
#pragma GCC optimize("O0")
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *kept;

static void *blocked(void *arg)
{
    pause();
    return arg;
}

static void __attribute__((noinline)) lose(void)
{
    char *p = malloc(100);
    memset(p, 1, 100);
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, blocked, NULL);
    kept = malloc(200);
    lose();
    usleep(50000); /* let the thread reach pause() */
    printf("done\n");
    return 3;
}
