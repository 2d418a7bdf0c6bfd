/* attach.c - the shim loaded into a process that is already running
 * (tracemem attach, tools/tracemem/inject.c).
 *
 * The injector makes one of the program's threads call dlopen() on the shim
 * and then tm__attach_start(); at the end it makes a thread call
 * tm__attach_stop(). Loaded late and RTLD_LOCAL, the shim's definitions of
 * malloc & co. interpose nothing: every module's references are bound
 * already. So the start redirects them itself: the relocation slots
 * (R_X86_64_JUMP_SLOT and R_X86_64_GLOB_DAT, whatever the architecture calls
 * them) that name an allocation function and hold the C library's
 * definition (or, bound lazily, still the module's own PLT stub) are set to
 * the shim's, in every loaded module but the dynamic linker and the vdso --
 * the C library's own slots included, so that strdup() and fopen() are
 * traced as under LD_PRELOAD, and the shim's (its operator new calls
 * malloc() through its own slot). Each slot changed is kept in 'slots' and
 * put back by the stop, when it still holds the shim's value and its module
 * is still loaded. A program that brings its own malloc (its definition is
 * the one the global scope finds) keeps it: its slots are not touched.
 *
 * Modules loaded later: dlopen() slots go to a stub that sets a flag and
 * jumps to the real dlopen, so that dlopen sees its true caller (RUNPATH,
 * $ORIGIN); the next traced event after it patches what was loaded
 * (tm__run_deferred() calls tm__attach_repatch()). Allocations a new module
 * makes before that, in its constructors for one, are not seen.
 *
 * Blocks allocated before the attach are not in the live table: their
 * frees and reallocs are forwarded and otherwise ignored, and every figure
 * counts only what was allocated since; snapshots say so with
 * snapshot.attached_at. The stop writes the last snapshot (with leak
 * classification of those blocks), stops tracing and gives the slots back;
 * the shim stays loaded (-z nodelete) with its hooks inert, ready for a
 * later attach.
 *
 * The configuration comes as a string argument of tm__attach_start(), not
 * from the environment: "key=value" lines, keys nframes, output, interval,
 * sample. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Read by the injector from the process's memory (tools/tracemem/inject.c):
 * 'late' 1 when the shim was loaded after start-up, 'active' 1 while an
 * attach is tracing. */
TM_EXPORT volatile int tm__attach_late;
TM_EXPORT volatile int tm__attach_active;
uint64_t tm__attached_at;
atomic_int tm__attach_pending;

/* --- was the shim loaded after start-up? --- */

struct order {
    uintptr_t self;
    int self_at, libc_at, n;
};

static int in_object(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz)
            return 1;
    }
    return 0;
}

static int base_name_is(const char *path, const char *prefix)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    return strncmp(b, prefix, strlen(prefix)) == 0;
}

static int order_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct order *o = arg;
    if (o->libc_at < 0 && info->dlpi_name && base_name_is(info->dlpi_name, "libc.so"))
        o->libc_at = o->n;
    if (in_object(info, o->self))
        o->self_at = o->n;
    o->n++;
    return 0;
}

/* Preloaded, the shim comes before the C library in the link map; loaded
 * by dlopen (the injector), after it. */
int tm__attach_loaded_late(void)
{
    struct order o = {(uintptr_t)&tm__attach_loaded_late, -1, -1, 0};
    dl_iterate_phdr(order_cb, &o);
    tm__attach_late = o.libc_at >= 0 && o.self_at > o.libc_at;
    return tm__attach_late;
}

/* --- the functions redirected --- */

struct target {
    const char *name;
    int libstdcxx;  /* operator new: libstdc++'s definition */
    uintptr_t orig; /* the definition the program's modules use */
    uintptr_t ours; /* the shim's */
};

