/* inject.c - calling functions inside a running process with ptrace: how
 * tracemem attach loads libtracemem.so and starts and stops it there.
 *
 * A call borrows one of the process's threads; the others run on:
 *  - every thread is seized (PTRACE_SEIZE) and interrupted, long enough to
 *    read its registers and choose one. A good choice is a thread blocked
 *    in a system call other than futex, or running outside the C library
 *    and the dynamic linker: such a thread holds neither malloc's locks
 *    nor the loader's, which dlopen() takes. If none is found the threads
 *    are let go and looked at again, for two seconds, before one is taken
 *    anyway (the call then has a time limit);
 *  - the others are let go at once (PTRACE_DETACH), a signal that stopped
 *    one of them handed back with the detach;
 *  - the chosen thread's registers (general and extended state) and the
 *    stack below its red zone are saved; the call gets the arguments in
 *    registers, strings copied onto that stack, and a return address of 0:
 *    its return faults, which ptrace reports as a SIGSEGV at address 0;
 *  - orig_rax is -1 during the call, so a system call the thread was in is
 *    not restarted into the call; the saved registers, put back at the
 *    end, restart it (the kernel does, on the way out of the stop);
 *  - signals that arrive for the thread during the call are delivered
 *    there and then (its handler runs on top of the call, as on top of
 *    whatever the thread was doing); one that stopped a thread when it was
 *    interrupted is handed back with its detach (or, for the borrowed
 *    thread, sent again with tgkill after it); a group stop (SIGSTOP) seen
 *    during a call is made again after the detach.
 *
 * x86-64 only: the register names are in regs_*() below. */
#define _GNU_SOURCE
#include "config.h"

#include "inject.h"

#if defined(__x86_64__)

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define MAX_THREADS 4096
#define CALL_TIMEOUT_MS 15000  /* dlopen and the start */
#define STOP_TIMEOUT_MS 120000 /* the last snapshot with its leak scan */
#define CHOOSE_MS 5000         /* looking for a thread to borrow */
#define FUTEX_AFTER_MS 1000    /* ... then threads in futex waits too */
#define BUSY_TRIES 50          /* the shim said: inside a hook, try again */

static void say(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* --- /proc/PID/maps and ELF dynamic symbols --- */

typedef struct mapping {
    uintptr_t lo, hi, off;
    char path[PATH_MAX];
} mapping;

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* Calls 'fn' for each file mapping of 'pid' until it returns nonzero;
 * -errno when maps cannot be read. */
static int each_mapping(pid_t pid, int (*fn)(const mapping *m, void *arg), void *arg)
{
    char path[64], line[PATH_MAX + 128];
    mapping m;
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    if (!(f = fopen(path, "re")))
        return -errno;
    if (!fn) { /* only whether it can be read */
        rc = fgets(line, sizeof line, f) || !ferror(f) ? 0 : -errno;
        fclose(f);
        return rc;
    }
    while (!rc && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off;
        int n = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &lo, &hi, &off, &n) < 3 || !n || line[n] != '/')
            continue;
        line[strcspn(line, "\n")] = '\0';
        m.lo = lo;
        m.hi = hi;
        m.off = off;
        snprintf(m.path, sizeof m.path, "%s", line + n);
        rc = fn(&m, arg);
    }
    fclose(f);
    return 0;
}

typedef struct where {
    uintptr_t addr;
    char *out;
    size_t cap;
} where;

static int where_cb(const mapping *m, void *arg)
{
    where *w = arg;
    if (w->addr < m->lo || w->addr >= m->hi)
        return 0;
    snprintf(w->out, w->cap, "%#lx, %s+%#lx", (unsigned long)w->addr, base_name(m->path),
             (unsigned long)(w->addr - m->lo + m->off));
    return 1;
}

/* "ADDR, FILE+OFFSET" when 'addr' lies in a file mapping of 'pid', else
 * "ADDR" (for a message). */
static const char *describe_addr(pid_t pid, uintptr_t addr, char *out, size_t cap)
{
    where w = {addr, out, cap};
    snprintf(out, cap, "%#lx", (unsigned long)addr);
    each_mapping(pid, where_cb, &w);
    return out;
}

