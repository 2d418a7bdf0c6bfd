/* shim_exit.c - ways of leaving: exit, _exit, _Exit, a signal, abort.
 *
 * usage: shim_exit MODE   (exit|_exit|_Exit|term|abort|kill)
 * Keeps a 1234-byte block, prints one line, then leaves as asked. A block of
 * 999 bytes is freed by an atexit handler and one of 888 bytes by a
 * destructor: the at-exit snapshot comes after both (exit), or neither ran
 * (_exit, _Exit). */
#pragma GCC optimize("O0")
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not static: a static that is only written is dropped by the compiler,
 * and the blocks must stay reachable (leak scan: reachable, not definite). */
void *shim_keep;
static void *by_atexit, *by_destructor;

static void free_at_exit(void)
{
    free(by_atexit);
}

__attribute__((destructor)) static void free_in_destructor(void)
{
    free(by_destructor);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "exit";
    shim_keep = malloc(1234);
    by_atexit = malloc(999);
    by_destructor = malloc(888);
    atexit(free_at_exit);
    printf("leaving by %s\n", mode);
    fflush(stdout);
    if (strcmp(mode, "_exit") == 0)
        _exit(3);
    if (strcmp(mode, "_Exit") == 0)
        _Exit(4);
    if (strcmp(mode, "term") == 0)
        kill(getpid(), SIGTERM);
    if (strcmp(mode, "kill") == 0)
        kill(getpid(), SIGKILL);
    if (strcmp(mode, "abort") == 0)
        abort();
    exit(5);
}