static struct target targets[] = {
    {"malloc", 0, 0, 0},
    {"free", 0, 0, 0},
    {"calloc", 0, 0, 0},
    {"realloc", 0, 0, 0},
    {"reallocarray", 0, 0, 0},
    {"posix_memalign", 0, 0, 0},
    {"aligned_alloc", 0, 0, 0},
    {"memalign", 0, 0, 0},
    {"valloc", 0, 0, 0},
    {"pvalloc", 0, 0, 0},
    {"cfree", 0, 0, 0},
    {"free_sized", 0, 0, 0},
    {"free_aligned_sized", 0, 0, 0},
    {"dlclose", 0, 0, 0},
    {"dlopen", 0, 0, 0},
    {"_Znwm", 1, 0, 0},
    {"_Znam", 1, 0, 0},
    {"_ZnwmRKSt9nothrow_t", 1, 0, 0},
    {"_ZnamRKSt9nothrow_t", 1, 0, 0},
    {"_ZnwmSt11align_val_t", 1, 0, 0},
    {"_ZnamSt11align_val_t", 1, 0, 0},
    {"_ZnwmSt11align_val_tRKSt9nothrow_t", 1, 0, 0},
    {"_ZnamSt11align_val_tRKSt9nothrow_t", 1, 0, 0},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))
#define DLOPEN_TARGET 14

/* dlopen: flag the module list as changed, then jump to the real one
 * with the caller's return address in place. The stub's data is defined
 * by its own assembly: the real dlopen's address and the addresses of the
 * two flags it raises (tm__attach_pending and tm__deferred), filled in
 * before the stub is put in a GOT slot. Link-time optimization may rename
 * or localize a C variable that only assembly names; it cannot touch a
 * symbol it does not define. rax is free at a call's entry (dlopen is not
 * variadic). */
#if defined(__x86_64__)
extern __attribute__((visibility("hidden"))) uintptr_t tm__attach_stub_data[3];
void tm__attach_dlopen_stub(void);
__asm__(".pushsection .bss\n"
        ".p2align 3\n"
        ".globl tm__attach_stub_data\n"
        ".hidden tm__attach_stub_data\n"
        ".type tm__attach_stub_data,@object\n"
        ".size tm__attach_stub_data, 24\n"
        "tm__attach_stub_data:\n"
        ".zero 24\n"
        ".popsection\n"
        ".pushsection .text\n"
        ".globl tm__attach_dlopen_stub\n"
        ".hidden tm__attach_dlopen_stub\n"
        ".type tm__attach_dlopen_stub,@function\n"
        "tm__attach_dlopen_stub:\n"
        "    movq tm__attach_stub_data+8(%rip), %rax\n"
        "    movl $1, (%rax)\n"
        "    movq tm__attach_stub_data+16(%rip), %rax\n"
        "    movl $1, (%rax)\n"
        "    jmp *tm__attach_stub_data(%rip)\n"
        ".size tm__attach_dlopen_stub, .-tm__attach_dlopen_stub\n"
        ".popsection\n");
#define HAVE_DLOPEN_STUB 1
#endif

static void *libc_handle, *self_handle;

/* The slot a PLT entry at 'pc' jumps through, or NULL. A non-PIE program
 * that takes malloc's address makes its own PLT entry the canonical
 * address of malloc: the global scope then finds that entry, not libc's. */
static const uintptr_t *plt_slot(uintptr_t pc)
{
#if defined(__x86_64__)
    const unsigned char *c = (const unsigned char *)pc;
    if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) /* endbr64 */
        c += 4;
    if (c[0] == 0xf2) /* bnd */
        c++;
    if (c[0] != 0xff || c[1] != 0x25) /* jmp *disp32(%rip) */
        return NULL;
    int32_t disp;
    memcpy(&disp, c + 2, sizeof(disp));
    return (const uintptr_t *)((uintptr_t)(c + 6) + (intptr_t)disp);
#else
    (void)pc;
    return NULL;
#endif
}

/* 1 when 'global' is 'def' or a PLT entry that leads to it (or to the
 * entry's own lazy stub: not bound yet). */
static int leads_to(uintptr_t global, uintptr_t def)
{
    if (global == def)
        return 1;
    Dl_info di;
    const uintptr_t *slot = plt_slot(global);
    if (!slot || !dladdr((void *)global, &di) || !dladdr((void *)slot, &di))
        return 0;
    uintptr_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    return v == def || (v > global && v - global < 64);
}

/* Looks up what each redirected name is now and what the shim's is.
 * -ENOENT when the C library cannot be found. */
