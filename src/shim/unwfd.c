/* unwfd.c - keeping libunwind's descriptors out of the program's way.
 *
 * libunwind checks that an address is readable before it dereferences it
 * when DWARF unwinding fails (JIT code, code without CFI: it then follows
 * the frame-pointer chain): mincore(), then a one-byte write(2) from the
 * address into a pipe it keeps open for the life of the process. Those two
 * descriptors are the program's lowest free numbers (3 and 4 in most
 * programs), so every number the program opens is shifted, and a program
 * that closes descriptors it does not own and reuses the numbers has its
 * data read and written by libunwind, which also closes and reopens
 * "its" pipe when a read from it fails, closing whatever now has the number.
 *
 * The shim therefore redirects, in the GOT of the libunwind it loaded
 * privately, the few functions that take part: pipe2/pipe hand out two
 * sentinel numbers that are never real descriptors; read, write, close and
 * syscall(SYS_read/SYS_write) on a sentinel are answered here, and every
 * other call goes to the C library unchanged. The one-byte write, the
 * actual check, becomes process_vm_readv() of the byte from our own
 * process, which fails with EFAULT exactly where write(2) would, and needs
 * no descriptor; where it is refused (seccomp), a pipe is made for the one
 * check and closed at once. So the shim holds no descriptor between its own
 * operations. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Two numbers no kernel hands out, and not -1 (libunwind treats -1 as "no
 * pipe yet" and would ask again on every check). */
#define FAKE_RD (-0x7e11)
#define FAKE_WR (-0x7e12)

static int is_fake(int fd)
{
    return fd == FAKE_RD || fd == FAKE_WR;
}

static atomic_int vm_read_refused;

/* 0 when the byte at 'addr' can be read, -1 with errno EFAULT otherwise. */
static int check_readable(const void *addr)
{
    char byte;
    if (!atomic_load_explicit(&vm_read_refused, memory_order_relaxed)) {
        struct iovec local = {&byte, 1}, remote = {(void *)addr, 1};
        ssize_t n = syscall(SYS_process_vm_readv, (pid_t)syscall(SYS_getpid), &local, 1UL, &remote, 1UL, 0UL);
        if (n == 1)
            return 0;
        if (errno == EFAULT)
            return -1;
        atomic_store(&vm_read_refused, 1); /* ENOSYS, EPERM: a sandbox */
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return 0; /* cannot check: trust mincore(), which already passed */
    ssize_t n = write(fds[1], addr, 1);
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    if (n == 1)
        return 0;
    errno = err == EFAULT ? EFAULT : err;
    return -1;
}

static int unw_pipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = FAKE_RD;
    fds[1] = FAKE_WR;
    return 0;
}

static int unw_pipe(int fds[2])
{
    return unw_pipe2(fds, 0);
}

static ssize_t fake_read(void)
{
    errno = EAGAIN; /* an empty non-blocking pipe: "still open" */
    return -1;
}

static ssize_t fake_write(const void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (check_readable(buf) < 0 || check_readable((const char *)buf + n - 1) < 0) {
        errno = EFAULT;
        return -1;
    }
    errno = 0; /* libunwind loops while errno == EINTR, even on success */
    return (ssize_t)n;
}

static ssize_t unw_read(int fd, void *buf, size_t n)
{
    if (is_fake(fd))
        return fake_read();
    return read(fd, buf, n);
}

static ssize_t unw_write(int fd, const void *buf, size_t n)
{
    if (is_fake(fd))
        return fake_write(buf, n);
    return write(fd, buf, n);
}

static int unw_close(int fd)
{
    if (is_fake(fd))
        return 0;
    return close(fd);
}