typedef struct found {
    const char *want_prefix; /* base name prefix, or NULL */
    const char *want_path;   /* exact path, or NULL */
    uintptr_t lo;            /* lowest address mapped from it */
    char path[PATH_MAX];
    int n;
} found;

static int find_cb(const mapping *m, void *arg)
{
    found *f = arg;
    const char *b = base_name(m->path);
    if (f->want_prefix && strncmp(b, f->want_prefix, strlen(f->want_prefix)) != 0)
        return 0;
    if (f->want_path && strcmp(m->path, f->want_path) != 0)
        return 0;
    if (f->n && strcmp(f->path, m->path) != 0)
        return 0; /* the first object of that name */
    if (!f->n || m->lo < f->lo)
        f->lo = m->lo;
    if (!f->n)
        snprintf(f->path, sizeof f->path, "%s", m->path);
    f->n++;
    return 0;
}

static int find_object(pid_t pid, const char *prefix, const char *path, found *f)
{
    memset(f, 0, sizeof *f);
    f->want_prefix = prefix;
    f->want_path = path;
    each_mapping(pid, find_cb, f);
    return f->n ? 0 : -1;
}

/* The address in 'pid' of dynamic symbol 'name' of the object 'f' (read
 * through /proc/PID/root, the process's view of the file system); 0 when
 * not found. */
static uintptr_t remote_symbol(pid_t pid, const found *f, const char *name)
{
    char path[PATH_MAX + 64];
    uintptr_t addr = 0;
    struct stat st;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, f->path);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && (fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    if (fstat(fd, &st) || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        close(fd);
        return 0;
    }
    const unsigned char *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (img == MAP_FAILED)
        return 0;
    size_t size = (size_t)st.st_size;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size ||
        eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > size)
        goto out;
    uintptr_t first = UINTPTR_MAX;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < first)
            first = ph[i].p_vaddr & ~(uintptr_t)4095;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum && !addr; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || strs->sh_offset + strs->sh_size > size)
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(img + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < n; k++) {
            if (sym[k].st_shndx == SHN_UNDEF || !sym[k].st_value || sym[k].st_name >= strs->sh_size)
                continue;
            const char *s = (const char *)img + strs->sh_offset + sym[k].st_name;
            if (strnlen(s, strs->sh_size - sym[k].st_name) < strs->sh_size - sym[k].st_name &&
                strcmp(s, name) == 0) {
                addr = f->lo - first + sym[k].st_value;
                break;
            }
        }
    }
out:
    munmap((void *)img, size);
    return addr;
}

static int read_remote(pid_t pid, uintptr_t addr, void *buf, size_t len)
{
    struct iovec l = {buf, len}, r = {(void *)addr, len};
    return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

static int write_remote(pid_t pid, uintptr_t addr, const void *buf, size_t len)
{
    struct iovec l = {(void *)buf, len}, r = {(void *)addr, len};
    if (process_vm_writev(pid, &l, 1, &r, 1, 0) == (ssize_t)len)
        return 0;
    /* a page the process cannot write through this path: poke it */
    for (size_t i = 0; i < len; i += sizeof(long)) {
        long word;
        size_t n = len - i < sizeof(long) ? len - i : sizeof(long);
        if (n < sizeof(long)) {
            errno = 0;
            word = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + i), NULL);
            if (errno)
                return -1;
        }
        memcpy(&word, (const char *)buf + i, n);
        if (ptrace(PTRACE_POKEDATA, pid, (void *)(addr + i), (void *)word))
            return -1;
    }
    return 0;
}

/* --- probing --- */

static int shim_cb(const mapping *m, void *arg)
{
    found *f = arg;
    if (strcmp(base_name(m->path), "libtracemem.so") == 0 && (!f->n || strcmp(f->path, m->path) == 0)) {
        if (!f->n || m->lo < f->lo)
            f->lo = m->lo;
        if (!f->n)
            snprintf(f->path, sizeof f->path, "%s", m->path);
        f->n++;
    }
    return 0;
}

static int read_stat_state(pid_t pid)
{
    char path[64], buf[512];
    int fd, n;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = (int)read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : -1;
}

