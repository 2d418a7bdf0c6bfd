/* rss.c - where the process's resident memory goes: the snapshot's "rss"
 * section (tracemem-snapshot(5)).
 *
 * Every mapping of /proc/self/smaps is read (its size and Rss) and its
 * bytes are put in exactly one category, so the categories add up to the
 * sum of the mappings' Rss, which is what the kernel reports:
 *
 *   1. the shim's own tables (rawmem's registry) and the program's traced
 *      mappings (mmaps.c) are carved out of the anonymous mappings that
 *      hold them, their resident part counted page by page (mincore), as
 *      the kernel merges neighbouring anonymous mappings into one;
 *   2. the rest of each mapping goes by what it is: glibc's heap ([heap]
 *      and the arena heaps, recognised by their heap_info header; chunks
 *      malloc mapped for large blocks, by their chunk header and the live
 *      table), thread stacks ([stack], and mappings right above a
 *      PROT_NONE guard), the executable and libraries (file mappings and
 *      bss inside a module's span), other files, and "other" anonymous
 *      memory.
 *
 * glibc's heap is then split with mallinfo2(): bytes in live blocks (the
 * heap's traced figure), free bytes malloc keeps, and the rest (chunk
 * headers, alignment, untouched pages). mallinfo2 takes every arena's
 * lock: it is asked only where no lock can be held by the caller (not in
 * a signal handler, not on a fatal signal or an exit from a handler, not
 * on _exit), otherwise heap_free is unknown.
 *
 * Nothing here allocates from the program's allocator: buffers are
 * tm__map()ed and released before returning. */
#define _GNU_SOURCE
#include "shim/shim.h"
#include "shim/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096UL

static const char *const names[TM_RSS_NCAT] = {
    [TM_RSS_HEAP] = "heap", [TM_RSS_MMAP] = "mmap", [TM_RSS_STACKS] = "thread_stacks",
    [TM_RSS_MODULES] = "modules", [TM_RSS_FILES] = "files", [TM_RSS_SHIM] = "tracemem",
    [TM_RSS_OTHER] = "other",
};

struct range {
    uintptr_t lo, hi;
};

struct ranges {
    struct range *v;
    size_t n, cap;
};

static int push(struct ranges *r, uintptr_t lo, uintptr_t hi)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 512;
        struct range *v = tm__map_copy(r->v, r->cap * sizeof(*v), cap * sizeof(*v));
        if (!v)
            return -1;
        tm__unmap(r->v, r->cap * sizeof(*v));
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (struct range){lo, hi};
    return 0;
}

static void sort_ranges(struct ranges *r)
{
    for (size_t gap = r->n / 2; gap > 0; gap /= 2) /* Shell sort: a few thousand at most */
        for (size_t i = gap; i < r->n; i++) {
            struct range t = r->v[i];
            size_t j = i;
            for (; j >= gap && r->v[j - gap].lo > t.lo; j -= gap)
                r->v[j] = r->v[j - gap];
            r->v[j] = t;
        }
}

/* Sorts 'r' and merges ranges that overlap (a slot of the registry read
 * while it changed, a mapping noted twice): each byte counted once. */
static void sort_merge(struct ranges *r)
{
    size_t n = 0;
    sort_ranges(r);
    for (size_t i = 0; i < r->n; i++) {
        if (n && r->v[i].lo < r->v[n - 1].hi) {
            if (r->v[i].hi > r->v[n - 1].hi)
                r->v[n - 1].hi = r->v[i].hi;
            continue;
        }
        r->v[n++] = r->v[i];
    }
    r->n = n;
}

/* 'a' minus 'b' (both sorted and merged) into 'out': a registry entry of
 * the shim's that went stale (a mapping libunwind released, the address
 * since mapped by the program) must not take the program's pages. */
static void subtract(const struct ranges *a, const struct ranges *b, struct ranges *out)
{
    size_t j = 0;
    for (size_t i = 0; i < a->n; i++) {
        uintptr_t lo = a->v[i].lo, hi = a->v[i].hi;
        while (j < b->n && b->v[j].hi <= lo)
            j++;
        for (size_t k = j; k < b->n && b->v[k].lo < hi && lo < hi; k++) {
            if (b->v[k].lo > lo)
                push(out, lo, b->v[k].lo);
            if (b->v[k].hi > lo)
                lo = b->v[k].hi;
        }
        if (lo < hi)
            push(out, lo, hi);
    }
}

