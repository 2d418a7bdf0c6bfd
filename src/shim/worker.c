/* worker.c - a second core for the leak scan, without a thread of the program.
 *
 * The scan runs while every other thread of the program is stopped, and the
 * shim creates no thread the program can see (no pthread_create: the
 * program's thread list stays the same). The helper is therefore what
 * stopthreads.c's tracer is: a task made by clone() on its own mmap()ed
 * stack, sharing our memory, files and filesystem context (CLONE_VM |
 * CLONE_FS | CLONE_FILES: no descriptor is duplicated), without
 * CLONE_THREAD (its own thread group: not listed in /proc/self/task, and no
 * signal sent to the program reaches it), with exit signal 0 (the program
 * gets no SIGCHLD), CLONE_UNTRACED (a debugger does not follow it).
 *
 * Invariants:
 *  - It exists only during a scan, while the program's threads are stopped:
 *    tm__helper_stop() reaps it (wait4 __WALL) before the scan resumes them.
 *  - It shares the scanning thread's TLS pointer, so it never calls into
 *    libc after clone()'s trampoline: system calls are inline assembly (no
 *    errno written, no lazy binding), it allocates nothing, and what it runs
 *    (tm__helper_post) must keep to that too.
 *  - Every signal is blocked in it; it dies with SIGKILL when the scanning
 *    thread dies (PR_SET_PDEATHSIG), so a killed program never leaves it
 *    holding the address space.
 *  - Jobs: 'seq' counts jobs posted, 'done' jobs finished (futex words);
 *    'alive' is cleared by the kernel when the task exits
 *    (CLONE_CHILD_CLEARTID), so a join never waits for a dead helper. */
#define _GNU_SOURCE
#include "shim/shim.h"
#include "shim/leakscan.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HELPER_STACK (64 * 1024)

#if defined(__x86_64__)
#define HAVE_RAW_SYSCALL 1
static inline long raw_syscall(long n, long a, long b, long c, long d, long e)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define HAVE_RAW_SYSCALL 1
static inline long raw_syscall(long n, long a, long b, long c, long d, long e)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
}
#else
#define HAVE_RAW_SYSCALL 0
static inline long raw_syscall(long n, long a, long b, long c, long d, long e)
{
    (void)n, (void)a, (void)b, (void)c, (void)d, (void)e;
    return -ENOSYS;
}
#endif

void tm__helper_sleep(atomic_uint *word, unsigned seen, long ns)
{
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    raw_syscall(SYS_futex, (long)word, FUTEX_WAIT, (long)seen, (long)&t, 0);
}

void tm__helper_wake(atomic_uint *word)
{
    raw_syscall(SYS_futex, (long)word, FUTEX_WAKE, 0x7fffffff, 0, 0);
}

void tm__populate(void *p, size_t len)
{
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095, hi = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
    if (p && len)
        raw_syscall(SYS_madvise, (long)lo, (long)(hi - lo), MADV_POPULATE_WRITE, 0, 0);
}

static int helper_main(void *arg)
{
    struct tm__helper *h = arg;
    uint64_t all = ~(uint64_t)0;
    raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, sizeof(all), 0);
    raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (raw_syscall(SYS_getppid, 0, 0, 0, 0, 0) != h->parent)
        return 0; /* the scanning process is gone already */
    for (unsigned seen = 0;;) {
        unsigned now;
        while ((now = atomic_load(&h->seq)) == seen)
            tm__helper_sleep(&h->seq, seen, 100000000L);
        seen = now;
        void (*fn)(void *) = h->fn;
        if (!fn)
            return 0;
        fn(h->arg);
        atomic_store(&h->done, seen);
        tm__helper_wake(&h->done);
    }
}

int tm__helper_start(struct tm__helper *h)
{
    memset(h, 0, sizeof(*h));
    if (!HAVE_RAW_SYSCALL)
        return -ENOSYS;
    h->stack = tm__map(HELPER_STACK);
    if (!h->stack)
        return -ENOMEM;
    h->stack_len = HELPER_STACK;
    h->parent = getpid();
    atomic_store(&h->alive, 1);
    h->pid = clone(helper_main, (char *)h->stack + HELPER_STACK - 64,
                   CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED | CLONE_CHILD_CLEARTID, h, NULL, NULL,
                   &h->alive);
    if (h->pid < 0) {
        int rc = -errno;
        tm__unmap(h->stack, HELPER_STACK);
        memset(h, 0, sizeof(*h));
        return rc;
    }
    return 0;
}

void tm__helper_post(struct tm__helper *h, void (*fn)(void *), void *arg)
{
    h->fn = fn;
    h->arg = arg;
    atomic_fetch_add(&h->seq, 1);
    tm__helper_wake(&h->seq);
}

int tm__helper_join(struct tm__helper *h)
{
    unsigned want = atomic_load(&h->seq), d;
    while ((d = atomic_load(&h->done)) != want) {
        if (!atomic_load(&h->alive))
            return -ECHILD; /* it died (a fault in the job): its part is lost */
        tm__helper_sleep(&h->done, d, 10000000L);
    }
    return 0;
}

void tm__helper_stop(struct tm__helper *h)
{
    if (!h->stack)
        return;
    tm__helper_post(h, NULL, NULL);
    int status;
    while (syscall(SYS_wait4, h->pid, &status, __WALL, NULL) < 0 && errno == EINTR)
        ;
    tm__unmap(h->stack, HELPER_STACK);
    memset(h, 0, sizeof(*h));
}

int tm__cpus_online(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 1;
    return CPU_COUNT(&set);
}
