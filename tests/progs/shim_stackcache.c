/* shim_stackcache.c - stacks that defeat a naive stack cache: the same
 * stack pointer at the allocation reached through different frames
 * (recursion depth traded against alloca size, uninitialised alloca space
 * holding old return addresses), realigned frames, longjmp out of
 * allocating frames, signal handlers that allocate (also on an alternate
 * stack), coroutines on stacks that are freed and mapped again
 * (swapcontext), threads, and a forked child; partial hits (tails());
 * hundreds of stacks at one stack pointer (fans(): the stack memo; run
 * alone with the argument "fans"); stacks deeper than the walk goes
 * (deep()).
 * Built with -O2 so most frames
 * have rsp-based CFAs; tests/integration/shim_stackcache.sh runs it with
 * TRACEMEM_VERIFY_STACKS=1 and wants zero mismatches. Prints a checksum
 * that does not depend on tracing.
 *
 * The signal handler allocates only when the interrupted code is outside
 * malloc and free (the in_alloc counter): a handler that calls malloc while
 * the thread is inside glibc's malloc may corrupt the heap with or without
 * the shim. The jmp_buf is per thread: with one shared buffer, threads
 * longjmp'd onto each other's stacks (about 1 run in 15 crashed, untraced
 * too). */
#define _GNU_SOURCE
#include <alloca.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static volatile unsigned long sink;
static volatile sig_atomic_t in_alloc; /* > 0 inside malloc, calloc, free */

#define NOI __attribute__((noinline))
#define BARRIER() __asm__ __volatile__("" ::: "memory")

static NOI void release(void *p)
{
    in_alloc++;
    BARRIER();
    free(p);
    BARRIER();
    in_alloc--;
}

static NOI void *leaf(size_t n)
{
    in_alloc++;
    BARRIER();
    void *p = malloc(n);
    BARRIER();
    in_alloc--;
    return p;
}

static NOI void *leaf2(size_t n)
{
    in_alloc++;
    BARRIER();
    void *p = calloc(1, n);
    BARRIER();
    in_alloc--;
    return p;
}

static NOI void *via_alloca(size_t a, int which)
{
    char *buf = alloca(a); /* not initialised: old frames' words stay there */
    __asm__ __volatile__("" : : "r"(buf) : "memory");
    void *p = which ? leaf2(24) : leaf(24);
    sink += (uintptr_t)buf & 1;
    return p;
}

static NOI void *rec(int d, size_t a, int which)
{
    void *p;
    if (d > 0)
        p = rec(d - 1, a, which);
    else
        p = via_alloca(a, which);
    __asm__ __volatile__("" ::: "memory");
    return p;
}

static NOI void *realigned(int n)
{
    char big[64] __attribute__((aligned(64)));
    memset(big, n, sizeof big);
    void *p = leaf(32 + (size_t)(big[3] & 1));
    sink += (uintptr_t)big[5];
    return p;
}

static NOI void *realigned_vla(int n)
{
    char vla[n];
    double d __attribute__((aligned(32))) = n;
    memset(vla, 1, (size_t)n);
    __asm__ __volatile__("" : : "r"(vla), "r"(&d) : "memory");
    return rec(n & 3, (size_t)n * 8, n & 1);
}

static void churn_mixed(int rounds)
{
    for (int r = 0; r < rounds; r++)
        for (int d = 0; d < 6; d++)
            for (size_t a = 16; a <= 256; a += 16) {
                release(rec(d, a, (int)(a / 16) & 1));
                release(rec(5 - d, 272 - a, 0));
                release(realigned(d));
                release(realigned_vla(d * 8 + 1));
            }
}

/* longjmp out of frames that allocate */
static __thread jmp_buf jb; /* per thread: three threads jump at once */
static NOI void deep_jump(int d, void **out)
{
    if (d)
        deep_jump(d - 1, out);
    *out = leaf(40);
    longjmp(jb, 1);
}

static void jumps(int n)
{
    for (int i = 0; i < n; i++) {
        void *volatile p = NULL;
        if (!setjmp(jb))
            deep_jump(i % 7, (void **)&p);
        release(p);
        release(rec(i % 7, 16, 0));
    }
}

/* partial hits: the same allocation site reached through different inner
 * frames (other functions, other depths, alloca) under the same outer
 * frames at the same addresses, whose words the cache compares before it
 * takes them; and under different outer frames at the same addresses
 * (caller_x and caller_y have the same frame size), and after longjmp out
 * of them */
static NOI void *mid_a(int n)
{
    char *buf = alloca((size_t)n * 16 + 16);
    __asm__ __volatile__("" : : "r"(buf) : "memory");
    void *p = leaf(56);
    sink += (uintptr_t)buf & 1;
    return p;
}

static NOI void *mid_b(int n)
{
    void *p = n > 0 ? mid_b(n - 1) : leaf(56);
    BARRIER();
    return p;
}

