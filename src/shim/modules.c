/* modules.c - the history of loaded objects, with build-ids and epochs.
 *
 * Frames are written as (module, offset), so the shim must know which object
 * held a PC when the stack was taken, even if it has been unloaded since and
 * another object now sits at the same address. The table therefore keeps
 * every object ever seen (append-only) with the epochs it was valid in:
 *
 *   tm__epoch increases each time a refresh finds an object gone. A module
 *   is valid for stacks interned in epochs [load_epoch, unload_epoch); an
 *   object first seen in the same refresh that found another gone starts in
 *   the new epoch. Within one epoch no two valid modules overlap.
 *
 * Objects loaded by the C library itself without dlopen (NSS modules) are
 * found at the next refresh; they are never unloaded in practice. */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

atomic_uint tm__epoch;

static pthread_mutex_t modules_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct tm__module *mods;
static size_t nmods, capmods;
static struct tm__arena strings;

struct refresh {
    uint8_t *seen; /* per existing module */
    size_t nseen;
};

static const char *keep_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tm__arena_alloc(&strings, n, 1);
    if (p)
        memcpy(p, s, n);
    return p ? p : "";
}

static void read_build_id(const struct dl_phdr_info *info, struct tm__module *m)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof(*nh);
            const char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                size_t n = nh->n_descsz < sizeof(m->build_id) ? nh->n_descsz : sizeof(m->build_id);
                memcpy(m->build_id, desc, n);
                m->build_id_len = (uint8_t)n;
                return;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static const char *object_path(const struct dl_phdr_info *info, char *buf, size_t cap)
{
    const char *name = info->dlpi_name;
    if (!name || !*name)
        return *tm__exe_path() ? tm__exe_path() : "[exe]";
    if (strncmp(name, "linux-vdso", 10) == 0 || strncmp(name, "linux-gate", 10) == 0 ||
        info->dlpi_addr == getauxval(AT_SYSINFO_EHDR))
        return "[vdso]";
    if (name[0] != '/' && cap >= PATH_MAX && realpath(name, buf))
        return buf;
    return name;
}

static int on_object(struct dl_phdr_info *info, size_t size, void *data)
{
    struct refresh *r = data;
    (void)size;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (info->dlpi_addr + ph->p_vaddr < lo)
            lo = info->dlpi_addr + ph->p_vaddr;
        if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
            hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    if (hi <= lo)
        return 0;
    /* static, under modules_mutex: snapshots are written on the program's
     * threads (signal handlers, small stacks) */
    static char buf[PATH_MAX];
    const char *path = object_path(info, buf, sizeof(buf));
    for (size_t i = 0; i < r->nseen; i++) {
        struct tm__module *m = &mods[i];
        if (m->present && m->bias == info->dlpi_addr && m->lo == lo && strcmp(m->path, path) == 0) {
            r->seen[i] = 1;
            return 0;
        }
    }
    if (nmods == capmods) {
        size_t cap = capmods ? capmods * 2 : 128;
        /* copied, published, then the old one unmapped: a reader that
         * interrupted this thread never holds an unmapped array */
        struct tm__module *old = mods, *fresh = tm__map_copy(mods, capmods * sizeof(*mods), cap * sizeof(*mods));
        if (!fresh)
            return 0;
        mods = fresh;
        atomic_signal_fence(memory_order_seq_cst);
        tm__unmap(old, capmods * sizeof(*mods));
        capmods = cap;
    }
    struct tm__module *m = &mods[nmods];
    memset(m, 0, sizeof(*m));
    m->path = keep_string(path);
    m->bias = info->dlpi_addr;
    m->lo = lo;
    m->hi = hi;
    m->unload_epoch = UINT32_MAX;
    m->present = 1;
    read_build_id(info, m);
    nmods++;
    return 0;
}

void tm__modules_refresh(void)
{
    tm__mutex_lock(&modules_mutex);
    size_t before = nmods;
    static uint8_t seen_small[1024]; /* under modules_mutex */
    uint8_t *seen = before <= sizeof(seen_small) ? seen_small : tm__map(before);
    if (!seen)
        goto out_unlock;
    memset(seen, 0, before);
    struct refresh r = {seen, before};
    dl_iterate_phdr(on_object, &r);
    uint32_t epoch = atomic_load(&tm__epoch);
    int gone = 0;
    for (size_t i = 0; i < before; i++) {
        if (mods[i].present && !seen[i]) {
            mods[i].present = 0;
            mods[i].unload_epoch = epoch + 1;
            gone = 1;
        }
    }
    uint32_t start = gone ? epoch + 1 : epoch;
    for (size_t i = before; i < nmods; i++)
        mods[i].load_epoch = before == 0 ? 0 : start;
    if (gone)
        atomic_store(&tm__epoch, epoch + 1);
    if (seen != seen_small)
        tm__unmap(seen, before);
out_unlock:
    tm__mutex_unlock(&modules_mutex);
}

int tm__module_find(uintptr_t pc, uint32_t epoch)
{
    int fallback = -1;
    for (size_t i = nmods; i-- > 0;) {
        const struct tm__module *m = &mods[i];
        if (pc < m->lo || pc >= m->hi)
            continue;
        if (epoch >= m->load_epoch && epoch < m->unload_epoch)
            return (int)i;
        if (fallback < 0)
            fallback = (int)i;
    }
    return fallback;
}

int tm__module_find_near(uintptr_t pc, uint32_t epoch, int *hint)
{
    if (*hint >= 0 && (size_t)*hint < nmods) {
        const struct tm__module *m = &mods[*hint];
        if (pc >= m->lo && pc < m->hi && epoch >= m->load_epoch && epoch < m->unload_epoch)
            return *hint; /* the one module valid for (pc, epoch): tm__module_find's answer */
    }
    int i = tm__module_find(pc, epoch);
    if (i >= 0 && epoch >= mods[i].load_epoch && epoch < mods[i].unload_epoch)
        *hint = i;
    return i;
}

size_t tm__module_count(void)
{
    return nmods;
}

const struct tm__module *tm__module_get(size_t i)
{
    return &mods[i];
}

void tm__modules_lock(void)
{
    tm__mutex_lock(&modules_mutex);
}

void tm__modules_unlock(void)
{
    tm__mutex_unlock(&modules_mutex);
}
