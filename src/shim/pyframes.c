/* pyframes.c - the Python frames of a CPython program, in its native stacks.
 *
 * When the process holds a CPython interpreter (found by its exported
 * symbols: _PyRuntime, Py_Version, PyCode_Type, _PyEval_EvalFrameDefault),
 * each captured stack gets the Python frames in place of the evaluation
 * loop's C frames, innermost first, like py-spy --native. In 3.11 one
 * _PyEval_EvalFrameDefault call runs a chain of Python frames (Python to
 * Python calls do not recurse in C); the chain of the thread's frames
 * (frame->previous) is split into groups ending at an entry frame, and the
 * k-th evaluation frame of the native stack (innermost first) is replaced
 * by the k-th group.
 *
 * The version-specific part is a layout table (struct layout): offsets of
 * the few fields read, a row per version (3.11, 3.12, 3.13; 3.13's offsets
 * that _PyRuntime.debug_offsets describes are read from there at run time).
 * Another version gets native stacks and one warning line; adding one means
 * describing its layout.
 *
 * Cost. Each capture of a thread running Python looks its stack up among
 * the thread's last merged stacks (struct seen), keyed by everything the
 * merge reads: the native stack (the stack cache's id), every frame of the
 * chain (code object, instruction, owner/entry bytes), each code object
 * proven the same object (code_proof: static, malloc'd while no code
 * object was freed, co_version). A hit costs one pass over the frames and
 * neither merges nor interns; a miss merges (a per-thread memo of frames
 * seen last, then the shared cache) and interns.
 *
 * Reading the interpreter's structures never crashes the program and never
 * changes it: only the calling thread's own thread state is read (its
 * frames are changed by nobody else while it is inside malloc); every object
 * read for the first time is copied with process_vm_readv (a bad address is
 * an error, not a fault) and checked by type (ob_type against PyCode_Type,
 * PyUnicode_Type, PyBytes_Type); chains are bounded; nothing calls into
 * Python, allocates from the host or takes a lock of the interpreter's.
 *
 * A Python frame in a stack is a tagged value: TM_PY_TAG | id, where id
 * indexes the table of (file, function, line) records, each copied once.
 * The cache from (code object, instruction offset) to id keeps the code
 * object's proof, so a code object freed and another made at its address
 * (exec() in a loop remakes its name and line table at their old
 * addresses too) is not misattributed: without a proof that holds, its
 * file, function and line are read again and compared.
 * Records are immutable once published; cache entries change only their
 * proof and id, each atomically (see cache_find). Readers take no lock,
 * writers (first sight only) take 'py_lock', a leaf lock.
 */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- layouts --- */

struct layout {
    unsigned major, minor;
    /* _PyRuntimeState */
    int rt_tstate_current; /* the thread state holding the GIL */
    int rt_tss_key;        /* Py_tss_t of PyGILState: {int initialized; pthread_key_t key} */
    /* PyThreadState */
    int ts_thread_id;
    int ts_cframe;        /* -1: the thread state holds current_frame itself */
    int ts_current_frame; /* in the _PyCFrame (or the thread state) */
    /* _PyInterpreterFrame */
    int fr_code, fr_previous, fr_prev_instr;
    int fr_is_entry;     /* bool marking the first frame of a C call, -1 none */
    int fr_owner;        /* char */
    int owner_cstack;    /* owner value of C entry frames (3.12), -1 none */
    int owner_generator; /* owner value of generator frames */
    /* PyCodeObject */
    int co_filename, co_name, co_qualname, co_firstlineno, co_linetable, co_firsttraceable, co_code;
    int co_version; /* uint32_t, unique when not 0 (3.12+), -1 none */
    /* PyBytesObject */
    int by_size, by_data;
    /* PyASCIIObject / PyCompactUnicodeObject */
    int str_length, str_state, str_ascii_data, str_compact_data;
    unsigned state_kind_shift, state_compact_bit, state_ascii_bit;
    int debug_offsets; /* _PyRuntime starts with 3.13's _Py_DebugOffsets */
};

/* Each row is read off the version's headers (offsetof on a build of its
 * Include/internal/pycore_runtime.h, pycore_frame.h, pycore_code.h,
 * cpython/pystate.h, cpython/code.h, cpython/unicodeobject.h). */
/* clang-format off */
static const struct layout layouts[] = {
    /* 3.11: the GIL holder in _PyRuntime.gilstate.tstate_current; frames
     * behind a _PyCFrame; an entry frame marks itself (is_entry) */
    {.major = 3, .minor = 11,
     .rt_tstate_current = 576, .rt_tss_key = 592,
     .ts_thread_id = 152, .ts_cframe = 56, .ts_current_frame = 8,
     .fr_code = 32, .fr_previous = 48, .fr_prev_instr = 56, .fr_is_entry = 68, .fr_owner = 69,
     .owner_cstack = -1, .owner_generator = 1,
     .co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 72, .co_linetable = 136,
     .co_firsttraceable = 168, .co_code = 184, .co_version = -1,
     .by_size = 16, .by_data = 32,
     .str_length = 16, .str_state = 32, .str_ascii_data = 48, .str_compact_data = 72,
     .state_kind_shift = 2, .state_compact_bit = 5, .state_ascii_bit = 6},
    /* 3.12: no tstate_current (a C thread-local now), the TSS key only; an
     * entry is a frame of its own on the C stack (owner 3); no wstr */
    {.major = 3, .minor = 12,
     .rt_tstate_current = -1, .rt_tss_key = 1544,
     .ts_thread_id = 136, .ts_cframe = 56, .ts_current_frame = 0,
     .fr_code = 0, .fr_previous = 8, .fr_prev_instr = 56, .fr_is_entry = -1, .fr_owner = 70,
     .owner_cstack = 3, .owner_generator = 1,
     .co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 68, .co_linetable = 136,
     .co_firsttraceable = 176, .co_code = 192, .co_version = 92,
     .by_size = 16, .by_data = 32,
     .str_length = 16, .str_state = 32, .str_ascii_data = 40, .str_compact_data = 56,
     .state_kind_shift = 2, .state_compact_bit = 5, .state_ascii_bit = 6},
    /* 3.13: no _PyCFrame (current_frame in the thread state); the frame's
     * code is f_executable (None in a C entry frame) and its instr_ptr the
     * instruction running (the same lasti as 3.12's prev_instr). 3.13 has
     * _PyRuntime.debug_offsets (_Py_DebugOffsets): what it describes is
     * read from there at run time (debug_offsets()), this row gives the
     * rest (the TSS key, _co_firsttraceable, the compact unicode header) */
    {.major = 3, .minor = 13,
     .rt_tstate_current = -1, .rt_tss_key = 2160,
     .ts_thread_id = 152, .ts_cframe = -1, .ts_current_frame = 72,
     .fr_code = 0, .fr_previous = 8, .fr_prev_instr = 56, .fr_is_entry = -1, .fr_owner = 70,
     .owner_cstack = 3, .owner_generator = 1,
     .co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 68, .co_linetable = 136,
     .co_firsttraceable = 184, .co_code = 200, .co_version = 92,
     .by_size = 16, .by_data = 32,
     .str_length = 16, .str_state = 32, .str_ascii_data = 40, .str_compact_data = 56,
     .state_kind_shift = 2, .state_compact_bit = 5, .state_ascii_bit = 6,
     .debug_offsets = 1},
};
/* clang-format on */

#define OB_TYPE 8
/* TM_PY_NOMEMO (a build for checking the memos): every capture is merged
 * from the code objects themselves, with no memo, cache or remembered
 * stack; its stacks are what the memos must give */
#ifdef TM_PY_NOMEMO
#define PY_MEMO 0
#else
#define PY_MEMO 1
#endif
#define MAX_CHAIN 65536 /* Python frames walked per capture */
#define MAX_STR 400     /* characters kept of a name */
#define NO_LINE (-1)

/* --- the interpreter found --- */

enum { PY_UNKNOWN, PY_DETECTING, PY_NONE, PY_ACTIVE, PY_UNSUPPORTED };

static struct {
    _Atomic int state;
    const struct layout *L;
    uintptr_t runtime, code_type, unicode_type, bytes_type;
    uintptr_t eval_lo, eval_hi;
    uintptr_t image_lo, image_hi; /* the module defining PyCode_Type (static code objects) */
    unsigned long version; /* PY_VERSION_HEX */
    uint32_t epoch;        /* tm__epoch when found */
    size_t nmods;          /* modules known when not found */
    int warned;
} py;

