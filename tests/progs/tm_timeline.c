/* tm_timeline.c - a known allocation pattern over time, for the timeline,
 * the size histogram and the run summary's chart (tests/integration/
 * cli_timeline.sh).
 *
 * Phase up: ten 1 MiB blocks from SITE_UP, one every STEP ms; phase down:
 * the ten freed, one per step. Each of the 20 steps also adds one
 * 10000-byte block from SITE_GROW (kept to the end). After each pause five
 * 1-byte blocks are allocated and freed (SITE_TICK): samples are taken by
 * the program's events, and ten events make sure one is taken at each
 * plateau. Then the sizes the histogram test counts: three
 * 24-byte blocks (kept), two 1-byte blocks (freed), five 4096-byte blocks
 * (two kept). With "fork" as argument a child allocates one 777-byte block
 * and exits. No stdio: nothing else allocates.
 *
 * Usage: tm_timeline [STEP_MS] [fork] */
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void *volatile keep[64];
static int nkeep;

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

/* the volatile keeps the call out of a tail position: the function stays
 * on the stack even when optimized */
NOINLINE static void *up(void)
{
    void *volatile p = malloc(1 << 20); /* SITE_UP */
    return p;
}

NOINLINE static void grow(void)
{
    keep[nkeep++] = malloc(10000); /* SITE_GROW */
}

NOINLINE static void tick(long ms)
{
    pause_ms(ms);
    /* ten events: a busy thread reads the clock at every 4th event at least */
    for (int i = 0; i < 5; i++) {
        void *volatile p = malloc(1); /* SITE_TICK */
        free(p);
    }
}

NOINLINE static void *sized(size_t n)
{
    void *volatile p = malloc(n); /* SITE_SIZED */
    return p;
}

int main(int argc, char **argv)
{
    long step = argc > 1 ? atol(argv[1]) : 30;
    void *blocks[10];

    tick(step);
    for (int i = 0; i < 20; i++) {
        if (i < 10)
            blocks[i] = up();
        else
            free(blocks[i - 10]);
        grow();
        tick(step);
    }
    for (int i = 0; i < 3; i++)
        keep[nkeep++] = sized(24);
    for (int i = 0; i < 2; i++)
        free(sized(1));
    for (int i = 0; i < 5; i++) {
        void *p = sized(4096);
        if (i < 2)
            keep[nkeep++] = p;
        else
            free(p);
    }
    if (argc > 2) {
        pid_t pid = fork();
        if (pid == 0) {
            tick(step);
            keep[nkeep++] = sized(777);
            tick(step);
            exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    return 0;
}
