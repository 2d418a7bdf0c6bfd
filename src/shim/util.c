/* util.c - formatting and messages for the shim without stdio or malloc.
 *
 * The shim may print from inside the host's allocator calls and from the exit
 * path, where stdio may be locked or already torn down; everything here works
 * on caller buffers and writes with one write(2). */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the hooks' thread-local block (shim.h) */
__thread struct tm__hot tm__hot TM_TLS;

/* --- locks (shim.h) --- */

__thread char tm__lock_self TM_TLS;
__thread int tm__lock_rescue TM_TLS;
__thread int tm__lock_nborrow TM_TLS;

/* Room for every lock the shim has (fork_prepare and a leak scan hold all
 * the live and stack shards at once): mapped on the first borrow, which
 * happens at most once in a process, on its way out. */
#define MAX_BORROW 1024
static __thread const void **borrowed TM_TLS;

static int borrow(const void *lock)
{
    if (!tm__lock_rescue)
        return 0;
    if (!borrowed && !(borrowed = tm__map(MAX_BORROW * sizeof(*borrowed))))
        return 0;
    if (tm__lock_nborrow == MAX_BORROW)
        return 0;
    borrowed[tm__lock_nborrow++] = lock;
    return 1;
}

static int give_back(const void *lock)
{
    for (int i = tm__lock_nborrow; i-- > 0;) {
        if (borrowed[i] == lock) {
            borrowed[i] = borrowed[--tm__lock_nborrow];
            return 1;
        }
    }
    return 0;
}

void tm__lock_acquire_slow(tm__lock *l, uintptr_t me)
{
    int spins = 0;
    for (;;) {
        uintptr_t cur = atomic_load_explicit(&l->held, memory_order_relaxed);
        if (cur == 0) {
            if (atomic_compare_exchange_weak_explicit(&l->held, &cur, me, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        if (cur == me && borrow(l))
            return; /* held by the frame a signal handler interrupted */
        if (++spins > 64) {
            sched_yield();
            spins = 0;
        } else {
            tm__cpu_relax();
        }
    }
}

int tm__lock_give_back(tm__lock *l)
{
    return give_back(l);
}

/* glibc records the owner's tid in every kind of mutex. */
static int mutex_mine(const pthread_mutex_t *m)
{
    return m->__data.__owner == (int)gettid();
}

void tm__mutex_lock(pthread_mutex_t *m)
{
    if (TM_UNLIKELY(tm__lock_rescue)) {
        if (pthread_mutex_trylock(m) == 0)
            return;
        if (mutex_mine(m) && borrow(m))
            return;
    }
    pthread_mutex_lock(m);
}

void tm__mutex_unlock(pthread_mutex_t *m)
{
    if (TM_UNLIKELY(tm__lock_nborrow) && give_back(m))
        return;
    pthread_mutex_unlock(m);
}

/* --- formatting --- */

struct fmt_buf {
    char *p;
    size_t cap, len;
};

static void put(struct fmt_buf *b, char c)
{
    if (b->len + 1 < b->cap)
        b->p[b->len] = c;
    b->len++;
}

static void put_u(struct fmt_buf *b, unsigned long long v, unsigned base)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        put(b, tmp[--n]);
}

static int tm_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
    struct fmt_buf b = {buf, cap, 0};
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put(&b, *f);
            continue;
        }
        int longs = 0, size_t_arg = 0;
        f++;
        while (*f == 'l') {
            longs++;
            f++;
        }
        if (*f == 'z') {
            size_t_arg = 1;
            f++;
        }
        unsigned long long u;
        long long s;
        switch (*f) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            for (str = str ? str : "(null)"; *str; str++)
                put(&b, *str);
            break;
        }
        case 'c':
            put(&b, (char)va_arg(ap, int));
            break;
        case 'd':
            s = size_t_arg ? (long long)va_arg(ap, ssize_t)
                : longs ? va_arg(ap, long long) : va_arg(ap, int);
            if (s < 0) {
                put(&b, '-');
                u = -(unsigned long long)s;
            } else {
                u = (unsigned long long)s;
            }
            put_u(&b, u, 10);
            break;
        case 'u':
        case 'x':
            u = size_t_arg ? va_arg(ap, size_t)
                : longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            put_u(&b, u, *f == 'x' ? 16 : 10);
            break;
        case '%':
            put(&b, '%');
            break;
        default:
            put(&b, '%');
            if (*f)
                put(&b, *f);
            else
                f--;
        }
    }
    if (cap)
        buf[b.len < cap ? b.len : cap - 1] = '\0';
    return (int)b.len;
}

int tm__snprintf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = tm_vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* A write to a pipe whose reader is gone raises SIGPIPE, and one past
 * RLIMIT_FSIZE raises SIGXFSZ; both kill the program by default. While the
 * shim writes, the thread blocks them; on leaving, a signal that the shim's
 * own write raised (pending now, not before) is taken back, so the write
 * merely fails with EPIPE or EFBIG. */
void tm__quiet_enter(struct tm__quiet *q)
{
    sigset_t both, pending;
    sigemptyset(&both);
    sigaddset(&both, SIGPIPE);
    sigaddset(&both, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &both, &q->old);
    q->pending_before = sigpending(&pending) == 0 ? pending : both;
}

void tm__quiet_leave(struct tm__quiet *q)
{
    static const int sigs[] = {SIGPIPE, SIGXFSZ};
    sigset_t pending;
    if (sigpending(&pending) == 0) {
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
            if (sigismember(&pending, sigs[i]) && !sigismember(&q->pending_before, sigs[i])) {
                sigset_t one;
                struct timespec zero = {0, 0};
                sigemptyset(&one);
                sigaddset(&one, sigs[i]);
                sigtimedwait(&one, NULL, &zero);
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &q->old, NULL);
}

void tm__warn(const char *fmt, ...)
{
    char line[1024];
    int saved = errno;
    size_t n = 10;
    memcpy(line, "tracemem: ", n);
    va_list ap;
    va_start(ap, fmt);
    int m = tm_vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    n += (size_t)m < sizeof(line) - n - 2 ? (size_t)m : sizeof(line) - n - 2;
    line[n++] = '\n';
    struct tm__quiet q;
    tm__quiet_enter(&q);
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    tm__quiet_leave(&q);
    errno = saved;
}

const char *tm__strerror(int err)
{
    const char *s = strerrordesc_np(err);
    return s ? s : "unknown error";
}

static char exe_path[PATH_MAX];
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

static void read_exe_path(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
    exe_path[n > 0 ? n : 0] = '\0';
}

const char *tm__exe_path(void)
{
    pthread_once(&exe_once, read_exe_path);
    return exe_path;
}

long tm__proc_status(const char *field)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    size_t len = strlen(field);
    const char *p = buf;
    while (strncmp(p, field, len) != 0 || p[len] != ':') {
        p = strchr(p, '\n');
        if (!p)
            return -1;
        p++;
    }
    p += len + 1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    long v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}
