/* leakscan.c - classifying every live heap block by reachability, like
 * Valgrind memcheck's leak check (mc_leakcheck.c), from inside the process.
 *
 * Order of a scan (tm__leak_scan), chosen so that it can never wait for a
 * lock held by a stopped thread:
 *   0. the snapshot mutex is taken (it also serializes scans): the shim's
 *      snapshot thread, which is never stopped, then cannot map or unmap
 *      buffers under the scan, and a fork cannot copy a half-done scan;
 *   1. the writable segments of the shim and of its private libunwind are
 *      found with dl_iterate_phdr (takes the loader lock: before stopping);
 *   2. the domain lock (its table must not move while excluded) and all
 *      live-table shards are taken, in shim.h's order: no thread is inside
 *      a shard, and one that allocates or frees now spins there, before
 *      the real free;
 *   3. the other threads are stopped (stopthreads.c: a ptrace tracer task,
 *      or a signal that parks them when ptrace is refused);
 *   4. the helper task starts (worker.c; TRACEMEM_LEAK_THREADS, 2 by
 *      default on two CPUs or more), /proc/self/maps is read, the blocks
 *      are copied, sorted and scanned, the helper ends and is reaped;
 *   5. threads resume, shards unlock, results are aggregated per stack.
 * Nothing here calls the host's allocator (a parked thread may hold its
 * locks): every array is tm__map()ed and sorted with our own radix sort.
 *
 * Roots. Valgrind scans every client mapping that is readable and writable
 * and addressable word by word (so not the part of a stack below its stack
 * pointer, nor the inside of its own heap) plus every thread's registers.
 * The closest equivalent seen from inside the process, used here:
 *  - every rw mapping of /proc/self/maps, which covers the modules' data and
 *    bss, static TLS and the TCB/DTV (in the top of each thread's stack
 *    mapping, or in ld.so's early memory for the main thread), anonymous
 *    mmaps (pymalloc arenas, ...), and the stack cache of exited threads;
 *  - but not glibc's heap ([heap] and the 64 MiB-aligned arena heaps
 *    recognised by their heap_info header), whose free chunks hold stale
 *    pointers Valgrind never sees; blocks of the heap are scanned only when
 *    reached (that is the flood). The blocks themselves (mmapped chunks)
 *    are cut out of any root mapping they sit in;
 *  - not the shim's own data, libunwind's, the live table's slot arrays,
 *    the table of blocks tracked in other domains (tracemem_track),
 *    every other mapping the shim made for itself (tm__map's registry:
 *    stack tables with their byte counts, which fall inside a heap that
 *    lies low, the stack cache, ...), this scan's arrays (they hold every
 *    block's address) and the tracer's stack (lazy binding there spills
 *    the scanning thread's vector registers, which hold copies of block
 *    records after the sort);
 *  - a stack mapping holding a stopped thread's stack pointer only from
 *    sp - red zone (128 bytes on x86-64, as Valgrind) to its end, which
 *    includes the thread's TLS and struct pthread above the stack;
 *  - the stack of an exited thread that glibc keeps cached only from its
 *    static TLS up (its dead frames are below any stack pointer Valgrind
 *    saw), and the DTV hanging from its TCB counted reachable (glibc's,
 *    freed by __libc_freeres before Valgrind looks);
 *  - the saved registers of every stopped thread, and for the scanning
 *    thread its frames from tm__leak_scan up, with its callee-saved
 *    registers spilled there by __builtin_unwind_init(); at exit()
 *    (tm__leak_scan_above) only from the frame that called exit up (the
 *    start of the stack once main returned), with that frame's
 *    callee-saved registers as libunwind restores them: exit's frames
 *    and the shim's cover the frames that returned before, and their
 *    unwritten slots still hold those frames' dead pointers;
 *  - the loader's link maps that are untraced heap blocks (objects the
 *    shim dlopen()ed for itself), which link the program's later objects.
 * Device mappings (/dev/..., other than /dev/zero and /dev/shm) are skipped.
 * A thread that cannot be stopped (signal fallback only: it blocks the
 * signal, or never takes it) but sits in a system call has its whole
 * stack mapping scanned and the call's arguments taken as registers; one
 * that runs user code leaves the result unchecked (-EBUSY): memory moving
 * under the scan could turn a kept block into a false definite leak.
 *
 * Data: blocks sorted by address (radix sort) in 'at' (address, extent:
 * the hot pair) and 'blk' (weights, stack); 'at', the state bytes and the
 * page lines are laid out in the sort's other buffer, faulted in already
 * (fresh pages cost a pass over them). The index that finds the only
 * block that can hold a word (blocks never overlap) is a sorted list of
 * regions, runs of 4 KiB pages where blocks start at most one empty page
 * apart, with one 64-byte line per page of a region: the number of blocks
 * starting before the page and, for up to PL_MAX blocks starting in it,
 * their start and last byte within the page; so a word resolves to its
 * block, and whether it points to the block's start, from one cache line
 * (crowded pages, and words before a page's first block, fall back to
 * 'at'). Past a region's last page only its last block can hold a word.
 * One state byte per block (kind, readable, chunk header readable); one
 * work array, reachable work growing up from 0 and possible work down from
 * the end, a block entering each side at most once per pass. Its items
 * carry the block's address, extent and flags, which whoever pushes it
 * knows (from the page line, or 'at' when that cannot say), so taking a
 * block reads neither its 'at' entry nor its state byte.
 *
 * Speed: the scan is bound by cache misses into the heap and these arrays,
 * so they are overlapped. Blocks leave the work in groups whose first
 * bytes and first word's line are prefetched together; the heap
 * words of a group go through a pipeline (line prefetched when the word is
 * read, then resolved and the state byte prefetched, then visited in
 * order). Scan order does not change the verdict: reachable, possible and
 * each clique are closures.
 *
 * Two threads: the copy, the sort and the index are cut in halves, one for
 * the helper (both()); the flood and each clique are parallel traversals
 * (pass(): per-thread work, a pool for what one thread gives the idle
 * other, kinds changed by compare-and-swap). Cliques stay one after the
 * other in address order, each over before the next starts, so the result
 * is block for block that of one thread (tests/integration/leaks_graph.sh).
 *
 * Classification (per Valgrind): a word pointing to the start of a block,
 * or inside it when one of Valgrind's default heuristics (stdstring,
 * length64, newarray, multipleinheritance) accepts it, is a start pointer;
 * other words inside a block are interior pointers. Reachable = reached by
 * start pointers from roots through reachable blocks; possible = reached
 * otherwise; the rest are leaked and grouped in cliques in address order:
 * each block still unreached is a leader (definite) and marks every
 * unreached block it reaches, interior pointers included, indirect (a
 * former leader included), so a leaked cycle has one definite member.
 * Three additions: glibc keeps the address of a free chunk (arena bins, top)
 * in libc's data, and leaves such addresses in the chunks it hands out
 * again, and that address falls inside the last word of the block before
 * it; a word of libc's data or of a leaked block equal to the address of the
 * chunk that follows a block ("ptr - 16 + chunk size") is therefore not
 * taken as a pointer (in a leaked block, unless a C++ last base:
 * next_chunk).
 * A block's first words that still hold the links glibc left there
 * when it handed the chunk out (noted then, stale.c, and kept in the live
 * table) are not scanned (block_pieces).
 * And in a leaked or possibly lost block, a word placed as a free chunk's
 * links are, after a free chunk's size word (free_chunk_links), that
 * points inside a block joins nothing: glibc's link of a chunk since
 * merged into a larger one and handed out again (run_batch; the program's
 * data of that shape would turn an indirect block definite, or a possible
 * one leaked).
 *
 * Blocks Valgrind sees but we cannot: those allocated before the shim
 * started tracing and the shim's own; so reachable counts can differ
 * (Valgrind also frees libc's memory with __libc_freeres before its check).
 * With TRACEMEM_SAMPLE, unsampled blocks are not known: their contents are
 * not scanned and pointers to them are ignored, so sampled blocks reachable
 * only through unsampled ones are reported leaked; sampled blocks are
 * scanned over their malloc_usable_size and counted with their weights. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"
#include "shim/leakscan.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define RED_ZONE 128
#else
#define RED_ZONE 0
#endif
#define ARENA_HEAP_SIZE (64UL << 20) /* glibc HEAP_MAX_SIZE on 64-bit */
#define MAX_EXCL (512 + TM_RAWMEM_SLOTS) /* the shim's mappings (tm__map_foreach) and the rest */
#define MAX_DEAD 1024
#define MAX_BINS 256 /* arenas whose bins the scan knows (glibc makes up to 8 per CPU) */
#define WORD sizeof(uintptr_t)

/* Per block: its kind, and READABLE (its first byte can be read), HEADER
 * (its malloc chunk header too), SPLIT (it spans mappings, some perhaps
 * unreadable: scanned piece by piece), LIBC (memory glibc frees before
 * Valgrind looks, __libc_freeres: counted as no kind, never scanned),
 * NOTED (a note of what the allocator left in its first words). */
enum {
    UNREACHED, POSSIBLE, REACHABLE, INDIRECT, KIND_MASK = 3,
    READABLE = 4, HEADER = 8, SPLIT = 16, LIBC = 32,
    NOTED = 64 /* the live table has a note of its first words (stale.c) */
};

/* 24 bytes: the sort moves these; the extent (bytes the program may
 * address: the weight, or with sampling the usable size) is in 'at' only. */
struct blk {
    uintptr_t ptr;
    uint64_t weight; /* bytes it stands for in the figures */
    uint32_t stack, count;
};

struct span {
    uintptr_t ptr;
    uint64_t extent;
};
#define NO_EXTENT UINT64_MAX /* in a span found from a page line: not known there */

/* A block of the work, with what taking it needs (its address, extent and
 * lasting flags, known to whoever pushed it), so that the taker reads no
 * 'at' entry nor state byte: two cache misses a block fewer. 'meta' is
 * the extent << 8 | the state's flags (READABLE, HEADER, SPLIT), or
 * ITEM_ASK when the extent was not known (read 'at' then). */
struct item {
    uintptr_t ptr;
    uint32_t i;
    uint32_t meta;
};
#define ITEM_ASK 1 /* a kind bit: free in 'meta' */
#define ITEM_FLAGS (READABLE | HEADER | SPLIT | NOTED)

/* One 4 KiB page of a region, one cache line: most words are resolved to
 * their block from this line alone, without touching 'at'. 'first' blocks
 * start before the page; when at most PL_MAX start in it, e[] holds each
 * one's start and last byte in the page (clipped to 4095) as 12 + 12 bits,
 * 3 bytes a block; a crowded page is searched in 'at'. */
#define PL_MAX 19
struct pline {
    uint32_t first;
    uint8_t n;        /* blocks starting in the page */
    uint8_t e[59];    /* PL_MAX * 3 bytes, room to read 4 at the last */
};
_Static_assert(sizeof(struct pline) == 64, "a page line is a cache line");

/* A run of pages holding block starts at most one empty page apart, with a
 * line per page; past its last page only its last block can hold a word. */
struct region {
    uintptr_t page, npages;
    uint32_t line; /* the first page's line in 'lines' */
    uint32_t last; /* the last block starting in the region */
};

struct seg {
    uintptr_t lo, hi;
    uintptr_t from; /* a root's scan starts here (stacks: at the stack pointer) */
    uint8_t r, w, x, file, root, anon, heap;
    uint8_t arena; /* a heap of one of glibc's non-main arenas */
};

struct range {
    uintptr_t lo, hi;
};

struct batch;
struct pool;

struct scan {
    struct blk *blk;
    struct span *at;    /* blk[i]'s address and extent: what the hot paths read */
    struct region *reg; /* ascending */
    size_t nreg;
    struct pline *lines;
    size_t nlines;
    uint8_t *state;
    struct blk *spare; /* the sort's other buffer: holds 'at', 'state' and if they fit 'lines' */
    int own_lines;     /* 'lines' has a mapping of its own */
    struct item *work;
    size_t n, cap, nwork, capwork;
    size_t ptop;        /* possible blocks to scan: work[ptop .. capwork) */
    struct batch *batch; /* of the group of blocks being scanned */
    uintptr_t piece_of;  /* the block whose pieces block_pieces() is handing out */
    uintptr_t whole_lo, whole_hi; /* its readable memory around the piece (free_chunk_links) */
    uintptr_t lo, span; /* every block lies in [lo, lo + span) */
    struct seg *seg;
    size_t nseg, segcap;
    char *maps;
    size_t mapscap;
    struct range excl[MAX_EXCL];
    size_t nexcl;
    uintptr_t *sps; /* stack pointers of stopped threads and ours */
    size_t nsps;
    const uintptr_t *own_regs; /* the scanning thread's program registers */
    int n_own_regs;            /* (tm__leak_scan_above), or none */
    uintptr_t dead_dtv[MAX_DEAD]; /* DTVs of exited threads' cached stacks */
    size_t ndead;
    struct range libc[4]; /* the C library's writable segments: main_arena */
    struct range bins[MAX_BINS]; /* where the arenas' bin headers lie (find_bins) */
    size_t nbins, nlibcbins;    /* those found in the C library's data come first */
    struct range brk[TM_BRK_MAX]; /* the program's own sbrk()/brk() memory */
    size_t nbrk;
    size_t nlibc;
    int in_libc;          /* the root words being scanned are libc's */
    int failed;
    /* the flood and the cliques on two cores: the helper works on a copy
     * of this struct with its own work array; state[] is shared */
    struct pool *pool;       /* NULL: one thread */
    int helper;              /* this copy is the helper's */
    int shared;              /* this thread gave work to the pool in this pass */
    int threads;             /* wanted for the scan: 1 or 2 */
    struct tm__helper *task; /* the helper, when it runs */
    struct scan *mate;       /* the helper's copy */
    size_t scanned;          /* blocks this thread scanned (debug output) */
};

static int debug;          /* TRACEMEM_LEAK_DEBUG=1: where each root-reached block was found */
static uintptr_t debug_at; /* the word being scanned, for the debug lines */
static long debug_t0;      /* start of the scan, ns */

static long clock_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static long debug_cpu0; /* the scanning thread's CPU time at the start, ns */