int tm__inject_probe(pid_t pid, tm_inject_probe *p)
{
    char path[64], exe[PATH_MAX];
    found ld, libc, shim;
    ssize_t n;
    int state;

    memset(p, 0, sizeof *p);
    if ((state = read_stat_state(pid)) < 0 || state == 'Z' || state == 'X')
        return -ESRCH;
    p->stopped = state == 'T' || state == 't';
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    if ((n = readlink(path, exe, sizeof exe - 1)) > 0) {
        exe[n] = '\0';
        const char *b = base_name(exe);
        size_t bl = strlen(b) < sizeof p->exe - 1 ? strlen(b) : sizeof p->exe - 1;
        memcpy(p->exe, b, bl);
        p->exe[bl] = '\0';
    }
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    if (access(path, R_OK) != 0 || each_mapping(pid, NULL, NULL) == -EACCES) {
        p->denied = 1;
        return 0;
    }
    p->dynamic =
        find_object(pid, "ld-linux", NULL, &ld) == 0 && find_object(pid, "libc.so", NULL, &libc) == 0;
    memset(&shim, 0, sizeof shim);
    each_mapping(pid, shim_cb, &shim);
    if (shim.n) {
        int late = 0, active = 0;
        uintptr_t a = remote_symbol(pid, &shim, "tm__attach_late");
        uintptr_t b = remote_symbol(pid, &shim, "tm__attach_active");
        p->has_shim = 1;
        if (a && b && read_remote(pid, a, &late, sizeof late) == 0 &&
            read_remote(pid, b, &active, sizeof active) == 0) {
            p->shim_late = late;
            p->shim_active = active;
        }
    }
    return 0;
}

/* --- threads --- */

typedef struct thread {
    pid_t tid;
    int seized;
    int sig; /* a signal it stopped for (signal-delivery-stop), to hand back */
    struct user_regs_struct regs;
} thread;

typedef struct session {
    pid_t pid;
    thread *t;
    size_t n;
    size_t chosen;
    uintptr_t libc_lo, libc_hi, ld_lo, ld_hi, shim_lo, shim_hi, unw_lo, unw_hi;
    int held[65];  /* signals held back during calls */
    int stop_seen; /* a group stop came during a call */
    struct user_regs_struct saved;
    unsigned char xstate[16384];
    struct iovec xiov;
    int have_xstate;
    uintptr_t scratch_lo; /* the stack bytes below the red zone in use */
    unsigned char scratch_saved[4096];
    size_t scratch_len;
} session;

static int list_threads(pid_t pid, thread **out, size_t *n)
{
    char path[64];
    struct dirent *d;
    DIR *dir;
    size_t cap = 64;

    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    if (!(dir = opendir(path)))
        return -errno;
    *n = 0;
    *out = calloc(cap, sizeof **out);
    while (*out && (d = readdir(dir)) && *n < MAX_THREADS) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9')
            continue;
        if (*n == cap) {
            thread *t = realloc(*out, cap * 2 * sizeof *t);
            if (!t)
                break;
            memset(t + cap, 0, cap * sizeof *t);
            *out = t;
            cap *= 2;
        }
        (*out)[(*n)++].tid = (pid_t)atoi(d->d_name);
    }
    closedir(dir);
    return *out ? 0 : -ENOMEM;
}

/* Waits for 'tid' to stop, up to 'ms'; the status, or -1 (gone: *gone
 * set), or -2 on time out. */
static int wait_stop(pid_t tid, long ms, int *gone)
{
    long end = now_ms() + ms;
    int status;
    for (;;) {
        pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
        if (r == tid) {
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                *gone = 1;
                return -1;
            }
            if (WIFSTOPPED(status))
                return status;
        } else if (r < 0 && errno != EINTR) {
            *gone = 1;
            return -1;
        }
        if (now_ms() > end)
            return -2;
        sleep_ms(1);
    }
}

static void release_thread(session *s, thread *t)
{
    (void)s;
    if (!t->seized)
        return;
    ptrace(PTRACE_DETACH, t->tid, NULL, (void *)(long)t->sig);
    t->seized = 0;
    t->sig = 0;
}