static void push_own(void *start, size_t size, void *arg)
{
    push(arg, (uintptr_t)start, (uintptr_t)start + size);
}

static void push_map(uintptr_t lo, uintptr_t hi, void *arg)
{
    push(arg, lo, hi);
}

/* Resident bytes of [lo, hi) by mincore(); 'vec' holds 'nvec' bytes. */
static uint64_t resident(uintptr_t lo, uintptr_t hi, unsigned char *vec, size_t nvec)
{
    uint64_t n = 0;
    lo &= ~(PAGE - 1);
    while (lo < hi) {
        size_t pages = (hi - lo + PAGE - 1) / PAGE;
        if (pages > nvec)
            pages = nvec;
        if (mincore((void *)lo, pages * PAGE, vec) == 0)
            for (size_t i = 0; i < pages; i++)
                n += (vec[i] & 1) * PAGE;
        lo += pages * PAGE;
    }
    return n;
}

/* Of mapping [lo, hi): the bytes and the resident bytes that 'r' (sorted)
 * covers; '*from' walks 'r' along the sorted mappings. */
static void carve(const struct ranges *r, size_t *from, uintptr_t lo, uintptr_t hi, unsigned char *vec,
                  size_t nvec, uint64_t *bytes, uint64_t *res)
{
    *bytes = *res = 0;
    while (*from < r->n && r->v[*from].hi <= lo)
        (*from)++;
    for (size_t i = *from; i < r->n && r->v[i].lo < hi; i++) {
        uintptr_t a = r->v[i].lo > lo ? r->v[i].lo : lo, b = r->v[i].hi < hi ? r->v[i].hi : hi;
        if (b <= a)
            continue;
        *bytes += b - a;
        *res += resident(a, b, vec, nvec);
    }
}

/* Reads 'n' words at 'addr' without touching it: the program's threads run
 * while the snapshot is taken and may unmap it meanwhile (node's do, all
 * the time). 0, or -1 when the memory is gone or unreadable. */
static int peek(uintptr_t addr, uintptr_t *out, size_t n)
{
    struct iovec local = {out, n * sizeof(*out)}, remote = {(void *)addr, n * sizeof(*out)};
    return syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L) ==
                   (long)(n * sizeof(*out))
               ? 0
               : -1;
}

/* An arena heap's header, read safely: its arena (ar_ptr) or 0. */
static uintptr_t arena_of(uintptr_t lo, uintptr_t hi)
{
    uintptr_t h[4];
    if (lo % (64UL << 20) || hi - lo < 64 || peek(lo, h, 4) || !tm__arena_header_ok(lo, hi, h))
        return 0;
    return h[0];
}

/* 1 when [lo, hi) is made of chunks malloc mapped for large blocks: each
 * chunk's header has IS_MMAPPED, the chunks tile the mapping, and the
 * first one's block is live in the table. */
static int malloc_chunks(uintptr_t lo, uintptr_t hi)
{
    struct tm__block b;
    if (tm__live_find(lo + 2 * sizeof(uintptr_t), &b) != 1)
        return 0;
    for (uintptr_t p = lo; p < hi;) {
        uintptr_t size;
        if (peek(p + sizeof(uintptr_t), &size, 1))
            return 0;
        if (!(size & 2) || (size & ~(uintptr_t)7) < PAGE || (size & (PAGE - 1) & ~(uintptr_t)7))
            return 0;
        p += size & ~(uintptr_t)7;
        if (p > hi)
            return 0;
    }
    return 1;
}

static int in_module(uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < tm__module_count(); i++) {
        const struct tm__module *m = tm__module_get(i);
        if (m->present && lo >= m->lo && hi <= m->hi)
            return 1;
    }
    return 0;
}

struct vma {
    uintptr_t lo, hi;
    char perms[5];
    char path[64];
    uint64_t rss, swap;
};


static uint64_t kb_field(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0)
        return UINT64_MAX;
    uint64_t v = 0;
    for (const char *p = line + n; *p && *p != '\n'; p++)
        if (*p >= '0' && *p <= '9')
            v = v * 10 + (uint64_t)(*p - '0');
    return v * 1024;
}