/* --- reading the program's memory --- */

static int ok_ptr(uintptr_t p)
{
    return p >= 4096 && p < ((uintptr_t)1 << 47) && (p & 7) == 0;
}

/* Copies 'n' bytes at 'addr' without faulting; 0 or -1. */
static int safe_read(uintptr_t addr, void *out, size_t n)
{
    if (addr < 4096)
        return -1;
    struct iovec local = {out, n}, remote = {(void *)addr, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

static inline uintptr_t rd_ptr(uintptr_t base, int off)
{
    return *(const uintptr_t *)(base + (uintptr_t)off);
}

/* Copies 'n' bytes at 'addr': 'direct' when they are in a live object of
 * the type expected (a code object a frame of this thread holds, or an
 * object it holds, its type checked first), else with safe_read; 0 or -1. */
static int py_read(uintptr_t addr, void *out, size_t n, int direct)
{
    if (!direct)
        return safe_read(addr, out, n);
    memcpy(out, (const void *)addr, n);
    return 0;
}

/* --- records: id -> (file, function, line) --- */

#define REC_CHUNK_BITS 12
#define REC_CHUNK (1u << REC_CHUNK_BITS)
#define REC_CHUNKS 4096

static tm__lock py_lock;
static struct tm__arena py_arena; /* strings and records, under py_lock */
static _Atomic(struct tm__pyframe **) rec_dir[REC_CHUNKS];
static _Atomic uint32_t rec_next = 1;

/* Dedup of records and strings: (hash -> id / string), under py_lock. */
struct dedup {
    uint64_t *keys; /* hash + 1, 0 empty */
    uintptr_t *vals;
    size_t cap, used;
};
static struct dedup rec_dedup, str_dedup;

static uint64_t hash_bytes(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static int dedup_grow(struct dedup *d)
{
    size_t cap = d->cap ? d->cap * 2 : 1024;
    uint64_t *keys = tm__map(cap * sizeof(*keys));
    uintptr_t *vals = tm__map(cap * sizeof(*vals));
    if (!keys || !vals) {
        if (keys)
            tm__unmap(keys, cap * sizeof(*keys));
        if (vals)
            tm__unmap(vals, cap * sizeof(*vals));
        return -1;
    }
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->keys[i])
            continue;
        size_t j = (size_t)(d->keys[i] * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = d->keys[i];
        vals[j] = d->vals[i];
    }
    if (d->keys) {
        tm__unmap(d->keys, d->cap * sizeof(*keys));
        tm__unmap(d->vals, d->cap * sizeof(*vals));
    }
    d->keys = keys;
    d->vals = vals;
    d->cap = cap;
    return 0;
}

/* The slot for hash 'h' whose value 'same' accepts, or the empty slot to
 * fill; -1 when the table cannot grow. */
static long dedup_slot(struct dedup *d, uint64_t h, int (*same)(uintptr_t v, const void *arg), const void *arg)
{
    if ((d->used + 1) * 2 > d->cap && dedup_grow(d) < 0 && d->used + 1 >= d->cap)
        return -1;
    size_t i = (size_t)((h + 1) * 0x9e3779b97f4a7c15ull >> 20) & (d->cap - 1);
    while (d->keys[i]) {
        if (d->keys[i] == h + 1 && same(d->vals[i], arg))
            return (long)i;
        i = (i + 1) & (d->cap - 1);
    }
    return (long)i;
}

static int same_str(uintptr_t v, const void *arg)
{
    return strcmp((const char *)v, (const char *)arg) == 0;
}

/* The kept copy of 's'; the caller holds py_lock. NULL when out of memory. */
static const char *keep_str(const char *s)
{
    size_t n = strlen(s);
    uint64_t h = hash_bytes(s, n, 0xcbf29ce484222325ull) & ~(1ull << 63);
    long i = dedup_slot(&str_dedup, h, same_str, s);
    if (i < 0)
        return NULL;
    if (str_dedup.keys[i])
        return (const char *)str_dedup.vals[i];
    char *p = tm__arena_alloc(&py_arena, n + 1, 1);
    if (!p)
        return NULL;
    memcpy(p, s, n + 1);
    str_dedup.keys[i] = h + 1;
    str_dedup.vals[i] = (uintptr_t)p;
    str_dedup.used++;
    return p;
}

const struct tm__pyframe *tm__pyframe_get(uintptr_t pc)
{
    if (!tm__pc_is_py(pc))
        return NULL;
    uint32_t id = (uint32_t)(pc & ~TM_PY_TAG);
    struct tm__pyframe **chunk = atomic_load_explicit(&rec_dir[(id >> REC_CHUNK_BITS) % REC_CHUNKS],
                                                      memory_order_acquire);
    return chunk && id < atomic_load(&rec_next) ? __atomic_load_n(&chunk[id & (REC_CHUNK - 1)], __ATOMIC_ACQUIRE)
                                                 : NULL;
}

static int same_rec(uintptr_t v, const void *arg)
{
    const struct tm__pyframe *a = tm__pyframe_get(TM_PY_TAG | v), *b = arg;
    return a && a->file == b->file && a->function == b->function && a->line == b->line;
}

/* The id of (file, function, line), made when new; 0 when out of memory.
 * The caller holds py_lock. */
static uint32_t record_id(const char *file, const char *function, int line)
{
    struct tm__pyframe key = {keep_str(file), keep_str(function), line};
    if (!key.file || !key.function)
        return 0;
    uint64_t h = (((uintptr_t)key.file * 31 + (uintptr_t)key.function) * 0x9e3779b97f4a7c15ull ^ (uint64_t)line) &
                 ~(1ull << 63);
    long i = dedup_slot(&rec_dedup, h, same_rec, &key);
    if (i < 0)
        return 0;
    if (rec_dedup.keys[i])
        return (uint32_t)rec_dedup.vals[i];
    uint32_t id = atomic_load(&rec_next);
    uint32_t c = id >> REC_CHUNK_BITS;
    if (c >= REC_CHUNKS)
        return 0;
    struct tm__pyframe **chunk = atomic_load(&rec_dir[c]);
    if (!chunk) {
        chunk = tm__map(REC_CHUNK * sizeof(*chunk));
        if (!chunk)
            return 0;
        atomic_store_explicit(&rec_dir[c], chunk, memory_order_release);
    }
    struct tm__pyframe *r = tm__arena_alloc(&py_arena, sizeof(*r), 8);
    if (!r)
        return 0;
    *r = key;
    __atomic_store_n(&chunk[id & (REC_CHUNK - 1)], r, __ATOMIC_RELEASE);
    atomic_store(&rec_next, id + 1);
    rec_dedup.keys[i] = h + 1;
    rec_dedup.vals[i] = id;
    rec_dedup.used++;
    return id;
}

/* --- knowing a code object again --- */

/* A code object met before at an address (a frame's) is the same object
 * later when its proof ('kind' << 62 | word) still holds:
 *  PROOF_STATIC  one of the interpreter's static code objects (in the
 *                module that defines PyCode_Type): never freed;
 *  PROOF_VERSION its co_version (3.12+) is the same non-zero number: the
 *                interpreter numbers code objects as it makes them, from
 *                a counter that never goes back (0 once exhausted);
 *  PROOF_FREES   a block of malloc (in the live table) when no code object
 *                has been freed since (tm__py_code_frees, counted by the
 *                free and realloc hooks: a malloc'd code object can only
 *                go through them; sampled mode's free does not count a
 *                block its table proves untraced, which cannot be one
 *                with this proof made since tracing started: an attach
 *                adds one to the count);
 *  PROOF_NONE    none of these (3.11's code objects of pymalloc, or
 *                sampled mode): its file, function and line are read
 *                again and compared with the record's (verify).
 * Addresses alone are no proof: exec() of generated source in a loop
 * frees a code object with its file name and line table and makes the
 * next ones at the same addresses. In 3.13 the version counter is the
 * interpreter's: two sub-interpreters may number two code objects alike
 * (one freed, the other made at its address: not told apart). */
enum { PROOF_NONE, PROOF_STATIC, PROOF_VERSION, PROOF_FREES };
#define PROOF(kind, word) ((uint64_t)(kind) << 62 | (word))
#define PROOF_KIND(p) ((unsigned)((p) >> 62))
#define PROOF_WORD (((uint64_t)1 << 62) - 1) /* the count of frees: never reached */

uintptr_t tm__py_watch;
_Atomic uint64_t tm__py_code_frees;

/* The proof of the live code object 'code' (its type checked), the count
 * of code objects freed read before its fields were: 'frees'. */
static uint64_t code_proof(const struct layout *L, uintptr_t code, uint64_t frees)
{
    if (code >= py.image_lo && code < py.image_hi)
        return PROOF(PROOF_STATIC, 0);
    /* the count before co_version: it needs no read of the code object */
    struct tm__block b;
    if (tm__live_find(code, &b) && b.ptr == code)
        return PROOF(PROOF_FREES, frees);
    uint32_t v;
    if (L->co_version >= 0 && (v = *(const uint32_t *)(code + (uintptr_t)L->co_version)) != 0)
        return PROOF(PROOF_VERSION, v);
    return PROOF(PROOF_NONE, 0);
}

/* 1 when 'proof' holds for the code object at 'code' (live: a frame of
 * this thread holds it), 'frees' read since. */
static inline __attribute__((always_inline)) int proof_holds(const struct layout *L, uint64_t proof, uintptr_t code,
                                                            uint64_t frees)
{
    switch (PROOF_KIND(proof)) {
    case PROOF_STATIC:
        return 1;
    case PROOF_VERSION:
        return rd_ptr(code, OB_TYPE) == py.code_type &&
               *(const uint32_t *)(code + (uintptr_t)L->co_version) == (uint32_t)proof;
    case PROOF_FREES:
        return (proof & PROOF_WORD) == frees;
    }
    return 0;
}

/* --- cache: (code object, instruction offset) -> id --- */

struct centry {
    _Atomic uintptr_t code; /* 0 empty; published last */
    int32_t lasti;
    _Atomic uint32_t id;
    _Atomic uint64_t proof; /* that the code object is the one of 'id' */
};

struct ctable {
    size_t mask, used;
    struct centry e[];
};

static _Atomic(struct ctable *) cache;

static size_t chash(uintptr_t code, int32_t lasti)
{
    uint64_t h = ((uint64_t)code ^ ((uint64_t)(uint32_t)lasti << 40)) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 24);
}

static int verify(uintptr_t code, int32_t lasti, uint32_t id);

/* Lock-free lookup of live code object 'code' (a frame holds it) at
 * 'lasti'; 0 when not cached. '*proof': the entry's proof, which holds. */
static uint32_t cache_find(const struct layout *L, uintptr_t code, int32_t lasti, uint64_t frees, uint64_t *proof)
{
    struct ctable *t = atomic_load_explicit(&cache, memory_order_acquire);
    if (!t)
        return 0;
    for (size_t i = chash(code, lasti) & t->mask;; i = (i + 1) & t->mask) {
        uintptr_t c = atomic_load_explicit(&t->e[i].code, memory_order_acquire);
        if (!c)
            return 0;
        struct centry *e = &t->e[i];
        if (c != code || e->lasti != lasti)
            continue;
        /* the proof, the id, the proof again: cache_put rewrites an entry
         * with the proof PROOF_NONE while it changes the id */
        uint64_t p = atomic_load_explicit(&e->proof, memory_order_acquire);
        uint32_t id = atomic_load_explicit(&e->id, memory_order_acquire);
        if (proof_holds(L, p, code, frees) && atomic_load_explicit(&e->proof, memory_order_acquire) == p) {
            *proof = p;
            return id;
        }
        /* not known to be the same object: the same file, function and
         * line? Then the entry gets the object's proof of now */
        if (!id || !verify(code, lasti, id))
            return 0;
        p = code_proof(L, code, frees);
        if (PROOF_KIND(p) != PROOF_NONE)
            atomic_store_explicit(&e->proof, p, memory_order_release);
        *proof = p;
        return id;
    }
}

static struct ctable *ctable_new(size_t slots)
{
    struct ctable *t = tm__map(sizeof(*t) + slots * sizeof(struct centry));
    if (t)
        t->mask = slots - 1;
    return t;
}

/* Stores (code, lasti) -> id with 'proof'; the caller holds py_lock. A
 * replaced table stays mapped (a reader may be probing it). */
static void cache_put(uintptr_t code, int32_t lasti, uint32_t id, uint64_t proof)
{
    struct ctable *t = atomic_load(&cache);
    if (!t || (t->used + 1) * 2 > t->mask + 1) {
        struct ctable *bigger = ctable_new(t ? (t->mask + 1) * 2 : 4096);
        if (!bigger) {
            if (!t || t->used + 1 >= t->mask)
                return;
        } else {
            for (size_t i = 0; t && i <= t->mask; i++) {
                uintptr_t c = atomic_load(&t->e[i].code);
                if (!c)
                    continue;
                size_t j = chash(c, t->e[i].lasti) & bigger->mask;
                while (atomic_load(&bigger->e[j].code))
                    j = (j + 1) & bigger->mask;
                struct centry *d = &bigger->e[j];
                d->lasti = t->e[i].lasti;
                atomic_store_explicit(&d->id, atomic_load(&t->e[i].id), memory_order_relaxed);
                atomic_store_explicit(&d->proof, atomic_load(&t->e[i].proof), memory_order_relaxed);
                atomic_store_explicit(&d->code, c, memory_order_release);
            }
            bigger->used = t ? t->used : 0;
            atomic_store_explicit(&cache, bigger, memory_order_release);
            t = bigger;
        }
    }
    size_t i = chash(code, lasti) & t->mask;
    for (;; i = (i + 1) & t->mask) {
        uintptr_t c = atomic_load(&t->e[i].code);
        if (!c)
            break;
        if (c == code && t->e[i].lasti == lasti) {
            /* a code object gone and another at its address: rewritten
             * in place, no proof while the id changes (see cache_find) */
            struct centry *d = &t->e[i];
            atomic_store_explicit(&d->proof, PROOF(PROOF_NONE, 0), memory_order_release);
            atomic_store_explicit(&d->id, id, memory_order_release);
            atomic_store_explicit(&d->proof, proof, memory_order_release);
            return;
        }
    }
    struct centry *d = &t->e[i];
    d->lasti = lasti;
    atomic_store_explicit(&d->id, id, memory_order_relaxed);
    atomic_store_explicit(&d->proof, proof, memory_order_relaxed);
    t->used++;
    atomic_store_explicit(&d->code, code, memory_order_release);
}

/* --- first sight of a code location --- */

/* Appends 'cp' as UTF-8 at out[*o], within cap. */
static void put_utf8(char *out, size_t cap, size_t *o, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 63));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 63));
        b[2] = (char)(0x80 | (cp & 63));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 63));
        b[2] = (char)(0x80 | (cp >> 6 & 63));
        b[3] = (char)(0x80 | (cp & 63));
        n = 4;
    }
    if (*o + n < cap) {
        memcpy(out + *o, b, n);
        *o += n;
    }
}