static void release_all(session *s)
{
    for (size_t i = 0; i < s->n; i++)
        release_thread(s, &s->t[i]);
}

const char *tm__inject_advice(char *buf, size_t cap)
{
    char v[16] = "";
    int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, v, sizeof v - 1);
        v[n > 0 ? n : 0] = '\0';
        v[strcspn(v, "\n")] = '\0';
        close(fd);
    }
    if (*v && strcmp(v, "0") != 0)
        snprintf(buf, cap,
                 "kernel.yama.ptrace_scope is %s; attaching needs root (CAP_SYS_PTRACE) or "
                 "kernel.yama.ptrace_scope=0 (sysctl) and the same user",
                 v);
    else
        snprintf(buf, cap, "attaching needs the process's own user or root (CAP_SYS_PTRACE)%s",
                 *v ? "" : "; the process may be non-dumpable, or traced by another debugger");
    return buf;
}

/* Seizes and interrupts every thread; registers read. 0, -1 (err), -2 gone. */
static int seize_all(session *s, char *err, size_t cap)
{
    char advice[256];
    int rc;

    if ((rc = list_threads(s->pid, &s->t, &s->n))) {
        if (rc == -ENOENT)
            return -2;
        say(err, cap, "cannot list its threads: %s", strerror(-rc));
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) {
        thread *t = &s->t[i];
        if (ptrace(PTRACE_SEIZE, t->tid, NULL, NULL) != 0) {
            if (errno == ESRCH)
                continue; /* exited meanwhile */
            int e = errno;
            release_all(s);
            if (e == EPERM) { /* also what an exiting process answers */
                sleep_ms(50);
                int st = read_stat_state(s->pid);
                if (st < 0 || st == 'Z' || st == 'X')
                    return -2;
            }
            if (e == EPERM && i == 0) {
                say(err, cap, "not allowed to trace it (%s): %s", strerror(e),
                    tm__inject_advice(advice, sizeof advice));
            } else {
                say(err, cap, "cannot trace thread %d: %s", (int)t->tid, strerror(e));
            }
            return -1;
        }
        t->seized = 1;
        ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
    }
    for (size_t i = 0; i < s->n; i++) {
        thread *t = &s->t[i];
        int gone = 0, st;
        if (!t->seized)
            continue;
        st = wait_stop(t->tid, 2000, &gone);
        if (st == -1) {
            t->seized = 0;
            continue;
        }
        if (st == -2) {
            /* should not happen: let it go */
            release_thread(s, t);
            continue;
        }
        if ((st >> 16) == 0 && WSTOPSIG(st) != SIGTRAP) /* a signal-delivery-stop */
            t->sig = WSTOPSIG(st);
        if (ptrace(PTRACE_GETREGS, t->tid, NULL, &t->regs) != 0)
            release_thread(s, t);
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].seized)
            return 0;
    return -2;
}

/* A thread that holds none of malloc's or the loader's locks, most likely
 * (see the head comment); -1 when none looks so. */
static int in_range(uintptr_t pc, uintptr_t lo, uintptr_t hi)
{
    return pc >= lo && pc < hi;
}

static long good_thread(const session *s, int futex_ok)
{
    long any = -1;
    for (size_t i = 0; i < s->n; i++) {
        const thread *t = &s->t[i];
        if (!t->seized || t->sig)
            continue;
        long nr = (long)t->regs.orig_rax;
        uintptr_t pc = t->regs.rip;
        int in_libs = in_range(pc, s->libc_lo, s->libc_hi) || in_range(pc, s->ld_lo, s->ld_hi) ||
                      in_range(pc, s->shim_lo, s->shim_hi) || in_range(pc, s->unw_lo, s->unw_hi);
        if ((nr >= 0 && (nr != SYS_futex || futex_ok)) || (nr < 0 && !in_libs)) {
            if (t->tid == s->pid)
                return (long)i; /* the main thread has the biggest stack */
            if (any < 0)
                any = (long)i;
        }
    }
    return any;
}