static int resolve_targets(void)
{
    Dl_info di;
    if (!libc_handle)
        libc_handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!self_handle && dladdr((void *)&resolve_targets, &di) && di.dli_fname)
        self_handle = dlopen(di.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!libc_handle || !self_handle)
        return -ENOENT;
    for (size_t i = 0; i < NTARGETS; i++) {
        struct target *t = &targets[i];
        uintptr_t global = (uintptr_t)dlsym(RTLD_DEFAULT, t->name);
        t->orig = t->ours = 0;
        if (t->libstdcxx) {
            /* only where libstdc++'s operator new is the program's */
            if (!global || !dladdr((void *)global, &di) || !di.dli_fname ||
                !strstr(di.dli_fname, "libstdc++"))
                continue;
            t->orig = global;
        } else {
            uintptr_t libc = (uintptr_t)dlsym(libc_handle, t->name);
            if (!libc || (global && !leads_to(global, libc)))
                continue; /* the program has its own: leave it be */
            t->orig = libc;
        }
        if (i == DLOPEN_TARGET) {
#ifdef HAVE_DLOPEN_STUB
            tm__attach_stub_data[0] = t->orig;
            tm__attach_stub_data[1] = (uintptr_t)&tm__attach_pending;
            tm__attach_stub_data[2] = (uintptr_t)&tm__deferred;
            t->ours = (uintptr_t)&tm__attach_dlopen_stub;
#endif
        } else {
            t->ours = (uintptr_t)dlsym(self_handle, t->name);
            /* dlsym on the shim's handle finds its own definition first */
            if (t->ours && !dladdr((void *)t->ours, &di))
                t->ours = 0;
        }
        if (t->ours == t->orig)
            t->ours = 0;
    }
    return 0;
}

/* --- relocation slots --- */

struct slot {
    uintptr_t *where;
    uintptr_t old, ours;
    uintptr_t module; /* dlpi_addr of its module */
    uintptr_t relro_lo, relro_hi;
};

static struct slot *slots;
static size_t nslots, cap_slots;
static pthread_mutex_t patch_mutex = PTHREAD_MUTEX_INITIALIZER;

static int slots_grow(void)
{
    size_t cap = cap_slots ? cap_slots * 2 : 1024;
    struct slot *n = tm__map(cap * sizeof(*n));
    if (!n)
        return -1;
    if (slots) {
        memcpy(n, slots, nslots * sizeof(*n));
        tm__unmap(slots, cap_slots * sizeof(*n));
    }
    slots = n;
    cap_slots = cap;
    return 0;
}

static int slot_known(const uintptr_t *where)
{
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].where == where)
            return 1;
    return 0;
}

/* Writes 'value' into a slot, making its page writable for the moment
 * when it lies in the module's RELRO part. */
static void slot_write(uintptr_t *where, uintptr_t value, uintptr_t relro_lo, uintptr_t relro_hi)
{
    uintptr_t a = (uintptr_t)where;
    if (a >= relro_lo && a < relro_hi) {
        uintptr_t page = (uintptr_t)getpagesize(), lo = a & ~(page - 1);
        if (mprotect((void *)lo, page, PROT_READ | PROT_WRITE) == 0) {
            __atomic_store_n(where, value, __ATOMIC_RELEASE);
            mprotect((void *)lo, page, PROT_READ);
        }
        return;
    }
    __atomic_store_n(where, value, __ATOMIC_RELEASE);
}

struct module_view {
    uintptr_t base, lo, hi, relro_lo, relro_hi;
    const ElfW(Dyn) * dyn;
};

static int module_view(const struct dl_phdr_info *info, struct module_view *m)
{
    memset(m, 0, sizeof(*m));
    m->base = info->dlpi_addr;
    m->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            if (lo < m->lo)
                m->lo = lo;
            if (lo + ph->p_memsz > m->hi)
                m->hi = lo + ph->p_memsz;
        } else if (ph->p_type == PT_DYNAMIC) {
            m->dyn = (const ElfW(Dyn) *)lo;
        } else if (ph->p_type == PT_GNU_RELRO) {
            m->relro_lo = lo;
            m->relro_hi = lo + ph->p_memsz;
        }
    }
    return m->dyn ? 0 : -1;
}

/* The dynamic linker relocates most d_ptr entries in place; a read-only
 * dynamic section keeps them relative. */
static uintptr_t dyn_addr(const struct module_view *m, uintptr_t v)
{
    return v < m->base ? v + m->base : v;
}