/* Copies the str object at 'obj' as UTF-8 into 'out'; 0 or -1. */
static int read_str(uintptr_t obj, char *out, size_t cap, int direct)
{
    const struct layout *L = py.L;
    unsigned char head[128];
    /* the ASCII header first: a short ASCII string ends before the
     * compact header would */
    if (!ok_ptr(obj) || (size_t)L->str_compact_data > sizeof(head) ||
        (direct && rd_ptr(obj, OB_TYPE) != py.unicode_type) ||
        py_read(obj, head, (size_t)L->str_ascii_data, direct) < 0)
        return -1;
    uintptr_t type;
    int64_t len;
    uint32_t state;
    memcpy(&type, head + OB_TYPE, sizeof(type));
    memcpy(&len, head + L->str_length, sizeof(len));
    memcpy(&state, head + L->str_state, sizeof(state));
    if (type != py.unicode_type || len < 0 || !(state >> L->state_compact_bit & 1))
        return -1;
    unsigned kind = state >> L->state_kind_shift & 7;
    int ascii = state >> L->state_ascii_bit & 1;
    if (kind != 1 && kind != 2 && kind != 4)
        return -1;
    if (!ascii && py_read(obj, head, (size_t)L->str_compact_data, direct) < 0)
        return -1;
    size_t n = len > MAX_STR ? MAX_STR : (size_t)len;
    unsigned char data[MAX_STR * 4];
    uintptr_t at = obj + (uintptr_t)(ascii ? L->str_ascii_data : L->str_compact_data);
    if (ascii && cap) { /* its bytes are its UTF-8, as put_utf8 would copy them */
        n = n < cap - 1 ? n : cap - 1;
        if (n && py_read(at, out, n, direct) < 0)
            return -1;
        out[n] = '\0';
        return 0;
    }
    if (n && py_read(at, data, n * kind, direct) < 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = kind == 1 ? data[i] : kind == 2 ? ((const uint16_t *)(const void *)data)[i]
                                                     : ((const uint32_t *)(const void *)data)[i];
        put_utf8(out, cap, &o, cp);
    }
    out[o] = '\0';
    return 0;
}