static void header(const char *line, const char *eol, struct vma *v)
{
    const char *p = line;
    memset(v, 0, sizeof(*v));
    v->lo = tm__parse_hex(&p);
    p++;
    v->hi = tm__parse_hex(&p);
    p++;
    memcpy(v->perms, p, 4);
    for (int field = 0; field < 4 && p < eol; field++) { /* perms offset dev inode */
        while (p < eol && *p != ' ')
            p++;
        while (p < eol && *p == ' ')
            p++;
    }
    size_t n = (size_t)(eol - p);
    if (n > sizeof(v->path) - 1)
        n = sizeof(v->path) - 1;
    memcpy(v->path, p, n);
}

struct walk {
    struct tm__rss *r;
    struct ranges own, maps;
    size_t own_at, maps_at;
    unsigned char *vec;
    size_t nvec;
    struct vma prev;
};

/* Adds a heap mapping to its arena: [heap] is the main arena's; an arena
 * heap (or the reserve right after one) belongs to its heap_info's ar_ptr. */
static void note_arena(struct tm__rss *r, const struct vma *v, const struct vma *prev, uint64_t size, uint64_t rss)
{
    uintptr_t id;
    if (strcmp(v->path, "[heap]") == 0)
        id = 0;
    else if (v->perms[0] == 'r' && (id = arena_of(v->lo, v->hi)))
        ;
    else if (prev && prev->perms[0] == 'r' && (id = arena_of(prev->lo, prev->hi)))
        ;
    else
        return; /* a chunk malloc mapped for a large block */
    size_t i = 0;
    while (i < r->narenas && r->arenas[i].id != id)
        i++;
    if (i == r->narenas) {
        if (r->narenas == TM_RSS_MAX_ARENAS)
            i = TM_RSS_MAX_ARENAS - 1; /* the last one stands for the rest */
        else
            r->arenas[r->narenas++].id = id;
    }
    r->arenas[i].rss += rss;
    r->arenas[i].size += size;
    r->arenas[i].heaps += v->perms[0] == 'r';
}

/* Moves what 'r' covers of mapping 'v' into category 'cat', out of the
 * mapping's '*size' and '*rss' still to classify (never more than they
 * hold). */
static void take(struct walk *w, const struct ranges *r, size_t *from, const struct vma *v, int cat, uint64_t *size,
                 uint64_t *rss)
{
    uint64_t bytes, res;
    carve(r, from, v->lo, v->hi, w->vec, w->nvec, &bytes, &res);
    bytes = bytes < *size ? bytes : *size;
    res = res < *rss ? res : *rss;
    w->r->size[cat] += bytes;
    w->r->rss[cat] += res;
    *size -= bytes;
    *rss -= res;
}

static void account(struct walk *w, const struct vma *v)
{
    struct tm__rss *r = w->r;
    uint64_t size = v->hi - v->lo, rss = v->rss;
    int anon = v->path[0] == '\0' || strncmp(v->path, "[anon:", 6) == 0;

    r->vma_rss += v->rss;
    r->vma_size += size;
    /* the program's sbrk() memory lies in [heap], its mappings anywhere
     * anonymous */
    if (anon || strcmp(v->path, "[heap]") == 0 || strncmp(v->path, "/dev/zero", 9) == 0) { /* shared anon */
        /* the program's first: its pages are written, mincore's answer is
         * smaps' Rss; a page of the shim's tables that was only read is
         * the shared zero page, resident to mincore but not in Rss, and
         * the clamp below takes it out of the shim's share */
        take(w, &w->maps, &w->maps_at, v, TM_RSS_MMAP, &size, &rss);
        take(w, &w->own, &w->own_at, v, TM_RSS_SHIM, &size, &rss);
    }
    int cat = TM_RSS_OTHER;
    int readable_rw = v->perms[0] == 'r' && v->perms[1] == 'w';
    if (strcmp(v->path, "[heap]") == 0)
        cat = TM_RSS_HEAP;
    else if (strcmp(v->path, "[stack]") == 0)
        cat = TM_RSS_STACKS;
    else if (v->path[0] == '/')
        cat = in_module(v->lo, v->hi) ? TM_RSS_MODULES : TM_RSS_FILES;
    else if (v->path[0] == '[' && !anon) /* [vdso], [vvar], [vsyscall] */
        cat = TM_RSS_MODULES;
    else if (anon && size && readable_rw && arena_of(v->lo, v->hi))
        cat = TM_RSS_HEAP;
    else if (anon && size == v->hi - v->lo && readable_rw && malloc_chunks(v->lo, v->hi))
        cat = TM_RSS_HEAP;
    else if (anon && in_module(v->lo, v->hi))
        cat = TM_RSS_MODULES; /* bss */
    else if (anon && readable_rw && w->prev.hi == v->lo && strncmp(w->prev.perms, "---p", 4) == 0 &&
             w->prev.path[0] == '\0' && w->prev.hi - w->prev.lo <= (1UL << 20))
        cat = TM_RSS_STACKS; /* above its guard, as pthread_create() maps them */
    else if (anon && strncmp(v->perms, "---p", 4) == 0 && w->prev.hi == v->lo && arena_of(w->prev.lo, w->prev.hi))
        cat = TM_RSS_HEAP; /* an arena heap's reserve */
    r->size[cat] += size;
    r->rss[cat] += rss;
    if (cat == TM_RSS_HEAP && (size || rss)) {
        r->heap_mappings++;
        note_arena(r, v, w->prev.hi == v->lo ? &w->prev : NULL, size, rss);
    }
    r->swap += v->swap;
}