static NOI void *outer(int k, int n)
{
    void *p = (k & 1) ? mid_a(n) : mid_b(n);
    BARRIER();
    return p;
}

static NOI void *caller_x(int k, int n)
{
    volatile char pad[32];
    pad[0] = (char)k;
    void *p = outer(k, n);
    sink += (unsigned long)pad[0];
    return p;
}

static NOI void *caller_y(int k, int n)
{
    volatile char pad[32];
    pad[1] = (char)n;
    void *p = outer(k + 1, n);
    sink += (unsigned long)pad[1];
    return p;
}

/* recursion depth traded against alloca size: leaf's frame at the same
 * address, mid_a's frame pointer not */
static NOI void *mid_c(int m, int n)
{
    void *p = m > 0 ? mid_c(m - 1, n) : mid_a(n);
    BARRIER();
    return p;
}

/* the same frames up to caller_x, at the same addresses, under two
 * different outer frames */
static NOI void *top_1(int k, int n)
{
    volatile char pad[16];
    pad[0] = (char)k;
    void *p = caller_x(k, n);
    sink += (unsigned long)pad[0];
    return p;
}

static NOI void *top_2(int k, int n)
{
    volatile char pad[16];
    pad[2] = (char)n;
    void *p = caller_x(k, n);
    sink += (unsigned long)pad[2];
    return p;
}

static NOI void jump_outer(int k, int n, void **out)
{
    *out = (k & 2) ? top_1(k, n) : top_2(k, n);
    if (n & 1)
        longjmp(jb, 1);
}

/* A partial hit must not be taken where the earlier stack's outer frames
 * depend on the rbp they came with: x_fp's frame is rbp-based (alloca)
 * and y_call restores no rbp. The earlier stack (via a_inner, x_fp one
 * level deeper in xr) and the next (via b_inner) have y_call at the same
 * address but x_fp at different ones; xr calls itself and x_fp from one
 * call site, b_inner fills its stack with the earlier x_fp's rbp and the
 * next x_fp copies the earlier x_fp's frame into its alloca space where
 * it lies there: the words the earlier stack depends on all compare
 * equal, only the rbp the walk restores tells the stacks apart. */
static uintptr_t h_fp;        /* the earlier x_fp's frame address */
static uintptr_t h_words[32]; /* the stack from there up, then */

static NOI void *a_inner(void)
{
    void *p = leaf(72);
    BARRIER();
    return p;
}

static NOI void *b_inner(void)
{
    uintptr_t *buf = alloca(8192);
    for (int i = 0; i < 1024; i++)
        buf[i] = h_fp;
    __asm__ __volatile__("" : : "r"(buf) : "memory");
    void *p = leaf(72);
    sink += buf[3] & 1;
    return p;
}

static NOI void *y_call(void *(*f)(void))
{
    void *p = f();
    BARRIER();
    return p;
}

static void *(*volatile inner_fn)(void);

static NOI void x_prep(uintptr_t fp, char *buf, size_t a, int mode)
{
    if (mode == 0) {
        h_fp = fp;
        memcpy(h_words, (const void *)fp, sizeof h_words);
    } else {
        for (size_t i = 0; i < sizeof h_words / sizeof h_words[0]; i++) {
            uintptr_t at = h_fp + i * sizeof(uintptr_t);
            if (at >= (uintptr_t)buf && at + sizeof(uintptr_t) <= (uintptr_t)buf + a)
                *(volatile uintptr_t *)at = h_words[i];
        }
    }
    inner_fn = mode ? b_inner : a_inner;
}

static NOI void *x_fp(int d, size_t a, int mode)
{
    (void)d;
    char *buf = alloca(a);
    x_prep((uintptr_t)__builtin_frame_address(0), buf, a, mode);
    void *p = y_call(inner_fn); /* one call site */
    sink += (uintptr_t)buf & 1;
    return p;
}

static void *xr(int d, size_t a, int mode);
static void *(*volatile xr_next[2])(int, size_t, int) = {x_fp, xr};

static NOI void *xr(int d, size_t a, int mode)
{
    volatile char pad[64];
    pad[0] = (char)d;
    void *p = xr_next[d > 0](d - 1, a, mode); /* one call site */
    sink += (unsigned long)pad[0];
    return p;
}

static void rbp_tails(void)
{
    for (int j = 1; j <= 16; j++)
        for (volatile int m = 0; m < 2; m++) /* one call site */
            release(xr(1 - m, 256 + (m ? 16 * (size_t)j : 0), m));
}

static void tails(int rounds)
{
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 4; k++)
            for (int n = 0; n < 6; n++) {
                release(caller_x(k, n));
                release(caller_y(k, n));
                release(outer(k, n));
                release(caller_x(k + 1, 5 - n));
                release(top_1(k, n));
                release(top_2(k, n));
                for (int m = 0; m < 4; m++)
                    release(mid_c(m, n + 4 - m));
                void *volatile p = NULL;
                if (!setjmp(jb))
                    jump_outer(k, n, (void **)&p);
                release(p);
                release(rec(n, 16 * (size_t)k, k & 1));
            }
    rbp_tails();
}