static void patch_relocs(const struct module_view *m, const ElfW(Rela) * rel, size_t n,
                         const ElfW(Sym) * symtab, const char *strtab)
{
    for (size_t i = 0; i < n; i++) {
#if defined(__x86_64__)
        unsigned type = ELF64_R_TYPE(rel[i].r_info);
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
            continue;
#elif defined(__aarch64__)
        unsigned type = ELF64_R_TYPE(rel[i].r_info);
        if (type != R_AARCH64_JUMP_SLOT && type != R_AARCH64_GLOB_DAT)
            continue;
#else
        continue;
#endif
        const ElfW(Sym) *sym = &symtab[ELF64_R_SYM(rel[i].r_info)];
        if (!sym->st_name)
            continue;
        const char *name = strtab + sym->st_name;
        for (size_t t = 0; t < NTARGETS; t++) {
            if (!targets[t].ours || strcmp(name, targets[t].name) != 0)
                continue;
            uintptr_t *where = (uintptr_t *)(m->base + rel[i].r_offset);
            uintptr_t v = __atomic_load_n(where, __ATOMIC_ACQUIRE);
            /* bound to the definition, or lazily not yet (its own PLT) */
            int lazy = sym->st_shndx == SHN_UNDEF && v >= m->lo && v < m->hi;
            if ((v != targets[t].orig && !lazy) || slot_known(where))
                break;
            if (nslots == cap_slots && slots_grow())
                break;
            slots[nslots++] = (struct slot){where, v, targets[t].ours, m->base, m->relro_lo, m->relro_hi};
            slot_write(where, targets[t].ours, m->relro_lo, m->relro_hi);
            break;
        }
    }
}

