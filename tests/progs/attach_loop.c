/* attach_loop.c - a process for tracemem attach to attach to: every 5 ms
 * it keeps one 1000-byte block (attach_grow) and allocates and frees
 * another; blocks it held before the attach are freed while attached.
 * Usage: attach_loop [SECONDS]: exits with status 3 after SECONDS (0: on
 * SIGTERM only, then status 0), printing how many blocks it kept and how
 * many SIGRTMIN it received (real-time signals queue: none may be lost).
 * SIGUSR1 makes it dlopen $ATTACH_PLUGIN and call its plugin_alloc() at
 * every turn. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t done, nsig, load;
static void **kept;
static size_t nkept, cap;

static void on_term(int sig)
{
    (void)sig;
    done = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    load = 1;
}

static void on_rt(int sig)
{
    (void)sig;
    nsig++;
}

__attribute__((noinline)) static void attach_grow(void)
{
    if (nkept == cap) {
        cap = cap ? cap * 2 : 1024;
        kept = realloc(kept, cap * sizeof *kept);
    }
    char *p = malloc(1000); /* LINE-GROW */
    memset(p, 1, 1000);
    kept[nkept++] = p;
}

__attribute__((noinline)) static void attach_churn(void)
{
    char *p = malloc(64);
    memset(p, 2, 64);
    free(p);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0;
    struct timespec t0, t, d = {0, 5000000};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_rt;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);
    signal(SIGTERM, on_term);
    signal(SIGUSR1, on_usr1);
    void (*plugin)(void) = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (!done) {
        attach_grow();
        attach_churn();
        if (load && !plugin && getenv("ATTACH_PLUGIN")) { /* dlopen()ed while attached */
            void *h = dlopen(getenv("ATTACH_PLUGIN"), RTLD_NOW);
            plugin = h ? (void (*)(void))dlsym(h, "plugin_alloc") : NULL;
            printf("plugin %s\n", plugin ? "loaded" : dlerror());
            fflush(stdout);
        }
        if (plugin)
            plugin();
        if (nkept % 64 == 0) { /* free the oldest half: blocks of before the attach among them */
            for (size_t i = 0; i < nkept / 2; i++)
                free(kept[i]);
            memmove(kept, kept + nkept / 2, (nkept - nkept / 2) * sizeof *kept);
            nkept -= nkept / 2;
        }
        nanosleep(&d, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (seconds > 0 &&
            (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds) {
            printf("kept %zu\n", nkept);
            printf("signals %d\n", (int)nsig);
            return 3;
        }
    }
    printf("kept %zu\n", nkept);
    printf("signals %d\n", (int)nsig);
    return 0;
}