static long thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* TRACEMEM_LEAK_DEBUG: milliseconds since the scan started, per phase, and
 * the CPU time the scanning thread used (not the helper's). */
static void debug_phase(const char *what, size_t n)
{
    if (debug)
        tm__warn("leak debug: %s at %ld ms (%lu), cpu %ld ms", what, (clock_ns() - debug_t0) / 1000000,
                 (unsigned long)n, (thread_cpu_ns() - debug_cpu0) / 1000000);
}

/* Layout facts of glibc's threads, found once (x86-64 only, where the TCB
 * starts with {tcb, dtv, self} and tcb == self == the struct pthread). */
static size_t tls_static_size; /* _dl_get_tls_static_info; 0: unknown */
static long tid_offset = -1;   /* of 'tid' in struct pthread; -1: unknown */

/* --- memory the scan must not take for roots --- */

static void exclude(struct scan *s, const void *p, size_t bytes)
{
    if (!p || !bytes)
        return;
    if (s->nexcl == MAX_EXCL) {
        s->failed = 1;
        return;
    }
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095;
    s->excl[s->nexcl++] = (struct range){lo, ((uintptr_t)p + bytes + 4095) & ~(uintptr_t)4095};
}

static void exclude_table(const void *slots, size_t bytes, void *arg)
{
    exclude(arg, slots, bytes);
}

static void *scan_map(struct scan *s, size_t bytes)
{
    void *p = tm__map(bytes);
    if (!p)
        s->failed = 1;
    exclude(s, p, bytes);
    return p;
}

struct own_arg {
    struct scan *s;
    uintptr_t self_base, libc_base;
};

static int own_object(struct dl_phdr_info *info, size_t size, void *data)
{
    struct own_arg *a = data;
    (void)size;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (a->libc_base && info->dlpi_addr == a->libc_base) {
        for (int i = 0; i < info->dlpi_phnum && a->s->nlibc < 4; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
                a->s->libc[a->s->nlibc++] = (struct range){info->dlpi_addr + ph->p_vaddr,
                                                           info->dlpi_addr + ph->p_vaddr + ph->p_memsz};
        }
        return 0;
    }
    if (info->dlpi_addr != a->self_base && !strstr(name, TM_LIBUNWIND_SONAME))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
            exclude(a->s, (const void *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz);
    }
    return 0;
}

/* The shim's and libunwind's writable segments, and the C library's (before
 * threads stop: dl_iterate_phdr takes the loader's lock). */
static void exclude_own_modules(struct scan *s)
{
    struct own_arg a = {s, 0, 0};
    Dl_info di;
    struct link_map *lm = NULL;
    if (dladdr1((void *)tm__leak_scan, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm)
        a.self_base = lm->l_addr;
    lm = NULL;
    if (tm__real.malloc && dladdr1((void *)tm__real.malloc, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
        lm->l_addr != a.self_base)
        a.libc_base = lm->l_addr;
    dl_iterate_phdr(own_object, &a);
}

/* --- the address space --- */

static int read_maps(struct scan *s)
{
    for (size_t cap = 256 * 1024;; cap *= 2) {
        if (s->maps)
            tm__unmap(s->maps, s->mapscap);
        s->maps = tm__map(cap);
        s->mapscap = cap;
        if (!s->maps)
            return -ENOMEM;
        /* thread-self: after main's pthread_exit() the process's own
         * entry (the zombie leader's) reads empty */
        int fd = open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        size_t len = 0;
        ssize_t n;
        while (len + 1 < cap && (n = read(fd, s->maps + len, cap - 1 - len)) > 0)
            len += (size_t)n;
        close(fd);
        if (len + 1 < cap) {
            s->maps[len] = '\0';
            return 0;
        }
    }
}

uintptr_t tm__parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (uintptr_t)d;
    }
}

/* glibc's non-main arenas: 64 MiB-aligned mappings starting with heap_info
 * {ar_ptr, prev, size, mprotect_size[, pagesize]}. The arena's malloc_state
 * follows the heap_info of its first heap (ar_ptr == that heap + the
 * padded size of heap_info: 4 or 5 words, by glibc version); later heaps
 * point back to it and to the previous heap. Anything less exact is the
 * program's own memory. */
static int heap_info_end(uintptr_t lo, uintptr_t ar)
{
    uintptr_t four = 4 * WORD + ((-6 * WORD) & 15), five = 5 * WORD + ((-3 * WORD) & 15);
    return ar == lo + four || ar == lo + five;
}

int tm__is_arena_heap(uintptr_t lo, uintptr_t hi)
{
    if (lo % ARENA_HEAP_SIZE || hi - lo < 8 * WORD)
        return 0;
    return tm__arena_header_ok(lo, hi, (const uintptr_t *)lo);
}

int tm__arena_header_ok(uintptr_t lo, uintptr_t hi, const uintptr_t *h)
{
    if (lo % ARENA_HEAP_SIZE || hi - lo < 8 * WORD)
        return 0;
    uintptr_t ar = h[0], prev = h[1], size = h[2], mprotect_size = h[3];
    if (size == 0 || size > ARENA_HEAP_SIZE || size % 4096 || mprotect_size % 4096 || size > mprotect_size ||
        mprotect_size > ARENA_HEAP_SIZE || mprotect_size > hi - lo + 4096)
        return 0;
    if (!prev)
        return heap_info_end(lo, ar);
    /* a later heap: its arena's state lies after the first heap's header */
    return prev % ARENA_HEAP_SIZE == 0 && prev != lo && heap_info_end(ar & ~(ARENA_HEAP_SIZE - 1), ar);
}

/* 1 for a writable mapping that is not the heap and may be read. */
static int root_kind(const char *path)
{
    if (strncmp(path, "[vvar]", 6) == 0 || strncmp(path, "[vsyscall]", 10) == 0)
        return 0;
    return !(strncmp(path, "/dev/", 5) == 0 && strncmp(path, "/dev/zero", 9) != 0 &&
             strncmp(path, "/dev/shm/", 9) != 0);
}

static int parse_maps(struct scan *s)
{
    size_t lines = 0;
    for (const char *p = s->maps; *p; p++)
        lines += *p == '\n';
    s->segcap = lines + 1;
    s->seg = scan_map(s, s->segcap * sizeof(*s->seg));
    if (!s->seg)
        return -ENOMEM;
    for (const char *p = s->maps; *p;) {
        const char *eol = strchr(p, '\n');
        struct seg g;
        memset(&g, 0, sizeof(g));
        g.lo = tm__parse_hex(&p);
        p++;
        g.hi = tm__parse_hex(&p);
        p++;
        g.r = p[0] == 'r';
        g.w = p[1] == 'w';
        g.x = p[2] == 'x';
        for (int field = 0; field < 4 && p < eol; field++) { /* perms offset dev inode */
            while (p < eol && *p != ' ')
                p++;
            while (p < eol && *p == ' ')
                p++;
        }
        char path[16] = "";
        size_t plen = (size_t)(eol ? eol - p : (long)strlen(p));
        memcpy(path, p, plen < sizeof(path) - 1 ? plen : sizeof(path) - 1);
        g.file = path[0] == '/';
        g.anon = path[0] == '\0' || strncmp(path, "[anon:", 6) == 0; /* named by prctl */
        g.arena = g.r && g.w && g.anon && tm__is_arena_heap(g.lo, g.hi);
        g.heap = g.r && g.w && (strncmp(path, "[heap]", 6) == 0 || g.arena);
        /* attached (attach.c): the blocks allocated before the attach are
         * in the heap and untraced: the heap outside traced blocks is a
         * root then, free chunks included (conservative: no false leak) */
        g.root = g.r && g.w && (!g.heap || tm__attached_at) && root_kind(path);
        if (s->nseg < s->segcap)
            s->seg[s->nseg++] = g;
        if (!eol)
            break;
        p = eol + 1;
    }
    return 0;
}

/* Index of the first mapping that ends after 'a'. */
static size_t seg_after(const struct scan *s, uintptr_t a)
{
    size_t lo = 0, hi = s->nseg;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->seg[mid].hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct seg *seg_of(const struct scan *s, uintptr_t a)
{
    size_t lo = seg_after(s, a);
    return lo < s->nseg && s->seg[lo].lo <= a ? &s->seg[lo] : NULL;
}

/* --- stacks of exited threads ---
 * glibc keeps the stacks of exited threads for reuse, with their struct
 * pthread and static TLS at the top, and their DTV and dynamic TLS blocks
 * allocated. Valgrind runs __libc_freeres first, which frees all of that:
 * here none of it is a root, and the DTV and the blocks it holds count as
 * no kind (LIBC). A mapping is such a stack when
 * no stopped thread's stack pointer lies in it and a TCB (tcb == self)
 * near its top has tid <= 0 (cleared by the kernel when the thread exits,
 * -1 once glibc caches the stack: its FREE_P). */

static void learn_thread_layout(void)
{
#if defined(__x86_64__)
    if (tid_offset >= 0)
        return;
    void (*info)(size_t *, size_t *) =
        (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
    size_t size = 0, align = 0;
    if (info)
        info(&size, &align);
    const char *pd = (const char *)pthread_self();
    int tid = (int)gettid();
    for (long off = 3 * (long)WORD; off < 4096; off += 4) {
        if (*(const int *)(pd + off) == tid) {
            tls_static_size = size;
            tid_offset = off;
            return;
        }
    }
#endif
}

/* Where the scan of root mapping 'g' starts when it is an exited thread's
 * stack; g->lo otherwise. */
static uintptr_t dead_stack_start(struct scan *s, const struct seg *g)
{
    if (tid_offset < 0 || !tls_static_size || !g->anon || g->hi - g->lo < 16384)
        return g->lo;
    for (size_t k = 0; k < s->nsps; k++)
        if (s->sps[k] >= g->lo && s->sps[k] < g->hi)
            return g->lo;
    for (uintptr_t pd = (g->hi - 64) & ~(uintptr_t)63; pd >= g->hi - 16384; pd -= 64) {
        const uintptr_t *tcb = (const uintptr_t *)pd;
        if (pd + (uintptr_t)tid_offset + 4 > g->hi || tcb[0] != pd || tcb[2] != pd)
            continue;
        if (debug)
            tm__warn("leak debug: struct pthread at 0x%lx, tid %d", (unsigned long)pd,
                     *(const int *)(pd + (uintptr_t)tid_offset));
        if (*(const int *)(pd + (uintptr_t)tid_offset) > 0)
            return g->lo; /* a live thread we know no stack pointer of */
        if (s->ndead < MAX_DEAD)
            s->dead_dtv[s->ndead++] = tcb[1];
        /* __libc_freeres unmaps cached stacks before Valgrind looks: their
         * static TLS and TCB are not roots, so a block a thread kept in a
         * __thread variable when it exited is lost, as Valgrind and
         * LeakSanitizer say. */
        return g->hi;
    }
    return g->lo;
}

/* The DTV of an exited thread, and the dynamic TLS blocks it points to, are
 * glibc's until it frees the cached stack (__libc_freeres does, before
 * Valgrind's check): not counted, not scanned. */
static void drop_dead_dtvs(struct scan *s);
static void scan_program_brk(struct scan *s);

/* --- two threads before the flood ---
 * The copy, the sort and the index of the blocks are split in halves:
 * both() runs fn(s, arg, 0) here and fn(s, arg, 1) on the helper (without
 * one, here after the first half) and returns when both are done. What
 * runs on the helper writes only its half's part of the arrays and of
 * 'arg', and calls no libc (see worker.c). */
typedef void (*half_fn)(struct scan *s, void *arg, int half);

struct job {
    half_fn fn;
    struct scan *s;
    void *arg;
};

static void job_on_helper(void *p)
{
    struct job *j = p;
    j->fn(j->s, j->arg, 1);
}

static void both(struct scan *s, half_fn fn, void *arg)
{
    if (!s->task) {
        fn(s, arg, 0);
        fn(s, arg, 1);
        return;
    }
    struct job j = {fn, s, arg};
    tm__helper_post(s->task, job_on_helper, &j);
    fn(s, arg, 0);
    if (tm__helper_join(s->task) < 0)
        s->failed = 1; /* the helper died: its half is missing */
}

/* Blocks [*lo, *hi) of half 'half' of the n sorted ones. */
static void half_range(size_t n, int half, size_t *lo, size_t *hi)
{
    *lo = half ? n / 2 : 0;
    *hi = half ? n : n / 2;
}

/* --- blocks --- */

/* Each half of the live table's shards is copied into its own part of
 * 'blk', noting the bits in which its addresses differ. */
#define WINDOWS 16 /* distinct 4 GiB windows of addresses the sort ranks, at most */

struct copy_half {
    struct blk *dst;
    size_t n, cap;
    uintptr_t first, differ;
    uint32_t win[WINDOWS]; /* the windows (address >> 32) met */
    int nwin;              /* -1: more than WINDOWS */
};

struct copy_job {
    struct copy_half half[2];
    struct blk *tmp; /* the sort's buffer, faulted in with 'blk' */
};

static void copy_block(const struct tm__block *b, void *arg)
{
    struct copy_half *c = arg;
    if (c->n == c->cap)
        return;
    if (c->n == 0)
        c->first = b->ptr;
    c->differ |= b->ptr ^ c->first;
    uint32_t w = (uint32_t)(b->ptr >> 32);
    if (c->nwin >= 0) {
        int k = 0;
        while (k < c->nwin && c->win[k] != w)
            k++;
        if (k == c->nwin)
            c->nwin = k == WINDOWS ? -1 : k + 1;
        if (k < WINDOWS)
            c->win[k] = w;
    }
    struct blk *d = &c->dst[c->n++];
    d->ptr = b->ptr;
    d->weight = b->size;
    d->stack = b->stack;
    d->count = b->count;
}

static void copy_part(struct scan *s, void *arg, int half)
{
    struct copy_job *j = arg;
    struct copy_half *c = &j->half[half];
    tm__populate(c->dst, c->cap * sizeof(*c->dst));
    tm__populate(j->tmp + (c->dst - s->blk), c->cap * sizeof(*j->tmp));
    unsigned mid = TM_LIVE_SHARDS / 2;
    tm__live_foreach_shards_unlocked(half ? mid : 0, half ? TM_LIVE_SHARDS : mid, copy_block, c);
}

/* The 4 GiB windows of the blocks' addresses, ascending, when there are
 * 2 to WINDOWS of them (else 0): the sort then orders by (rank of the
 * window, low 32 bits), which has fewer bits than the addresses (a heap
 * near 0x55.. and mappings near 0x7f.. are 44 bits apart, 29 as ranks). */
struct windows {
    uint32_t w[WINDOWS];
    int n;
};

static void merge_windows(struct windows *out, const struct copy_half *a, const struct copy_half *b)
{
    out->n = 0;
    if (a->nwin < 0 || b->nwin < 0)
        return;
    for (int h = 0; h < 2; h++) {
        const struct copy_half *c = h ? b : a;
        for (int k = 0; k < c->nwin; k++) {
            int i = 0;
            while (i < out->n && out->w[i] < c->win[k])
                i++;
            if (i < out->n && out->w[i] == c->win[k])
                continue;
            if (out->n == WINDOWS) {
                out->n = 0;
                return;
            }
            memmove(&out->w[i + 1], &out->w[i], (size_t)(out->n - i) * sizeof(out->w[0]));
            out->w[i] = c->win[k];
            out->n++;
        }
    }
    if (out->n < 2)
        out->n = 0;
}

/* Copies the live table into s->blk; returns the address bits in which
 * blocks differ, and their windows in 'win'. */
static uintptr_t copy_blocks(struct scan *s, struct blk *tmp, struct windows *win)
{
    struct copy_job j;
    memset(&j, 0, sizeof(j));
    j.tmp = tmp;
    j.half[0].dst = s->blk;
    j.half[0].cap = tm__live_count_shards_unlocked(0, TM_LIVE_SHARDS / 2);
    j.half[1].dst = s->blk + j.half[0].cap;
    j.half[1].cap = s->cap - 1 - j.half[0].cap;
    both(s, copy_part, &j);
    const struct copy_half *a = &j.half[0], *b = &j.half[1];
    if (a->n < a->cap) /* cannot happen under the locks; keep the array dense */
        memmove(s->blk + a->n, b->dst, b->n * sizeof(*b->dst));
    s->n = a->n + b->n;
    merge_windows(win, a, b);
    return a->differ | b->differ | (a->n && b->n ? a->first ^ b->first : 0);
}

/* With sampling 'size' is a weight: the extent is the usable size, asked of
 * malloc only for blocks that are malloc's (in a heap, or an mmapped chunk
 * whose header starts a page); others (tracemem_track ranges) get 0. */
static uint64_t sampled_extent(const struct seg *g, uintptr_t ptr)
{
    if (!g || !tm__real.malloc_usable_size || !(g->heap || (g->anon && (ptr - 2 * WORD) % 4096 == 0)))
        return 0;
    return tm__real.malloc_usable_size((void *)ptr);
}

/* LSD radix sort by address, 8 bits a pass, on two threads. Digits start
 * at the lowest bit that differs between blocks (malloc's alignment
 * leaves 4 low bits alike) and stop at the highest; a pass whose digits
 * all agree moves nothing. Each thread moves one half of the array
 * (stable: the first half's blocks of a digit go before the second
 * half's) and counts, for the next pass, the next digit of what it wrote
 * by the half it landed in. 8-bit digits: with 256 buckets a pass is
 * about as fast as a copy, where 2048 buckets took four times as long,
 * and 3 passes of 10 bits as long as 4 of 8. */
#define DIGIT 8
#define BUCKETS (1 << DIGIT)

struct sort_job {
    struct windows win;
    struct blk *from, *to;
    size_t n, mid;
    int shift;                 /* of this pass's digit */
    size_t cnt[2][2][BUCKETS]; /* [thread][half of 'from'][digit]: counted for this pass */
    size_t off[2][BUCKETS];    /* [thread][digit]: where its next block of that digit goes */
};

static inline unsigned digit_of(uintptr_t p, int shift)
{
    return (unsigned)(p >> shift) & (BUCKETS - 1);
}

/* The digit at 'shift' of the sort key of address 'p' (see windows). */
static inline unsigned key_digit(const struct sort_job *j, uintptr_t p, int shift)
{
    if (j->win.n && shift + DIGIT > 32) {
        uint32_t w = (uint32_t)(p >> 32);
        uintptr_t r = 0;
        while (j->win.w[r] != w)
            r++;
        p = r << 32 | (p & 0xffffffffu);
    }
    return digit_of(p, shift);
}

/* Not a memset (which a plain loop may become): this runs on the helper. */
static void zero_counts(size_t *c, int n)
{
    for (int d = 0; d < n; d++)
        __atomic_store_n(&c[d], 0, __ATOMIC_RELAXED);
}

/* Counts this pass's digits in half 'half' of 'from'. */
static void count_part(struct scan *s, void *arg, int half)
{
    struct sort_job *j = arg;
    size_t lo, hi;
    (void)s;
    half_range(j->n, half, &lo, &hi);
    zero_counts(&j->cnt[half][0][0], 2 * BUCKETS);
    size_t *c = j->cnt[half][half];
    for (size_t i = lo; i < hi; i++)
        c[key_digit(j, j->from[i].ptr, j->shift)]++;
}

static void scatter_part(struct scan *s, void *arg, int half)
{
    struct sort_job *j = arg;
    size_t lo, hi;
    (void)s;
    half_range(j->n, half, &lo, &hi);
    zero_counts(&j->cnt[half][0][0], 2 * BUCKETS);
    size_t *off = j->off[half], *c0 = j->cnt[half][0], *c1 = j->cnt[half][1];
    int shift = j->shift, next = j->shift + DIGIT;
    for (size_t i = lo; i < hi; i++) {
        uintptr_t p = j->from[i].ptr;
        size_t d = off[key_digit(j, p, shift)]++;
        j->to[d] = j->from[i];
        (d < j->mid ? c0 : c1)[next < 64 ? key_digit(j, p, next) : 0]++;
    }
}

/* Where each thread's blocks of each digit go; 0 when all blocks have the
 * same digit (nothing to move). */
static int plan_pass(struct sort_job *j)
{
    size_t sum = 0;
    for (int d = 0; d < BUCKETS; d++) {
        size_t first = j->cnt[0][0][d] + j->cnt[1][0][d], all = first + j->cnt[0][1][d] + j->cnt[1][1][d];
        if (all == j->n)
            return 0;
        j->off[0][d] = sum;
        j->off[1][d] = sum + first;
        sum += all;
    }
    return 1;
}

static void sort_blocks(struct scan *s, struct blk **tmp, uintptr_t differ, const struct windows *win)
{
    if (s->n < 2 || !differ)
        return;
    if (win->n) { /* the key's bits: the low 32 of the address, the window's rank */
        uintptr_t ranks = ((uintptr_t)2 << (31 - __builtin_clz((unsigned)win->n - 1))) - 1;
        differ = (differ & 0xffffffffu) | ranks << 32;
    }
    int low = __builtin_ctzl(differ), bits = 64 - __builtin_clzl(differ) - low;
    struct sort_job *j = tm__map(sizeof(*j));
    if (!j) {
        s->failed = 1;
        return;
    }
    j->win = *win;
    int moved = 0;
    j->from = s->blk;
    j->to = *tmp;
    j->n = s->n;
    j->mid = s->n / 2;
    j->shift = low;
    both(s, count_part, j);
    for (int p = 0; DIGIT * p < bits; p++) {
        int last = DIGIT * (p + 1) >= bits;
        if (!plan_pass(j)) {
            j->shift += DIGIT;
            if (!last)
                both(s, count_part, j);
            continue;
        }
        both(s, scatter_part, j);
        moved++;
        struct blk *t = j->from;
        j->from = j->to;
        j->to = t;
        j->shift += DIGIT;
    }
    debug_phase("radix passes", (size_t)moved);
    if (j->from != s->blk) { /* the sorted blocks are in the other buffer */
        *tmp = s->blk;
        s->blk = j->from;
    }
    tm__unmap(j, sizeof(*j));
}

/* Marks blocks whose contents (and chunk header) can be read, and makes
 * their 'at' entries; mappings are met in address order, like blocks. */
struct index_job {
    uintptr_t lo[2], hi[2];
};

static void index_part(struct scan *s, void *arg, int half)
{
    struct index_job *j = arg;
    size_t from, to;
    half_range(s->n, half, &from, &to);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    size_t k = from < to ? seg_after(s, s->blk[from].ptr) : 0;
    for (size_t i = from; i < to; i++) {
        struct blk *b = &s->blk[i];
        while (k < s->nseg && s->seg[k].hi <= b->ptr)
            k++;
        const struct seg *g = k < s->nseg && s->seg[k].lo <= b->ptr ? &s->seg[k] : NULL;
        uint64_t extent = tm__cfg.sample_bytes ? sampled_extent(g, b->ptr) : b->weight;
        uintptr_t end = b->ptr + (extent ? extent : 1);
        s->at[i] = (struct span){b->ptr, extent};
        lo = b->ptr < lo ? b->ptr : lo;
        hi = end > hi ? end : hi;
        uint8_t st = UNREACHED;
        if (g && g->r) {
            st |= READABLE;
            if (end > g->hi)
                st |= SPLIT; /* a guard page inside, or the like */
            if (b->ptr - 2 * WORD >= g->lo)
                st |= HEADER;
        }
        s->state[i] = st;
    }
    j->lo[half] = lo;
    j->hi[half] = hi;
}

static void index_blocks(struct scan *s)
{
    struct index_job j;
    if (tm__cfg.sample_bytes) { /* malloc_usable_size() is libc's: not on the helper */
        index_part(s, &j, 0);
        index_part(s, &j, 1);
    } else {
        both(s, index_part, &j);
    }
    uintptr_t lo = j.lo[0] < j.lo[1] ? j.lo[0] : j.lo[1], hi = j.hi[0] > j.hi[1] ? j.hi[0] : j.hi[1];
    s->lo = lo;
    s->span = hi > lo ? hi - lo : 0;
}

/* Block 'i' starts a new region: more than one empty page after the last. */
static int region_starts(const struct scan *s, size_t i)
{
    return i == 0 || (s->at[i].ptr >> 12) > (s->at[i - 1].ptr >> 12) + 2;
}

/* Block 'i''s entry in the line of its first page. */
static void line_add(struct pline *l, const struct span *b)
{
    uint32_t start = b->ptr & 4095;
    uintptr_t last = b->ptr + (b->extent ? b->extent : 1) - 1;
    uint32_t lastoff = (last >> 12) != (b->ptr >> 12) ? 4095 : (uint32_t)(last & 4095);
    if (l->n < PL_MAX) {
        uint32_t v = start | lastoff << 12;
        memcpy(&l->e[3 * l->n], &v, 3);
    }
    if (l->n < 255)
        l->n++;
}

/* The index in halves: blocks [from[h], from[h + 1]) for half h, cut
 * where a page starts so that no line has blocks of both. Each half counts
 * its regions and lines, then writes them after the first half's; when the
 * second half begins inside the first's last region, it writes the pages
 * that region gains in 'more' (their lines follow the first half's), added
 * after both are done. */
struct pages_job {
    size_t from[3];
    size_t nreg[2], nlines[2];
    int fill;           /* 0: count, 1: write */
    struct region more; /* the second half's pages of the first's last region */
};

static void pages_part(struct scan *s, void *arg, int half)
{
    struct pages_job *j = arg;
    size_t lo = j->from[half], hi = j->from[half + 1];
    if (!j->fill) {
        size_t nreg = 0, nlines = 0;
        for (size_t i = lo; i < hi; i++) {
            if (region_starts(s, i)) {
                nreg++;
                nlines++;
            } else {
                nlines += (s->at[i].ptr >> 12) - (s->at[i - 1].ptr >> 12);
            }
        }
        j->nreg[half] = nreg;
        j->nlines[half] = nlines;
        return;
    }
    size_t reg = half ? j->nreg[0] : 0, line = half ? j->nlines[0] : 0;
    struct region *r = &j->more;
    if (lo < hi && !region_starts(s, lo))
        *r = (struct region){(s->at[lo - 1].ptr >> 12) + 1, 0, (uint32_t)line, 0};
    for (size_t i = lo; i < hi; i++) {
        uintptr_t page = s->at[i].ptr >> 12;
        if (region_starts(s, i)) {
            r = &s->reg[reg++];
            *r = (struct region){page, 0, (uint32_t)line, 0};
        }
        while (r->page + r->npages <= page) { /* lines up to this page, written whole */
            s->lines[line++] = (struct pline){.first = (uint32_t)i};
            r->npages++;
        }
        r->last = (uint32_t)i;
        line_add(&s->lines[line - 1], &s->at[i]);
    }
}

/* The regions and their page lines; blocks are sorted. */
static int index_pages(struct scan *s)
{
    struct pages_job j;
    memset(&j, 0, sizeof(j));
    size_t mid = s->n / 2;
    while (mid > 0 && mid < s->n && (s->at[mid].ptr >> 12) == (s->at[mid - 1].ptr >> 12))
        mid++;
    j.from[1] = mid;
    j.from[2] = s->n;
    both(s, pages_part, &j);
    size_t nreg = j.nreg[0] + j.nreg[1], nlines = j.nlines[0] + j.nlines[1];
    s->reg = scan_map(s, (nreg + 1) * sizeof(*s->reg));
    /* in the sort's spare buffer after 'at' and 'state' when they fit
     * (faulted in already: fresh pages cost as much as a pass over them) */
    uintptr_t free_at = ((uintptr_t)(s->state + s->cap) + 63) & ~(uintptr_t)63;
    if (free_at + (nlines + 1) * sizeof(*s->lines) <= (uintptr_t)(s->spare + s->cap)) {
        s->lines = (struct pline *)free_at;
    } else {
        s->lines = scan_map(s, (nlines + 1) * sizeof(*s->lines));
        s->own_lines = 1;
        if (s->lines)
            tm__populate(s->lines, (nlines + 1) * sizeof(*s->lines));
    }
    if (!s->reg || !s->lines)
        return -ENOMEM;
    s->nlines = nlines;
    j.fill = 1;
    both(s, pages_part, &j);
    if (j.more.npages) { /* the second half went on in the first's last region */
        s->reg[j.nreg[0] - 1].npages += j.more.npages;
        s->reg[j.nreg[0] - 1].last = j.more.last;
    }
    s->nreg = nreg;
    s->lines[nlines] = (struct pline){.first = (uint32_t)s->n}; /* ends the last line's blocks */
    return 0;
}

static int collect_blocks(struct scan *s)
{
    size_t cap = tm__live_count() + 1;
    s->blk = scan_map(s, cap * sizeof(*s->blk));
    struct blk *tmp = scan_map(s, cap * sizeof(*tmp));
    s->cap = cap;
    s->spare = tmp;
    if (s->failed)
        return -ENOMEM;
    struct windows win;
    uintptr_t differ = copy_blocks(s, tmp, &win);
    debug_phase("blocks copied", s->n);
    tm__live_tables_unlocked(exclude_table, s);
    sort_blocks(s, &tmp, differ, &win);
    /* the buffer the sorted blocks are not in holds 'at' and 'state':
     * 16 + 1 of its 24 bytes a block */
    _Static_assert(sizeof(struct span) + 1 <= sizeof(struct blk), "at and state fit in the spare buffer");
    s->spare = tmp;
    s->at = (struct span *)tmp;
    s->state = (uint8_t *)(s->at + cap);
    return s->failed ? -ENOMEM : 0;
}

/* --- pointers --- */

/* Valgrind's aligned_ptr_above_page0_is_vtable_addr: 'v' points into a
 * readable file mapping at a table whose first two non-null words (within
 * 20) point into executable file mappings. */
static int is_vtable(const struct scan *s, uintptr_t v)
{
    if (v % WORD || v < 4096)
        return 0;
    const struct seg *g = seg_of(s, v);
    if (!g || !g->file || !g->r)
        return 0;
    uintptr_t max = v + 20 * WORD;
    if (max > g->hi - WORD)
        max = g->hi - WORD;
    int fns = 0;
    for (uintptr_t a = v; a <= max; a += WORD) {
        uintptr_t f = *(const uintptr_t *)a;
        if (!f)
            continue;
        const struct seg *h = seg_of(s, f);
        if (!h || !h->file || !h->x)
            return 0;
        if (++fns == 2)
            return 1;
    }
    return 0;
}

/* In a SPLIT block 'b' (some of it unreadable): 1 when the word at 'w' and
 * the block's first 'first' words can be read. */
static int split_readable(const struct scan *s, const struct span *b, uintptr_t w, unsigned first)
{
    const struct seg *g = seg_of(s, w), *h = seg_of(s, b->ptr);
    return g && g->r && w + WORD <= g->hi && h && h->r && b->ptr + first * WORD <= h->hi;
}

/* Valgrind's multipleinheritance heuristic: 'w' points to a word of block
 * 'b' that holds a vtable pointer, and so does the block's first word. */
static int multiple_inheritance(const struct scan *s, const struct span *b, uintptr_t w)
{
    if (w % WORD || w + WORD > b->ptr + b->extent)
        return 0;
    uintptr_t inner = *(const uintptr_t *)w, first = *(const uintptr_t *)b->ptr;
    return inner % WORD == 0 && inner >= 4096 && first % WORD == 0 && first >= 4096 && is_vtable(s, inner) &&
           is_vtable(s, first);
}

/* Valgrind's default --leak-check-heuristics=all for an interior pointer
 * 'w' into readable block 'b': 1 when it counts as a start pointer. */
static int heuristic(const struct scan *s, const struct span *b, uintptr_t w, int split)
{
    const uintptr_t *d = (const uintptr_t *)b->ptr;
    if (split && !split_readable(s, b, w, 2)) /* 'w' may lie in an unreadable part */
        return 0;
    if (w == b->ptr + 3 * WORD) { /* stdstring: length capacity refcount chars */
        uintptr_t cap = d[1];
        if (3 * WORD + cap + 1 == b->extent && d[0] <= cap)
            return 1;
    }
    if (w == b->ptr + WORD && d[0] > 0) {
        if (b->extent - WORD == d[0]) /* length64 (sqlite) */
            return 1;
        if ((b->extent - WORD) % d[0] == 0) /* newarray: element count */
            return 1;
    }
    return multiple_inheritance(s, b, w);
}

/* The line of w's page, or NULL with *tail the only block that can hold
 * 'w' (the last of the region before, or -1). */
static inline const struct pline *line_of(const struct scan *s, uintptr_t w, long *tail)
{
    uintptr_t page = w >> 12;
    size_t lo = 0, hi = s->nreg;
    *tail = -1;
    while (hi - lo > 1) { /* last region starting at or before 'page' */
        size_t mid = (lo + hi) / 2;
        if (s->reg[mid].page <= page)
            lo = mid;
        else
            hi = mid;
    }
    const struct region *r = &s->reg[lo];
    if (!s->nreg || r->page > page)
        return NULL;
    if (page - r->page < r->npages)
        return &s->lines[r->line + (page - r->page)];
    *tail = r->last;
    return NULL;
}

static inline uint32_t line_entry(const struct pline *l, int k)
{
    uint32_t v;
    memcpy(&v, &l->e[3 * k], 4);
    return v & 0xffffff;
}

/* The last block of a crowded page's line that starts at or before 'w'. */
static long crowded(const struct scan *s, const struct pline *l, uintptr_t w)
{
    size_t lo = l->first, hi = l[1].first;
    if (s->at[lo].ptr > w)
        return (long)lo - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->at[mid].ptr <= w)
            lo = mid;
        else
            hi = mid;
    }
    return (long)lo;
}

/* Block 'i' holds 'w' (checked in 'at'); *start: at its first byte;
 * *hit: its address and extent. */
static inline long holds(const struct scan *s, long i, uintptr_t w, int *start, struct span *hit)
{
    if (i < 0)
        return -1;
    const struct span *b = &s->at[i];
    *hit = *b;
    *start = w == b->ptr;
    return *start || w - b->ptr < b->extent ? i : -1;
}

/* The block holding 'w', found from w's line 'l' (NULL: 'tail'), or -1;
 * *start: 'w' is its first byte; *hit: its address and extent (NO_EXTENT
 * when the line cannot say: the block reaches the page's end, or has 0 or
 * 1 byte). A page's line answers alone unless it is crowded or 'w' lies
 * before its first block. */
static inline __attribute__((always_inline)) long resolve(const struct scan *s, uintptr_t w, const struct pline *l,
                                                          long tail, int *start, struct span *hit)
{
    if (!l)
        return holds(s, tail, w, start, hit);
    if (l->n > PL_MAX)
        return holds(s, crowded(s, l, w), w, start, hit);
    uint32_t o = w & 4095;
    for (int k = l->n - 1; k >= 0; k--) {
        uint32_t v = line_entry(l, k), first = v & 4095, last = v >> 12;
        if (first <= o) {
            *start = first == o;
            hit->ptr = (w & ~(uintptr_t)4095) | first;
            hit->extent = last != 4095 && last != first ? last - first + 1 : NO_EXTENT;
            return o <= last ? (long)l->first + k : -1;
        }
    }
    return holds(s, (long)l->first - 1, w, start, hit);
}

/* A block's state byte (see swap_kind). */
static inline uint8_t state_of(const struct scan *s, size_t i)
{
    return __atomic_load_n(&s->state[i], __ATOMIC_RELAXED);
}

/* The end of block 'i''s malloc chunk, from the size word just before the
 * block, with '*mmapped' set for an mmapped chunk; 0 when that header
 * cannot be read (HEADER). */
static inline uintptr_t chunk_end(const struct scan *s, size_t i, int *mmapped)
{
    if (!(state_of(s, i) & HEADER))
        return 0;
    uintptr_t size = ((const uintptr_t *)s->at[i].ptr)[-1];
    *mmapped = (size & 2) != 0;
    return s->at[i].ptr - 2 * WORD + (size & ~(uintptr_t)7);
}

/* 1 when 'w' is the address of the heap chunk that follows block 'i'. */
static inline int is_chunk_after(const struct scan *s, size_t i, uintptr_t w)
{
    int mmapped = 0;
    uintptr_t end = chunk_end(s, i, &mmapped);
    return end && !mmapped && w == end;
}

/* 1 when readable block 'i' is a C++ object whose last base 'w' points to
 * (multiple_inheritance). */
static int last_base(const struct scan *s, size_t i, uintptr_t w)
{
    const struct span *b = &s->at[i];
    uint8_t st = state_of(s, i);
    if (!(st & READABLE) || ((st & SPLIT) && !split_readable(s, b, w, 1)))
        return 0;
    return multiple_inheritance(s, b, w);
}

/* The address of the malloc chunk after block 'i', at or after its last
 * word, is the chunk's, not a pointer into block 'i', in the C library's
 * data (main_arena's bins and top) and in a leaked block ('in_leaked': the
 * cliques): glibc leaves such addresses in chunks it hands out again, at
 * any depth (the links of its free lists, the headers of chunks merged
 * since): two threads that reuse each other's arena made 2 802 of 11 997
 * leaks indirect through them; Valgrind's allocator leaves no such words.
 * In a leaked block, unless it points to a C++ object's last base
 * (Valgrind's multipleinheritance heuristic: last_base). Elsewhere (roots,
 * reachable and possible blocks) it is a pointer to the last word, interior
 * unless a heuristic says otherwise, as for Valgrind: a block whose only
 * reference is such a pointer (an intrusive list linked through its last
 * word) stays possible, never definite. */
static inline int next_chunk(const struct scan *s, long i, uintptr_t w, int in_leaked)
{
    const struct span *b = &s->at[i];
    if (!(s->in_libc || in_leaked) || w + WORD < b->ptr + b->extent || !is_chunk_after(s, (size_t)i, w))
        return 0;
    return s->in_libc || !last_base(s, (size_t)i, w);
}

/* 1 when 'w', a word of the C library's data that points inside a block
 * (not to its start), is page-aligned: one of malloc's byte counts
 * (main_arena's system_mem and max_system_mem, the size of the [heap]
 * mapping; mp_'s mmapped bytes), not a pointer. In a program built
 * without PIE the heap lies low and these sizes fall inside it: 3 leaked
 * blocks of a random loop were "possible" through them (leaks_classes
 * "loop"). Valgrind's allocator keeps no such counts there. glibc's own
 * pointers into blocks (stdio's buffer positions) are rarely page-aligned,
 * and their blocks' starts are held too. */
static inline int libc_size(const struct scan *s, uintptr_t w, int start)
{
    return s->in_libc && !start && w % 4096 == 0;
}

/* 1 when 'w' points into a page of block 'i' that cannot be read (a guard
 * page inside: SPLIT): as for Valgrind, whose leak check takes only a
 * readable address for a pointer, that is no reference to the block. */
static inline int unreadable_target(const struct scan *s, size_t i, uintptr_t w)
{
    if (!(state_of(s, i) & SPLIT))
        return 0;
    const struct seg *g = seg_of(s, w);
    return !g || !g->r;
}

/* Index of the block 'w' points into, or -1; *start, *hit as resolve(). */
static inline long lookup_start(const struct scan *s, uintptr_t w, int *start, struct span *hit)
{
    if (w - s->lo >= s->span)
        return -1;
    long tail;
    const struct pline *l = line_of(s, w, &tail);
    long i = resolve(s, w, l, tail, start, hit);
    return i >= 0 && (next_chunk(s, i, w, 0) || libc_size(s, w, *start) || unreadable_target(s, (size_t)i, w)) ? -1
                                                                                                             : i;
}

static inline long lookup(const struct scan *s, uintptr_t w)
{
    int start;
    struct span hit;
    return lookup_start(s, w, &start, &hit);
}

/* The work item of block 'i' with state byte 'st', found at 'hit'. */
static inline struct item item_of(size_t i, uint8_t st, const struct span *hit)
{
    struct item it = {hit->ptr, (uint32_t)i, st & ITEM_FLAGS};
    if (hit->extent < (1u << 24))
        it.meta |= (uint32_t)hit->extent << 8;
    else
        it.meta |= ITEM_ASK;
    return it;
}

/* The block's address and extent, from the item or from 'at'. */
static inline struct span item_span(const struct scan *s, const struct item *it)
{
    if (it->meta & ITEM_ASK)
        return s->at[it->i];
    return (struct span){it->ptr, it->meta >> 8};
}

/* Work: reachable (and clique) blocks grow up from work[0], possible ones
 * down from work[capwork]; a block enters each side at most once a pass. */
static inline void push(struct scan *s, struct item it)
{
    if (s->nwork < s->ptop)
        s->work[s->nwork++] = it;
    else
        s->failed = 1;
}

static inline void push_possible(struct scan *s, struct item it)
{
    if (s->ptop > s->nwork)
        s->work[--s->ptop] = it;
    else
        s->failed = 1;
}

/* State bytes are shared by the two threads of the flood and the cliques:
 * only the kind changes then, by compare-and-swap, and the thread whose
 * swap succeeds pushes the block, so a block still enters each side of
 * the work at most once a pass. Relaxed order: the heap and the other
 * arrays do not change, and work moves between threads under a lock. */
/* 1 when this thread turned block 'i' from kind 'from' to 'to'; *was:
 * its state byte before. */
static inline int swap_kind(struct scan *s, size_t i, int from, int to, uint8_t *was)
{
    uint8_t old = state_of(s, i);
    while ((old & KIND_MASK) == from) {
        uint8_t st = (uint8_t)((old & ~KIND_MASK) | to);
        if (__atomic_compare_exchange_n(&s->state[i], &old, st, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *was = old;
            return 1;
        }
    }
    return 0;
}

/* 1 when this thread made block 'i' reachable (from unreached or possible). */
static inline int make_reachable(struct scan *s, size_t i)
{
    uint8_t old = state_of(s, i);
    while ((old & KIND_MASK) != REACHABLE) {
        uint8_t st = (uint8_t)((old & ~KIND_MASK) | REACHABLE);
        if (__atomic_compare_exchange_n(&s->state[i], &old, st, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return 1;
    }
    return 0;
}

/* Word 'w' of a root ('definite') or of a possible/reachable block, found
 * in block 'i' (at its first byte: 'start'; its address and extent as far
 * as known: 'hit'). */
static void visit_block(struct scan *s, uintptr_t w, size_t i, int start, int definite, const struct span *hit)
{
    uint8_t st = state_of(s, i);
    int kind = st & KIND_MASK;
    if (kind == REACHABLE)
        return;
    const struct span *b = &s->at[i];
    if (!start && definite && (st & READABLE)) { /* else it changes nothing */
        start = heuristic(s, b, w, st & SPLIT);
        hit = b; /* read now anyway */
    }
    if (debug && debug_at)
        tm__warn("leak debug: root word at 0x%lx -> block 0x%lx (%lu bytes) %s; next words %lx %lx %lx",
                 (unsigned long)debug_at, (unsigned long)b->ptr, (unsigned long)b->extent,
                 start ? "start" : "interior", ((unsigned long *)debug_at)[1], ((unsigned long *)debug_at)[2],
                 ((unsigned long *)debug_at)[3]);
    if (start && definite) {
        if (make_reachable(s, i))
            push(s, item_of(i, st, hit));
    } else if (kind == UNREACHED) {
        if (swap_kind(s, i, UNREACHED, POSSIBLE, &st))
            push_possible(s, item_of(i, st, hit));
    }
}

static void visit(struct scan *s, uintptr_t w, int definite)
{
    int start;
    struct span hit;
    long i = lookup_start(s, w, &start, &hit);
    if (i >= 0)
        visit_block(s, w, (size_t)i, start, definite, &hit);
}

/* Words of [lo, hi) that point into the heap's span are visited in
 * batches, as a pipeline: the page lines of a batch are prefetched as its
 * words are read, then each word is resolved to its block from its line
 * and the block's state byte prefetched, then the words are visited in
 * order; the cache misses of a batch overlap instead of adding up. */
#define BATCH 32

typedef void (*word_fn)(struct scan *s, uintptr_t w, size_t i, int start, uintptr_t arg, const struct span *hit);

/* Words waiting for their lines: all were found in memory scanned with the
 * same 'arg' (definite, or the clique's leader). */
struct batch {
    uintptr_t w[BATCH];
    const struct pline *line[BATCH];
    long tail[BATCH];
    uintptr_t arg;
    uint32_t freed; /* bit k: word k sits where a free chunk's links sat (stale_shapes only) */
    uint32_t last;  /* bit k: word k is the last word of its block (the cliques only) */
    int n;
};

static void visit_word(struct scan *s, uintptr_t w, size_t i, int start, uintptr_t definite,
                       const struct span *hit);
static void mark_indirect(struct scan *s, uintptr_t w, size_t k, int start, uintptr_t leader,
                          const struct span *hit);

/* 1 where the words of memory scanned by 'fn' with 'arg' that sit as a
 * free chunk's links (free_chunk_links) join nothing: leaked blocks (the
 * cliques) and possibly lost ones (the flood's possible side): without
 * it, one integer of a root that equals an address inside a leaked block
 * (a program without PIE, whose heap lies low) made the block possible,
 * and with it, through glibc's old links, 1 221 others of a random loop's
 * leaks. Not the roots nor reachable blocks: there a mistake would call
 * a block in use lost (tried: C++ objects held through their second base,
 * whose first field is an odd count, and buffers held by a cursor into
 * their unwritten part, which still holds glibc's old words, came out
 * definite by the hundred), so glibc's words in a reachable block can
 * still keep a leaked block possible, or reachable. Only words that point
 * inside a block, never to its start. */
static inline int stale_shapes(word_fn fn, uintptr_t arg)
{
    return fn == mark_indirect || (fn == visit_word && !arg);
}

static int in_ranges(const struct range *r, size_t n, uintptr_t a)
{
    for (size_t i = 0; i < n; i++)
        if (a >= r[i].lo && a < r[i].hi)
            return 1;
    return 0;
}

static inline int free_size(const struct scan *s, const uintptr_t *p, int h, uintptr_t lo);
static inline int tags_agree(const struct scan *s, const uintptr_t *p, int h);
static inline int link_like(uintptr_t v);
static inline int bin_value(const struct scan *s, uintptr_t v);
static inline int thread_heap_size(const struct scan *s, const uintptr_t *p, int h);

/* 1 when 'w', a word of a leaked block (the cliques: where a mistake only
 * makes an indirect block definite; a pointer to a C++ object's second
 * base, whose first field is an odd count, reads the same) that points
 * inside block 'i' (not at its start; 'i' not reached yet), points to what still reads
 * as the header of a malloc chunk of an older layout: a size that its
 * neighbours' boundary tags confirm (tags_agree); in a thread's arena, the
 * size of a chunk handed out there (NON_MAIN_ARENA) after a free one (the
 * free chunk's size before it); or the links to a bin that a later
 * chunk wrote over it. glibc's links (fd, bk, nextsize) hold the addresses
 * of chunks that were free when it wrote them; those chunks have since
 * been merged and handed out again, their headers often left as they
 * were, while a program's interior pointer leads to the program's data. */
static int old_chunk_at(const struct scan *s, size_t i, uintptr_t w)
{
    const struct span *b = &s->at[i];
    uint8_t st = state_of(s, i);
    if (!link_like(w) || w + 2 * WORD > b->ptr + b->extent || !(st & READABLE) || (st & KIND_MASK) != UNREACHED)
        return 0;
    if (st & SPLIT) { /* a guard page inside: the two words must be readable */
        const struct seg *g = seg_of(s, w);
        if (!g || !g->r || w + 2 * WORD > g->hi)
            return 0;
    }
    const uintptr_t *c = (const uintptr_t *)w;
    if (bin_value(s, c[0]) || bin_value(s, c[1]))
        return 1; /* links of another chunk written over its header since */
    if (!free_size(s, c, 1, w))
        return 0;
    if (!(c[1] & 1) && thread_heap_size(s, c, 1))
        return 1; /* in use in a thread's arena, after a free chunk */
    return tags_agree(s, c, 1); /* a header whose neighbours' boundary tags agree */
}

/* The two later stages of a batch; for the flood, the record and the word
 * of an interior pointer's block are prefetched too when the block is not
 * reachable yet (heuristic() reads them). */
static inline __attribute__((always_inline)) void run_batch(struct scan *s, struct batch *b, word_fn fn)
{
    int interior = fn == visit_word && b->arg; /* definite: heuristic() may run */
    long idx[BATCH];
    int start[BATCH];
    struct span hit[BATCH];
    for (int k = 0; k < b->n; k++) {
        idx[k] = resolve(s, b->w[k], b->line[k], b->tail[k], &start[k], &hit[k]);
        if (idx[k] >= 0)
            __builtin_prefetch(&s->state[idx[k]]);
    }
    for (int k = 0; interior && k < b->n; k++) /* what heuristic() reads */
        if (idx[k] >= 0 && !start[k] && (state_of(s, (size_t)idx[k]) & KIND_MASK) != REACHABLE) {
            __builtin_prefetch(&s->at[idx[k]]);
            __builtin_prefetch((const void *)b->w[k]);
        }
    for (int k = 0; fn == mark_indirect && k < b->n; k++) /* what old_chunk_at() reads */
        if (idx[k] >= 0 && !start[k] && (state_of(s, (size_t)idx[k]) & KIND_MASK) == UNREACHED)
            __builtin_prefetch((const void *)b->w[k]);
    for (int k = 0; k < b->n; k++)
        if (idx[k] >= 0 && !next_chunk(s, idx[k], b->w[k], fn == mark_indirect && !(b->last & 1u << k)) &&
            !libc_size(s, b->w[k], start[k]) &&
            !((b->freed & 1u << k) && !start[k]) && !unreadable_target(s, (size_t)idx[k], b->w[k]) &&
            !(fn == mark_indirect && !start[k] && old_chunk_at(s, (size_t)idx[k], b->w[k]))) {
            fn(s, b->w[k], (size_t)idx[k], start[k], b->arg, &hit[k]);
        }
    b->n = 0;
    b->freed = 0;
    b->last = 0;
}

/* 1 when 'v' reads as a malloc chunk's size: none of the bits 'mask' set,
 * at least MINSIZE, under 4 GiB (two 32-bit integers in one word are no
 * size: Python's objects hold many), not an address in a mapping (in a
 * program without PIE the image and the heap lie low). */
static inline int size_like(const struct scan *s, uintptr_t v, uintptr_t mask)
{
    return !(v & mask) && (v & ~(uintptr_t)7) >= 4 * WORD && !(v >> 32) && !seg_of(s, v);
}

/* 'p[h]' read as the size word of a chunk that glibc had free: a size
 * (size_like) with IS_MMAPPED and bit 3 clear (NON_MAIN_ARENA may be set);
 * when PREV_INUSE is clear, the word before (the chunk before's size,
 * kept while that one was free, at or after 'lo') a multiple of 16 too. */
static inline int free_size(const struct scan *s, const uintptr_t *p, int h, uintptr_t lo)
{
    if (!size_like(s, p[h], 10))
        return 0;
    if (p[h] & 1)
        return 1;
    return (uintptr_t)(p + h - 1) >= lo && size_like(s, p[h - 1], 15);
}

/* For a size word 'p[h]' that free_size() took: 1 when the boundary tags
 * agree as well: where this size says the next chunk starts, and where
 * that one's says the one after it starts, a size (PREV_INUSE set), or
 * where prev_size says the chunk before starts, that size (clear). Program
 * data such as {4096, 48, pointer} or {0x411, pointer} passes free_size()
 * and rarely this (leaks_classes "intrusive"); glibc's old headers of
 * large chunks, whose neighbours were merged since, often fail it, and
 * their nextsize links are known otherwise. Only in a heap: the reads may
 * go a chunk's length away. */
static inline int tags_agree(const struct scan *s, const uintptr_t *p, int h)
{
    uintptr_t at = (uintptr_t)(p + h), v = p[h];
    const struct seg *g = seg_of(s, at);
    if (!g || !g->heap)
        return 0;
    if (!(v & 1)) { /* the chunk before, prev_size bytes back, began with that size */
        uintptr_t prev = p[h - 1], before = at - prev;
        if (before < g->lo || before > at)
            return 0;
        uintptr_t t = *(const uintptr_t *)before;
        return (t & ~(uintptr_t)7) == prev && !(t & 2);
    }
    /* the chunk after, 'v' bytes on, begins with a size too (its PREV_INUSE
     * clear but for tcache and fastbins), and so does the one after it */
    uintptr_t after = at + (v & ~(uintptr_t)7);
    if (after + WORD > g->hi || after < at)
        return 0;
    for (int k = 0; k < 2; k++) {
        uintptr_t t = *(const uintptr_t *)after, next = after + (t & ~(uintptr_t)7);
        if (!size_like(s, t, 2))
            return 0;
        if (k == 0 && (next + WORD > g->hi || next <= after))
            return 0;
        after = next;
    }
    return 1;
}

#define LARGE_CHUNK 1024 /* glibc's MIN_LARGE_SIZE: chunks this big have nextsize links */

/* 1 when 'v' is the address of one of the arenas' bin headers (as a free
 * chunk's fd or bk holds when the chunk is first or last in its bin). */
static inline int bin_value(const struct scan *s, uintptr_t v)
{
    /* main_arena's runs come first; the others lie in the first page of a
     * thread's arena heap */
    size_t n = (v & (ARENA_HEAP_SIZE - 1)) < 4096 ? s->nbins : s->nlibcbins;
    for (size_t k = 0; k < n; k++)
        if (v - s->bins[k].lo <= s->bins[k].hi - s->bins[k].lo)
            return 1;
    return 0;
}

static inline int link_like(uintptr_t v)
{
    return v && v % (2 * WORD) == 0;
}

/* 'v', at 'a', as tcache's and the fastbins' link: the next entry's
 * address (16-aligned, within 4 GiB of 'a', not below the lowest block
 * 'heap_lo'; where the heap lies low, zero and small numbers would pass
 * otherwise) or NULL, xor a >> 12. */
static inline int mangled_like(uintptr_t v, uintptr_t a, uintptr_t heap_lo)
{
    uintptr_t n = v ^ (a >> 12);
    return n % (2 * WORD) == 0 && (!n || (n + 2 * WORD >= heap_lo && ((n ^ a) >> 32) == 0));
}

/* 1 when 'p[h]', a size, has NON_MAIN_ARENA set and lies in a heap of a
 * thread's arena: a chunk glibc handed out there (a free chunk's size has
 * no such bit; the program's integers rarely fall on it and in such a
 * heap). */
static inline int thread_heap_size(const struct scan *s, const uintptr_t *p, int h)
{
    if (!(p[h] & 4))
        return 0;
    const struct seg *g = seg_of(s, (uintptr_t)(p + h));
    return g && g->arena;
}

/* 1 when 'w', the word at 'p' (of the readable memory [lo, hi) of a block),
 * sits where a free chunk's links sit, after its size word: fd and bk
 * (after a size whose boundary tags agree, tags_agree), fd_nextsize and
 * bk_nextsize (after a size of a large chunk, whatever the program wrote
 * over fd and bk since; glibc leaves them in a large chunk, and they stay
 * when it is cut into smaller ones), the fd being raw or mangled (tcache,
 * fastbins: the bk is then tcache's key, any value); and the third and
 * fourth words of memory whose first two are those of a block handed out
 * from tcache (a mangled link, then the key glibc cleared), which an older
 * chunk left there; and the fd or bk of a chunk whose other link (the
 * other word of the 16-byte pair) is the address of a bin's header
 * (bin_value), which the program's data never holds. The caller leaves
 * words that point to a block's start alone: a program that frees a node
 * and allocates another in its place writes the same pointers, and a C++
 * string's unused inline buffer can hold a bin's address right before a
 * vector's begin pointer (a word within three of a bin's address, taken
 * for glibc's, made 47 of a C++ program's 4 300 leaked blocks definite
 * instead of indirect). glibc leaves
 * these words in the chunks it merges and hands out again, anywhere in a
 * new block (stale.c notes only the first words); their values are the
 * addresses of chunks that were free then, which later layouts put
 * anywhere inside live blocks (mangled, in a program without PIE, whose
 * heap lies low: anywhere near them). The program's own data has this
 * shape rarely (a word with a chunk size's bits, then pointers), and the
 * scan uses the shape only in leaked and possibly lost blocks
 * (stale_shapes), where a mistake turns an indirect block definite or a
 * possible one leaked, never a leak into no leak. */
static inline int free_chunk_links(const struct scan *s, const uintptr_t *p, uintptr_t w, uintptr_t lo,
                                   uintptr_t hi)
{
    uintptr_t a = (uintptr_t)p, block = s->piece_of, heap_lo = s->lo;
    /* the block's first two words: readable when the piece starts there
     * or after word 0 (left out by its note), in the same page */
    const uintptr_t *d = (const uintptr_t *)block;
    if (lo - block <= WORD && (a - block == 2 * WORD || a - block == 3 * WORD) && block % (2 * WORD) == 0 &&
        d[1] == 0 && mangled_like(d[0], block, heap_lo))
        return 1; /* the third or fourth word of a block from tcache */
    if (!link_like(w))
        return a % (2 * WORD) == 0 && a - WORD >= lo && mangled_like(w, a, heap_lo) && free_size(s, p, -1, lo);
    if (a % (2 * WORD) == 0 ? a + 2 * WORD <= hi && bin_value(s, p[1]) : a - WORD >= lo && bin_value(s, p[-1]))
        return 1; /* the fd or bk of a chunk whose other link is a bin's header */
    for (int h = a % (2 * WORD) == 0 ? -1 : -2; h >= -4; h -= 2) {
        if (a + (uintptr_t)h * WORD < lo || !free_size(s, p, h, lo))
            continue;
        if (h <= -3 && (p[h] & ~(uintptr_t)7) >= LARGE_CHUNK && (thread_heap_size(s, p, h) || tags_agree(s, p, h)))
            return 1; /* nextsize links of a large chunk; its fd and bk since overwritten */
        int mangled = 0;
        if (h + 1 < 0 && !link_like(p[h + 1])) {
            if (!mangled_like(p[h + 1], a + (uintptr_t)(h + 1) * WORD, heap_lo))
                continue;
            mangled = 1;
        }
        if (h + 2 < 0 && !mangled && !link_like(p[h + 2]))
            continue;
        if (h + 3 < 0 && !link_like(p[h + 3]))
            continue;
        if (mangled || tags_agree(s, p, h))
            return 1; /* a tcache or fastbin link, or raw links after a size its neighbours confirm */
    }
    return 0;
}

/* The batching loop itself, inlined into each caller with its 'fn': adds
 * the heap words of [lo, hi) to 'b', running it when full. The caller
 * runs what is left, possibly after adding more memory. */
static inline __attribute__((always_inline)) void for_heap_words(struct scan *s, struct batch *b,
                                                                 uintptr_t lo, uintptr_t hi, word_fn fn,
                                                                 uintptr_t arg)
{
    if (b->n && b->arg != arg)
        run_batch(s, b, fn);
    b->arg = arg;
    for (uintptr_t a = (lo + WORD - 1) & ~(WORD - 1); a + WORD <= hi; a += WORD) {
        uintptr_t w = *(const uintptr_t *)a;
        if (w - s->lo >= s->span)
            continue;
        const struct pline *l = line_of(s, w, &b->tail[b->n]);
        if (l)
            __builtin_prefetch(l);
        if (stale_shapes(fn, arg) && free_chunk_links(s, (const uintptr_t *)a, w, s->whole_lo, s->whole_hi))
            b->freed |= 1u << b->n;
        if (fn == mark_indirect && a + WORD == s->whole_hi)
            b->last |= 1u << b->n;
        b->line[b->n] = l;
        b->w[b->n++] = w;
        if (b->n == BATCH)
            run_batch(s, b, fn);
    }
}

static void visit_word(struct scan *s, uintptr_t w, size_t i, int start, uintptr_t definite,
                       const struct span *hit)
{
    visit_block(s, w, i, start, (int)definite, hit);
}

static void scan_words(struct scan *s, uintptr_t lo, uintptr_t hi, int definite)
{
    struct batch b;
    b.n = 0;
    b.freed = 0;
    b.last = 0;
    for_heap_words(s, &b, lo, hi, visit_word, (uintptr_t)definite);
    run_batch(s, &b, visit_word);
}

/* Roots: as scan_words, naming each word's address in debug output. */
static void scan_root_words(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    if (!debug) {
        scan_words(s, lo, hi, 1);
        return;
    }
    for (uintptr_t a = (lo + WORD - 1) & ~(WORD - 1); a + WORD <= hi; a += WORD) {
        debug_at = a;
        scan_words(s, a, a + WORD, 1);
    }
    debug_at = 0;
}

/* --- roots --- */

/* First block that ends after 'a'. */
static size_t first_block_after(const struct scan *s, uintptr_t a)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->at[mid].ptr + s->at[mid].extent <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The end of block 'i''s mmapped chunk when it lies past the block: the
 * rest of the chunk's last page, which keeps what the block held there
 * before realloc shrank it. That is the block's memory, not a root (no
 * more than a page of it: anything larger is not a chunk of glibc's). */
static uintptr_t mmapped_chunk_end(const struct scan *s, size_t i, uintptr_t end)
{
    int mmapped = 0;
    uintptr_t chunk = chunk_end(s, i, &mmapped);
    if (mmapped && chunk > end && chunk - end <= 4096 + 2 * WORD)
        return chunk;
    return end;
}

/* Root memory [lo, hi) minus the heap blocks lying in it (mmapped chunks). */
static void scan_piece(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = first_block_after(s, lo); lo < hi; i++) {
        if (i >= s->n || s->at[i].ptr >= hi) {
            scan_root_words(s, lo, hi);
            return;
        }
        if (s->at[i].ptr > lo)
            scan_root_words(s, lo, s->at[i].ptr);
        uintptr_t end = (s->at[i].ptr + s->at[i].extent + WORD - 1) & ~(WORD - 1);
        end = mmapped_chunk_end(s, (size_t)i, end);
        if (end > lo)
            lo = end;
    }
}

static void scan_root_pieces(struct scan *s, uintptr_t lo, uintptr_t hi);

static void scan_root(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    s->in_libc = in_ranges(s->libc, s->nlibc, lo);
    scan_root_pieces(s, lo, hi);
    s->in_libc = 0;
}

static void scan_root_pieces(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < s->nexcl && lo < hi; i++) {
        const struct range *e = &s->excl[i];
        if (e->hi <= lo || e->lo >= hi)
            continue;
        if (e->lo > lo)
            scan_piece(s, lo, e->lo);
        lo = e->hi;
    }
    if (lo < hi)
        scan_piece(s, lo, hi);
}

/* Shell sort (Ciura's gaps): a few thousand ranges, no allocation. */
static void sort_ranges(struct range *r, size_t n)
{
    static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
        size_t gap = gaps[g];
        for (size_t i = gap; i < n; i++) {
            struct range x = r[i];
            size_t j = i;
            for (; j >= gap && r[j - gap].lo > x.lo; j -= gap)
                r[j] = r[j - gap];
            r[j] = x;
        }
    }
}

/* The shim's own mappings; a full table only leaves the rest scanned, as
 * they were before (the ranges that must be left out came first). */
static void exclude_own(void *start, size_t size, void *arg)
{
    struct scan *s = arg;
    if (s->nexcl < MAX_EXCL)
        exclude(s, start, size);
    else if (debug)
        tm__warn("leak debug: no room to leave out the shim's mapping 0x%lx-0x%lx", (unsigned long)start,
                 (unsigned long)start + size);
}

static void scan_mappings(struct scan *s)
{
    /* Every mapping the shim made for itself (its stack tables and their
     * figures, the stack cache, the notes, ...: tm__map()'s registry),
     * read while the threads are stopped. In a program built without PIE
     * the heap lies low, and the shim's counters (a stack's bytes) and
     * hashes fall inside it: taken for roots, 3 such words kept 1 231 of
     * 11 997 leaked blocks "possible" (leaks_classes_nopie loop). */
    tm__map_foreach(exclude_own, s);
    sort_ranges(s->excl, s->nexcl);
    for (size_t i = 0; debug && i < s->nexcl; i++)
        tm__warn("leak debug: excluded 0x%lx-0x%lx", (unsigned long)s->excl[i].lo,
                 (unsigned long)s->excl[i].hi);
    for (size_t i = 0; i < s->nseg; i++) {
        struct seg *g = &s->seg[i];
        if (!g->root)
            continue;
        uintptr_t sp = UINTPTR_MAX; /* a stack: only above its lowest pointer */
        for (size_t k = 0; k < s->nsps; k++)
            if (s->sps[k] >= g->lo && s->sps[k] < g->hi && s->sps[k] < sp)
                sp = s->sps[k];
        /* ours (sps[0]) without a red zone: below it lie only the scan's
         * own frames, which hold block addresses (the copy's, the sort's) */
        g->from = g->heap                 ? g->lo
                  : sp == UINTPTR_MAX       ? dead_stack_start(s, g)
                  : sp == s->sps[0]       ? sp
                  : sp - g->lo < RED_ZONE ? g->lo
                                          : sp - RED_ZONE;
    }
    drop_dead_dtvs(s); /* before any root can reach them */
    for (size_t i = 0; i < s->nseg; i++) {
        const struct seg *g = &s->seg[i];
        if (!g->root)
            continue;
        if (debug)
            tm__warn("leak debug: root mapping 0x%lx-0x%lx scanned from 0x%lx", (unsigned long)g->lo,
                     (unsigned long)g->hi, (unsigned long)g->from);
        scan_root(s, g->from, g->hi);
    }
    scan_program_brk(s);
}

static void drop_block(struct scan *s, long i)
{
    if (i >= 0)
        s->state[i] = (uint8_t)((s->state[i] & ~KIND_MASK) | REACHABLE | LIBC);
}

static void drop_dead_dtvs(struct scan *s)
{
    for (size_t k = 0; k < s->ndead; k++) {
        long i = lookup(s, s->dead_dtv[k]);
        if (i < 0 || (s->state[i] & LIBC))
            continue;
        drop_block(s, i);
        if ((s->state[i] & (READABLE | SPLIT)) != READABLE)
            continue;
        /* its entries {val, to_free}: to_free is a dynamic TLS block */
        const struct span *b = &s->at[i];
        for (uintptr_t a = b->ptr; a + WORD <= b->ptr + b->extent; a += WORD) {
            uintptr_t v = *(const uintptr_t *)a;
            long j = v - s->lo < s->span ? lookup(s, v) : -1;
            if (j >= 0 && j != i && s->at[j].ptr == v)
                drop_block(s, j);
        }
    }
}

/* The loader's link maps of objects dlopen()ed while the shim was not
 * tracing (its own libunwind and liblzma) are heap blocks no scan reaches,
 * yet they link the namespace's list: their l_next/l_prev are the only
 * start pointers to the program's later dlopen()ed objects. Valgrind sees
 * them as ordinary reachable blocks; here they are scanned as roots. */
/* Memory the program took with sbrk()/brk() lies in [heap], which is not a
 * root (glibc's free chunks are there too): the shim noted those ranges. */
static void scan_program_brk(struct scan *s)
{
    for (size_t i = 0; i < s->nbrk; i++) {
        const struct seg *g = seg_of(s, s->brk[i].lo);
        uintptr_t hi = g && g->r && g->hi < s->brk[i].hi ? g->hi : s->brk[i].hi;
        if (g && g->r)
            scan_root(s, s->brk[i].lo, hi);
    }
}

static void scan_untraced_link_maps(struct scan *s)
{
    for (const struct link_map *l = _r_debug.r_map; l; l = l->l_next) {
        uintptr_t p = (uintptr_t)l;
        const struct seg *g = seg_of(s, p);
        if (!g || !g->heap || p % (2 * WORD) || p - g->lo < 2 * WORD)
            continue;
        if (lookup(s, p) >= 0)
            continue; /* traced (or inside a traced block): the flood decides */
        size_t n = tm__real.malloc_usable_size ? tm__real.malloc_usable_size((void *)p) : 0;
        if (n && n <= g->hi - p)
            scan_root(s, p, p + n);
    }
}

/* Registers as roots: each that points into the blocks' span. */
static void scan_regs(struct scan *s, const uintptr_t *regs, int n)
{
    for (int r = 0; r < n; r++)
        if (regs[r] - s->lo < s->span)
            visit(s, regs[r], 1);
}

static void scan_threads(struct scan *s, const struct tm__world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        const struct tm__thread *t = &w->threads[i];
        if (t->state == TM_THREAD_PARKED || t->state == TM_THREAD_IN_SYSCALL)
            scan_regs(s, t->regs, t->nregs);
    }
    scan_regs(s, s->own_regs, s->n_own_regs);
}

