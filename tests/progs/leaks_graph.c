/* leaks_graph.c - a large random object graph for the leak scan: the same
 * answer with one scan thread and with two (tests/integration/leaks_graph.sh).
 *
 * Usage: leaks_graph [BLOCKS [SEED [seccomp]]]
 * Blocks of mixed sizes (16 bytes to 5 KB, so some pages are crowded) are
 * allocated from eight call sites and linked in components: chains, cycles
 * and random edges inside a component, start and interior pointers. A
 * third of the components hang from a global root (some only through an
 * interior pointer: possible), the others are leaked, and leaked
 * components point at each other and at reachable ones, so the clique
 * pass meets former leaders, blocks reached by several cliques, and one
 * clique far larger than the rest. Then one tracemem_leak_check(), after
 * which the program checks that the scan left no trace: errno as it was,
 * still one thread, no child to wait for. Prints "ok" or what is wrong;
 * the exit-time check writes the snapshot compared by the test. With
 * "seccomp" an allow-all seccomp filter is installed first (the scan must
 * then stay on one thread). */
#define _GNU_SOURCE
#include "tracemem.h"

#include <dirent.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static uint64_t rng;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define SITE(n)                                                                                              \
    static __attribute__((noinline)) void *site##n(size_t size)                                              \
    {                                                                                                        \
        void *p = calloc(1, size);                                                                           \
        __asm__ volatile("" : : "r"(p) : "memory");                                                          \
        return p;                                                                                            \
    }
SITE(0)
SITE(1)
SITE(2)
SITE(3)
SITE(4)
SITE(5)
SITE(6)
SITE(7)
static void *(*const sites[8])(size_t) = {site0, site1, site2, site3, site4, site5, site6, site7};

static const size_t sizes[] = {16, 24, 40, 48, 64, 100, 256, 1000, 5000};

void **roots; /* the program's only root into the graph */
size_t nroots;

struct comp {
    size_t lo, hi; /* blocks [lo, hi) of 'all' */
};

static size_t words_of(size_t size)
{
    return size / sizeof(void *);
}

/* A pointer to block 'b' of size 'size': its start, or now and then a word
 * inside it. */
static void *aim(void *b, size_t size)
{
    if (size >= 32 && next_random() % 5 == 0)
        return (char *)b + 8 * (1 + next_random() % (words_of(size) - 1));
    return b;
}

static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int allow_all_filter(void)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int main(int argc, char **argv)
{
    if (argc > 3 && strcmp(argv[3], "seccomp") == 0 && allow_all_filter() < 0) {
        printf("no seccomp filter: %s\n", strerror(errno));
        return 0;
    }
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    rng = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x9e3779b97f4a7c15ull;
    void **all = malloc(n * sizeof(*all));
    size_t *size = malloc(n * sizeof(*size));
    struct comp *comps = malloc(n * sizeof(*comps));
    if (!all || !size || !comps)
        return 1;
    for (size_t i = 0; i < n; i++) {
        size[i] = sizes[next_random() % (sizeof(sizes) / sizeof(sizes[0]))];
        all[i] = sites[next_random() % 8](size[i]);
        if (!all[i])
            return 1;
    }
    /* components of 1 to 64 blocks, one of n/8 */
    size_t ncomp = 0;
    for (size_t i = 0; i < n;) {
        size_t len = ncomp == 5 ? n / 8 : 1 + next_random() % 64;
        if (len > n - i)
            len = n - i;
        comps[ncomp++] = (struct comp){i, i + len};
        i += len;
    }
    for (size_t c = 0; c < ncomp; c++) {
        struct comp k = comps[c];
        size_t len = k.hi - k.lo;
        int shape = (int)(next_random() % 3); /* chain, cycle, random */
        for (size_t i = k.lo; i < k.hi; i++) {
            void **b = all[i];
            size_t w = words_of(size[i]);
            if (shape < 2 && (i + 1 < k.hi || shape == 1)) {
                size_t j = i + 1 < k.hi ? i + 1 : k.lo;
                b[0] = aim(all[j], size[j]);
            }
            for (size_t e = 1; e < w && e < 4; e++) {
                if (next_random() % 3 == 0)
                    continue;
                size_t j = k.lo + next_random() % len;
                b[e] = aim(all[j], size[j]);
            }
        }
    }
    /* a third reachable (some only through an interior pointer), the rest
     * leaked; edges between components in both directions */
    roots = malloc(ncomp * sizeof(*roots));
    for (size_t c = 0; c < ncomp; c++) {
        size_t i = comps[c].lo + next_random() % (comps[c].hi - comps[c].lo);
        if (next_random() % 3 == 0)
            roots[nroots++] = next_random() % 8 ? all[i] : (char *)all[i] + 8;
        if (next_random() % 2 == 0) {
            size_t d = next_random() % ncomp, j = comps[d].lo + next_random() % (comps[d].hi - comps[d].lo);
            void **b = all[i];
            if (words_of(size[i]) > 4)
                b[4] = aim(all[j], size[j]);
        }
    }
    memset(all, 0, n * sizeof(*all));
    free(all);
    free(size);
    free(comps);

    int threads = threads_now();
    errno = 4242;
    int leaked = tracemem_leak_check(NULL);
    int err = errno;
    int st;
    pid_t child = waitpid(-1, &st, __WALL | WNOHANG);
    int werr = errno;
    if (leaked < 0)
        printf("leak check failed: %d\n", leaked);
    else if (err != 4242)
        printf("errno changed: %d\n", err);
    else if (threads_now() != threads)
        printf("threads: %d before, %d after\n", threads, threads_now());
    else if (child != -1 || werr != ECHILD)
        printf("a child is left: waitpid %d, errno %d\n", (int)child, werr);
    else
        printf("ok\n");
    return 0;
}