/* Reads a varint of the location table at 'p' (its own buffer). */
static unsigned scan_varint(const unsigned char *buf, size_t len, size_t *p)
{
    unsigned val = 0, shift = 0, b;
    do {
        if (*p >= len || shift > 28)
            return val;
        b = buf[(*p)++];
        val |= (b & 63) << shift;
        shift += 6;
    } while (b & 64);
    return val;
}

/* The line of byte offset 'addr' in the 3.11 location table (PEP 657,
 * Objects/locations.md, the same in 3.12 and 3.13): entries of 1..8 code
 * units with a line delta (shim.h). */
int tm__py_line(const unsigned char *t, size_t len, int firstlineno, int addr)
{
    int line = firstlineno, end = 0;
    size_t p = 0;
    while (p < len) {
        unsigned char first = t[p];
        if (!(first & 128))
            return NO_LINE; /* not at an entry start: not a location table */
        int code = first >> 3 & 15, delta = 0;
        size_t q = p + 1;
        if (code == 13 || code == 14) {
            unsigned u = scan_varint(t, len, &q);
            delta = u & 1 ? -(int)(u >> 1) : (int)(u >> 1);
        } else if (code >= 10 && code <= 12) {
            delta = code - 10;
        }
        line += delta;
        int start = end;
        end += ((first & 7) + 1) * 2;
        if (addr >= start && addr < end)
            return code == 15 ? NO_LINE : line;
        do
            p++;
        while (p < len && !(t[p] & 128));
    }
    return NO_LINE;
}

#define MAX_LINETABLE (256 * 1024)

/* Line of byte offset 'addr' of the code object whose header is 'co'. */
static int code_line(const unsigned char *co, int addr, int direct)
{
    const struct layout *L = py.L;
    int firstlineno;
    uintptr_t lt;
    memcpy(&firstlineno, co + L->co_firstlineno, sizeof(firstlineno));
    memcpy(&lt, co + L->co_linetable, sizeof(lt));
    if (addr < 0)
        return firstlineno;
    unsigned char head[64];
    if (!ok_ptr(lt) || (direct && rd_ptr(lt, OB_TYPE) != py.bytes_type) ||
        py_read(lt, head, (size_t)L->by_data, direct) < 0)
        return NO_LINE;
    uintptr_t type;
    int64_t size;
    memcpy(&type, head + OB_TYPE, sizeof(type));
    memcpy(&size, head + L->by_size, sizeof(size));
    if (type != py.bytes_type || size < 0 || size > MAX_LINETABLE)
        return NO_LINE;
    size_t n = (size_t)size;
    if (direct) /* read in place */
        return tm__py_line((const unsigned char *)(lt + (uintptr_t)L->by_data), n, firstlineno, addr);
    /* the table, in a mapping of its own (it may be large) */
    unsigned char small[4096], *buf = n <= sizeof(small) ? small : tm__map(n);
    if (!buf)
        return NO_LINE;
    int line = safe_read(lt + (uintptr_t)L->by_data, buf, n) < 0 ? NO_LINE : tm__py_line(buf, n, firstlineno, addr);
    if (buf != small)
        tm__unmap(buf, n);
    return line;
}

/* File, function and line (0 unknown) of code object 'code' at
 * instruction 'lasti' (code units), each read once ('direct': see
 * py_read); 0 or -1 when they cannot be read. */
static int code_location(uintptr_t code, int32_t lasti, char *file, char *function, size_t cap, int *line,
                         int direct)
{
    const struct layout *L = py.L;
    unsigned char co[512];
    if ((size_t)L->co_code > sizeof(co) || (direct && rd_ptr(code, OB_TYPE) != py.code_type) ||
        py_read(code, co, (size_t)L->co_code, direct) < 0)
        return -1;
    uintptr_t type, filename, name;
    memcpy(&type, co + OB_TYPE, sizeof(type));
    memcpy(&filename, co + L->co_filename, sizeof(uintptr_t));
    memcpy(&name, co + L->co_qualname, sizeof(uintptr_t));
    if (type != py.code_type || read_str(filename, file, cap, direct) < 0)
        return -1;
    if (read_str(name, function, cap, direct) < 0) {
        memcpy(&name, co + L->co_name, sizeof(name));
        if (read_str(name, function, cap, direct) < 0)
            return -1;
    }
    int l = code_line(co, lasti < 0 ? -1 : lasti * 2, direct);
    *line = l < 0 ? 0 : l;
    return 0;
}

/* 1 when live code object 'code' (a frame of this thread holds it) at
 * 'lasti' has the file, function and line of record 'id'. */
static int verify(uintptr_t code, int32_t lasti, uint32_t id)
{
    const struct tm__pyframe *r = tm__pyframe_get(TM_PY_TAG | id);
    char file[MAX_STR * 4 + 1], function[MAX_STR * 4 + 1];
    int line;
    return r && code_location(code, lasti, file, function, sizeof(file), &line, 1) == 0 && line == r->line &&
           strcmp(file, r->file) == 0 && strcmp(function, r->function) == 0;
}

/* The record id of code object 'code' at instruction 'lasti' (code units),
 * copied into the tables with the object's proof ('*proof'); 0 when it
 * cannot be read. */
static uint32_t first_sight(const struct layout *L, uintptr_t code, int32_t lasti, uint64_t frees, uint64_t *proof)
{
    char file[MAX_STR * 4 + 1], function[MAX_STR * 4 + 1];
    int line;
    if (code_location(code, lasti, file, function, sizeof(file), &line, 0) < 0)
        return 0;
    *proof = code_proof(L, code, frees); /* a code object: its type was read */
    tm__lock_acquire(&py_lock);
    uint32_t id = record_id(file, function, line);
    if (id)
        cache_put(code, lasti, id, *proof);
    tm__lock_release(&py_lock);
    return id;
}

/* --- finding the interpreter --- */

static uintptr_t sym(const char *name)
{
    return (uintptr_t)dlsym(RTLD_DEFAULT, name);
}

static void warn_once(const char *why)
{
    if (py.warned)
        return;
    py.warned = 1;
    tm__warn("Python frames are not shown: %s; stacks keep their native frames", why);
}

/* 3.13's _Py_DebugOffsets at the start of _PyRuntime, as far as read
 * (Include/internal/pycore_runtime.h of v3.13.0; the struct is stable
 * within a minor version only). */
struct debug_offsets_313 {
    char cookie[8];
    uint64_t version, free_threaded;
    struct {
        uint64_t size, finalizing, interpreters_head;
    } runtime_state;
    struct {
        uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins, ceval_gil, gil_runtime_state,
            gil_runtime_state_enabled, gil_runtime_state_locked, gil_runtime_state_holder;
    } interpreter_state;
    struct {
        uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id, datastack_chunk, status;
    } thread_state;
    struct {
        uint64_t size, previous, executable, instr_ptr, localsplus, owner;
    } interpreter_frame;
    struct {
        uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames, localspluskinds,
            co_code_adaptive;
    } code_object;
    struct {
        uint64_t size, ob_type;
    } pyobject;
    struct {
        uint64_t size, tp_name, tp_repr, tp_flags;
    } type_object;
    struct {
        uint64_t size, ob_item, ob_size;
    } tuple_object, list_object;
    struct {
        uint64_t size, ma_keys, ma_values;
    } dict_object;
    struct {
        uint64_t size, ob_fval;
    } float_object;
    struct {
        uint64_t size, lv_tag, ob_digit;
    } long_object;
    struct {
        uint64_t size, ob_size, ob_sval;
    } bytes_object;
    struct {
        uint64_t size, state, length, asciiobject_size;
    } unicode_object;
};