/* --- the flood and the cliques --- */

/* 1 when 'w', a word that still holds what glibc left there when the
 * block was handed out (its note matches), still looks like a word glibc
 * keeps in a free chunk: the address of a bin in main_arena, or of another
 * chunk in a heap, 16-aligned: free memory (in no block), the header of
 * the chunk after a block (its last word), or inside a block where the
 * heap's layout has changed since (a chunk merged into a larger one and
 * cut again: 1 166 of 11 997 leaks of a random malloc/free loop were
 * called indirect through such words). A pointer to a block's start is
 * the program's: a program that frees a list node and puts a new one in
 * its place may write the very pointer glibc left there. */
static int chunk_word(const struct scan *s, uintptr_t w, int inside)
{
    if (!link_like(w))
        return 0;
    if (in_ranges(s->libc, s->nlibc, w))
        return 1;
    long i = -1, tail = -1;
    int start = 0;
    if (w - s->lo < s->span) {
        struct span hit;
        const struct pline *l = line_of(s, w, &tail); /* sets 'tail' first */
        i = resolve(s, w, l, tail, &start, &hit);
    }
    if (i >= 0 && start)
        return 0; /* a block's start (most first words), before seg_of() */
    if (i >= 0 && !inside)
        return is_chunk_after(s, (size_t)i, w); /* the chunk after block 'i': its last word */
    const struct seg *g = seg_of(s, w);
    if (!g || !g->heap)
        return 0;
    return 1; /* free memory (in no block), or inside one */
}

