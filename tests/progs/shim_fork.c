/* shim_fork.c - processes made by fork, fork+exec, vfork and posix_spawn.
 *
 * usage: shim_fork MODE [CHILD]
 *   fork      parent keeps 1111 bytes; the child keeps 2222 more and exits
 *   forkexec  the child execs CHILD (shim_child)
 *   vfork     vfork children leave by _exit(7), and by a failed exec
 *   spawn     posix_spawn of CHILD, and of a path that does not exist
 *   threads   3 threads allocate and free while the main thread forks 20
 *             children, each of which allocates and exits
 * Prints each child's exit status; exit status 0 when all were as expected. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
/* Not static: a static that is only written is dropped by the compiler,
 * and the blocks must stay reachable (leak scan: reachable, not definite). */
void *shim_keep[4];

static atomic_int stop;

static void *churn(void *arg)
{
    void *v[32] = {0};
    for (unsigned long i = (unsigned long)arg; !atomic_load(&stop); i++) {
        free(v[i % 32]);
        v[i % 32] = malloc(16 + i % 2000);
    }
    for (int k = 0; k < 32; k++)
        free(v[k]);
    return NULL;
}

static int status_of(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "fork";
    const char *child = argc > 2 ? argv[2] : "/bin/true";
    int bad = 0;
    shim_keep[0] = malloc(1111);
    fflush(stdout);
    if (strcmp(mode, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            shim_keep[1] = malloc(2222);
            exit(0);
        }
        int st = status_of(pid);
        printf("fork child: %d\n", st);
        bad |= st != 0;
    } else if (strcmp(mode, "forkexec") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(child, child, "exec", (char *)NULL);
            _exit(126);
        }
        int st = status_of(pid);
        printf("forkexec child: %d\n", st);
        bad |= st != 0;
    } else if (strcmp(mode, "vfork") == 0) {
        pid_t pid = vfork();
        if (pid == 0)
            _exit(7);
        int st = status_of(pid);
        printf("vfork child: %d\n", st);
        bad |= st != 7;
        pid = vfork();
        if (pid == 0) {
            execl("/nonexistent/program", "x", (char *)NULL);
            _exit(127);
        }
        st = status_of(pid);
        printf("vfork failed exec: %d\n", st);
        bad |= st != 127;
    } else if (strcmp(mode, "spawn") == 0) {
        pid_t pid;
        char *args[] = {(char *)child, "spawn", NULL};
        int rc = posix_spawn(&pid, child, NULL, NULL, args, environ);
        int st = rc == 0 ? status_of(pid) : -rc;
        printf("spawn child: %d\n", st);
        bad |= st != 0;
        char *nargs[] = {"/nonexistent/program", NULL};
        rc = posix_spawn(&pid, nargs[0], NULL, NULL, nargs, environ);
        st = rc == 0 ? status_of(pid) : 0;
        printf("spawn of a missing program: %s\n", rc != 0 || st == 127 ? "failed" : "ran");
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t th[3];
        for (long t = 0; t < 3; t++)
            pthread_create(&th[t], NULL, churn, (void *)t);
        int ok = 0;
        for (int i = 0; i < 20; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                shim_keep[1] = malloc(2222);
                free(malloc(100));
                exit(0);
            }
            ok += status_of(pid) == 0;
        }
        atomic_store(&stop, 1);
        for (int t = 0; t < 3; t++)
            pthread_join(th[t], NULL);
        printf("threads: %d children exited 0\n", ok);
        bad |= ok != 20;
    } else {
        fprintf(stderr, "shim_fork: unknown mode %s\n", mode);
        return 100;
    }
    return bad;
}