static struct layout rt_layout; /* a row with the debug offsets read */

/* Row 'row' with the offsets _PyRuntime.debug_offsets gives in place of
 * its own, in rt_layout; NULL (and 'why') when they cannot be used. */
static const struct layout *debug_offsets(const struct layout *row, uintptr_t rt, unsigned long version, char *why,
                                          size_t cap)
{
    struct debug_offsets_313 d;
    if (safe_read(rt, &d, sizeof(d)) < 0 || memcmp(d.cookie, "xdebugpy", 8) != 0 || d.version != version) {
        tm__snprintf(why, cap, "CPython %u.%u has no _PyRuntime.debug_offsets of its version", row->major, row->minor);
        return NULL;
    }
    if (d.free_threaded) {
        tm__snprintf(why, cap, "CPython %u.%u is a free-threaded build (not supported)", row->major, row->minor);
        return NULL;
    }
    uint64_t used[] = {d.thread_state.current_frame, d.thread_state.thread_id, d.interpreter_frame.previous,
                       d.interpreter_frame.executable, d.interpreter_frame.instr_ptr, d.interpreter_frame.owner,
                       d.code_object.filename, d.code_object.name, d.code_object.qualname, d.code_object.linetable,
                       d.code_object.firstlineno, d.code_object.co_code_adaptive, d.bytes_object.ob_size,
                       d.bytes_object.ob_sval, d.unicode_object.state, d.unicode_object.length,
                       d.unicode_object.asciiobject_size};
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++)
        if (used[i] >= 512) {
            tm__snprintf(why, cap, "CPython %u.%u: _PyRuntime.debug_offsets out of range", row->major, row->minor);
            return NULL;
        }
    if (d.pyobject.ob_type != OB_TYPE || d.code_object.co_code_adaptive > 480 ||
        d.unicode_object.asciiobject_size > (uint64_t)row->str_compact_data) {
        tm__snprintf(why, cap, "CPython %u.%u: _PyRuntime.debug_offsets unlike this build's", row->major, row->minor);
        return NULL;
    }
    struct layout l = *row;
    l.ts_current_frame = (int)d.thread_state.current_frame;
    l.ts_thread_id = (int)d.thread_state.thread_id;
    l.fr_previous = (int)d.interpreter_frame.previous;
    l.fr_code = (int)d.interpreter_frame.executable;
    l.fr_prev_instr = (int)d.interpreter_frame.instr_ptr;
    l.fr_owner = (int)d.interpreter_frame.owner;
    l.co_filename = (int)d.code_object.filename;
    l.co_name = (int)d.code_object.name;
    l.co_qualname = (int)d.code_object.qualname;
    l.co_linetable = (int)d.code_object.linetable;
    l.co_firstlineno = (int)d.code_object.firstlineno;
    l.co_code = (int)d.code_object.co_code_adaptive;
    l.by_size = (int)d.bytes_object.ob_size;
    l.by_data = (int)d.bytes_object.ob_sval;
    l.str_state = (int)d.unicode_object.state;
    l.str_length = (int)d.unicode_object.length;
    l.str_ascii_data = (int)d.unicode_object.asciiobject_size;
    if (memcmp(&l, row, sizeof(l)) == 0)
        return row; /* as described: the row's constants serve (tm__py_stack) */
    rt_layout = l;
    return &rt_layout;
}

/* The extent of the loaded module holding address 'in' (its PT_LOAD
 * segments): CPython's static code objects (the deep-frozen modules) are
 * there, and they are never freed. */
struct image {
    uintptr_t in, lo, hi;
};

static int image_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct image *im = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    int has = 0;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        has |= im->in >= a && im->in < b;
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    if (!has)
        return 0;
    im->lo = lo;
    im->hi = hi;
    return 1;
}

/* Looks for the interpreter; the caller owns the PY_DETECTING state. */
static void memo_release(void *p);
static pthread_key_t memo_key;
static int memo_key_ok;

static int detect(void)
{
    uintptr_t rt = sym("_PyRuntime");
    if (!rt)
        return PY_NONE;
    py.runtime = rt;
    py.epoch = atomic_load(&tm__epoch);
    uintptr_t v = sym("Py_Version");
    char why[160];
    if (!v) {
        py.version = 0;
        warn_once("the CPython in this process is older than 3.11 (no Py_Version)");
        return PY_UNSUPPORTED;
    }
    unsigned long version = *(const unsigned long *)v;
    py.version = version;
    unsigned major = (unsigned)(version >> 24), minor = (unsigned)(version >> 16 & 255);
    const struct layout *L = NULL;
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
        if (layouts[i].major == major && layouts[i].minor == minor)
            L = &layouts[i];
    if (!L) {
        tm__snprintf(why, sizeof(why), "CPython %u.%u has no known layout (known: 3.11, 3.12, 3.13)", major, minor);
        warn_once(why);
        return PY_UNSUPPORTED;
    }
    if (L->debug_offsets && !(L = debug_offsets(L, rt, version, why, sizeof(why)))) {
        warn_once(why);
        return PY_UNSUPPORTED;
    }
    uintptr_t code_type = sym("PyCode_Type"), unicode_type = sym("PyUnicode_Type"), bytes_type = sym("PyBytes_Type");
    uintptr_t eval = sym("_PyEval_EvalFrameDefault");
    Dl_info di;
    const ElfW(Sym) *es = NULL;
    if (!eval || !dladdr1((void *)eval, &di, (void **)&es, RTLD_DL_SYMENT) || !es || !es->st_size ||
        !code_type || !unicode_type || !bytes_type) {
        warn_once("the CPython in this process does not export _PyEval_EvalFrameDefault and its types");
        return PY_UNSUPPORTED;
    }
    /* assigned, never cleared: a thread that saw PY_ACTIVE before a
     * re-detection may still be reading them */
    py.L = L;
    py.code_type = code_type;
    py.unicode_type = unicode_type;
    py.bytes_type = bytes_type;
    py.eval_lo = eval;
    py.eval_hi = eval + es->st_size;
    struct image im = {code_type, 0, 0};
    dl_iterate_phdr(image_of, &im);
    py.image_lo = im.lo;
    py.image_hi = im.hi;
    tm__py_watch = code_type; /* code objects freed are counted from now */
    if (!memo_key_ok && pthread_key_create(&memo_key, memo_release) == 0)
        memo_key_ok = 1;
    return PY_ACTIVE;
}

/* 1 when state 's' still holds: no detection is due (found, and no
 * module unloaded since; none found, and no module loaded since; or
 * decided otherwise). */
static inline int settled(int s)
{
    if (TM_LIKELY(s == PY_ACTIVE))
        return TM_LIKELY(atomic_load_explicit(&tm__epoch, memory_order_relaxed) == py.epoch);
    if (s == PY_NONE)
        return TM_LIKELY(tm__module_count() == py.nmods);
    return s != PY_UNKNOWN;
}

/* PY_ACTIVE when Python frames can be read now. */
static int ready(void)
{
    int s = atomic_load_explicit(&py.state, memory_order_acquire);
    if (settled(s))
        return s;
    /* first capture, a module loaded while none was found, or one unloaded */
    if (!atomic_compare_exchange_strong(&py.state, &s, PY_DETECTING))
        return PY_NONE;
    size_t nmods = tm__module_count();
    int found = detect();
    py.nmods = nmods;
    atomic_store_explicit(&py.state, found, memory_order_release);
    return found;
}

/* --- merging --- */

/* pthread_self(), kept by the thread (a call through the PLT on every
 * capture otherwise); 0 before its first capture */
static __thread uintptr_t self_id TM_TLS;

static inline uintptr_t thread_self(void)
{
    uintptr_t s = self_id;
    if (TM_UNLIKELY(!s))
        s = self_id = (uintptr_t)pthread_self();
    return s;
}

/* The calling thread's PyThreadState, or 0. */
/* This thread's state for PyGILState (the main interpreter's), or 0. */
static inline __attribute__((always_inline)) uintptr_t tss_state_of(const struct layout *L)
{
    uintptr_t rt = py.runtime, self = thread_self(), ts;
    const int *tss = (const int *)(rt + (uintptr_t)L->rt_tss_key);
    if (!tss[0])
        return 0; /* before start-up or after shutdown */
    ts = (uintptr_t)pthread_getspecific((pthread_key_t)tss[1]);
    if (!ok_ptr(ts) || rd_ptr(ts, L->ts_thread_id) != self)
        return 0;
    return ts;
}