static int range_cb(const mapping *m, void *arg)
{
    session *s = arg;
    const char *b = base_name(m->path);
    if (strncmp(b, "libc.so", 7) == 0 || strncmp(b, "libc-", 5) == 0) {
        if (!s->libc_lo || m->lo < s->libc_lo)
            s->libc_lo = m->lo;
        if (m->hi > s->libc_hi)
            s->libc_hi = m->hi;
    } else if (strncmp(b, "ld-linux", 8) == 0) {
        if (!s->ld_lo || m->lo < s->ld_lo)
            s->ld_lo = m->lo;
        if (m->hi > s->ld_hi)
            s->ld_hi = m->hi;
    } else if (strcmp(b, "libtracemem.so") == 0) { /* its hooks take the shim's locks */
        if (!s->shim_lo || m->lo < s->shim_lo)
            s->shim_lo = m->lo;
        if (m->hi > s->shim_hi)
            s->shim_hi = m->hi;
    } else if (strncmp(b, "libunwind", 9) == 0) { /* the shim's unwinder */
        if (!s->unw_lo || m->lo < s->unw_lo)
            s->unw_lo = m->lo;
        if (m->hi > s->unw_hi)
            s->unw_hi = m->hi;
    }
    return 0;
}

/* Holds one thread for calls, the others let go. 0, -1 err, -2 gone. */
static int session_open(session *s, pid_t pid, char *err, size_t cap)
{
    long t0 = now_ms(), pick;
    int rc;

    memset(s, 0, sizeof *s);
    s->pid = pid;
    each_mapping(pid, range_cb, s);
    for (;;) {
        if ((rc = seize_all(s, err, cap)))
            return rc;
        pick = good_thread(s, now_ms() - t0 > FUTEX_AFTER_MS);
        if (pick >= 0)
            break;
        release_all(s);
        free(s->t);
        s->t = NULL;
        if (now_ms() - t0 > CHOOSE_MS) {
            say(err, cap,
                "no thread could be borrowed safely within %d s (each was inside the C library, "
                "the dynamic linker or the shim at every look); the process runs on untouched: "
                "try again",
                CHOOSE_MS / 1000);
            return -1;
        }
        sleep_ms(2);
    }
    s->chosen = (size_t)pick;
    for (size_t i = 0; i < s->n; i++)
        if (i != s->chosen)
            release_thread(s, &s->t[i]);
    thread *t = &s->t[s->chosen];
    if (t->sig) { /* keep it for after the calls */
        s->held[t->sig] = 1;
        t->sig = 0;
    }
    s->saved = t->regs;
    s->xiov.iov_base = s->xstate;
    s->xiov.iov_len = sizeof s->xstate;
    s->have_xstate = ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_X86_XSTATE, &s->xiov) == 0;
    /* scratch: below the red zone, 16-byte aligned */
    s->scratch_len = sizeof s->scratch_saved;
    s->scratch_lo = ((s->saved.rsp - 128 - s->scratch_len) & ~(uintptr_t)15);
    if (read_remote(pid, s->scratch_lo, s->scratch_saved, s->scratch_len)) {
        say(err, cap, "cannot read the stack of thread %d", (int)t->tid);
        release_thread(s, t);
        return -1;
    }
    return 0;
}

/* Puts the thread back as it was and lets it go; held signals resent. */
static void session_close(session *s)
{
    thread *t = &s->t[s->chosen];
    if (t->seized) {
        write_remote(s->pid, s->scratch_lo, s->scratch_saved, s->scratch_len);
        if (s->have_xstate)
            ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_X86_XSTATE, &s->xiov);
        ptrace(PTRACE_SETREGS, t->tid, NULL, &s->saved);
        release_thread(s, t);
        for (int sig = 1; sig < 65; sig++)
            if (s->held[sig])
                syscall(SYS_tgkill, s->pid, t->tid, sig);
        if (s->stop_seen)
            kill(s->pid, SIGSTOP);
    }
    free(s->t);
    s->t = NULL;
}

/* Calls 'fn'('str' copied onto the stack, or 'a0'; 'a1') on the held
 * thread; '*ret' gets rax. 0, -1 (err), -2 (the process is gone). */
