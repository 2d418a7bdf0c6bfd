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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define STR_(x) #x
#define STR(x) STR_(x)

#define SKIP_SLACK 24
#define DEPTH_LIMIT 1024

static int (*backtrace_fn)(void **, int);

#if defined(__x86_64__)
#define TM_CACHE_ARCH 1
#else
#define TM_CACHE_ARCH 0
#endif

static int cache_on = TM_CACHE_ARCH; /* TRACEMEM_STACK_CACHE */
int tm__verify_stacks;              /* TRACEMEM_VERIFY_STACKS */
static pthread_key_t cache_key;
static int cache_key_ok;
static void cache_release(void *p);
static void cache_after_fork(void);

atomic_int tm__no_unwinder = 1;

struct range {
    uintptr_t lo, hi;
};
static struct range self_text[4], unw_text[4];
static int nself, nunw;
/* the C library's and the loader's code (tm__exit_frame) */
static struct range libc_text[4], ld_text[4];
static int nlibc, nld;
/* libunwind's cursor, for tm__exit_frame only */
static int (*lu_getcontext)(unw_context_t *);
static int (*lu_init_local)(unw_cursor_t *, unw_context_t *);
static int (*lu_step)(unw_cursor_t *);
static int (*lu_get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);

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
    lu_getcontext = (int (*)(unw_context_t *))dlsym(h, STR(unw_tdep_getcontext));
    lu_init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, STR(unw_init_local));
    lu_step = (int (*)(unw_cursor_t *))dlsym(h, STR(unw_step));
    lu_get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, STR(unw_get_reg));
    text_of((const void *)(uintptr_t)abort, libc_text, &nlibc);
    void *ld = dlsym(RTLD_DEFAULT, "_dl_find_object");
    if (!ld)
        ld = dlsym(RTLD_DEFAULT, "__tls_get_addr");
    if (ld)
        text_of(ld, ld_text, &nld);
    const char *v = getenv("TRACEMEM_VERIFY_STACKS");
    tm__verify_stacks = v && *v && strcmp(v, "0") != 0;
    v = getenv("TRACEMEM_STACK_CACHE");
    if (v && strcmp(v, "0") == 0)
        cache_on = 0;
    if (cache_on && pthread_key_create(&cache_key, cache_release) == 0 &&
        pthread_atfork(NULL, NULL, cache_after_fork) == 0)
        cache_key_ok = 1;
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

/* Called from the shim's exit handler (run by the C library's exit()):
 * steps out of the shim's frames, then out of every frame of the C
 * library and the loader (exit and what runs its handlers; after main
 * returned, also the C library's frames that called main), and gives the
 * first other frame's stack pointer and callee-saved registers, as that
 * frame's code left them at its call. 0 when libunwind is not there or
 * the stack cannot be walked that far: the caller then scans its own
 * frames up, as before. */
#if !defined(__x86_64__)
int tm__exit_frame(uintptr_t *sp, uintptr_t regs[TM_EXIT_REGS])
{
    (void)sp;
    (void)regs;
    return 0; /* the callee-saved registers below are x86-64's */
}
#else
int tm__exit_frame(uintptr_t *sp, uintptr_t regs[TM_EXIT_REGS])
{
    static const unw_regnum_t saved[TM_EXIT_REGS] = {UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
                                                     UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15};
    if (!lu_getcontext || !lu_init_local || !lu_step || !lu_get_reg || !nlibc || !nself)
        return 0;
    unw_context_t uc;
    unw_cursor_t cur;
    if (lu_getcontext(&uc) != 0 || lu_init_local(&cur, &uc) != 0)
        return 0;
    int left_shim = 0;
    for (int step = 0; step < 64; step++) {
        unw_word_t ip;
        if (lu_get_reg(&cur, UNW_REG_IP, &ip) != 0)
            return 0;
        int own = in_ranges(self_text, nself, ip);
        if (own && left_shim)
            return 0; /* the shim again above the C library: not the exit path */
        if (!own) {
            left_shim = 1;
            if (!in_ranges(libc_text, nlibc, ip) && !in_ranges(ld_text, nld, ip)) {
                unw_word_t w;
                if (lu_get_reg(&cur, UNW_REG_SP, &w) != 0)
                    return 0;
                *sp = (uintptr_t)w;
                for (int r = 0; r < TM_EXIT_REGS; r++) {
                    if (lu_get_reg(&cur, saved[r], &w) != 0)
                        return 0;
                    regs[r] = (uintptr_t)w;
                }
                return 1;
            }
        }
        if (lu_step(&cur) <= 0)
            return 0;
    }
    return 0;
}
#endif