static void read_smaps(struct walk *w, int fd, char *buf, size_t cap)
{
    size_t len = 0;
    int have = 0;
    struct vma cur;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        size_t start = 0;
        for (;;) {
            char *eol = memchr(buf + start, '\n', len - start);
            if (!eol)
                break;
            const char *line = buf + start;
            if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
                if (have) {
                    account(w, &cur);
                    w->prev = cur;
                }
                header(line, eol, &cur);
                have = 1;
            } else if (have) {
                uint64_t v;
                if ((v = kb_field(line, "Rss:")) != UINT64_MAX)
                    cur.rss = v;
                else if ((v = kb_field(line, "Swap:")) != UINT64_MAX)
                    cur.swap = v;
            }
            start = (size_t)(eol - buf) + 1;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len == cap) /* a line longer than the buffer: drop it */
            len = 0;
    }
    if (have)
        account(w, &cur);
}

/* Rss of smaps_rollup, 0 when unreadable. */
static uint64_t read_rollup(char *buf, size_t cap)
{
    uint64_t rss = 0;
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        uint64_t v;
        if ((v = kb_field(line, "Rss:")) != UINT64_MAX)
            rss = v;
    }
    return rss;
}

int tm__rss_measure(struct tm__rss *r, int malloc_ok)
{
    struct walk w;
    size_t cap = 256 * 1024;
    char *buf;
    int saved = errno, rc = -1;

    memset(r, 0, sizeof(*r));
    memset(&w, 0, sizeof(w));
    w.r = r;
    w.nvec = 64 * 1024;
    buf = tm__map(cap);
    w.vec = tm__map(w.nvec);
    if (!buf || !w.vec)
        goto out;
    tm__map_foreach(push_own, &w.own);
    sort_ranges(&w.own);
    tm__domain_lock();
    tm__maps_foreach_unlocked(push_map, &w.maps);
    tm__domain_unlock();
    /* the shim's own buffers (these, the ranges just copied) are ours */
    push(&w.own, (uintptr_t)buf, (uintptr_t)buf + cap);
    push(&w.own, (uintptr_t)w.vec, (uintptr_t)w.vec + w.nvec);
    if (w.own.v)
        push(&w.own, (uintptr_t)w.own.v, (uintptr_t)w.own.v + w.own.cap * sizeof(*w.own.v));
    if (w.maps.v)
        push(&w.own, (uintptr_t)w.maps.v, (uintptr_t)w.maps.v + w.maps.cap * sizeof(*w.maps.v));
    sort_merge(&w.own);
    sort_merge(&w.maps);
    {
        struct ranges own = {NULL, 0, 0};
        subtract(&w.own, &w.maps, &own);
        tm__unmap(w.own.v, w.own.cap * sizeof(*w.own.v));
        w.own = own;
    }
    int fd = open("/proc/thread-self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    /* the program's threads run meanwhile: the kernel's figure is read
     * before and after the walk, which lies between them. With one thread
     * (ours) nothing else runs and the figure after the walk is both
     * (smaps_rollup walks every page table: 17 ms for a 1 GB heap). */
    int alone = tm__proc_status("Threads") == 1;
    if (!alone)
        r->kernel_before = read_rollup(buf, cap);
    tm__modules_lock();
    read_smaps(&w, fd, buf, cap);
    tm__modules_unlock();
    close(fd);
    r->kernel_rss = read_rollup(buf, cap);
    if (!r->kernel_rss)
        r->kernel_rss = r->vma_rss;
    if (!r->kernel_before)
        r->kernel_before = r->kernel_rss;
    if (malloc_ok) {
        struct mallinfo2 mi = mallinfo2();
        r->have_malloc = 1;
        r->malloc_free = mi.fordblks;
        r->malloc_in_use = mi.uordblks + mi.hblkhd;
        r->malloc_mapped = mi.hblkhd;
    }
    r->ok = r->vma_rss > 0;
    rc = r->ok ? 0 : -1;
out:
    tm__unmap(buf, cap);
    tm__unmap(w.vec, w.nvec);
    tm__unmap(w.own.v, w.own.cap * sizeof(*w.own.v));
    tm__unmap(w.maps.v, w.maps.cap * sizeof(*w.maps.v));
    errno = saved;
    return rc;
}

static void cat_out(struct tm__out *o, const char *name, uint64_t rss, uint64_t size, int first)
{
    tm__out_lit(o, first ? "{\"name\":\"" : ",{\"name\":\"");
    tm__out_lit(o, name);
    tm__out_lit(o, "\",\"rss\":");
    tm__out_u64(o, rss);
    tm__out_lit(o, ",\"size\":");
    tm__out_u64(o, size);
    tm__out_lit(o, "}");
}

void tm__rss_write(struct tm__out *o, const struct tm__rss *r, int64_t heap_live)
{
    if (!r->ok)
        return;
    uint64_t hrss = r->rss[TM_RSS_HEAP], hsize = r->size[TM_RSS_HEAP];
    uint64_t live = heap_live > 0 ? (uint64_t)heap_live : 0;
    uint64_t live_rss = live < hrss ? live : hrss;
    uint64_t free_rss = 0, free_size = 0;
    if (r->have_malloc) {
        free_size = r->malloc_free;
        free_rss = free_size < hrss - live_rss ? free_size : hrss - live_rss;
    }
    uint64_t live_size = live < hsize ? live : hsize;
    uint64_t free_sz = free_size < hsize - live_size ? free_size : hsize - live_size;
    tm__out_lit(o, ",\"rss\":{\"kernel_rss\":");
    tm__out_u64(o, r->kernel_rss);
    tm__out_lit(o, ",\"kernel_rss_before\":");
    tm__out_u64(o, r->kernel_before);
    tm__out_lit(o, ",\"rss\":");
    tm__out_u64(o, r->vma_rss);
    tm__out_lit(o, ",\"size\":");
    tm__out_u64(o, r->vma_size);
    tm__out_lit(o, ",\"swap\":");
    tm__out_u64(o, r->swap);
    tm__out_lit(o, ",\"malloc\":");
    if (r->have_malloc) {
        tm__out_lit(o, "{\"in_use\":");
        tm__out_u64(o, r->malloc_in_use);
        tm__out_lit(o, ",\"free\":");
        tm__out_u64(o, r->malloc_free);
        tm__out_lit(o, ",\"mapped\":");
        tm__out_u64(o, r->malloc_mapped);
        tm__out_lit(o, "}");
    } else {
        tm__out_lit(o, "null");
    }
    tm__out_lit(o, ",\"arenas\":[");
    for (size_t i = 0; i < r->narenas; i++) {
        tm__out_lit(o, i ? ",{\"main\":" : "{\"main\":");
        tm__out_lit(o, r->arenas[i].id == 0 ? "true" : "false");
        tm__out_lit(o, ",\"heaps\":");
        tm__out_u64(o, r->arenas[i].heaps);
        tm__out_lit(o, ",\"rss\":");
        tm__out_u64(o, r->arenas[i].rss);
        tm__out_lit(o, ",\"size\":");
        tm__out_u64(o, r->arenas[i].size);
        tm__out_lit(o, "}");
    }
    tm__out_lit(o, "]");
    tm__out_lit(o, ",\"categories\":[");
    cat_out(o, "heap_live", live_rss, live_size, 1);
    if (r->have_malloc)
        cat_out(o, "heap_free", free_rss, free_sz, 0);
    cat_out(o, "heap_overhead", hrss - live_rss - free_rss, hsize - live_size - free_sz, 0);
    for (int c = TM_RSS_HEAP + 1; c < TM_RSS_NCAT; c++)
        cat_out(o, names[c], r->rss[c], r->size[c], 0);
    tm__out_lit(o, "]}");
}
