/* leaks_kinds.c - one block or structure of each leak kind, with known sizes.
 *
 *   reachable: 100 (global), 200 (main's stack), 300 (__thread),
 *              500 (a running thread's stack)
 *   definite + indirect: a list of 5 nodes of 32 bytes (1 + 4), a tree of 7
 *              nodes of 40 bytes (1 + 6), a cycle of 3 nodes of 56 bytes (1 + 2)
 *   possible:  400 (only an interior pointer kept, in a global)
 *   freed:     ten blocks of 64 bytes freed before exit (not reported)
 *
 * argv[1]: "exit" (default) leaves by exit() with the thread still running,
 * "_exit" by _exit(), "check" calls tracemem_leak_check() three times and
 * prints its results (definite+indirect blocks) before exiting, "track"
 * also leaks a 1234-byte pool whose address is only recorded with
 * tracemem_track(1, ...) (the shim's own table is not a root: definite). */
/* The known answers assume every pointer lives where the source puts it,
 * whatever CFLAGS the build passes after ours. */
#pragma GCC optimize("O0")

#include "tracemem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    struct node *next;
    char pad[24];
};
struct tree {
    struct tree *left, *right;
    char pad[24];
};
struct ring {
    struct ring *next;
    char pad[48];
};

void *g_keep;
char *g_interior;
__thread void *volatile t_keep; /* not static: never read, it must not be optimized away */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int thread_ready;

static void *worker(void *arg)
{
    (void)arg;
    void *volatile mine = malloc(500);
    memset(mine, 1, 500);
    pthread_mutex_lock(&mu);
    thread_ready = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (;;)
        pause();
    return mine;
}

static __attribute__((noinline)) void leak_list(void)
{
    struct node *head = NULL;
    for (int i = 0; i < 5; i++) {
        struct node *n = calloc(1, sizeof(*n));
        n->next = head;
        head = n;
    }
}

static __attribute__((noinline)) struct tree *tree_make(int depth)
{
    struct tree *t = calloc(1, sizeof(*t));
    if (depth > 1) {
        t->left = tree_make(depth - 1);
        t->right = tree_make(depth - 1);
    }
    return t;
}

static __attribute__((noinline)) void leak_tree(void)
{
    volatile struct tree *t = tree_make(3);
    (void)t;
}

static __attribute__((noinline)) void leak_cycle(void)
{
    struct ring *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
    a->next = b;
    b->next = c;
    c->next = a;
}

static __attribute__((noinline)) void keep_others(void)
{
    g_keep = malloc(100);
    t_keep = malloc(300);
    g_interior = (char *)malloc(400) + 100;
    for (int i = 0; i < 10; i++)
        free(malloc(64));
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    pthread_mutex_lock(&mu);
    while (!thread_ready)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

/* Scrubs the stack below the caller so that no stale copy of a leaked
 * pointer survives in dead frames (Valgrind does not scan below the stack
 * pointer either, but our exit path runs deeper than main's frames). */
static __attribute__((noinline)) void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof(buf));
}

static __attribute__((noinline)) void leak_tracked_pool(void)
{
    char *pool = malloc(1234);
    tracemem_track(1, (uintptr_t)pool, 1234);
    pool = NULL;
}

static __attribute__((noinline)) void finish(const char *how)
{
    void *volatile on_stack = malloc(200);
    memset(on_stack, 2, 200);
    scrub();
    if (strcmp(how, "check") == 0) {
        for (int i = 0; i < 3; i++)
            printf("leak_check %d\n", tracemem_leak_check(NULL));
        fflush(stdout);
    }
    if (strcmp(how, "_exit") == 0)
        _exit(0);
    exit(0);
}

int main(int argc, char **argv)
{
    keep_others();
    leak_list();
    leak_tree();
    leak_cycle();
    if (argc > 1 && strcmp(argv[1], "track") == 0)
        leak_tracked_pool();
    scrub();
    finish(argc > 1 ? argv[1] : "exit");
}