/* 1 when 'w', a block's first word that still holds the mangled link it
 * held when the block was handed out (stale.c: mangled with 'page'), is
 * still one: what it hides is 16-aligned and in a heap. */
static int mangled_word(const struct scan *s, uintptr_t w, uint64_t page)
{
    uintptr_t n = w ^ (uintptr_t)page;
    if (!n || n % (2 * WORD))
        return 0;
    const struct seg *g = seg_of(s, n);
    return g && g->heap;
}

/* 1 when 'w', a word of a block that still matches the block's note
 * (stale.c), is still one of the allocator's. */
static int allocator_word(const struct scan *s, const struct tm__note *note, uintptr_t w, int inside)
{
    if (note->hi & TM_NOTE_MANGLED)
        return mangled_word(s, w, note->hi & ~TM_NOTE_MANGLED);
    return chunk_word(s, w, inside);
}

typedef void (*piece_fn)(struct scan *s, uintptr_t lo, uintptr_t hi, uintptr_t arg);

static void words_piece(struct scan *s, uintptr_t lo, uintptr_t hi, uintptr_t definite);

/* Block 'b' (with state flags 'flags') as pieces of readable memory: one,
 * unless it is SPLIT, or some of its first words still hold what the
 * allocator left there (stale.c) and look like glibc's links of a free
 * chunk (chunk_word: not a block's start), or the first word still holds
 * its mangled link (mangled_word); those words are not the
 * program's (Valgrind's allocator never leaves such words) and are left
 * out. A word the program wrote since is scanned, even one
 * that looks like a link (a C++ object's last base), and so is an old
 * start pointer the new block still holds: a program that frees a list
 * node and puts a new one in its place may write the same pointers. */