int tm__pc_in_unwinder(uintptr_t pc)
{
    return !nunw || in_ranges(unw_text, nunw, pc);
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

/* --- the stack cache ---
 *
 * Unwinding every stack costs ~13 ns a frame. Most allocations come from a
 * stack the same thread captured before, so each thread keeps the stacks it
 * captured, and reuses one only where it can prove the stack is the same.
 *
 * The unwind. A capture starts in capture_cached() at one instruction, with
 * its stack pointer and frame pointer read there. Each frame's CFA follows
 * from its pc and registers by the DWARF CFI of its code (read here from
 * .eh_frame_hdr/.eh_frame, a small interpreter that keeps only the rules
 * for the CFA, the return address and rbp). On a miss the shim walks the
 * stack by these rules itself when every frame's CFA is rsp+N or rbp+N and
 * its return address is saved at CFA+N (the walk ends where the return
 * address is undefined or 0, as libunwind's does); any other frame (no
 * CFI, a signal frame, a CFA expression, a realigned frame, more than
 * CACHE_FRAMES frames) and libunwind unwinds instead, uncached.
 *
 * The proof. A walked stack's entry keeps, in walk order, every memory word
 * the walk read and that a frame depended on: each return-address slot
 * and, for a frame whose CFA is rbp-based, the slot (or the live register)
 * its rbp value came from. A later capture whose stack pointer at that
 * instruction is the same re-reads those words in the same order: frame 0
 * is the same code at the same CFA; if frames 0..k are (same pc, same CFA,
 * same registers the rules use), the next return-address slot is the same
 * address and holds the true return address now, and the rbp slot holds
 * the true rbp now, so comparing them proves frame k+1 the same. Stale
 * values left in memory cannot pass: every word compared is read at the
 * address the live stack's rules give, never at an address remembered
 * from an older stack alone.
 * This holds across alloca (rbp-based CFA, rbp compared), longjmp,
 * exceptions, signal handlers (signal frames use CFA expressions: never
 * cached), other stacks (makecontext: the walk reads the live stack),
 * threads (the cache is per thread) and fork (the child's memory is the
 * parent's). Code that was unloaded (dlclose, tm__epoch) invalidates all
 * entries and rules; code without CFI (JIT code, assembly) is never cached.
 * Frames the cache cannot prove are unwound by libunwind every time.
 *
 * Entries: a set is chosen by the stack pointer and the hook's return
 * address (the key); each way's stack pointer and key sit in one cache
 * line (tags), so a lookup reads only an entry that can match. The words
 * are kept as offsets from the stack pointer with their values, in walk
 * order, and compared in that order, stopping at the first that differs;
 * the live rbp, where the innermost rbp-based frames use it, once. The
 * stack memo (below) keeps every stack walked into an entry and interned;
 * a thread looks in its sets first while they answer most of its
 * captures, in the memo only otherwise (capture_cached). Entries are what
 * a miss walks into, and hints.
 *
 * Hints (misses). An entry also keeps each walked frame's pc, stack
 * pointer and rule. A miss walks with the last entry of its key as hint:
 * where a frame's pc is the hint's frame's pc, the hint's rule is taken
 * (rules depend on the pc alone), sparing the rule lookup's cache miss.
 * The walk still reads every word itself.
 *
 * Partial hits. When the walk reaches a frame whose pc and stack pointer
 * are those of a hint frame, and the hint's walk from that frame on needs
 * no rbp value it came with (no rbp-based CFA before a frame restores rbp
 * from the stack: then every word it read follows from that pc and stack
 * pointer and the words themselves), the words the hint read from there
 * are compared in walk order; if all hold, the walk from there would read
 * the same words at the same addresses and find the same frames, so the
 * hint's outer frames and words are copied instead of walked. A frame of
 * the hint whose words failed is not tried again; at most three tries.
 * The stack id of a walked stack whose frames are the hint's is the
 * hint's. Stacks with Python frames are remembered by pyframes.c, keyed
 * by the native stack's id (tm__capture_remember).
 *
 * TRACEMEM_VERIFY_STACKS=1 also unwinds with libunwind on every hit and
 * every walked miss and compares; mismatches are counted (snapshot
 * "stack_cache") and the libunwind result is used. TRACEMEM_STACK_CACHE=0 turns the cache off. */

#define CACHE_WAYS 4
#define CACHE_SETS 64
#define CACHE_ENTRIES (CACHE_WAYS * CACHE_SETS)
#define CACHE_FRAMES 240 /* frames walked, the shim's included */
#define CACHE_CHECKS 255 /* a memo record indexes them in a byte */
#define HINTS 256
#define RULES 4096
#define MODS 8

enum { CFA_BAD = 0, CFA_RSP, CFA_RBP };
enum { RA_BAD = 0, RA_OFFSET, RA_END };
enum { BP_BAD = 0, BP_SAME, BP_OFFSET };

struct rule {
    uintptr_t pc;
    uint32_t epoch;
    uint8_t cfa, ra, bp, valid;
    int32_t cfa_off;
    int16_t ra_off, bp_off;
};

/* a frame's rule as an entry keeps it */
struct frule {
    int32_t cfa_off;
    int16_t ra_off, bp_off;
    uint8_t cfa, ra, bp, pad;
};

struct entry {
    uintptr_t sp, key;
    uint32_t epoch;
    uint32_t id; /* the native stack's id, 0: not interned yet */
    uint32_t depth;
    int16_t max, n, nchecks, valid;
    int16_t s, nf;   /* frame s+1 is the first kept; frames 1..nf walked */
    uint8_t live_bp; /* the live rbp at the start is compared with bp0 */
    uintptr_t bp0;
    /* the words compared on a hit, in walk order: at sp + coff[i] */
    int32_t coff[CACHE_CHECKS];
    uintptr_t cval[CACHE_CHECKS];
    /* each walked frame: its pc, stack pointer and rule (hints, below) */
    uintptr_t fpc[CACHE_FRAMES + 1], fsp[CACHE_FRAMES + 1];
    struct frule fr[CACHE_FRAMES + 1];
    int16_t ck[CACHE_FRAMES + 1]; /* its first check */
};

/* --- the stack memo: stacks the cache's sets no longer hold ---
 *
 * A set holds four stacks of one stack pointer and key, but a program can
 * allocate from hundreds of stacks at the same stack pointer through the
 * same malloc call (cc1: up to 349 stacks at one, ~9 800 pairs of stack
 * and stack pointer in all, against the sets' 512 entries then: 61 % of
 * its captures missed, nearly all of them stacks it had captured before).
 * So each walked and interned stack is also kept as a record (its words
 * in walk order, its pcs and id), immutable, in a per-thread memo where
 * a capture looks when the sets do not answer it (or first, where they
 * rarely do); the sets are what a miss walks into.
 *
 * The records of one stack pointer and key form a tree: the first is its
 * head; a record whose stack differs from record r first at r's word i
 * (the words before i the same, at the same addresses) hangs below r,
 * linked by (r, i, the value found at i). A lookup compares the head's
 * words in walk order; at the first that differs it follows the link of
 * (record, index, value read) and compares the next record from word i+1
 * on: its words 0..i are r's 0..i-1 and the value just read, at the same
 * addresses (checked when it is linked), so its walk read word i+1 at the
 * address this stack's frames give, as an entry's hit does. A record
 * whose walk used the live rbp (live_bp) is taken only with the same rbp;
 * a different rbp is followed as index -1 (compared from word 0). A record
 * whose every word holds is a hit. The memo is emptied when full, when
 * code is unloaded (epoch) and when the frame limit changes; it is mapped
 * at the first miss and grows a chunk at a time. */

#define MEMO_CHUNK_BITS 16
#define MEMO_CHUNK (1u << MEMO_CHUNK_BITS) /* 64 KiB */
#define MEMO_CHUNKS 120                    /* at most 7.5 MiB of records a thread */
#define MEMO_HEADS 4096
#define MEMO_LINKS 16384
#define MEMO_STEPS 32

struct rec {
    uintptr_t sp, key;   /* compared for a head */
    const struct rec *up; /* linked below 'up' at (ui, uv) */
    uintptr_t uv, bp0;
    int32_t ui;
    uint32_t id, depth;
    int16_t n, nchecks;
    uint8_t live_bp, pad[6];
    /* coff[nchecks] (padded to 8 bytes), cval[nchecks], then pci[n]: pc
     * k is cval[pci[k]] (each kept pc is a return address the walk read) */
    uintptr_t data[];
};

static inline const int32_t *rec_coff(const struct rec *r)
{
    return (const int32_t *)r->data;
}

static inline uintptr_t *rec_cval(const struct rec *r)
{
    return (uintptr_t *)r->data + ((r->nchecks + 1) >> 1);
}

static inline uint8_t *rec_pci(const struct rec *r)
{
    return (uint8_t *)(rec_cval(r) + r->nchecks);
}

#define MEMO_PLACE_BITS 19 /* MEMO_CHUNKS << (MEMO_CHUNK_BITS - 4) places, + 1, fit */
#define MEMO_TAG_MASK (~((1u << MEMO_PLACE_BITS) - 1))
_Static_assert(((uint64_t)MEMO_CHUNKS << (MEMO_CHUNK_BITS - 4)) < (1u << MEMO_PLACE_BITS), "a place fits a slot");
/* A head or link slot: a tag of its key's hash above the record's place
 * (in 16-byte units from the first chunk, chunk by chunk) + 1; 0: empty.
 * The record itself is compared before it is taken. */
struct memo {
    uint32_t epoch;
    int max;
    unsigned cur, nchunks, nheads, nlinks;
    uint32_t used; /* bytes of chunk 'cur' */
    char *chunk[MEMO_CHUNKS];
    uint32_t heads[MEMO_HEADS];
    uint32_t links[MEMO_LINKS];
};

/* where a lookup ended without a hit: what the next record would fill */
struct pend {
    struct entry *e; /* the entry walked for it; NULL: nothing to add */
    int ok;
    const struct rec *from; /* NULL: a new head */
    intptr_t i;
    uintptr_t v, sp, key, bp0;
};

static void memo_clear(struct memo *m, uint32_t epoch, int max)
{
    m->epoch = epoch;
    m->max = max;
    m->cur = 0;
    m->used = 0;
    if (m->nheads)
        memset(m->heads, 0, sizeof(m->heads));
    if (m->nlinks)
        memset(m->links, 0, sizeof(m->links));
    m->nheads = m->nlinks = 0;
}

static inline const struct rec *memo_rec(const struct memo *m, uint32_t slot)
{
    uint32_t at = (slot & ((1u << MEMO_PLACE_BITS) - 1)) - 1;
    return (const struct rec *)(m->chunk[at >> (MEMO_CHUNK_BITS - 4)] +
                                ((size_t)(at & ((1u << (MEMO_CHUNK_BITS - 4)) - 1)) << 4));
}

static inline uint64_t head_hash(uintptr_t sp, uintptr_t key)
{
    uint64_t h = ((uint64_t)sp ^ ((uint64_t)key << 17)) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

static inline uint64_t link_hash(const struct rec *from, intptr_t i, uintptr_t v)
{
    uint64_t h = ((uint64_t)(uintptr_t)from ^ ((uint64_t)i << 48)) * 0xff51afd7ed558ccdull;
    h = (h ^ v ^ (h >> 29)) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 32);
}

#define MEMO_TAG(h) ((uint32_t)((h) >> 32) & MEMO_TAG_MASK)

/* The record of this stack, or NULL (then '*p' says where a new record
 * would hang). */
static const struct rec *memo_find(const struct memo *m, uintptr_t sp0, uintptr_t key, uintptr_t bp0,
                                   struct pend *p)
{
    uint64_t h = head_hash(sp0, key);
    uint32_t tag = MEMO_TAG(h);
    const struct rec *r = NULL;
    p->from = NULL;
    for (unsigned s = (unsigned)h & (MEMO_HEADS - 1);; s = (s + 1) & (MEMO_HEADS - 1)) {
        uint32_t x = m->heads[s];
        if (!x)
            return NULL;
        if ((x & MEMO_TAG_MASK) == tag) {
            r = memo_rec(m, x);
            if (r->sp == sp0 && r->key == key)
                break;
        }
    }
    intptr_t i = 0;
    for (int step = 0; step < MEMO_STEPS; step++) {
        uintptr_t v;
        if (r->live_bp && r->bp0 != bp0) {
            i = -1;
            v = bp0;
        } else {
            int nc = r->nchecks;
            const int32_t *off = rec_coff(r);
            const uintptr_t *val = rec_cval(r);
            v = 0;
            for (; i < nc; i++) {
                v = *(const volatile uintptr_t *)(sp0 + (uintptr_t)(intptr_t)off[i]);
                if (v != val[i])
                    break;
            }
            if (i == nc)
                return r;
        }
        uint64_t lh = link_hash(r, i, v);
        uint32_t ltag = MEMO_TAG(lh);
        const struct rec *to = NULL;
        for (unsigned l = (unsigned)lh & (MEMO_LINKS - 1);; l = (l + 1) & (MEMO_LINKS - 1)) {
            uint32_t x = m->links[l];
            if (!x)
                break;
            if ((x & MEMO_TAG_MASK) == ltag) {
                const struct rec *c = memo_rec(m, x);
                if (c->up == r && c->ui == i && c->uv == v) {
                    to = c;
                    break;
                }
            }
        }
        if (!to) {
            p->from = r;
            p->i = i;
            p->v = v;
            return NULL;
        }
        r = to;
        i++;
    }
    p->ok = 0; /* too deep: not added */
    return NULL;
}

/* Room for 'size' bytes; '*slot' gets its place (memo_rec). */
static struct rec *memo_alloc(struct memo *m, size_t size, uint32_t *slot)
{
    size = (size + 15) & ~(size_t)15;
    if (size > MEMO_CHUNK)
        return NULL;
    if (m->used + size > MEMO_CHUNK) {
        if (m->cur + 1 >= MEMO_CHUNKS)
            return NULL;
        m->cur++;
        m->used = 0;
    }
    if (m->cur >= m->nchunks) {
        char *ch = tm__map(MEMO_CHUNK);
        if (!ch)
            return NULL;
        m->chunk[m->nchunks++] = ch;
    }
    *slot = ((m->cur << MEMO_CHUNK_BITS) + m->used) / 16 + 1;
    struct rec *r = (struct rec *)(m->chunk[m->cur] + m->used);
    m->used += (uint32_t)size;
    return r;
}

/* Adds the stack walked into 'e' (its id known now) where the lookup
 * '*p' ended. */
static void memo_add(struct memo *m, struct pend *p, const struct entry *e)
{
    int nc = e->nchecks, n = e->n;
    const struct rec *f = p->from;
    if (e->live_bp && e->bp0 != p->bp0)
        return;
    /* the new record's words up to p->i are f's and the value read */
    if (f && p->i >= 0 &&
        (p->i >= nc || rec_coff(f)[p->i] != e->coff[p->i] || e->cval[p->i] != p->v ||
         memcmp(rec_coff(f), e->coff, (size_t)p->i * sizeof(e->coff[0])) != 0 ||
         memcmp(rec_cval(f), e->cval, (size_t)p->i * sizeof(e->cval[0])) != 0))
        return;
    /* each kept pc is a return address the walk read, in walk order */
    uint8_t pci[CACHE_FRAMES + 1];
    for (int k = 0, j = 0; k < n; k++) {
        uintptr_t pc = e->fpc[e->s + 1 + k];
        while (j < nc && e->cval[j] != pc)
            j++;
        if (j == nc)
            return; /* cannot happen; not kept */
        pci[k] = (uint8_t)j;
    }
    size_t size = sizeof(struct rec) + (size_t)((nc + 1) >> 1) * 8 + (size_t)nc * sizeof(uintptr_t) + (size_t)n;
    struct rec *r = NULL;
    uint32_t at = 0;
    if (m->nlinks + 1 <= MEMO_LINKS / 4 * 3 && m->nheads + 1 <= MEMO_HEADS / 4 * 3)
        r = memo_alloc(m, size, &at);
    if (!r) { /* full: start again */
        memo_clear(m, m->epoch, m->max);
        return;
    }
    r->sp = p->sp;
    r->key = p->key;
    r->up = f;
    r->ui = (int32_t)p->i;
    r->uv = p->v;
    r->bp0 = e->bp0;
    r->id = e->id;
    r->depth = e->depth;
    r->n = (int16_t)n;
    r->nchecks = (int16_t)nc;
    r->live_bp = e->live_bp;
    memcpy((int32_t *)r->data, e->coff, (size_t)nc * sizeof(int32_t));
    memcpy(rec_cval(r), e->cval, (size_t)nc * sizeof(uintptr_t));
    memcpy(rec_pci(r), pci, (size_t)n);
    if (f) {
        uint64_t lh = link_hash(f, p->i, p->v);
        unsigned l = (unsigned)lh & (MEMO_LINKS - 1);
        while (m->links[l])
            l = (l + 1) & (MEMO_LINKS - 1);
        m->links[l] = MEMO_TAG(lh) | at;
        m->nlinks++;
    } else {
        uint64_t h = head_hash(p->sp, p->key);
        unsigned s = (unsigned)h & (MEMO_HEADS - 1);
        while (m->heads[s])
            s = (s + 1) & (MEMO_HEADS - 1);
        m->heads[s] = MEMO_TAG(h) | at;
        m->nheads++;
    }
}

struct tcache {
    struct tcache *next_all, *next_free;
    _Atomic uint64_t hits, misses, mismatches, uncached, partial;
    uint8_t victim[CACHE_SETS];
    uint16_t hint[HINTS]; /* by key: the entry last filled or hit, + 1 */
    struct memo *memo;    /* mapped at the first miss */
    int memo_failed;
    struct pend pend;     /* the last miss's place in the memo */
    uintptr_t deep[256];  /* stack pointers and keys of stacks too deep to walk */
    /* modules whose .eh_frame_hdr was found lately */
    struct mod {
        uintptr_t lo, hi, hdr;
        const int32_t *tab;
        size_t count;
        uint32_t epoch;
    } mods[MODS];
    unsigned mod_next;
    struct rule rules[RULES];
    /* each entry's stack pointer and key, a set's in one cache line: a
     * lookup reads no entry that cannot match (sp 0: none) */
    struct tag {
        uintptr_t sp, key;
    } tags[CACHE_ENTRIES] __attribute__((aligned(64)));
    struct entry entries[CACHE_ENTRIES];
    /* memo only, or the sets first (capture_cached: "which to look in first") */
    uint8_t memo_only;
    uint32_t set_missed, memo_run;
    uint64_t window; /* captures before the window of set_missed */
};

static tm__lock cache_lock;
static struct tcache *cache_all, *cache_free;
static __thread struct tcache *my_cache TM_TLS;
static __thread int cache_gone TM_TLS; /* this thread's destructor ran */
/* inside capture_cached(), and from a capture that returned an entry to
 * tm__capture_finish(): a signal handler's capture meanwhile is uncached */
static __thread int cache_busy TM_TLS;

static void bump(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* A forked child has only the forking thread: another may have held the
 * lock. */
static void cache_after_fork(void)
{
    atomic_store_explicit(&cache_lock.held, 0, memory_order_relaxed);
}

static void cache_release(void *p)
{
    struct tcache *c = p;
    my_cache = NULL;
    cache_gone = 1;
    if (!c)
        return;
    tm__lock_acquire(&cache_lock);
    c->next_free = cache_free;
    cache_free = c;
    tm__lock_release(&cache_lock);
}

static struct tcache *cache_get(void)
{
    struct tcache *c = my_cache;
    if (TM_LIKELY(c != NULL))
        return c;
    if (cache_gone || !cache_key_ok)
        return NULL;
    tm__lock_acquire(&cache_lock);
    c = cache_free;
    if (c)
        cache_free = c->next_free;
    tm__lock_release(&cache_lock);
    if (c) {
        for (int i = 0; i < CACHE_ENTRIES; i++)
            c->entries[i].valid = 0;
        memset(c->tags, 0, sizeof(c->tags));
        for (int i = 0; i < RULES; i++)
            c->rules[i].valid = 0;
        memset(c->hint, 0, sizeof(c->hint));
        memset(c->mods, 0, sizeof(c->mods));
        memset(c->deep, 0, sizeof(c->deep));
        c->pend.e = NULL;
        if (c->memo)
            memo_clear(c->memo, atomic_load_explicit(&tm__epoch, memory_order_relaxed), c->memo->max);
    } else {
        c = tm__map(sizeof(*c));
        if (!c)
            return NULL;
        tm__lock_acquire(&cache_lock);
        c->next_all = cache_all;
        __atomic_store_n(&cache_all, c, __ATOMIC_RELEASE);
        tm__lock_release(&cache_lock);
    }
    if (pthread_setspecific(cache_key, c) != 0) {
        cache_release(c);
        cache_gone = 0;
        return NULL;
    }
    my_cache = c;
    return c;
}

void tm__stack_cache_stats(uint64_t out[5])
{
    out[0] = out[1] = out[2] = out[3] = out[4] = 0;
    for (struct tcache *c = __atomic_load_n(&cache_all, __ATOMIC_ACQUIRE); c; c = c->next_all) {
        out[0] += atomic_load_explicit(&c->hits, memory_order_relaxed);
        out[1] += atomic_load_explicit(&c->misses, memory_order_relaxed);
        out[2] += atomic_load_explicit(&c->mismatches, memory_order_relaxed);
        out[3] += atomic_load_explicit(&c->uncached, memory_order_relaxed);
        out[4] += atomic_load_explicit(&c->partial, memory_order_relaxed);
    }
}

/* --- DWARF CFI, the part the cache needs --- */

static uint64_t uleb(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    int shift = 0;
    while (*p < end) {
        uint8_t b = *(*p)++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    return v;
}

static int64_t sleb(const uint8_t **p, const uint8_t *end)
{
    int64_t v = 0;
    int shift = 0;
    uint8_t b = 0;
    while (*p < end) {
        b = *(*p)++;
        if (shift < 64)
            v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

/* Decodes a pointer of encoding 'enc'; 'data' is the base for datarel.
 * Returns 0 on an encoding it does not know. */
static int read_enc(const uint8_t **p, const uint8_t *end, uint8_t enc, uintptr_t data, uintptr_t *out)
{
    const uint8_t *at = *p;
    uintptr_t v;
    if (enc == 0xff)
        return 0;
    switch (enc & 0x0f) {
    case 0x00: if (end - at < 8) return 0; { uint64_t x; memcpy(&x, at, 8); v = (uintptr_t)x; } *p = at + 8; break;
    case 0x01: v = (uintptr_t)uleb(p, end); break;
    case 0x02: if (end - at < 2) return 0; { uint16_t x; memcpy(&x, at, 2); v = x; } *p = at + 2; break;
    case 0x03: if (end - at < 4) return 0; { uint32_t x; memcpy(&x, at, 4); v = x; } *p = at + 4; break;
    case 0x04: if (end - at < 8) return 0; { uint64_t x; memcpy(&x, at, 8); v = (uintptr_t)x; } *p = at + 8; break;
    case 0x09: v = (uintptr_t)sleb(p, end); break;
    case 0x0a: if (end - at < 2) return 0; { int16_t x; memcpy(&x, at, 2); v = (uintptr_t)(intptr_t)x; } *p = at + 2; break;
    case 0x0b: if (end - at < 4) return 0; { int32_t x; memcpy(&x, at, 4); v = (uintptr_t)(intptr_t)x; } *p = at + 4; break;
    case 0x0c: if (end - at < 8) return 0; { int64_t x; memcpy(&x, at, 8); v = (uintptr_t)x; } *p = at + 8; break;
    default: return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uintptr_t)at; break;
    case 0x30: v += data; break;
    default: return 0;
    }
    if (enc & 0x80)
        return 0;
    *out = v;
    return 1;
}

struct cfi_state {
    uint8_t cfa, ra, bp;
    int64_t cfa_off, ra_off, bp_off;
};

/* Runs CFI instructions [p, end) while the location is <= 'target'. */
static int cfi_run(const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t target, uint64_t caf,
                   int64_t daf, struct cfi_state *st, const struct cfi_state *init)
{
    struct cfi_state stack[8];
    int depth = 0;
    while (p < end) {
        uint8_t op = *p++;
        uint8_t hi = op & 0xc0, lo = op & 0x3f;
        uint64_t reg;
        int64_t off;
        if (hi == 0x40) {
            loc += lo * caf;
            if (loc > target)
                return 1;
            continue;
        }
        if (hi == 0x80) {
            off = (int64_t)uleb(&p, end) * daf;
            reg = lo;
            goto set_offset;
        }
        if (hi == 0xc0) {
            reg = lo;
            goto restore;
        }
        switch (op) {
        case 0x00: break;
        case 0x02: if (p + 1 > end) return 0; loc += p[0] * caf; p += 1; if (loc > target) return 1; break;
        case 0x03: { uint16_t d; if (p + 2 > end) return 0; memcpy(&d, p, 2); p += 2; loc += d * caf; if (loc > target) return 1; break; }
        case 0x04: { uint32_t d; if (p + 4 > end) return 0; memcpy(&d, p, 4); p += 4; loc += d * caf; if (loc > target) return 1; break; }
        case 0x05: reg = uleb(&p, end); off = (int64_t)uleb(&p, end) * daf; goto set_offset;
        case 0x11: reg = uleb(&p, end); off = sleb(&p, end) * daf; goto set_offset;
        case 0x06: reg = uleb(&p, end); goto restore;
        case 0x07: /* undefined */
            reg = uleb(&p, end);
            if (reg == 16)
                st->ra = RA_END;
            else if (reg == 6)
                st->bp = BP_BAD;
            break;
        case 0x08: /* same value */
            reg = uleb(&p, end);
            if (reg == 16)
                st->ra = RA_BAD;
            else if (reg == 6)
                st->bp = BP_SAME;
            break;
        case 0x09: /* register */
            reg = uleb(&p, end);
            uleb(&p, end);
            if (reg == 16)
                st->ra = RA_BAD;
            else if (reg == 6)
                st->bp = BP_BAD;
            break;
        case 0x0a:
            if (depth == 8)
                return 0;
            stack[depth++] = *st;
            break;
        case 0x0b:
            if (depth == 0)
                return 0;
            { /* the CFA is not part of the remembered state? it is, in every consumer */
                *st = stack[--depth];
            }
            break;
        case 0x0c: reg = uleb(&p, end); st->cfa_off = (int64_t)uleb(&p, end); goto set_cfa_reg;
        case 0x12: reg = uleb(&p, end); st->cfa_off = sleb(&p, end) * daf; goto set_cfa_reg;
        case 0x0d: reg = uleb(&p, end); goto set_cfa_reg;
        case 0x0e: st->cfa_off = (int64_t)uleb(&p, end); break;
        case 0x13: st->cfa_off = sleb(&p, end) * daf; break;
        case 0x0f: { /* CFA expression */
            uint64_t len = uleb(&p, end);
            if (len > (uint64_t)(end - p))
                return 0;
            p += len;
            st->cfa = CFA_BAD;
            break;
        }
        case 0x10: case 0x16: { /* (val_)expression */
            reg = uleb(&p, end);
            uint64_t len = uleb(&p, end);
            if (len > (uint64_t)(end - p))
                return 0;
            p += len;
            if (reg == 16)
                st->ra = RA_BAD;
            else if (reg == 6)
                st->bp = BP_BAD;
            break;
        }
        case 0x14: case 0x15: /* val_offset */
            reg = uleb(&p, end);
            if (op == 0x14)
                uleb(&p, end);
            else
                sleb(&p, end);
            if (reg == 16)
                st->ra = RA_BAD;
            else if (reg == 6)
                st->bp = BP_BAD;
            break;
        case 0x2e: uleb(&p, end); break; /* GNU_args_size */
        case 0x2f: /* GNU_negative_offset_extended */
            reg = uleb(&p, end);
            off = -(int64_t)uleb(&p, end) * daf;
            goto set_offset;
        default:
            return 0;
        }
        continue;
    set_offset:
        if (reg == 16) {
            st->ra = RA_OFFSET;
            st->ra_off = off;
        } else if (reg == 6) {
            st->bp = BP_OFFSET;
            st->bp_off = off;
        }
        continue;
    restore:
        if (!init)
            return 0;
        if (reg == 16) {
            st->ra = init->ra;
            st->ra_off = init->ra_off;
        } else if (reg == 6) {
            st->bp = init->bp;
            st->bp_off = init->bp_off;
        }
        continue;
    set_cfa_reg:
        st->cfa = reg == 7 ? CFA_RSP : reg == 6 ? CFA_RBP : CFA_BAD;
        continue;
    }
    return 1;
}

/* Parses the FDE at 'fde' for 'pc' into '*r'. */
static __attribute__((noinline)) void parse_fde(const uint8_t *fde, uintptr_t hdr, uintptr_t pc, struct rule *r)
{
    uint32_t len, cie_off;
    memcpy(&len, fde, 4);
    if (len == 0 || len == 0xffffffffu)
        return;
    const uint8_t *fend = fde + 4 + len, *p = fde + 4;
    memcpy(&cie_off, p, 4);
    if (cie_off == 0)
        return; /* a CIE, not an FDE */
    const uint8_t *cie = p - cie_off;
    p += 4;
    uint32_t clen;
    memcpy(&clen, cie, 4);
    if (clen == 0 || clen == 0xffffffffu)
        return;
    const uint8_t *cend = cie + 4 + clen, *q = cie + 8;
    uint8_t version = *q++;
    const char *aug = (const char *)q;
    size_t alen = strnlen(aug, (size_t)(cend - q));
    q += alen + 1;
    if (q > cend)
        return;
    uint64_t caf = uleb(&q, cend);
    int64_t daf = sleb(&q, cend);
    uint64_t rareg = version == 1 ? *q++ : uleb(&q, cend);
    if (rareg != 16)
        return;
    uint8_t fde_enc = 0;
    const uint8_t *cins = q;
    if (aug[0] == 'z') {
        uint64_t dlen = uleb(&q, cend);
        const uint8_t *d = q;
        cins = q + dlen;
        if (cins > cend)
            return;
        for (size_t i = 1; i < alen; i++) {
            if (aug[i] == 'R')
                fde_enc = *d++;
            else if (aug[i] == 'L')
                d++;
            else if (aug[i] == 'P') {
                uint8_t penc = *d++;
                uintptr_t dummy;
                if (!read_enc(&d, cins, penc & 0x7f, hdr, &dummy))
                    return;
            } else if (aug[i] == 'S')
                return; /* signal frame */
            else if (aug[i] != 'B')
                return;
        }
    } else if (alen) {
        return;
    }
    uintptr_t begin, range;
    if (!read_enc(&p, fend, fde_enc, hdr, &begin) || !read_enc(&p, fend, fde_enc & 0x0f, hdr, &range))
        return;
    if (pc < begin || pc - begin >= range)
        return;
    if (aug[0] == 'z') {
        uint64_t dlen = uleb(&p, fend);
        p += dlen;
        if (p > fend)
            return;
    }
    struct cfi_state st = {CFA_BAD, RA_BAD, BP_SAME, 0, 0, 0};
    if (!cfi_run(cins, cend, begin, (uintptr_t)-1, caf, daf, &st, NULL))
        return;
    struct cfi_state init = st;
    if (!cfi_run(p, fend, begin, pc, caf, daf, &st, &init))
        return;
    if (st.cfa == CFA_BAD || st.ra == RA_BAD || st.bp == BP_BAD)
        return;
    if (st.cfa_off < -(1 << 30) || st.cfa_off > (1 << 30) || st.ra_off < -32768 || st.ra_off > 32767 ||
        st.bp_off < -32768 || st.bp_off > 32767)
        return;
    r->cfa = st.cfa;
    r->ra = st.ra;
    r->bp = st.bp;
    r->cfa_off = (int32_t)st.cfa_off;
    r->ra_off = (int16_t)st.ra_off;
    r->bp_off = (int16_t)st.bp_off;
}

struct fde_arg {
    uintptr_t pc;
    struct rule *r;
    struct mod *m; /* filled when the module has a usable table */
};

static void search_table(const struct mod *m, uintptr_t pc, struct rule *r)
{
    const int32_t *tab = m->tab;
    uintptr_t hdr = m->hdr;
    size_t lo = 0, hi = m->count;
    while (hi - lo > 1) { /* the last entry whose start is <= pc */
        size_t mid = (lo + hi) / 2;
        if (hdr + (uintptr_t)(intptr_t)tab[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if (hdr + (uintptr_t)(intptr_t)tab[2 * lo] > pc)
        return;
    parse_fde((const uint8_t *)(hdr + (uintptr_t)(intptr_t)tab[2 * lo + 1]), hdr, pc, r);
}

static int find_fde(struct dl_phdr_info *info, size_t size, void *data)
{
    struct fde_arg *a = data;
    (void)size;
    const ElfW(Phdr) *eh = NULL;
    int inside = 0;
    uintptr_t seg_lo = 0, seg_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && a->pc >= info->dlpi_addr + ph->p_vaddr &&
            a->pc < info->dlpi_addr + ph->p_vaddr + ph->p_memsz) {
            inside = 1;
            seg_lo = info->dlpi_addr + ph->p_vaddr;
            seg_hi = seg_lo + ph->p_memsz;
        } else if (ph->p_type == PT_GNU_EH_FRAME)
            eh = ph;
    }
    if (!inside)
        return 0;
    if (!eh)
        return 1;
    const uint8_t *h = (const uint8_t *)(info->dlpi_addr + eh->p_vaddr);
    uintptr_t hdr = (uintptr_t)h;
    if (h[0] != 1 || h[3] != 0x3b)
        return 1;
    const uint8_t *p = h + 4, *end = h + eh->p_memsz;
    uintptr_t frame, count;
    if (!read_enc(&p, end, h[1], hdr, &frame) || !read_enc(&p, end, h[2], hdr, &count) || count == 0)
        return 1;
    a->m->lo = seg_lo;
    a->m->hi = seg_hi;
    a->m->hdr = hdr;
    a->m->tab = (const int32_t *)p;
    a->m->count = count;
    search_table(a->m, a->pc, a->r);
    return 1;
}

static const struct rule *rule_for(struct tcache *c, uintptr_t pc, uint32_t epoch)
{
    struct rule *r = &c->rules[((pc * 0x9e3779b97f4a7c15ull) >> 40) & (RULES - 1)];
    if (r->valid && r->pc == pc && r->epoch == epoch)
        return r;
    *r = (struct rule){pc, epoch, CFA_BAD, RA_BAD, BP_BAD, 1, 0, 0, 0};
    for (int i = 0; i < MODS; i++) {
        const struct mod *m = &c->mods[i];
        if (m->tab && m->epoch == epoch && pc >= m->lo && pc < m->hi) {
            search_table(m, pc, r);
            return r;
        }
    }
    struct mod m = {0, 0, 0, NULL, 0, epoch};
    struct fde_arg a = {pc, r, &m};
    dl_iterate_phdr(find_fde, &a);
    if (m.tab)
        c->mods[c->mod_next++ % MODS] = m;
    return r;
}

/* libunwind's unwind; 'all' (CACHE_FRAMES words) gets every frame after the
 * skipped ones and '*nall' their number, or -1 when there were more or the
 * thread unwinds deep stacks. */
static int lu_capture(int (*bt)(void **, int), uintptr_t *pcs, int max, uint32_t *depth, uintptr_t *all,
                      int *nall)
{
    *nall = -1;
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
    if (all && n - skip <= CACHE_FRAMES) {
        memcpy(all, buf + skip, (size_t)(n - skip) * sizeof(*all));
        *nall = n - skip;
    }
    return kept;
}

static int own_pc(uintptr_t pc)
{
    return in_ranges(self_text, nself, pc) || in_ranges(unw_text, nunw, pc);
}

#define ADD_CHECK(a, v)                                                                                            \
    do {                                                                                                           \
        intptr_t off_ = (intptr_t)((a) - sp0);                                                                     \
        if (nchk == CACHE_CHECKS || off_ < INT32_MIN || off_ > INT32_MAX)                                          \
            return 0;                                                                                              \
        e->coff[nchk] = (int32_t)off_;                                                                             \
        e->cval[nchk] = (v);                                                                                       \
        nchk++;                                                                                                    \
    } while (0)

/* The rule for frame t at 'pc' (frame 1 is the capture's own instruction,
 * the others are return addresses: their call is at pc - 1). A hint, an
 * entry filled earlier by a walk in this epoch, keeps each of its frames'
 * pc and rule: where this frame's pc is a hint frame's (its cursor '*j', or
 * the hint frame at this frame's stack pointer), that frame's rule is this
 * one's, as rules depend on the pc alone; otherwise rule_for() finds it.
 * Hints only spare the lookups: the walk reads the stack as without. */
static inline int frame_rule(struct tcache *c, const struct entry *h, int *j, int t, uintptr_t pc, uintptr_t sp,
                             uint32_t epoch, struct frule *out)
{
    if (h) {
        int k = *j, hn = h->nf;
        if (k <= hn && h->fpc[k] != pc)
            while (k <= hn && h->fsp[k] < sp)
                k++;
        if (k <= hn && h->fpc[k] == pc && (k == 1) == (t == 1)) {
            *out = h->fr[k];
            *j = k + 1;
            return 2;
        }
        *j = k;
    }
    const struct rule *r = rule_for(c, t == 1 ? pc : pc - 1, epoch);
    if (r->cfa == CFA_BAD || r->ra == RA_BAD || r->bp == BP_BAD)
        return 0;
    *out = (struct frule){r->cfa_off, r->ra_off, r->bp_off, r->cfa, r->ra, r->bp, 0};
    return 1;
}

/* 1 when the walk of 'h' from frame k on needs the rbp it came with: a
 * frame finds its CFA from rbp before a frame restores rbp from the stack. */
static int needs_rbp(const struct entry *h, int k)
{
    for (int i = k; i <= h->nf; i++) {
        if (h->fr[i].cfa == CFA_RBP)
            return 1;
        if (h->fr[i].bp == BP_OFFSET)
            return 0;
    }
    return 0;
}

/* The walk from frame 't' on, when its pc and stack pointer are those of
 * frame 'k' of the hint 'h' and that frame's walk needs no rbp: compares
 * the words h's walk read from frame k on (in walk order, at the same
 * addresses, stopping at the first that differs) and, when all hold,
 * copies h's frames k.. and checks into 'e' as frames t.. (e->nchecks is
 * set). Returns the last frame; when a word differs, -2 - its check's
 * index (h's frames up to that check's are no tail of this stack); -1
 * when 'e' has no room. */
static int tail_of(struct entry *e, const struct entry *h, int k, int t, int nchk, uintptr_t sp0)
{
    int hn = h->nf, c0 = h->ck[k], nc = h->nchecks;
    int last = t + (hn - k);
    if (last > CACHE_FRAMES || nchk + (nc - c0) > CACHE_CHECKS)
        return -1;
    uintptr_t hsp = h->sp;
    for (int i = c0; i < nc; i++)
        if (*(const volatile uintptr_t *)(hsp + (uintptr_t)(intptr_t)h->coff[i]) != h->cval[i])
            return -2 - i;
    intptr_t shift = (intptr_t)(hsp - sp0);
    for (int i = c0; i < nc; i++) {
        intptr_t off = (intptr_t)h->coff[i] + shift;
        if (off < INT32_MIN || off > INT32_MAX)
            return -1;
        e->coff[nchk + i - c0] = (int32_t)off;
        e->cval[nchk + i - c0] = h->cval[i];
    }
    int m = hn - k + 1;
    memcpy(&e->fpc[t], &h->fpc[k], (size_t)m * sizeof(e->fpc[0]));
    memcpy(&e->fsp[t], &h->fsp[k], (size_t)m * sizeof(e->fsp[0]));
    memcpy(&e->fr[t], &h->fr[k], (size_t)m * sizeof(e->fr[0]));
    for (int i = 0; i < m; i++)
        e->ck[t + i] = (int16_t)(nchk + h->ck[k + i] - c0);
    e->nchecks = (int16_t)(nchk + nc - c0);
    return last;
}

/* Walks the stack from capture_cached()'s instruction by the CFI rules
 * (hinted by 'h', may be NULL); fills 'e' and returns 1 when every frame
 * was proved, -1 when there were more than CACHE_FRAMES, 0 otherwise
 * (nothing cached). */
static __attribute__((noinline)) int walk(struct tcache *c, struct entry *e, const struct entry *h, uintptr_t pc,
                                          uintptr_t sp, uintptr_t bp, uint32_t epoch, int max)
{
    const uintptr_t sp0 = sp;
    uintptr_t bploc = 0;
    int bplive = 1; /* bp is still the live register's value */
    int nchk = 0, t = 1, s = -1, j = 1, tries = h ? 3 : 0, failed = -1;
    e->live_bp = 0;
    for (;;) {
        struct frule r;
        int how = frame_rule(c, h, &j, t, pc, sp, epoch, &r);
        if (!how)
            return 0;
        if (how == 2 && tries && s >= 0) {
            /* the hint's frame j-1 at the same pc and stack pointer, its
             * walk not depending on the rbp it came with: the rest of the
             * walk reads what the hint's read, at the same addresses */
            int k = j - 1;
            if (h->fsp[k] == sp && k > h->s && h->ck[k] > failed && !needs_rbp(h, k)) {
                int r2 = tail_of(e, h, k, t, nchk, sp0);
                if (r2 > 0) {
                    bump(&c->partial);
                    t = r2;
                    nchk = e->nchecks;
                    break;
                }
                tries = r2 == -1 ? 0 : tries - 1;
                failed = -2 - r2;
            }
        }
        e->fpc[t] = pc;
        e->fsp[t] = sp;
        e->fr[t] = r;
        e->ck[t] = (int16_t)nchk;
        uintptr_t cfa;
        if (r.cfa == CFA_RSP) {
            cfa = sp + (uintptr_t)(intptr_t)r.cfa_off;
        } else {
            if (bplive) {
                e->live_bp = 1;
                e->bp0 = bp;
            } else {
                ADD_CHECK(bploc, bp);
            }
            cfa = bp + (uintptr_t)(intptr_t)r.cfa_off;
        }
        if (r.ra == RA_END)
            break;
        uintptr_t slot = cfa + (uintptr_t)(intptr_t)r.ra_off;
        if (slot & 7)
            return 0;
        uintptr_t ra = *(const volatile uintptr_t *)slot;
        ADD_CHECK(slot, ra);
        if (r.bp == BP_OFFSET) {
            bploc = cfa + (uintptr_t)(intptr_t)r.bp_off;
            if (bploc & 7)
                return 0;
            bp = *(const volatile uintptr_t *)bploc;
            bplive = 0;
        }
        sp = cfa;
        if (ra == 0)
            break;
        pc = ra;
        if (s < 0 && !own_pc(pc))
            s = t;
        if (++t > CACHE_FRAMES)
            return -1;
    }
    if (s < 0)
        return 0;
    e->nf = (int16_t)t;
    e->s = (int16_t)s;
    e->nchecks = (int16_t)nchk;
    e->depth = (uint32_t)(t - s);
    e->n = (int16_t)(t - s < max ? t - s : max);
    return 1;
}

static unsigned set_index(uintptr_t sp, uintptr_t key)
{
    uint64_t h = ((uint64_t)sp ^ ((uint64_t)key << 7)) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> 56) & (CACHE_SETS - 1);
}

static unsigned hint_index(uintptr_t key)
{
    return (unsigned)(((uint64_t)key * 0x9e3779b97f4a7c15ull) >> 40) & (HINTS - 1);
}

/* 1 when every word 'e' depends on still holds its value. In walk order,
 * stopping at the first that differs: a word is read only when the words
 * before it proved the frames that lead to its address. */
static inline int entry_holds(const struct entry *e, uintptr_t sp0, uintptr_t bp0)
{
    if (e->live_bp && e->bp0 != bp0)
        return 0;
    int nc = e->nchecks;
    const int32_t *off = e->coff;
    const uintptr_t *val = e->cval;
    for (int i = 0; i < nc; i++)
        if (*(const volatile uintptr_t *)(sp0 + (uintptr_t)(intptr_t)off[i]) != val[i])
            return 0;
    return 1;
}

/* Adds the walked entry 'e' to the memo once its id is known. */
static void memo_put(struct tcache *c, struct entry *e)
{
    if (c->pend.e == e && e->id && c->memo)
        memo_add(c->memo, &c->pend, e);
    c->pend.e = NULL;
}

/* capture_cached's choice of where to look first, after a capture that no
 * set answered ('probed': the sets were looked in). */
enum { SET_MISSES = 256, MEMO_RUN = 4096 };

static uint64_t captures(struct tcache *c)
{
    return atomic_load_explicit(&c->hits, memory_order_relaxed) +
           atomic_load_explicit(&c->misses, memory_order_relaxed) +
           atomic_load_explicit(&c->uncached, memory_order_relaxed);
}

static inline void which_first(struct tcache *c, int probed)
{
    if (probed) {
        if (TM_LIKELY(++c->set_missed < SET_MISSES))
            return;
        uint64_t now = captures(c);
        c->memo_only = (uint64_t)c->set_missed * 3 >= now + 1 - c->window;
        c->set_missed = 0;
        c->window = now;
        c->memo_run = 0;
    } else if (++c->memo_run >= MEMO_RUN) {
        c->memo_only = 0;
        c->set_missed = 0;
        c->window = captures(c);
    }
}

static __attribute__((noinline)) int capture_cached(int (*bt)(void **, int), uintptr_t *pcs, int max,
                                                    uint32_t *depth, struct tm__capture_memo *memo)
{
    uintptr_t pc0, sp0, bp0;
    /* the instruction every capture starts at: frame 1 of the walk */
    __asm__ __volatile__("mov %%rbp, %2\n\tmov %%rsp, %1\n\tlea 0(%%rip), %0"
                         : "=&r"(pc0), "=&r"(sp0), "=&r"(bp0));
    struct tcache *c = cache_get();
    uintptr_t all[CACHE_FRAMES];
    int nall;
    if (!c)
        return lu_capture(bt, pcs, max, depth, NULL, &nall);
    uint32_t epoch = atomic_load_explicit(&tm__epoch, memory_order_relaxed);
    uintptr_t key = tm__hook_ra;
    c->pend.e = NULL;
    unsigned set = set_index(sp0, key), hi = hint_index(key);
    struct entry *ways = &c->entries[set * CACHE_WAYS], *e = NULL;
    struct tag *tags = &c->tags[set * CACHE_WAYS];
    /* Which to look in first. The memo holds every stack the sets do, but
     * a set's hit is the shorter path (its pcs are copied in one piece):
     * worth a look first where most captures hit a set (malloc churn,
     * python3: nearly all), not where most miss it and go on to the memo
     * (cc1: 61 %, several stacks at one stack pointer and key, so the set's
     * entry is often compared in part before it fails). The sets are
     * looked in first until 1/3 or more of the captures since the last
     * decision missed them (decided every SET_MISSES misses); then the memo
     * only, for MEMO_RUN captures, before the sets are tried again; and
     * always while the memo is not mapped (yet). Both are exact: only the
     * cost differs. */
    int probe = !c->memo_only || !c->memo;
    for (int w = 0; w < CACHE_WAYS && probe; w++) {
        struct entry *x = &ways[w];
        if (tags[w].sp == sp0 && tags[w].key == key && x->valid && x->epoch == epoch && x->max == max &&
            entry_holds(x, sp0, bp0)) {
            e = x;
            break;
        }
    }
    if (!e)
        which_first(c, probe);
    if (e) {
        int n = e->n;
        if (!memo->lazy || !e->id || TM_UNLIKELY(tm__verify_stacks))
            memcpy(pcs, &e->fpc[e->s + 1], (size_t)n * sizeof(*pcs));
        *depth = e->depth;
        memo->id = e->id;
        memo->entry = e;
        c->hint[hi] = (uint16_t)(e - c->entries + 1);
        bump(&c->hits);
        if (TM_UNLIKELY(tm__verify_stacks)) {
            uint32_t d2;
            int n2 = lu_capture(bt, all, max, &d2, NULL, &nall);
            if (n2 != n || d2 != *depth || memcmp(all, pcs, (size_t)n * sizeof(*pcs)) != 0) {
                bump(&c->mismatches);
                e->valid = 0;
                tags[e - ways].sp = 0;
                memo->id = 0;
                memo->entry = NULL;
                memcpy(pcs, all, (size_t)n2 * sizeof(*pcs));
                *depth = d2;
                return n2;
            }
        }
        return n;
    }
    struct memo *m = c->memo;
    struct pend *p = &c->pend;
    if (TM_UNLIKELY(!m) && !c->memo_failed) {
        m = c->memo = tm__map(sizeof(*m));
        if (m)
            memo_clear(m, epoch, max);
        else
            c->memo_failed = 1;
    }
    if (m) {
        if (TM_UNLIKELY(m->epoch != epoch || m->max != max))
            memo_clear(m, epoch, max);
        p->ok = 1;
        const struct rec *r = memo_find(m, sp0, key, bp0, p);
        if (r) {
            int n = r->n;
            const uintptr_t *val = rec_cval(r);
            const uint8_t *pci = rec_pci(r);
            if (!memo->lazy || TM_UNLIKELY(tm__verify_stacks))
                for (int k = 0; k < n; k++)
                    pcs[k] = val[pci[k]];
            *depth = r->depth;
            memo->id = r->id;
            memo->entry = NULL;
            bump(&c->hits);
            if (TM_UNLIKELY(tm__verify_stacks)) {
                uint32_t d2;
                int n2 = lu_capture(bt, all, max, &d2, NULL, &nall);
                if (n2 != n || d2 != *depth || memcmp(all, pcs, (size_t)n * sizeof(*pcs)) != 0) {
                    bump(&c->mismatches);
                    memo_clear(m, epoch, max);
                    memo->id = 0;
                    memcpy(pcs, all, (size_t)n2 * sizeof(*pcs));
                    *depth = d2;
                    return n2;
                }
            }
            return n;
        }
    }
    const struct entry *h = NULL;
    if (c->hint[hi]) {
        h = &c->entries[c->hint[hi] - 1];
        if (!h->valid || h->epoch != epoch)
            h = NULL;
    }
    e = &ways[c->victim[set]++ % CACHE_WAYS];
    for (int w = 0; w < CACHE_WAYS; w++)
        if (!tags[w].sp) {
            e = &ways[w];
            break;
        }
    if (e == h) /* the hint is read while the entry is filled */
        e = &ways[(e - ways + 1) % CACHE_WAYS];
    bump(&c->misses);
    /* the walk is the unwind: libunwind only where it cannot prove a frame */
    e->valid = 0;
    tags[e - ways].sp = 0;
    /* a stack too deep to walk at this stack pointer and key lately: the
     * walk would give up after CACHE_FRAMES frames again (libunwind is
     * exact either way) */
    unsigned di = (unsigned)((((uint64_t)sp0 ^ ((uint64_t)key << 19)) * 0x9e3779b97f4a7c15ull) >> 56);
    uintptr_t dtag = sp0 ^ (key << 1) ^ 1;
    int walked = c->deep[di] == dtag ? 0 : walk(c, e, h, pc0, sp0, bp0, epoch, max);
    if (walked < 0)
        c->deep[di] = dtag;
    if (walked > 0) {
        int n = e->n;
        memcpy(pcs, &e->fpc[e->s + 1], (size_t)n * sizeof(*pcs));
        *depth = e->depth;
        if (TM_UNLIKELY(tm__verify_stacks)) {
            uint32_t d2;
            int n2 = lu_capture(bt, all, max, &d2, NULL, &nall);
            if (n2 != n || d2 != *depth || memcmp(all, pcs, (size_t)n * sizeof(*pcs)) != 0) {
                bump(&c->mismatches);
                memcpy(pcs, all, (size_t)n2 * sizeof(*pcs));
                *depth = d2;
                return n2;
            }
        }
        e->sp = sp0;
        e->key = key;
        e->epoch = epoch;
        e->max = (int16_t)max;
        e->id = 0;
        /* the same frames as the hint's: its stack id is this one's */
        if (h && h->n == n && h->depth == *depth && h->max == max &&
            memcmp(&h->fpc[h->s + 1], pcs, (size_t)n * sizeof(*pcs)) == 0)
            e->id = h->id;
        e->valid = 1;
        tags[e - ways].sp = sp0;
        tags[e - ways].key = key;
        c->hint[hi] = (uint16_t)(e - c->entries + 1);
        memo->id = e->id;
        memo->entry = e;
        if (m && p->ok) {
            p->e = e;
            p->sp = sp0;
            p->key = key;
            p->bp0 = bp0;
            if (e->id)
                memo_put(c, e);
        }
        return n;
    }
    bump(&c->uncached);
    return lu_capture(bt, pcs, max, depth, NULL, &nall);
}

int tm__capture_memo(uintptr_t *pcs, int max, uint32_t *depth, struct tm__capture_memo *memo)
{
    int (*bt)(void **, int) = __atomic_load_n(&backtrace_fn, __ATOMIC_ACQUIRE);
    int nall;
    memo->id = 0;
    memo->entry = NULL;
    *depth = 0;
    if (!bt) { /* the caller only, when an entry point noted it */
        if (!tm__early_pc || max < 1)
            return 0;
        pcs[0] = tm__early_pc;
        *depth = 0; /* "only the caller": tracemem-snapshot(5) */
        return 1;
    }
#if TM_CACHE_ARCH
    /* not nested: a signal handler's tracemem_track() may interrupt a
     * capture that is filling an entry, or one whose entry is handed to
     * tm__capture_finish() (busy until then) */
    if (cache_on && !cache_busy) {
        cache_busy = 1;
        int n = capture_cached(bt, pcs, max, depth, memo);
        if (!memo->entry)
            cache_busy = 0;
        return n;
    }
#endif
    return lu_capture(bt, pcs, max, depth, NULL, &nall);
}

uint32_t tm__capture_finish(struct tm__capture_memo *memo, const uintptr_t *pcs, int n, uint32_t depth)
{
    struct entry *e = memo->entry;
    uint32_t id = memo->id;
    if (!id) {
        id = tm__stack_intern(pcs, n, depth);
        if (id && e)
            e->id = id;
    }
    if (e) {
        struct tcache *c = my_cache;
        if (c && c->pend.e)
            memo_put(c, e);
        cache_busy = 0;
    }
    return id;
}

void tm__capture_remember(struct tm__capture_memo *memo, uint32_t id)
{
    struct entry *e = memo->entry;
    if (e) {
        e->id = id;
        struct tcache *c = my_cache;
        if (c && c->pend.e)
            memo_put(c, e);
    }
}

void tm__capture_release(struct tm__capture_memo *memo)
{
    if (memo->entry) {
        struct tcache *c = my_cache;
        if (c)
            c->pend.e = NULL;
        cache_busy = 0;
    }
}

int tm__capture(uintptr_t *pcs, int max, uint32_t *depth)
{
    struct tm__capture_memo memo = {.lazy = 0};
    int n = tm__capture_memo(pcs, max, depth, &memo);
    if (memo.entry)
        cache_busy = 0;
    return n;
}