static int patch_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    struct module_view m;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (base_name_is(name, "ld-linux") || base_name_is(name, "ld64.so") || base_name_is(name, "linux-vdso") ||
        base_name_is(name, "linux-gate") || module_view(info, &m))
        return 0;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *rela = NULL, *jmprel = NULL;
    size_t relasz = 0, pltrelsz = 0;
    for (const ElfW(Dyn) *d = m.dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB:
            symtab = (const ElfW(Sym) *)dyn_addr(&m, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = (const char *)dyn_addr(&m, d->d_un.d_ptr);
            break;
        case DT_RELA:
            rela = (const ElfW(Rela) *)dyn_addr(&m, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            relasz = d->d_un.d_val;
            break;
        case DT_JMPREL:
            jmprel = (const ElfW(Rela) *)dyn_addr(&m, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            pltrelsz = d->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (!symtab || !strtab)
        return 0;
    if (rela)
        patch_relocs(&m, rela, relasz / sizeof(ElfW(Rela)), symtab, strtab);
    if (jmprel)
        patch_relocs(&m, jmprel, pltrelsz / sizeof(ElfW(Rela)), symtab, strtab);
    return 0;
}

static void patch_all(void)
{
    tm__mutex_lock(&patch_mutex);
    dl_iterate_phdr(patch_cb, NULL);
    tm__mutex_unlock(&patch_mutex);
}

/* From tm__run_deferred() after a dlopen through the stub. */
void tm__attach_repatch(void)
{
    if (!atomic_exchange(&tm__attach_pending, 0) || !tm__attach_active)
        return;
    /* Never wait for the mutex: its holder may be waiting in
     * dl_iterate_phdr() for the loader lock this thread holds (a hook
     * called from a constructor that dlopen() runs). Later, then. */
    if (pthread_mutex_trylock(&patch_mutex) != 0) {
        atomic_store(&tm__attach_pending, 1);
        atomic_store(&tm__deferred, 1);
        return;
    }
    dl_iterate_phdr(patch_cb, NULL);
    pthread_mutex_unlock(&patch_mutex);
    tm__modules_refresh();
}

struct loaded {
    uintptr_t base[1024];
    size_t n;
};

static int loaded_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct loaded *l = arg;
    if (l->n < sizeof(l->base) / sizeof(l->base[0]))
        l->base[l->n++] = info->dlpi_addr;
    return 0;
}

/* Puts every slot back that still holds the shim's value, in modules
 * still loaded (a dlclose()d one is gone with its slots). */
static void unpatch_all(void)
{
    static struct loaded l;
    tm__mutex_lock(&patch_mutex);
    l.n = 0;
    dl_iterate_phdr(loaded_cb, &l);
    for (size_t i = 0; i < nslots; i++) {
        struct slot *s = &slots[i];
        int present = 0;
        for (size_t k = 0; k < l.n && !present; k++)
            present = l.base[k] == s->module;
        if (!present)
            continue;
        if (__atomic_load_n(s->where, __ATOMIC_ACQUIRE) == s->ours)
            slot_write(s->where, s->old, s->relro_lo, s->relro_hi);
    }
    nslots = 0;
    tm__mutex_unlock(&patch_mutex);
}

/* --- configuration --- */

static const char *conf_value(const char *conf, const char *key, char *buf, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = conf; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && memcmp(p, key, kl) == 0 && p[kl] == '=' && len - kl - 1 < cap) {
            memcpy(buf, p + kl + 1, len - kl - 1);
            buf[len - kl - 1] = '\0';
            return buf;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static int apply_config(const char *conf)
{
    char v[1024];
    char *end;
    tm__cfg.start = 1;
    tm__cfg.at_exit = TM_AT_EXIT_LEAKS;
    tm__cfg.signo = 0;
    tm__cfg.interval = 0;
    tm__cfg.sample_bytes = 0;
    atomic_store(&tm__maybe_fast, NULL); /* published again at a sampled block */
    tm__cfg.follow_fork = 0; /* a child of an attached process is not traced */
    atomic_store(&tm__nframes, TM_DEFAULT_NFRAMES);
    if (conf_value(conf, "nframes", v, sizeof(v))) {
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > TM_MAX_NFRAMES)
            return -EINVAL;
        atomic_store(&tm__nframes, (int)n);
    }
    if (conf_value(conf, "output", v, sizeof(v))) {
        if (!*v || strlen(v) >= sizeof(tm__cfg.output))
            return -EINVAL;
        memcpy(tm__cfg.output, v, strlen(v) + 1);
    }
    if (conf_value(conf, "interval", v, sizeof(v))) {
        double d = strtod(v, &end);
        if (*end || !(d >= 0 && d <= 1e9))
            return -EINVAL;
        tm__cfg.interval = d;
    }
    if (conf_value(conf, "sample", v, sizeof(v))) {
        unsigned long long b = strtoull(v, &end, 10);
        if (*end)
            return -EINVAL;
        tm__cfg.sample_bytes = b;
    }
    return 0;
}

/* --- start and stop, called by the injector on one of the program's
 * threads (the others run on) --- */

/* 0, or -EEXIST (preloaded: tracing already), -EBUSY (attached already),
 * -EINVAL (bad configuration), -ENOENT (no C library found). */
TM_EXPORT int tm__attach_start(const char *conf)
{
    int saved_errno = errno, saved_guard = tm__in_hook, rc;
    if (!tm__attach_late)
        return -EEXIST;
    if (tm__attach_active)
        return -EBUSY;
    if (saved_guard)
        return -EAGAIN; /* the borrowed thread was inside the shim */
    tm__in_hook = 1;
    if ((rc = apply_config(conf)) || (rc = resolve_targets()))
        goto out;
    tm__resolve_real_from(libc_handle);
    tm__init_attached();
    tm__clear_all();
    /* code objects freed since the last attach went unseen (and a sampled
     * attach does not count the frees of untraced blocks): every proof by
     * that count made before is void (pyframes.c, PROOF_FREES) */
    atomic_fetch_add(&tm__py_code_frees, 1);
    tm__snapshot_after_fork_child(); /* a new series: numbered from 0 again */
    tm__attached_at = (uint64_t)time(NULL);
    tm__set_tracing(1);
    tm__attach_active = 1;
    patch_all();
out:
    tm__in_hook = saved_guard;
    errno = saved_errno;
    return rc;
}

/* Writes the last snapshot (leaks classified), stops tracing and gives
 * the slots back. Returns the snapshot's 0 or -errno; -ENOTSUP when not
 * attached. */
TM_EXPORT int tm__attach_stop(void)
{
    int saved_errno = errno, saved_guard = tm__in_hook, rc;
    if (!tm__attach_active)
        return -ENOTSUP;
    if (saved_guard)
        return -EAGAIN; /* inside a hook, maybe holding a lock of the shim's */
    tm__in_hook = 1;
    struct tm__leak_result res;
    memset(&res, 0, sizeof(res));
    tm__modules_refresh();
    rc = tm__leak_scan(&res);
    rc = tm__snapshot_write(NULL, TM_REASON_LEAK_CHECK, rc == 0 ? &res : NULL);
    tm__leak_result_release(&res);
    unpatch_all();
    tm__set_tracing(0);
    tm__stop_attached();
    tm__clear_all();
    tm__attach_active = 0;
    tm__in_hook = saved_guard;
    errno = saved_errno;
    return rc;
}