static void block_pieces(struct scan *s, const struct span *b, uint32_t flags, piece_fn fn, uintptr_t arg)
{
    uintptr_t lo = b->ptr, hi = b->ptr + b->extent;
    struct tm__note note;
    s->piece_of = b->ptr;
    s->whole_lo = lo;
    s->whole_hi = hi;
    unsigned stale = (flags & (NOTED | SPLIT)) == NOTED && tm__live_note_unlocked(b->ptr, &note)
                         ? tm__stale_match(&note, b->ptr, b->extent)
                         : 0;
    if (TM_UNLIKELY(stale)) {
        const uintptr_t *d = (const uintptr_t *)b->ptr;
        /* a noted word that points inside a block is glibc's old link in
         * a leaked or possibly lost block (stale_shapes); in a block in use
         * only when it points to a chunk's header (the last word of the
         * block before it): elsewhere it may be the program's pointer
         * written again with the very value glibc left there (a structure
         * freed and rebuilt at the same addresses: C++ objects held
         * through their second base came out definite) */
        int inside = !(fn == words_piece && arg);
        for (unsigned k = 0; k < TM_STALE_WORDS; k++) {
            uintptr_t at = b->ptr + k * WORD;
            if (!(stale & 1u << k) || !allocator_word(s, &note, d[k], inside))
                continue;
            if (at > lo)
                fn(s, lo, at, arg);
            lo = at + WORD;
        }
    }
    if (!(flags & SPLIT)) {
        if (lo < hi)
            fn(s, lo, hi, arg);
        return;
    }
    for (size_t k = seg_after(s, lo); k < s->nseg && s->seg[k].lo < hi; k++) {
        const struct seg *g = &s->seg[k];
        uintptr_t a = g->lo > lo ? g->lo : lo, e = g->hi < hi ? g->hi : hi;
        s->whole_lo = a;
        s->whole_hi = e;
        if (g->r && a < e)
            fn(s, a, e, arg);
    }
}