/* 512 stacks at one stack pointer through one malloc call (leaf's): three
 * levels of eight functions with the same frame, called in turn, far
 * more than a cache set's four ways; the stack memo (a tree of the
 * earlier stacks' words) finds them again. */
typedef void *(*fan_fn)(int lvl, unsigned sel, size_t n);
static fan_fn fan_tab[8];
#define FAN(k)                                                                                                     \
    static NOI void *fan_##k(int lvl, unsigned sel, size_t n)                                                      \
    {                                                                                                              \
        void *p = lvl ? fan_tab[sel & 7](lvl - 1, sel >> 3, n + k) : leaf(n + k);                                  \
        BARRIER();                                                                                                 \
        sink += (uintptr_t)p & 1;                                                                                  \
        return p;                                                                                                  \
    }
FAN(0)
FAN(1)
FAN(2)
FAN(3)
FAN(4)
FAN(5)
FAN(6)
FAN(7)
static fan_fn fan_tab[8] = {fan_0, fan_1, fan_2, fan_3, fan_4, fan_5, fan_6, fan_7};

static void fans(int rounds)
{
    for (int r = 0; r < rounds; r++)
        for (unsigned sel = 0; sel < 512; sel++)
            release(fan_tab[sel & 7](2, sel >> 3, 32));
}

/* stacks deeper than the walk takes (240 frames) and shallower ones, at
 * the same call site: libunwind unwinds the deep ones, the walk and the
 * memo the others */
static NOI void deep(int d)
{
    void *p = leaf(16 + (size_t)(d & 7));
    if (d > 0)
        deep(d - 1);
    BARRIER();
    release(p);
}

/* signal handlers that allocate */
static volatile sig_atomic_t ticks;
static void on_alarm(int sig)
{
    (void)sig;
    if (in_alloc)
        return; /* glibc's malloc is not reentrant: skip this tick */
    release(rec(ticks % 4, 32, 1));
    release(leaf(48));
    ticks++;
}

static void signals(int seconds_ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct timeval t0, t;
    gettimeofday(&t0, NULL);
    do {
        churn_mixed(1);
        tails(1);
        gettimeofday(&t, NULL);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_usec - t0.tv_usec) / 1000 < seconds_ms);
    /* the same on an alternate stack */
    stack_t ss = {.ss_sp = leaf(65536), .ss_size = 65536};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigaction(SIGALRM, &sa, NULL);
    gettimeofday(&t0, NULL);
    do {
        churn_mixed(1);
        tails(1);
        gettimeofday(&t, NULL);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_usec - t0.tv_usec) / 1000 < seconds_ms);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_IGN);
    stack_t none = {.ss_flags = SS_DISABLE};
    sigaltstack(&none, NULL);
    release(ss.ss_sp);
}

/* coroutines: stacks mapped, used, unmapped and mapped again (often at the
 * same address), each allocating from different frames at the same depth */
static ucontext_t main_uc, co_uc;
static int co_kind;

static void co_body(void)
{
    for (int i = 0; i < 50; i++) {
        if (co_kind & 1)
            release(rec(3, 64, 0));
        else
            release(rec(2, 64 + 48, 1));
        release(realigned(i));
        if (i % 10 == 0)
            tails(1);
        swapcontext(&co_uc, &main_uc);
    }
}

static void coroutines(void)
{
    for (int round = 0; round < 40; round++) {
        size_t sz = 256 * 1024;
        char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (stk == MAP_FAILED)
            abort();
        co_kind = round;
        getcontext(&co_uc);
        co_uc.uc_stack.ss_sp = stk;
        co_uc.uc_stack.ss_size = sz;
        co_uc.uc_link = &main_uc;
        makecontext(&co_uc, co_body, 0);
        for (int i = 0; i < 50; i++) {
            swapcontext(&main_uc, &co_uc);
            release(leaf(16));
        }
        swapcontext(&main_uc, &co_uc); /* co_body returns to main_uc */
        munmap(stk, sz);
    }
}

static void *thread_main(void *arg)
{
    int k = (int)(intptr_t)arg;
    churn_mixed(3 + k);
    jumps(200);
    tails(4 + k);
    fans(2);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fans") == 0) { /* only them */
        fans(8);
        printf("fans %lu\n", sink);
        return 0;
    }
    churn_mixed(4);
    jumps(500);
    tails(10);
    fans(3);
    for (int i = 0; i < 3; i++)
        deep(300);
    coroutines();
    signals(150);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i);
    churn_mixed(2);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pid_t pid = fork();
    if (pid == 0) {
        churn_mixed(2);
        jumps(100);
        tails(2);
        fans(1);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    churn_mixed(1);
    printf("done child %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