static int rcall(session *s, uintptr_t fn, const char *str, uint64_t a0, uint64_t a1, uint64_t *ret, long ms,
                 char *err, size_t cap)
{
    thread *t = &s->t[s->chosen];
    struct user_regs_struct r = s->saved;
    uintptr_t top = s->scratch_lo + s->scratch_len; /* below the red zone */
    uintptr_t sp = top;
    int gone = 0;

    if (str) {
        size_t len = strlen(str) + 1;
        if (len > s->scratch_len - 64) {
            say(err, cap, "argument too long");
            return -1;
        }
        sp = (top - len) & ~(uintptr_t)15;
        if (write_remote(s->pid, sp, str, len)) {
            say(err, cap, "cannot write to its stack");
            return -1;
        }
        a0 = sp;
    }
    sp -= 16;
    sp &= ~(uintptr_t)15;
    sp -= 8; /* as after a call: the return address at 16n - 8 */
    uint64_t zero = 0;
    if (write_remote(s->pid, sp, &zero, sizeof zero)) {
        say(err, cap, "cannot write to its stack");
        return -1;
    }
    r.rsp = sp;
    r.rip = fn;
    r.rdi = a0;
    r.rsi = a1;
    r.rax = 0;
    r.orig_rax = (unsigned long)-1; /* no system call restart into the call */
    if (ptrace(PTRACE_SETREGS, t->tid, NULL, &r) || ptrace(PTRACE_CONT, t->tid, NULL, NULL)) {
        say(err, cap, "cannot run thread %d: %s", (int)t->tid, strerror(errno));
        return errno == ESRCH ? -2 : -1;
    }
    long end = now_ms() + ms;
    for (;;) {
        int st = wait_stop(t->tid, end - now_ms() > 0 ? end - now_ms() : 0, &gone);
        if (st == -1) {
            t->seized = 0;
            return -2;
        }
        if (st == -2) {
            ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
            st = wait_stop(t->tid, 2000, &gone);
            if (st == -1) {
                t->seized = 0;
                return -2;
            }
            say(err, cap,
                "the call did not return within %ld s (a thread may hold a lock it needs); the thread "
                "was put back where it was",
                ms / 1000);
            return -1;
        }
        int sig = WSTOPSIG(st), event = st >> 16;
        if (event == PTRACE_EVENT_STOP) {
            if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
                s->stop_seen = 1;
            ptrace(PTRACE_CONT, t->tid, NULL, NULL);
            continue;
        }
        if (event) { /* no options set: not expected */
            ptrace(PTRACE_CONT, t->tid, NULL, NULL);
            continue;
        }
        if (sig == SIGSEGV) {
            struct user_regs_struct now;
            if (ptrace(PTRACE_GETREGS, t->tid, NULL, &now) == 0 && now.rip == 0) {
                *ret = now.rax;
                return 0;
            }
            char at[PATH_MAX + 64];
            say(err, cap, "the call crashed (SIGSEGV at %s); the thread was put back where it was",
                describe_addr(s->pid, ptrace(PTRACE_GETREGS, t->tid, NULL, &now) == 0 ? (uintptr_t)now.rip : 0, at,
                              sizeof at));
            return -1;
        }
        /* a signal for the thread: delivered now, as it would have been
         * wherever the thread was (its handler runs on top of the call) */
        ptrace(PTRACE_CONT, t->tid, NULL, (void *)(long)sig);
    }
}

static int read_remote_string(pid_t pid, uintptr_t addr, char *buf, size_t cap)
{
    size_t i = 0;
    if (!addr)
        return -1;
    while (i + 1 < cap) {
        char c;
        if (read_remote(pid, addr + i, &c, 1))
            break;
        buf[i++] = c;
        if (!c)
            return 0;
    }
    buf[i] = '\0';
    return 0;
}