/* Adds the words of a piece of a block to the group's batch. */
static void words_piece(struct scan *s, uintptr_t lo, uintptr_t hi, uintptr_t definite)
{
    for_heap_words(s, s->batch, lo, hi, visit_word, definite);
}

/* Blocks are taken off the work in groups whose first bytes are
 * prefetched together (and the 'at' entries of those whose item does not
 * know their extent): the cache misses of reaching a group's memory
 * overlap instead of adding up. The order blocks are scanned in does not
 * change the result (reachable, possible and cliques are closures). */
#define GROUP 16
#define PREFETCH_BYTES 512

/* Prefetches the group's memory; sp[k]: the address and extent of g[k]. */
static void prefetch_group(const struct scan *s, const struct item *g, int n, struct span *sp)
{
    for (int k = 0; k < n; k++)
        if (g[k].meta & ITEM_ASK)
            __builtin_prefetch(&s->at[g[k].i]);
    for (int k = 0; k < n; k++) {
        sp[k] = item_span(s, &g[k]);
        for (uint64_t off = 0; off < sp[k].extent && off < PREFETCH_BYTES; off += 64)
            __builtin_prefetch((const char *)sp[k].ptr + off);
    }
}

/* --- two threads ---
 * The flood runs as two passes (reachable work, then possible work; the
 * second adds only possible work) and the clique pass as one pass per
 * leader, in address order. In a pass each thread drains its own stack;
 * one that runs dry takes what the other put in the pool, which a thread
 * fills (half its stack) when it sees the other idle and the pool empty.
 * 'busy' counts the threads holding work of the pass; the pass is over
 * when no thread is busy and the pool is empty, which the scanning thread
 * sees under the lock: nothing is left anywhere, so each set computed is
 * the same closure as with one thread, block for block. The scanning
 * thread leads: it sets each pass's mode and leader before any work of
 * the pass reaches the pool, and starts the next pass only after that
 * one is over; the helper only serves (serve()). A clique that never
 * grows past 2 * GROUP blocks of work is never shared and costs no lock. */