static uintptr_t tss_state(void)
{
    return tss_state_of(py.L);
}

static inline __attribute__((always_inline)) uintptr_t thread_state_of(const struct layout *L)
{
    /* the holder of the GIL, when it is this thread (sub-interpreters too) */
    uintptr_t ts = L->rt_tstate_current >= 0 ? rd_ptr(py.runtime, L->rt_tstate_current) : 0;
    if (ok_ptr(ts) && rd_ptr(ts, L->ts_thread_id) == thread_self())
        return ts;
    /* else the thread's own (threads with the GIL released) */
    return tss_state_of(L);
}

/* The innermost frame of thread state 'ts', or 0. */
static inline __attribute__((always_inline)) uintptr_t current_frame_of(const struct layout *L, uintptr_t ts)
{
    uintptr_t holder = L->ts_cframe >= 0 ? rd_ptr(ts, L->ts_cframe) : ts;
    return ok_ptr(holder) ? rd_ptr(holder, L->ts_current_frame) : 0;
}

static uintptr_t current_frame(uintptr_t ts)
{
    return current_frame_of(py.L, ts);
}

/* The thread's frames seen last: consecutive captures mostly share their
 * outer frames, found here by the frame's address, instruction and code
 * object (when its proof holds) without the shared cache. Kept
 * complemented: the leak scan reads anonymous mappings as roots, and these
 * must not look like pointers. */
#define NMEMO 64
struct memo {
    uintptr_t frame, instr, code; /* complemented */
    uint64_t proof;
    uint32_t id;
};

/* The thread's merged stacks seen last (struct seen), keyed by all that
 * decides a merged stack: the native stack (its id in the stack cache),
 * 'max', the epoch, the thread state, and every frame of the chain by
 * address, code object, instruction and owner/entry bytes, each code
 * object known to be the one merged (its proof: co_version compared for
 * PROOF_VERSION, the count of code objects freed for PROOF_FREES, nothing
 * for PROOF_STATIC; a chain with a PROOF_NONE code object is not
 * remembered). A capture whose key is all equal gets the stack id of the
 * last such capture without merging or interning; a chain longer than
 * SEEN_FRAMES is merged every time. */
#define SEEN_FRAMES 32
#define SEEN_SLOTS 128 /* each key has two, by two hashes */
struct seen_frame {
    uintptr_t code, word; /* complemented; word: frame_word() */
};
/* code_proof's answers of late while no code object is freed */
#define NPMEMO 32
struct pmemo {
    uintptr_t code; /* complemented */
    uint64_t frees;
    uint64_t proof;
};

#define NO_FREES UINT64_MAX
struct seen {
    uint64_t tag;   /* seen_tag() of the key, 0: empty */
    uint64_t frees; /* tm__py_code_frees when made, NO_FREES: not compared */
    uint32_t native, id, epoch;
    int32_t max, nf, merged; /* nf 0: empty */
    uint32_t vmask;          /* frames whose co_version is known */
    uint32_t vfresh;         /* those compared while 'frees' holds */
    int32_t stale_ok;        /* all known by co_version or static */
    uintptr_t ts, top, end;  /* complemented; end: the outermost's 'previous' */
    struct seen_frame f[SEEN_FRAMES];
    uint32_t version[SEEN_FRAMES]; /* their co_version */
};

/* A thread's tables. Mapped, not in TLS: a shim loaded into a running
 * process (tracemem attach) gets its initial-exec TLS from glibc's small
 * surplus, which 2 KiB did not fit in. They go back to a free list when
 * the thread exits (a key's destructor). 'busy' keeps a capture in a
 * signal handler that interrupted one of this thread's from them. */
struct ptab {
    struct ptab *next_free;
    int busy;
    struct memo memo[NMEMO];
    struct pmemo pmemo[NPMEMO];
    unsigned next_pick; /* which of a key's two slots a new entry replaces */
    struct seen seen[SEEN_SLOTS];
};
static __thread struct ptab *memo_tab TM_TLS;
static tm__lock memo_lock;
static struct ptab *memo_free;

static void memo_release(void *p)
{
    struct ptab *t = p;
    tm__lock_acquire(&memo_lock);
    t->next_free = memo_free;
    memo_free = t;
    tm__lock_release(&memo_lock);
    if (memo_tab == t)
        memo_tab = NULL;
}

/* This thread's tables, NULL when none could be had (no memo then). */
static struct ptab *memo_get(void)
{
    struct ptab *t;

    tm__lock_acquire(&memo_lock);
    if ((t = memo_free))
        memo_free = t->next_free;
    tm__lock_release(&memo_lock);
    if (t)
        memset(t, 0, sizeof(*t));
    else if (!(t = tm__map(sizeof(*t))))
        return NULL;
    if (memo_key_ok)
        pthread_setspecific(memo_key, t);
    return memo_tab = t;
}

/* code_proof, remembered by the thread ('T', NULL: none) while no code
 * object is freed (it looks the block up in the live table) */
static uint64_t proof_of(struct ptab *T, const struct layout *L, uintptr_t code, uint64_t frees)
{
    if (!T)
        return code_proof(L, code, frees);
    struct pmemo *m = &T->pmemo[(code >> 4 ^ code >> 12) & (NPMEMO - 1)];
    uint64_t p;
    if (m->code == ~code && m->frees == frees) {
        p = m->proof;
    } else {
        p = code_proof(L, code, frees);
        m->code = ~code;
        m->frees = frees;
        m->proof = p;
    }
    /* a version is read again: a code object of pymalloc may be another
     * one with the count unchanged */
    return PROOF_KIND(p) == PROOF_VERSION ? code_proof(L, code, frees) : p;
}

static inline struct memo *memo_slot(struct ptab *T, uintptr_t frame)
{
    return &T->memo[(frame >> 4 ^ frame >> 10) & (NMEMO - 1)];
}

/* Walks the thread's Python frames, innermost first. */
struct walker {
    uintptr_t frame;
    int steps;
    struct ptab *T; /* the thread's tables, NULL: none */
    uint64_t frees; /* tm__py_code_frees when the capture began */
    uintptr_t code; /* the last frame's code object, instruction and id: */
    intptr_t lasti; /* the same again (recursion) needs no cache nor proof */
    uint32_t id;    /* within a capture */
};

/* The next Python frame's record id (0 when unreadable) into '*id' and
 * whether it ends a group (an entry frame); 0 at the end of the chain. */
static inline __attribute__((always_inline)) int walk_next(const struct layout *L, struct walker *w, uint32_t *id,
                                                          int *entry, int resolve)
{
    for (;;) {
        uintptr_t f = w->frame;
        if (!ok_ptr(f) || ++w->steps > MAX_CHAIN)
            return 0;
        w->frame = rd_ptr(f, L->fr_previous);
        unsigned char owner = *(const unsigned char *)(f + (uintptr_t)L->fr_owner);
        if (L->owner_cstack >= 0 && owner == L->owner_cstack)
            continue; /* a C entry frame of its own (3.12) */
        *entry = L->fr_is_entry >= 0 ? *(const unsigned char *)(f + (uintptr_t)L->fr_is_entry) != 0 : 0;
        if (L->owner_cstack >= 0)
            *entry = ok_ptr(w->frame) && *(const unsigned char *)(w->frame + (uintptr_t)L->fr_owner) == L->owner_cstack;
        *id = 0;
        uintptr_t code = rd_ptr(f, L->fr_code);
        if (!ok_ptr(code))
            return 1;
        uintptr_t instr = rd_ptr(f, L->fr_prev_instr);
        intptr_t lasti = ((intptr_t)instr - (intptr_t)(code + (uintptr_t)L->co_code)) / 2;
        if (lasti < -1 || lasti > (1 << 30))
            lasti = -1;
        if (!resolve)
            return 1;
        struct memo *m = w->T ? memo_slot(w->T, f) : &(struct memo){0, 0, 0, 0, 0};
        if (PY_MEMO && m->frame == ~f && m->instr == ~instr && m->code == ~code &&
            proof_holds(L, m->proof, code, w->frees)) {
            *id = m->id;
            return 1;
        }
        /* a frame that has not started (RETURN_GENERATOR, COPY_FREE_VARS)
         * is left out, as in tracebacks */
        if (owner != L->owner_generator && rd_ptr(code, OB_TYPE) == py.code_type &&
            lasti < *(const int32_t *)(code + (uintptr_t)L->co_firsttraceable)) {
            if (*entry)
                return 1; /* id 0: the group ends here */
            continue;
        }
        if (PY_MEMO && code == w->code && lasti == w->lasti && w->id) {
            *id = w->id; /* the frames hold their code objects while we read */
            return 1;
        }
        uint64_t proof = PROOF(PROOF_NONE, 0);
        *id = PY_MEMO ? cache_find(L, code, (int32_t)lasti, w->frees, &proof) : 0;
        if (!*id)
            *id = first_sight(L, code, (int32_t)lasti, w->frees, &proof);
        w->code = code;
        w->lasti = lasti;
        w->id = *id;
        if (*id) {
            m->frame = ~f;
            m->instr = ~instr;
            m->code = ~code;
            m->proof = proof;
            m->id = *id;
        }
        return 1;
    }
}

