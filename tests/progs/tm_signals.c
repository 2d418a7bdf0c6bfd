/* tm_signals.c - counts the signals it gets, for the signal forwarding
 * tests of tracemem run and check (tests/integration/run_signals.sh).
 *
 * usage: tm_signals READY COUNTS [stubborn]
 *   Writes its pid to READY once its handlers are in place, then waits.
 *   Each SIGHUP, SIGINT, SIGQUIT or SIGTERM is counted and the counts are
 *   written to COUNTS as "HUP=n INT=n QUIT=n TERM=n". The first one
 *   makes it wait 0.5 s more (so that a duplicate would be counted) and
 *   exit with status 3; with "stubborn" it goes on waiting instead. It
 *   gives up after 60 s (status 4). SIGUSR1 and SIGUSR2 are left alone,
 *   for TRACEMEM_SIGNAL.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#pragma GCC optimize("O0")

static volatile sig_atomic_t hup, intr, quit, term;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        hup++;
    else if (sig == SIGINT)
        intr++;
    else if (sig == SIGQUIT)
        quit++;
    else
        term++;
}

static void write_file(const char *path, const char *text)
{
    char tmp[4096];
    FILE *fp;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(fp = fopen(tmp, "w")))
        exit(5);
    fputs(text, fp);
    if (fclose(fp) || rename(tmp, path))
        exit(5);
}

static void write_counts(const char *path)
{
    char text[128];

    snprintf(text, sizeof text, "HUP=%d INT=%d QUIT=%d TERM=%d\n", (int)hup, (int)intr, (int)quit, (int)term);
    write_file(path, text);
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int stubborn = argc > 3 && strcmp(argv[3], "stubborn") == 0, seen = 0;
    char pid[32];
    void *leak;

    if (argc < 3) {
        fprintf(stderr, "usage: tm_signals READY COUNTS [stubborn]\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    leak = malloc(100); /* definitely lost at exit */
    memset(leak, 1, 100);
    leak = NULL;
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    write_file(argv[1], pid);
    for (int i = 0; i < 60 * 20; i++) {
        int n = hup + intr + quit + term;

        if (n != seen) {
            seen = n;
            write_counts(argv[2]);
            if (!stubborn) {
                nap(500);
                write_counts(argv[2]);
                return 3;
            }
        }
        nap(50);
    }
    return 4;
}