enum { MODE_REACH, MODE_POSSIBLE, MODE_CLIQUE };
#define POOL_CAP 65536
#define SPINS 20000      /* the helper's, before it sleeps (about a millisecond) */
#define YIELD_SPINS 2000 /* the scanning thread's, before it yields its CPU */

struct pool {
    atomic_int lock;
    int mode;         /* of the pass, set by the scanning thread */
    uintptr_t leader; /* of the clique pass */
    atomic_size_t n;  /* work in buf, changed under the lock */
    char pad1[64 - sizeof(atomic_int) - sizeof(int) - sizeof(uintptr_t) - sizeof(atomic_size_t)];
    atomic_int busy; /* threads holding work of the pass */
    char pad2[64 - sizeof(atomic_int)];
    atomic_uint seq;     /* bumped when the helper has something to do (futex word) */
    atomic_int sleeping; /* the helper waits in the futex */
    atomic_int finished; /* no more passes: the helper returns */
    char pad3[64 - sizeof(atomic_uint) - 2 * sizeof(atomic_int)];
    struct item buf[POOL_CAP];
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void pool_lock(struct pool *p)
{
    while (atomic_exchange_explicit(&p->lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&p->lock, memory_order_relaxed))
            cpu_relax();
}

static void pool_unlock(struct pool *p)
{
    atomic_store_explicit(&p->lock, 0, memory_order_release);
}

/* Tells the helper to look at the pool again. */
static void pool_bump(struct pool *p)
{
    atomic_fetch_add(&p->seq, 1);
    if (atomic_load(&p->sleeping))
        tm__helper_wake(&p->seq);
}

static inline size_t local_work(const struct scan *s, int mode)
{
    return mode == MODE_POSSIBLE ? s->capwork - s->ptop : s->nwork;
}

/* Up to GROUP blocks of this thread's work of the pass's kind; 0 when it
 * has none. Reachable and clique work grow up from work[0], possible work
 * down from work[capwork]. */
static int take_group(struct scan *s, int mode, struct item *g, struct span *sp)
{
    int n = 0;
    if (mode == MODE_POSSIBLE) /* those made reachable since are scanned already */
        while (n < GROUP && s->ptop < s->capwork) {
            struct item it = s->work[s->ptop++];
            if (s->ptop + 2 * GROUP < s->capwork)
                __builtin_prefetch(&s->state[s->work[s->ptop + 2 * GROUP].i]);
            if ((state_of(s, it.i) & KIND_MASK) != REACHABLE)
                g[n++] = it;
        }
    else
        while (n < GROUP && s->nwork)
            g[n++] = s->work[--s->nwork];
    if (n)
        prefetch_group(s, g, n, sp);
    return n;
}

/* Half of this thread's work into the pool when the other thread is idle
 * and the pool empty. */
static void share(struct scan *s, int mode)
{
    struct pool *p = s->pool;
    size_t have = local_work(s, mode);
    if (!p || have < 2 * GROUP || atomic_load_explicit(&p->busy, memory_order_relaxed) == 2 ||
        atomic_load_explicit(&p->n, memory_order_relaxed))
        return;
    pool_lock(p);
    size_t n = atomic_load_explicit(&p->n, memory_order_relaxed), k = have / 2;
    if (k > POOL_CAP - n)
        k = POOL_CAP - n;
    for (size_t j = 0; j < k; j++)
        p->buf[n + j] = mode == MODE_POSSIBLE ? s->work[s->ptop++] : s->work[--s->nwork];
    atomic_store_explicit(&p->n, n + k, memory_order_relaxed);
    pool_unlock(p);
    s->shared = 1;
    pool_bump(p);
}

/* Moves the pool's work to this thread's stack; under the lock. */
static void take_pool_locked(struct scan *s, struct pool *p, int mode)
{
    size_t n = atomic_load_explicit(&p->n, memory_order_relaxed);
    for (size_t j = 0; j < n; j++) {
        if (mode == MODE_POSSIBLE && s->ptop > s->nwork)
            s->work[--s->ptop] = p->buf[j];
        else if (mode != MODE_POSSIBLE && s->nwork < s->ptop)
            s->work[s->nwork++] = p->buf[j];
        else
            s->failed = 1;
    }
    atomic_store_explicit(&p->n, 0, memory_order_relaxed);
}

/* This thread ran out of work of the pass: takes the pool's, or turns
 * idle. Returns 1 with work taken, 0 when this thread stops draining: the
 * helper at once (it waits in serve()), the scanning thread only when the
 * pass is over. */
static int refill(struct scan *s, int mode)
{
    struct pool *p = s->pool;
    if (!p)
        return 0;
    if (!s->helper && !s->shared) { /* the helper got nothing of this pass */
        atomic_store(&p->busy, 0);
        return 0;
    }
    for (int idle = 0;;) {
        pool_lock(p);
        if (atomic_load_explicit(&p->n, memory_order_relaxed)) {
            take_pool_locked(s, p, mode);
            if (idle)
                atomic_fetch_add(&p->busy, 1);
            pool_unlock(p);
            return 1;
        }
        if (!idle)
            atomic_fetch_sub(&p->busy, 1);
        idle = 1;
        int over = atomic_load(&p->busy) == 0;
        pool_unlock(p);
        if (s->helper || over)
            return 0;
        /* spin a while, then yield: on a loaded machine the helper may
         * wait for this very CPU */
        for (int spins = 0; !atomic_load_explicit(&p->n, memory_order_relaxed) &&
                            atomic_load_explicit(&p->busy, memory_order_relaxed);
             spins++) {
            cpu_relax();
            if (spins % YIELD_SPINS == YIELD_SPINS - 1)
                sched_yield();
        }
    }
}

/* Reachable or possible blocks: reachable work first, so a possible block
 * that turns reachable meanwhile is scanned once, as reachable (the result
 * does not depend on the order, only the work does; take_group() leaves
 * those out). Reachable work holds only reachable blocks, and scanning
 * possible blocks adds no reachable work. */
static void flood_group(struct scan *s, const struct item *g, const struct span *sp, int n, int from_possible)
{
    s->scanned += (size_t)n;
    for (int k = 0; k < n; k++)
        if (g[k].meta & READABLE)
            block_pieces(s, &sp[k], g[k].meta, words_piece, !from_possible);
    run_batch(s, s->batch, visit_word);
}

static void mark_indirect(struct scan *s, uintptr_t w, size_t k, int start, uintptr_t leader,
                          const struct span *hit)
{
    (void)w;
    (void)start;
    uint8_t st;
    if (k != leader && swap_kind(s, k, UNREACHED, INDIRECT, &st))
        push(s, item_of(k, st, hit));
}

/* The words of a leaked block, batched like scan_words. */
static void scan_clique(struct scan *s, uintptr_t lo, uintptr_t hi, uintptr_t leader)
{
    for_heap_words(s, s->batch, lo, hi, mark_indirect, leader);
}

static void clique_group(struct scan *s, const struct item *g, const struct span *sp, int n, uintptr_t leader)
{
    s->scanned += (size_t)n;
    for (int k = 0; k < n; k++)
        if (g[k].meta & READABLE)
            block_pieces(s, &sp[k], g[k].meta, scan_clique, leader);
    run_batch(s, s->batch, mark_indirect);
}

/* This thread's work of a pass, and what it can take from the pool. */
static void drain(struct scan *s, int mode, uintptr_t leader)
{
    struct item g[GROUP];
    struct span sp[GROUP];
    struct batch b;
    b.n = 0;
    b.freed = 0;
    b.last = 0;
    s->batch = &b;
    for (;;) {
        int n = take_group(s, mode, g, sp);
        if (!n) {
            if (refill(s, mode))
                continue;
            break;
        }
        share(s, mode);
        if (mode == MODE_CLIQUE)
            clique_group(s, g, sp, n, leader);
        else
            flood_group(s, g, sp, n, mode == MODE_POSSIBLE);
    }
    s->batch = NULL;
}

/* A pass led by the scanning thread: returns when it is over. */
static void pass(struct scan *s, int mode, uintptr_t leader)
{
    struct pool *p = s->pool;
    s->shared = 0;
    if (p) { /* the helper is idle and the pool empty: nothing reads these now */
        p->mode = mode;
        p->leader = leader;
        atomic_store(&p->busy, 1);
    }
    drain(s, mode, leader);
}

/* The helper's job: drains what the pool offers, in the pass's mode, until
 * the scanning thread says the passes are over. Runs on the helper task:
 * no libc. */
static void serve(void *arg)
{
    struct scan *s = arg;
    struct pool *p = s->pool;
    for (;;) {
        unsigned seen = atomic_load(&p->seq);
        if (atomic_load(&p->finished))
            return;
        if (atomic_load_explicit(&p->n, memory_order_relaxed)) {
            pool_lock(p);
            if (atomic_load_explicit(&p->n, memory_order_relaxed)) {
                int mode = p->mode;
                uintptr_t leader = p->leader;
                take_pool_locked(s, p, mode);
                atomic_fetch_add(&p->busy, 1);
                pool_unlock(p);
                drain(s, mode, leader);
                continue;
            }
            pool_unlock(p);
        }
        int spins = 0;
        while (atomic_load(&p->seq) == seen && ++spins < SPINS)
            cpu_relax();
        if (spins == SPINS) {
            atomic_store(&p->sleeping, 1);
            if (atomic_load(&p->seq) == seen)
                tm__helper_sleep(&p->seq, seen, 1000000L);
            atomic_store(&p->sleeping, 0);
        }
    }
}

/* The possible blocks the helper found while flooding reachable ones
 * become the scanning thread's (the helper is idle between passes). */
static void gather_possible(struct scan *s, struct scan *h)
{
    while (h->ptop < h->capwork) {
        if (s->ptop > s->nwork)
            s->work[--s->ptop] = h->work[h->ptop];
        else
            s->failed = 1;
        h->ptop++;
    }
}

static void flood(struct scan *s, struct scan *h)
{
    pass(s, MODE_REACH, 0);
    if (h)
        gather_possible(s, h);
    pass(s, MODE_POSSIBLE, 0);
}

/* Valgrind's clique pass: every block still unreached, in address order,
 * leads a clique and turns the unreached blocks it reaches (through start
 * or interior pointers) indirect. Cliques are passes one after the other:
 * a clique depends on the ones before it. */
static void cliques(struct scan *s)
{
    for (size_t leader = 0; leader < s->n; leader++) {
        uint8_t st = state_of(s, leader);
        if ((st & KIND_MASK) != UNREACHED)
            continue;
        push(s, item_of(leader, st, &s->at[leader]));
        pass(s, MODE_CLIQUE, leader);
    }
}

/* Starts the helper when two threads are wanted and it can be had; else
 * the scan runs on one. */
static void helper_begin(struct scan *s, struct tm__helper *task)
{
    int rc;
    if (s->threads < 2)
        return;
    if ((rc = tm__helper_start(task)) < 0) {
        debug_phase("no helper, errno", (size_t)-rc);
        return;
    }
    s->task = task;
}

/* The helper's copy of 's', with its own work array, serving the pool of
 * the flood and the cliques. */
static void mate_begin(struct scan *s)
{
    if (!s->task)
        return;
    struct pool *p = tm__map(sizeof(*p));
    struct scan *h = tm__map(sizeof(*h));
    struct item *work = tm__map(s->capwork * sizeof(*work));
    if (!p || !h || !work) {
        tm__unmap(p, sizeof(*p));
        tm__unmap(h, sizeof(*h));
        tm__unmap(work, s->capwork * sizeof(*work));
        return;
    }
    memcpy(h, s, sizeof(*h));
    h->work = work;
    h->nwork = 0;
    h->ptop = h->capwork;
    h->helper = 1;
    h->failed = 0;
    h->pool = s->pool = p;
    s->mate = h;
    tm__helper_post(s->task, serve, h);
}

/* Ends the helper's job and the helper, before the program resumes. */
static void helper_end(struct scan *s)
{
    struct pool *p = s->pool;
    struct scan *h = s->mate;
    if (p) {
        atomic_store(&p->finished, 1);
        pool_bump(p);
        if (tm__helper_join(s->task) < 0)
            s->failed = 1;
        s->failed |= h->failed;
        debug_phase("helper done, blocks it scanned", h->scanned);
        tm__unmap(h->work, h->capwork * sizeof(*h->work));
        tm__unmap(h, sizeof(*h));
        tm__unmap(p, sizeof(*p));
    }
    if (s->task)
        tm__helper_stop(s->task);
    s->pool = NULL;
    s->mate = NULL;
    s->task = NULL;
}

/* The block at 'ptr' has a note of its first words (block_pieces). */
static void mark_noted(uintptr_t ptr, void *arg)
{
    struct scan *s = arg;
    int start;
    struct span hit;
    long i = lookup_start(s, ptr, &start, &hit);
    if (i >= 0 && start && s->at[i].ptr == ptr)
        s->state[i] |= NOTED;
}

/* --- the arenas' bins ---
 * A free chunk first or last in its bin links to the bin's header in its
 * arena's malloc_state: main_arena in the C library's data, the others
 * after the heap_info of their first heap. Those addresses are found by
 * what the headers hold, not by glibc's layout: an empty bin's two words
 * point 2 words before themselves, a busy one's into a heap. */
static int empty_bin(const uintptr_t *p)
{
    uintptr_t self = (uintptr_t)p - 2 * WORD;
    return p[0] == self && p[1] == self;
}

static int heap_link(const struct scan *s, uintptr_t v)
{
    if (v % (2 * WORD))
        return 0;
    const struct seg *g = seg_of(s, v);
    return g && g->heap;
}

static int bin_pair(const struct scan *s, const uintptr_t *p)
{
    return empty_bin(p) || (heap_link(s, p[0]) && heap_link(s, p[1]));
}

#define NBINS 128 /* glibc's bins, each a pair of words */

/* The bin headers in [lo, hi): runs of pairs of words around empty bins. */
static void find_bins(struct scan *s, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + WORD - 1) & ~(WORD - 1);
    for (uintptr_t a = lo; a + 2 * WORD <= hi && s->nbins < MAX_BINS; a += WORD) {
        if (!empty_bin((const uintptr_t *)a))
            continue;
        uintptr_t first = a, last = a;
        while (first - 2 * WORD >= lo && a - first < NBINS * 2 * WORD && bin_pair(s, (const uintptr_t *)(first - 2 * WORD)))
            first -= 2 * WORD;
        while (last + 4 * WORD <= hi && last - first < NBINS * 2 * WORD && bin_pair(s, (const uintptr_t *)(last + 2 * WORD)))
            last += 2 * WORD;
        if (last > first) { /* one empty pair alone is not an arena's bins */
            s->bins[s->nbins++] = (struct range){first - 2 * WORD, last - 2 * WORD};
            if (debug)
                tm__warn("leak debug: bin headers 0x%lx-0x%lx", (unsigned long)first, (unsigned long)last);
        }
        a = last + WORD;
    }
}

