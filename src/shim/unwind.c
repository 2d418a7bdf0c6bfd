/* unwind.c - capturing the program's stack at an allocation.
 *
 * libunwind is loaded with dlopen(RTLD_LOCAL) when the shim starts: its
 * _Unwind_* and backtrace symbols then never enter the host's global scope,
 * so the host's C++ exceptions keep using libgcc's unwinder. Until it is
 * loaded (allocations made by libc start-up) stacks are empty.
 *
 * Frames inside the shim (the hooks, operator new) and inside libunwind are
 * dropped from the top of the stack, so the innermost frame kept is the
 * return address into the caller of malloc or operator new. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define STR_(x) #x
#define STR(x) STR_(x)

#define SKIP_SLACK 24
#define DEPTH_LIMIT 1024

static int (*backtrace_fn)(void **, int);

atomic_int tm__no_unwinder = 1;
__thread uintptr_t tm__early_pc TM_TLS;

struct range {
    uintptr_t lo, hi;
};
static struct range self_text[4], unw_text[4];
static int nself, nunw;

struct find_arg {
    uintptr_t base;
    struct range *out;
    int *n;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find_arg *a = data;
    (void)size;
    if (info->dlpi_addr != a->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && *a->n < 4; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            a->out[*a->n].lo = info->dlpi_addr + ph->p_vaddr;
            a->out[*a->n].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            (*a->n)++;
        }
    }
    return 1;
}

static void text_of(const void *addr, struct range *out, int *n)
{
    Dl_info di;
    struct link_map *lm = NULL;
    if (!dladdr1(addr, &di, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return;
    struct find_arg a = {lm->l_addr, out, n};
    dl_iterate_phdr(find_text, &a);
}

void tm__unwind_init(void)
{
    text_of((const void *)tm__unwind_init, self_text, &nself);
    void *h = dlopen(TM_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        tm__warn("cannot load %s; stacks will be empty", TM_LIBUNWIND_SONAME);
        return;
    }
    tm__unwind_hide_fds(h); /* before its first use opens a pipe (unwfd.c) */
    int (*set_policy)(unw_addr_space_t, unw_caching_policy_t) =
        (int (*)(unw_addr_space_t, unw_caching_policy_t))dlsym(h, STR(unw_set_caching_policy));
    unw_addr_space_t *space = (unw_addr_space_t *)dlsym(h, STR(unw_local_addr_space));
    if (set_policy && space)
        set_policy(*space, UNW_CACHE_PER_THREAD);
    void *bt = dlsym(h, "unw_backtrace");
    if (bt)
        text_of(bt, unw_text, &nunw);
    __atomic_store_n(&backtrace_fn, (int (*)(void **, int))bt, __ATOMIC_RELEASE);
    atomic_store(&tm__no_unwinder, bt == NULL);
}

static int in_ranges(const struct range *r, int n, uintptr_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= r[i].lo && pc < r[i].hi)
            return 1;
    return 0;
}

int tm__pc_in_shim(uintptr_t pc)
{
    return in_ranges(self_text, nself, pc);
}

static int skip_own(void **buf, int n)
{
    int i = 0;
    while (i < n && (in_ranges(self_text, nself, (uintptr_t)buf[i]) ||
                     in_ranges(unw_text, nunw, (uintptr_t)buf[i])))
        i++;
    return i;
}

/* Set while this thread's stacks are deeper than the traceback limit (a
 * recursive program, an interpreter): its captures unwind once into a buffer
 * large enough for the true depth, instead of a short unwind that fills up
 * followed by a full one to count. */
static __thread int deep_stacks TM_TLS;

static __attribute__((noinline)) int capture_deep(int (*bt)(void **, int), uintptr_t *pcs, int max,
                                                  uint32_t *depth)
{
    void *big[DEPTH_LIMIT];
    int n = bt(big, DEPTH_LIMIT);
    int skip = skip_own(big, n);
    int kept = n - skip < max ? n - skip : max;
    memcpy(pcs, big + skip, (size_t)kept * sizeof(*pcs));
    *depth = (uint32_t)(n - skip);
    if (n - skip <= max)
        deep_stacks = 0;
    return kept;
}

int tm__capture(uintptr_t *pcs, int max, uint32_t *depth)
{
    int (*bt)(void **, int) = __atomic_load_n(&backtrace_fn, __ATOMIC_ACQUIRE);
    *depth = 0;
    if (!bt) { /* the caller only, when an entry point noted it */
        if (!tm__early_pc || max < 1)
            return 0;
        pcs[0] = tm__early_pc;
        *depth = 0; /* "only the caller": tracemem-snapshot(5) */
        return 1;
    }
    if (deep_stacks)
        return capture_deep(bt, pcs, max, depth);
    int want = max + SKIP_SLACK;
    void *buf[want];
    int n = bt(buf, want);
    if (n == want) {
        deep_stacks = 1;
        return capture_deep(bt, pcs, max, depth);
    }
    int skip = skip_own(buf, n);
    int kept = n - skip;
    if (kept > max)
        kept = max;
    memcpy(pcs, buf + skip, (size_t)kept * sizeof(*pcs));
    *depth = (uint32_t)(n - skip);
    return kept;
}