int tm__inject_start(pid_t pid, const char *shim, const char *conf, char *err, size_t cap)
{
    found libc, self;
    uintptr_t dlopen_fn, start_fn = 0;
    uint64_t ret = 0;
    session *s;
    char real[PATH_MAX];
    int rc;

    if (!realpath(shim, real))
        snprintf(real, sizeof real, "%s", shim);
    if (find_object(pid, "libc.so", NULL, &libc) || !(dlopen_fn = remote_symbol(pid, &libc, "dlopen"))) {
        say(err, cap, "cannot find dlopen in its C library (glibc 2.34 or later is needed)");
        return -1;
    }
    if (!(s = calloc(1, sizeof *s)))
        return -1;
    for (int tries = 0;; tries++) {
        if ((rc = session_open(s, pid, err, cap)))
            goto out;
        rc = rcall(s, dlopen_fn, real, 0, RTLD_NOW, &ret, CALL_TIMEOUT_MS, err, cap);
        if (rc || !ret)
            break;
        if (find_object(pid, NULL, real, &self) ||
            !(start_fn = remote_symbol(pid, &self, "tm__attach_start"))) {
            say(err, cap, "%s is loaded but has no tm__attach_start (an older libtracemem.so?)", real);
            rc = -1;
            break;
        }
        rc = rcall(s, start_fn, conf, 0, 0, &ret, CALL_TIMEOUT_MS, err, cap);
        if (rc || (int)ret != -EAGAIN || tries >= BUSY_TRIES)
            break;
        session_close(s); /* the thread was inside the shim: another look */
        sleep_ms(10);
    }
    if (rc == 0 && !ret && !start_fn) {
        uintptr_t dlerror_fn = remote_symbol(pid, &libc, "dlerror");
        uint64_t msg = 0;
        char text[512] = "";
        if (dlerror_fn && rcall(s, dlerror_fn, NULL, 0, 0, &msg, CALL_TIMEOUT_MS, err, cap) == 0)
            read_remote_string(pid, (uintptr_t)msg, text, sizeof text);
        say(err, cap, "dlopen of %s failed in the process: %s", real, *text ? text : "(no message)");
        rc = -1;
    }
    if (rc == 0 && ret && (int)ret != 0) {
        int e = -(int)ret;
        say(err, cap, "%s",
            e == EEXIST  ? "it already runs with libtracemem.so preloaded"
            : e == EBUSY ? "another tracemem attach is tracing it"
                         : strerror(e));
        rc = -1;
    }
    session_close(s);
out:
    free(s);
    return rc;
}

int tm__inject_stop(pid_t pid, int *result, char *err, size_t cap)
{
    found self;
    uintptr_t stop_fn;
    uint64_t ret = 0;
    session *s;
    int rc;

    memset(&self, 0, sizeof self);
    each_mapping(pid, shim_cb, &self);
    if (!self.n || !(stop_fn = remote_symbol(pid, &self, "tm__attach_stop"))) {
        if (read_stat_state(pid) < 0)
            return -2;
        say(err, cap,
            "libtracemem.so is no longer mapped in it: it executed another program meanwhile, and "
            "the shim went with the old image (nothing was written)");
        return -1;
    }
    if (!(s = calloc(1, sizeof *s)))
        return -1;
    for (int tries = 0;; tries++) {
        if ((rc = session_open(s, pid, err, cap)))
            goto out;
        rc = rcall(s, stop_fn, NULL, 0, 0, &ret, STOP_TIMEOUT_MS, err, cap);
        if (rc || (int)ret != -EAGAIN || tries >= BUSY_TRIES)
            break;
        session_close(s); /* the thread was inside the shim: another look */
        sleep_ms(10);
    }
    if (rc == 0)
        *result = (int)ret;
    session_close(s);
out:
    free(s);
    return rc;
}

#else /* not x86-64: cmd_attach.c refuses before calling these */

int tm__inject_probe(pid_t pid, tm_inject_probe *p)
{
    (void)pid;
    memset(p, 0, sizeof *p);
    return -ENOSYS;
}

int tm__inject_start(pid_t pid, const char *shim, const char *conf, char *err, size_t cap)
{
    (void)pid, (void)shim, (void)conf;
    snprintf(err, cap, "attach is implemented for x86-64 only");
    return -1;
}

int tm__inject_stop(pid_t pid, int *rc, char *err, size_t cap)
{
    (void)pid, (void)rc;
    snprintf(err, cap, "attach is implemented for x86-64 only");
    return -1;
}
#endif