/* The bins of main_arena (the C library's data) and of the other arenas
 * (the first page of each arena's first heap). */
static void find_all_bins(struct scan *s)
{
    s->nbins = 0;
    for (size_t k = 0; k < s->nlibc; k++)
        find_bins(s, s->libc[k].lo, s->libc[k].hi);
    s->nlibcbins = s->nbins;
    for (size_t k = 0; k < s->nseg; k++) {
        const struct seg *g = &s->seg[k];
        if (g->heap && g->lo % ARENA_HEAP_SIZE == 0 && ((const uintptr_t *)g->lo)[1] == 0)
            find_bins(s, g->lo, g->lo + 4096 < g->hi ? g->lo + 4096 : g->hi);
    }
    debug_phase("bins found", s->nbins);
}

/* Everything between the stopped world and the verdict per block. */
static int classify_stopped(struct scan *s, const struct tm__world *w, uintptr_t own_sp)
{
    debug_phase("threads stopped", w->n);
    int rc = collect_blocks(s);
    debug_phase("blocks copied and sorted", s->n);
    if (rc < 0)
        return rc;
    exclude(s, w->threads, w->cap * sizeof(*w->threads));
    exclude(s, w->scratch, w->scratch_len); /* the tracer's stack */
    if (s->task)
        exclude(s, s->task->stack, s->task->stack_len);
    s->sps = scan_map(s, (w->n + 1) * sizeof(*s->sps));
    s->capwork = 2 * s->n + 16; /* a block is pushed at most twice a pass */
    s->ptop = s->capwork;
    s->work = scan_map(s, s->capwork * sizeof(*s->work));
    if (s->failed)
        return -ENOMEM;
    if ((rc = read_maps(s)) < 0)
        return rc;
    exclude(s, s->maps, s->mapscap);
    if ((rc = parse_maps(s)) < 0)
        return rc;
    index_blocks(s);
    if ((rc = index_pages(s)) < 0)
        return rc;
    debug_phase("blocks indexed", s->nlines);
    debug_phase("noted blocks marked", tm__live_notes_foreach_unlocked(mark_noted, s));
    find_all_bins(s);
    s->sps[s->nsps++] = own_sp;
    for (size_t i = 0; i < w->n; i++)
        if (w->threads[i].state == TM_THREAD_PARKED)
            s->sps[s->nsps++] = w->threads[i].sp;
    scan_mappings(s);
    scan_untraced_link_maps(s);
    drop_dead_dtvs(s);
    scan_threads(s, w);
    debug_phase("roots scanned", s->nseg);
    mate_begin(s);
    flood(s, s->mate);
    debug_phase("flood done", s->n);
    cliques(s);
    debug_phase("cliques done", s->n);
    return s->failed ? -ENOMEM : 0;
}

/* The helper lives from here to the verdict, while the program is stopped. */
static int classify(struct scan *s, const struct tm__world *w, uintptr_t own_sp)
{
    struct tm__helper task;
    helper_begin(s, &task);
    int rc = classify_stopped(s, w, own_sp);
    helper_end(s);
    return rc;
}

/* --- results --- */

struct agg {
    uint32_t stack, kind; /* kind + 1; 0 = empty slot */
    uint64_t bytes, blocks;
};

static const int kind_of[] = {[UNREACHED] = TM_LEAK_DEFINITE,
                              [POSSIBLE] = TM_LEAK_POSSIBLE,
                              [REACHABLE] = TM_LEAK_REACHABLE,
                              [INDIRECT] = TM_LEAK_INDIRECT};

static struct agg *agg_slot(struct agg *t, size_t mask, uint32_t stack, uint32_t kind)
{
    size_t i = ((uint64_t)stack * 4 + kind) * 0x9e3779b97f4a7c15ull >> 20 & mask;
    while (t[i].kind && (t[i].stack != stack || t[i].kind != kind + 1))
        i = (i + 1) & mask;
    t[i].stack = stack;
    t[i].kind = kind + 1;
    return &t[i];
}

/* The (stack, kind) table, grown to keep it at most half full: it is read
 * whole at the end, so it is sized for the stacks, not the blocks. */
struct agg_table {
    struct agg *t;
    size_t slots, used;
};

static int agg_grow(struct agg_table *a)
{
    size_t slots = a->slots ? 2 * a->slots : 4096;
    struct agg *t = tm__map(slots * sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < a->slots; i++)
        if (a->t[i].kind)
            *agg_slot(t, slots - 1, a->t[i].stack, a->t[i].kind - 1) = a->t[i];
    tm__unmap(a->t, a->slots * sizeof(*a->t));
    a->t = t;
    a->slots = slots;
    return 0;
}

static int aggregate(const struct scan *s, struct tm__leak_result *res)
{
    struct agg_table a = {NULL, 0, 0};
    if (agg_grow(&a) < 0)
        return -ENOMEM;
    int rc = 0;
    struct agg *last = NULL; /* neighbours often share a stack and kind */
    for (size_t i = 0; i < s->n; i++) {
        const struct blk *b = &s->blk[i];
        if (s->state[i] & LIBC)
            continue;
        int k = kind_of[s->state[i] & KIND_MASK];
        res->bytes[k] += b->weight;
        res->blocks[k] += b->count;
        if (!last || last->stack != b->stack || last->kind != (uint32_t)k + 1) {
            if (2 * (a.used + 1) > a.slots && (rc = agg_grow(&a)) < 0)
                goto out_unmap;
            last = agg_slot(a.t, a.slots - 1, b->stack, (uint32_t)k);
            a.used += last->blocks == 0 && last->bytes == 0;
        }
        last->bytes += b->weight;
        last->blocks += b->count;
    }
    res->mapped = (a.used ? a.used : 1) * sizeof(*res->stacks);
    res->stacks = tm__map(res->mapped);
    if (!res->stacks) {
        rc = -ENOMEM;
        goto out_unmap;
    }
    for (size_t i = 0; i < a.slots; i++)
        if (a.t[i].kind && res->nstacks < a.used)
            res->stacks[res->nstacks++] =
                (struct tm__leak_stack){a.t[i].stack, a.t[i].kind - 1, a.t[i].bytes, a.t[i].blocks};
    res->checked = 1;
out_unmap:
    tm__unmap(a.t, a.slots * sizeof(*a.t));
    return rc;
}

static void release(struct scan *s)
{
    tm__unmap(s->blk, s->cap * sizeof(*s->blk));
    tm__unmap(s->spare, s->cap * sizeof(*s->spare));
    tm__unmap(s->reg, (s->nreg + 1) * sizeof(*s->reg));
    if (s->own_lines)
        tm__unmap(s->lines, (s->nlines + 1) * sizeof(*s->lines));
    tm__unmap(s->work, s->capwork * sizeof(*s->work));
    tm__unmap(s->sps, s->nsps ? s->nsps * sizeof(*s->sps) : 1);
    tm__unmap(s->seg, s->segcap * sizeof(*s->seg));
    tm__unmap(s->maps, s->mapscap);
    tm__unmap(s, sizeof(*s));
}

/* --- entry --- */

/* -EBUSY when a thread that could not be stopped runs user code (memory
 * moves under the scan: no honest verdict; one line says so). Threads
 * blocked in a system call that could not be stopped have their whole
 * stacks scanned but their registers unread: the result is partial, which
 * the snapshot says (leaks.partial), not the program's stderr. */
static int judge_world(const struct tm__world *w, struct tm__leak_result *res)
{
    if (w->running) {
        tm__warn("leak check: %d thread(s) could not be stopped and kept running; leaks left unchecked",
                 w->running);
        return -EBUSY;
    }
    res->unstopped = w->unstoppable;
    return 0;
}

/* 1 when a seccomp filter is installed (/proc/self/status "Seccomp: 2"):
 * it may kill the process for the clone() of the helper. */
static int seccomp_filtered(void)
{
    return tm__proc_status("Seccomp") > 0;
}

/* TRACEMEM_LEAK_THREADS: 1 or 2 threads for the scan (2 when set); unset,
 * 2 when this thread may run on two CPUs or more and the heap holds
 * HELPER_BLOCKS blocks or more (below, the helper is not worth its clone).
 * Never a helper under a seccomp filter. */
#define HELPER_BLOCKS 16384

static int threads_wanted(void)
{
    static int warned;
    int dflt = tm__cpus_online() >= 2 && tm__live_count() >= HELPER_BLOCKS ? 2 : 1;
    const char *v = getenv("TRACEMEM_LEAK_THREADS");
    int threads = dflt;
    if (v && (strcmp(v, "1") == 0 || strcmp(v, "2") == 0)) {
        threads = v[0] - '0';
    } else if (v) {
        if (!warned)
            tm__warn("TRACEMEM_LEAK_THREADS=%s is not 1 or 2; using %d", v, dflt);
        warned = 1;
    }
    return threads == 2 && !seccomp_filtered() ? 2 : 1;
}

static __attribute__((noinline)) int run_scan(struct tm__leak_result *res, uintptr_t own_sp,
                                             const uintptr_t *regs, int nregs)
{
    struct scan *s = tm__map(sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->own_regs = regs;
    s->n_own_regs = nregs;
    /* Serializes scans too. The snapshot thread is never stopped: this holds
     * it off its mmap/munmap of snapshot buffers while mappings are read. */
    tm__snapshot_lock();
    exclude(s, s, sizeof(*s));
    exclude_own_modules(s);
    learn_thread_layout();
    debug = getenv("TRACEMEM_LEAK_DEBUG") != NULL;
    s->threads = threads_wanted();
    debug_t0 = debug ? clock_ns() : 0;
    debug_cpu0 = debug ? thread_cpu_ns() : 0;
    s->nbrk = tm__brk_ranges((uintptr_t *)s->brk, TM_BRK_MAX);
    tm__domain_lock(); /* its table holds tracked addresses and must stay */
    tm__domain_tables_unlocked(exclude_table, s);
    tm__live_lock_all();
    struct tm__world world;
    int rc = tm__world_stop(&world);
    if (rc == 0) {
        rc = judge_world(&world, res);
        if (rc == 0)
            rc = classify(s, &world, own_sp);
        tm__world_resume(&world);
    }
    tm__live_unlock_all();
    tm__domain_unlock();
    if (rc == 0)
        rc = aggregate(s, res);
    debug_phase("aggregated", res->nstacks);
    release(s);
    tm__snapshot_unlock();
    if (rc < 0 && rc != -EBUSY)
        tm__warn("leak check failed: %s; leaks left unchecked", tm__strerror(-rc));
    return rc;
}

/* An address just below the caller's frame. */
static __attribute__((noinline)) uintptr_t stack_here(void)
{
    volatile uintptr_t here = 0;
    __asm__ volatile("" : : "r"(&here) : "memory");
    return (uintptr_t)&here;
}

/* noinline with __builtin_unwind_init(): the caller's callee-saved registers
 * are spilled into this frame, which the scan of our own stack covers;
 * run_scan() is noinline too, so that the scan's own locals (block
 * addresses among them) lie below 'own_sp', where that scan stops. */
__attribute__((noinline)) int tm__leak_scan(struct tm__leak_result *res)
{
    memset(res, 0, sizeof(*res));
    __builtin_unwind_init();
    int saved = errno;
    int rc = run_scan(res, stack_here(), NULL, 0);
    errno = saved;
    return rc;
}

/* The stack of this thread is a root from 'sp' up only, where the frame
 * of the program that 'regs' belong to starts (tm__exit_frame); a 'sp'
 * below our frames, or more than 1 MiB above them, is not believed: then
 * tm__leak_scan()'s scan of our own frames up, registers spilled. */
int tm__leak_scan_above(struct tm__leak_result *res, uintptr_t sp, const uintptr_t *regs, int nregs)
{
    uintptr_t here = stack_here();
    if (sp <= here || sp - here >= (1u << 20))
        return tm__leak_scan(res);
    memset(res, 0, sizeof(*res));
    int saved = errno;
    int rc = run_scan(res, sp, regs, nregs);
    errno = saved;
    return rc;
}

void tm__leak_result_release(struct tm__leak_result *res)
{
    if (res->stacks)
        tm__unmap(res->stacks, res->mapped);
    memset(res, 0, sizeof(*res));
}
