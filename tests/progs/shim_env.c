/* shim_env.c - workloads for the TRACEMEM_* environment tests.
 *
 * usage: shim_env plain            prints a line, keeps 4321 bytes
 *        shim_env deep N           keeps 7777 bytes allocated N calls deep
 *        shim_env signal SIG K DIR raises SIG K times, each time waiting
 *                                  (10 s at most) for one more file in DIR
 *        shim_env busy SECONDS     allocates and frees for SECONDS
 *        shim_env sample           keeps 20000 x 1000 bytes (site A) and
 *                                  200000 x 64 bytes (site B)
 * Every mode prints what it did, never an address or a time. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Not static: a static that is only written is dropped by the compiler,
 * and the blocks must stay reachable (leak scan: reachable, not definite). */
void *shim_keep;

__attribute__((noinline)) static void *deep(int n)
{
    if (n <= 1)
        return malloc(7777);
    void *p = deep(n - 1);
    return p ? p : NULL; /* not a tail call: every level stays a frame */
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' && !strstr(e->d_name, ".tmp");
    closedir(d);
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void **site_a(int n)
{
    void **v = calloc((size_t)n, sizeof(void *));
    for (int i = 0; i < n; i++)
        v[i] = malloc(1000); /* SITE_A */
    return v;
}

__attribute__((noinline)) static void **site_b(int n)
{
    void **v = calloc((size_t)n, sizeof(void *));
    for (int i = 0; i < n; i++)
        v[i] = malloc(64); /* SITE_B */
    return v;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "plain";
    if (strcmp(mode, "plain") == 0) {
        shim_keep = malloc(4321);
        printf("hello from shim_env %d\n", (int)getpid());
    } else if (strcmp(mode, "deep") == 0 && argc > 2) {
        shim_keep = deep(atoi(argv[2]));
        printf("deep %d\n", atoi(argv[2]));
    } else if (strcmp(mode, "signal") == 0 && argc > 4) {
        int sig = atoi(argv[2]), k = atoi(argv[3]);
        shim_keep = malloc(4321);
        for (int i = 0; i < k; i++) {
            int before = count_files(argv[4]);
            kill(getpid(), sig);
            double end = now() + 10;
            while (count_files(argv[4]) == before && now() < end)
                usleep(2000);
        }
        printf("signals %d\n", k);
    } else if (strcmp(mode, "busy") == 0 && argc > 2) {
        double end = now() + atof(argv[2]);
        long n = 0;
        shim_keep = malloc(4321);
        while (now() < end) {
            void *p = malloc(100 + (size_t)(n % 50));
            free(p);
            n++;
            if (n % 1000 == 0)
                usleep(1000);
        }
        printf("busy done\n");
    } else if (strcmp(mode, "sample") == 0) {
        void **a = site_a(20000), **b = site_b(200000);
        printf("sample %d %d\n", a[19999] != NULL, b[199999] != NULL);
    } else {
        fprintf(stderr, "shim_env: bad usage\n");
        return 100;
    }
    return 0;
}
