/* shim_exit.c - ways of leaving: exit, _exit, _Exit, a signal, abort.
 *
 * usage: shim_exit MODE   (exit|_exit|_Exit|term|abort|kill|segv|ignore|handle)
 * Before leaving it prints what sigaction() says of SIGTERM and SIGSEGV
 * (SIG_DFL, as the program left them). "ignore" ignores SIGTERM, sends it
 * and exits 6; "handle" catches it with a handler that exits 7.
 * Keeps a 1234-byte block, prints one line, then leaves as asked. A block of
 * 999 bytes is freed by an atexit handler and one of 888 bytes by a
 * destructor: the at-exit snapshot comes after both (exit), or neither ran
 * (_exit, _Exit). */
#pragma GCC optimize("O0")
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not static: a static that is only written is dropped by the compiler,
 * and the blocks must stay reachable (leak scan: reachable, not definite). */
void *shim_keep;
static void *by_atexit, *by_destructor;

static void on_term(int sig)
{
    (void)sig;
    _exit(7);
}

static const char *disposition(int sig)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return (sa.sa_flags & SA_SIGINFO) ? "handler" : sa.sa_handler == SIG_DFL ? "default" : sa.sa_handler == SIG_IGN ? "ignored" : "handler";
}

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
    printf("leaving by %s; SIGTERM %s, SIGSEGV %s\n", mode, disposition(SIGTERM), disposition(SIGSEGV));
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
    if (strcmp(mode, "segv") == 0)
        *(volatile int *)(uintptr_t)8 = 1;
    if (strcmp(mode, "ignore") == 0) {
        signal(SIGTERM, SIG_IGN);
        kill(getpid(), SIGTERM);
        printf("SIGTERM %s\n", disposition(SIGTERM));
        exit(6);
    }
    if (strcmp(mode, "handle") == 0) {
        signal(SIGTERM, on_term);
        printf("SIGTERM %s\n", disposition(SIGTERM));
        fflush(stdout);
        kill(getpid(), SIGTERM);
    }
    exit(5);
}