/* At the end of the chain of a sub-interpreter's thread state, the frames
 * that called into it are in the thread's main thread state: 1 when 'w'
 * goes on there. */
static int switch_state(struct walker *w, uintptr_t ts)
{
    uintptr_t other = tss_state();
    if (!other || other == ts)
        return 0;
    w->frame = current_frame(other);
    return ok_ptr(w->frame);
}

static inline __attribute__((always_inline)) int next_frame(const struct layout *L, struct walker *w, uint32_t *id,
                                                           int *entry, int resolve, uintptr_t ts, int *switched)
{
    if (walk_next(L, w, id, entry, resolve))
        return 1;
    if (*switched)
        return 0;
    *switched = 1;
    return switch_state(w, ts) && walk_next(L, w, id, entry, resolve);
}

/* The merge of thread state 'ts's frames from 'top' into the native
 * stack (tm__py_merge); '*switched' is 1 when the chain ended with
 * evaluation frames left and the walk looked for a sub-interpreter's
 * caller (such a stack is not remembered). */
static int merge(uintptr_t *pcs, int n, int max, uint32_t *depth, int *merged, uintptr_t ts, uintptr_t top,
                 struct ptab *T, uint64_t frees, int *switched_out)
{
    const struct layout *L = py.L;
    struct walker w = {top, 0, T, frees, 0, 0, 0};
    int first = 0;
    while (first < n && !(pcs[first] >= py.eval_lo && pcs[first] < py.eval_hi))
        first++;
    if (first == n)
        return n;
    uintptr_t in[n];
    memcpy(in + first, pcs + first, (size_t)(n - first) * sizeof(*pcs));
    *merged = 1; /* the stack is no longer the native one alone */
    int out = first, groups = 0, pyframes = 0, more = 1, switched = 0;
    for (int i = first; i < n && out < max; i++) {
        uintptr_t pc = in[i];
        if (!(pc >= py.eval_lo && pc < py.eval_hi) || !more) {
            pcs[out++] = pc;
            continue;
        }
        /* this evaluation loop's group of Python frames */
        int emitted = 0, entry = 0;
        uint32_t id;
        while ((more = next_frame(L, &w, &id, &entry, out < max, ts, &switched))) {
            pyframes++;
            if (id && out < max) {
                pcs[out++] = TM_PY_TAG | id;
                emitted++;
            }
            if (entry)
                break;
        }
        if (entry)
            groups++;
        if (!emitted && out < max)
            pcs[out++] = pc; /* nothing readable: the native frame stays */
    }
    /* the true depth: the rest of the chain, in the part of the native
     * stack that was cut, replaces its evaluation frames too */
    uint32_t d = *depth;
    if (d > (uint32_t)n || out >= max) {
        int entry;
        uint32_t id;
        while (more && (more = next_frame(L, &w, &id, &entry, 0, ts, &switched))) {
            pyframes++;
            groups += entry;
        }
    }
    int64_t nd = (int64_t)d + pyframes - groups;
    *depth = nd < out ? (uint32_t)out : (uint32_t)nd;
    *switched_out = switched;
    return out;
}

#define KMUL 0x9e3779b97f4a7c15ull

/* What the merge reads of a frame besides its code object: the
 * instruction, and the owner and entry bytes in the top 16 bits (above any
 * user-space address). */
static inline __attribute__((always_inline)) uintptr_t frame_word(const struct layout *L, uintptr_t f)
{
    uintptr_t fl;
    if (L->fr_is_entry >= 0 && L->fr_is_entry + 1 == L->fr_owner) /* 3.11: one load */
        fl = *(const uint16_t *)(f + (uintptr_t)L->fr_is_entry);
    else if (L->fr_is_entry >= 0)
        fl = *(const unsigned char *)(f + (uintptr_t)L->fr_owner) |
             (uintptr_t) * (const unsigned char *)(f + (uintptr_t)L->fr_is_entry) << 8;
    else
        fl = *(const unsigned char *)(f + (uintptr_t)L->fr_owner);
    return rd_ptr(f, L->fr_prev_instr) ^ fl << 48;
}

/* The two slots of a key (skewed: two keys that share one rarely share
 * the other), as i | j << 8. Their headers are read at once, with no
 * table of tags read first (one miss of the L1 cache in a row, not two). */
static inline unsigned seen_set(uintptr_t top, uintptr_t instr, uint32_t native)
{
    uint64_t h = (top ^ instr << 7 ^ native) * KMUL;
    unsigned i = (unsigned)(h >> 57), j = (unsigned)(h >> 50) & (SEEN_SLOTS - 1);
    return i | (j ^ (j == i)) << 8;
}

/* 1 when this thread's chain from 'f' is the one entry 'e' was made
 * from: every frame's code object, instruction and flags, as many frames
 * ending where they ended, and each code object the same object ('frees'
 * read at the capture's start; co_version where that is the proof). The
 * frames' addresses are not compared: the merge reads none of them (the
 * walk follows the chain as the merge does). */
static inline __attribute__((always_inline)) int seen_match(const struct layout *L, const struct seen *e, uintptr_t f,
                                                           uint64_t frees)
{
    /* while no code object is freed, the malloc'd ones are known; else
     * those with a co_version are (3.12+) */
    uint32_t vm = e->vfresh;
    if (e->frees != NO_FREES && e->frees != frees) {
        if (!e->stale_ok)
            return 0;
        vm = e->vmask;
    }
    const struct seen_frame *sf = e->f, *end = sf + e->nf;
    if (TM_LIKELY(!vm)) {
        /* a frame's 'previous' is another frame or NULL (ok_ptr, as the
         * merge checks, costs 6 instructions a frame) */
        for (; sf < end; sf++) {
            if (TM_UNLIKELY(!f) || ((rd_ptr(f, L->fr_code) ^ sf->code) & (frame_word(L, f) ^ sf->word)) != ~(uintptr_t)0)
                return 0;
            f = rd_ptr(f, L->fr_previous);
        }
    } else {
        for (uint32_t vmask = vm; sf < end; sf++, vmask >>= 1) {
            uintptr_t code = ~sf->code;
            if (TM_UNLIKELY(!f) || rd_ptr(f, L->fr_code) != code || frame_word(L, f) != ~sf->word)
                return 0;
            /* the code object is the frame's (live) */
            if ((vmask & 1) && !proof_holds(L, PROOF(PROOF_VERSION, e->version[sf - e->f]), code, frees))
                return 0;
            f = rd_ptr(f, L->fr_previous);
        }
    }
    return f == ~e->end;
}

static inline uint64_t seen_tag(uintptr_t top, uint32_t native, int max, uint32_t epoch, uintptr_t ts)
{
    return (((top ^ (uint64_t)native << 32) * KMUL ^ ts ^ (uint64_t)(uint32_t)max << 48 ^ epoch) * KMUL) | 1;
}