static long unw_syscall(long no, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, no);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if ((no == SYS_read || no == SYS_write) && is_fake((int)a[0]))
        return no == SYS_read ? fake_read() : fake_write((const void *)a[1], (size_t)a[2]);
    if (no == SYS_close && is_fake((int)a[0]))
        return 0;
    return syscall(no, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static const struct {
    const char *name;
    void *fn;
} redirects[] = {
    {"pipe2", (void *)unw_pipe2}, {"pipe", (void *)unw_pipe},   {"read", (void *)unw_read},
    {"write", (void *)unw_write}, {"close", (void *)unw_close}, {"syscall", (void *)unw_syscall},
};

#if UINTPTR_MAX > 0xffffffffu
#define R_SYM(i) ELF64_R_SYM(i)
#define R_TYPE(i) ELF64_R_TYPE(i)
#else
#define R_SYM(i) ELF32_R_SYM(i)
#define R_TYPE(i) ELF32_R_TYPE(i)
#endif

#if defined(__x86_64__)
#define IS_SLOT(t) ((t) == R_X86_64_JUMP_SLOT || (t) == R_X86_64_GLOB_DAT)
#elif defined(__i386__)
#define IS_SLOT(t) ((t) == R_386_JMP_SLOT || (t) == R_386_GLOB_DAT)
#elif defined(__aarch64__)
#define IS_SLOT(t) ((t) == R_AARCH64_JUMP_SLOT || (t) == R_AARCH64_GLOB_DAT)
#else
#define IS_SLOT(t) 0
#endif

struct relro_arg {
    uintptr_t base;
    uintptr_t lo, hi;
};

static int find_relro(struct dl_phdr_info *info, size_t size, void *data)
{
    struct relro_arg *a = data;
    (void)size;
    if (info->dlpi_addr != a->base)
        return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            /* the loader protects whole pages only: down to the page that
             * the segment's end lies in, which stays writable */
            uintptr_t lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            a->lo = lo & ~(page - 1);
            a->hi = (lo + info->dlpi_phdr[i].p_memsz) & ~(page - 1);
        }
    }
    return 1;
}

struct dyn_tables {
    const ElfW(Sym) *symtab;
    const char *strtab;
    uintptr_t rel[2], relsz[2]; /* [0] plt relocations, [1] the others */
    int rela[2];                /* 1: Rela entries, 0: Rel */
};

static uintptr_t dyn_addr(const struct link_map *lm, uintptr_t v)
{
    /* glibc relocates these entries in place on most targets; a value
     * below the load address is still a file offset. */
    return v < lm->l_addr ? v + lm->l_addr : v;
}

static int read_dynamic(const struct link_map *lm, struct dyn_tables *t)
{
    int pltrel = 0;
    memset(t, 0, sizeof(*t));
    for (const ElfW(Dyn) *d = lm->l_ld; d && d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: t->symtab = (const ElfW(Sym) *)dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_STRTAB: t->strtab = (const char *)dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_JMPREL: t->rel[0] = dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: t->relsz[0] = d->d_un.d_val; break;
        case DT_PLTREL: pltrel = (int)d->d_un.d_val; break;
        case DT_RELA: t->rel[1] = dyn_addr(lm, d->d_un.d_ptr); t->rela[1] = 1; break;
        case DT_RELASZ: t->relsz[1] = d->d_un.d_val; break;
        case DT_REL: t->rel[1] = dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_RELSZ: t->relsz[1] = d->d_un.d_val; break;
        default: break;
        }
    }
    t->rela[0] = pltrel ? pltrel == DT_RELA : t->rela[1];
    return t->symtab && t->strtab ? 0 : -1;
}

static void *replacement(const char *name)
{
    for (size_t i = 0; i < sizeof(redirects) / sizeof(redirects[0]); i++)
        if (strcmp(name, redirects[i].name) == 0)
            return redirects[i].fn;
    return NULL;
}

static void put_slot(uintptr_t slot, void *fn, const struct relro_arg *relro)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t pg = slot & ~(uintptr_t)(page - 1);
    int ro = slot >= relro->lo && slot < relro->hi;
    if (ro && mprotect((void *)pg, (size_t)page, PROT_READ | PROT_WRITE) != 0)
        return;
    __atomic_store_n((void **)slot, fn, __ATOMIC_RELEASE);
    if (ro)
        mprotect((void *)pg, (size_t)page, PROT_READ);
}

/* Returns how many GOT slots now point here. */
static int patch_relocs(const struct link_map *lm, const struct dyn_tables *t, int which,
                        const struct relro_arg *relro)
{
    size_t ent = t->rela[which] ? sizeof(ElfW(Rela)) : sizeof(ElfW(Rel));
    int patched = 0;
    for (uintptr_t r = t->rel[which]; r && r < t->rel[which] + t->relsz[which]; r += ent) {
        const ElfW(Rel) *rel = (const ElfW(Rel) *)r; /* r_offset, r_info lead both */
        if (!IS_SLOT(R_TYPE(rel->r_info)) || !R_SYM(rel->r_info))
            continue;
        void *fn = replacement(t->strtab + t->symtab[R_SYM(rel->r_info)].st_name);
        if (fn) {
            put_slot(lm->l_addr + rel->r_offset, fn, relro);
            patched++;
        }
    }
    return patched;
}

int tm__unwind_hide_fds(void *handle)
{
    struct link_map *lm = NULL;
    struct dyn_tables t;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || read_dynamic(lm, &t) < 0)
        return -1;
    struct relro_arg relro = {lm->l_addr, 0, 0};
    dl_iterate_phdr(find_relro, &relro);
    return patch_relocs(lm, &t, 0, &relro) + patch_relocs(lm, &t, 1, &relro);
}