/* The id remembered for this capture, 0 when none (see struct seen). */
static inline __attribute__((always_inline)) uint32_t seen_find(const struct layout *L, struct ptab *T, unsigned set,
                                                                uint64_t tag, uintptr_t top, uint32_t native, int max,
                                                                uint32_t epoch, uintptr_t ts, uint64_t frees,
                                                                int *merged)
{
    const struct seen *two[2] = {&T->seen[set & 255], &T->seen[set >> 8]};
    uint64_t tags[2] = {two[0]->tag, two[1]->tag};
    for (int i = 0; i < 2; i++) {
        if (tags[i] != tag)
            continue;
        const struct seen *e = two[i];
        /* its lines at once, not one miss after the other as the frames
         * are compared (the first ones: 10 frames fill 5) */
        for (int l = 1; l < 5; l++)
            __builtin_prefetch((const char *)e + 64 * l);
        if (e->nf && e->top == ~top && e->native == native && e->max == max && e->epoch == epoch &&
            e->ts == ~ts && seen_match(L, e, top, frees)) {
            *merged = e->merged;
            return e->id;
        }
    }
    return 0;
}

/* Makes 'e' the entry of this thread's chain from 'f', merged with
 * 'frees' read before; left empty when the chain is longer than
 * SEEN_FRAMES or holds a frame without a code object, or one whose code
 * object has no proof. */
static void seen_fill(const struct layout *L, struct ptab *T, struct seen *e, uintptr_t f, uint32_t native, int max,
                      uint32_t epoch, uintptr_t ts, uint32_t id, int merged, uint64_t frees)
{
    uint32_t vmask = 0, fmask = 0, other = 0;
    int nf = 0;
    e->nf = 0; /* empty while written */
    e->top = ~f;
    for (; ok_ptr(f); nf++) {
        if (nf == SEEN_FRAMES)
            return;
        uintptr_t code = rd_ptr(f, L->fr_code);
        int cstack = L->owner_cstack >= 0 && *(const unsigned char *)(f + (uintptr_t)L->fr_owner) == L->owner_cstack;
        if (!ok_ptr(code) || (!cstack && rd_ptr(code, OB_TYPE) != py.code_type))
            return; /* a frame not set up yet: not remembered */
        if (!cstack) { /* a C entry frame's object is not read by the merge */
            uint64_t p = proof_of(T, L, code, frees);
            uint32_t v = L->co_version >= 0 ? *(const uint32_t *)(code + (uintptr_t)L->co_version) : 0;
            switch (PROOF_KIND(p)) {
            case PROOF_NONE:
                return;
            case PROOF_FREES:
                fmask |= 1u << nf;
                break;
            }
            if (v) { /* PROOF_VERSION, or a second proof of PROOF_FREES */
                vmask |= 1u << nf;
                e->version[nf] = v;
            } else if (PROOF_KIND(p) != PROOF_STATIC) {
                other |= 1u << nf;
            }
        }
        e->f[nf].code = ~code;
        e->f[nf].word = ~frame_word(L, f);
        f = rd_ptr(f, L->fr_previous);
    }
    e->end = ~f;
    e->frees = fmask ? frees : NO_FREES;
    e->vmask = vmask;
    e->vfresh = vmask & ~fmask;
    e->stale_ok = !other;
    e->native = native;
    e->id = id;
    e->merged = merged;
    e->epoch = epoch;
    e->max = max;
    e->ts = ~ts;
    e->nf = nf;
}

/* A capture not remembered: merged, interned, remembered ('set' and 'tag'
 * of its entry, tag 0: not to be remembered). Out of line: the hit path of
 * tm__py_stack stays small. */
static __attribute__((noinline)) uint32_t py_stack_slow(uintptr_t *pcs, int n, int max, uint32_t depth, int *merged,
                                                        uintptr_t ts, uintptr_t top, struct ptab *T, uint32_t native,
                                                        uint32_t epoch, uint64_t frees, unsigned set, uint64_t tag)
{
    const struct layout *L = py.L;
    int switched = 0;
    n = merge(pcs, n, max, &depth, merged, ts, top, T, frees, &switched);
    uint32_t id = *merged ? tm__stack_intern(pcs, n, depth) : native;
    if (tag && id && !switched) {
        struct seen *a = &T->seen[set & 255], *b = &T->seen[set >> 8];
        struct seen *e = !a->tag ? a : !b->tag ? b : T->next_pick++ & 1 ? b : a;
        e->tag = 0;
        seen_fill(L, T, e, top, native, max, epoch, ts, id, *merged, frees);
        if (e->nf)
            e->tag = tag;
    }
    return id;
}

/* The native stack's id for the key: the stack cache's entry gets one when
 * it has none (the first capture through it). */
static __attribute__((noinline)) uint32_t native_id(uintptr_t *pcs, int n, uint32_t depth,
                                                    struct tm__capture_memo *memo)
{
    uint32_t native = tm__stack_intern(pcs, n, depth);
    if (native) {
        tm__capture_remember(memo, native);
        memo->id = native;
    }
    return native;
}

/* tm__py_stack for layout 'L' (a constant where the layout is known when
 * built: its offsets are then immediate). */
static inline __attribute__((always_inline)) uint32_t py_stack(const struct layout *L, uintptr_t *pcs, int n, int max,
                                                               uint32_t depth, struct tm__capture_memo *memo,
                                                               int *merged)
{
    uintptr_t ts = thread_state_of(L);
    if (!ts)
        return 0;
    uintptr_t top = current_frame_of(L, ts);
    if (!ok_ptr(top))
        return 0;
    struct ptab *T = memo_tab;
    if (TM_UNLIKELY(!T))
        T = memo_get();
    if (T && T->busy)
        T = NULL; /* a signal handler's capture inside this thread's */
    if (T) {
        T->busy = 1;
        atomic_signal_fence(memory_order_seq_cst);
    }
    uint32_t epoch = atomic_load_explicit(&tm__epoch, memory_order_relaxed);
    /* before any code object is read: one freed from now on counts */
    uint64_t frees = atomic_load_explicit(&tm__py_code_frees, memory_order_acquire);
    uint32_t native = memo->id, id = 0;
    if (TM_UNLIKELY(!native) && memo->entry && T)
        native = native_id(pcs, n, depth, memo);
    unsigned set = 0;
    uint64_t tag = 0;
    if (PY_MEMO && T && native) {
        set = seen_set(top, rd_ptr(top, L->fr_prev_instr), native);
        tag = seen_tag(top, native, max, epoch, ts);
        id = seen_find(L, T, set, tag, top, native, max, epoch, ts, frees, merged);
    }
    if (!id)
        id = py_stack_slow(pcs, n, max, depth, merged, ts, top, T, native, epoch, frees, set, tag);
    if (T) {
        atomic_signal_fence(memory_order_seq_cst);
        T->busy = 0;
    }
    return id;
}

int tm__py_absent(void)
{
#ifdef TM_NO_PYFRAMES
    return 1;
#endif
    int s = atomic_load_explicit(&py.state, memory_order_acquire);
    return s != PY_ACTIVE && settled(s); /* what ready() answers without detecting */
}

uint32_t tm__py_stack(uintptr_t *pcs, int n, int max, uint32_t depth, struct tm__capture_memo *memo, int *merged)
{
    *merged = 0;
#ifdef TM_NO_PYFRAMES /* bench/py.sh's base: the same shim without Python frames */
    return 0;
#endif
    /* depth 0: the unwinder is not loaded yet (start-up), no dlsym then */
    if (n <= 0 || depth == 0 || TM_LIKELY(ready() != PY_ACTIVE))
        return 0;
    const struct layout *L = py.L;
    /* the layouts known when built: their offsets constants */
    if (L == &layouts[0])
        return py_stack(&layouts[0], pcs, n, max, depth, memo, merged);
    if (L == &layouts[1])
        return py_stack(&layouts[1], pcs, n, max, depth, memo, merged);
    if (L == &layouts[2])
        return py_stack(&layouts[2], pcs, n, max, depth, memo, merged);
    return py_stack(L, pcs, n, max, depth, memo, merged);
}

/* --- for snapshots and fork --- */

int tm__py_info(unsigned long *version, uintptr_t *runtime)
{
    int s = atomic_load(&py.state);
    if (s != PY_ACTIVE && s != PY_UNSUPPORTED)
        return 0;
    *version = py.version;
    *runtime = py.runtime;
    return s == PY_ACTIVE ? 1 : -1;
}

void tm__py_lock(void)
{
    tm__lock_acquire(&py_lock);
}

void tm__py_unlock(void)
{
    tm__lock_release(&py_lock);
}
