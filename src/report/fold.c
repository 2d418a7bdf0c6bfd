/* fold.c - allocation-function frames folded away, template names
 * shortened (see fold.h for the rule).
 *
 * Folding a stack: find its first logical frame (physical frame i,
 * logical frame l) that is not an allocation frame. When l is the frame's
 * own location (-1) the folded stack is simply frames[i..]; otherwise
 * frame i is replaced by a copy that starts at inlined[l] (the same
 * module and offset, fewer logical frames), appended to snap->frames.
 * Whether a physical frame starts in the middle depends on that frame
 * alone, so each frame gets at most one such copy (made[]).
 */
#include "config.h"

#include "report/fold.h"
#include "report/stats.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *const tm_fold_builtin[] = {
    /* C library */
    "malloc", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
    "aligned_alloc", "valloc", "pvalloc", "__libc_*alloc*", "*strdup", "*strndup",
    "wcsdup", "*asprintf", "*vasprintf*",
    /* C++ runtime */
    "operator new*", "__cxa_allocate_exception", "__cxa_allocate_dependent_exception",
    /* the usual wrappers (gnulib, git, bash, gcc, ...) */
    "xmalloc", "xcalloc", "xrealloc", "xzalloc", "xreallocarray", "xnmalloc",
    "xnrealloc", "x2realloc", "x2nrealloc", "xcharalloc", "xmallocz*", "xmemdup*",
    "xstrdup", "xstrndup", "do_xmalloc", "sh_xmalloc", "sh_xrealloc", "emalloc",
    "ecalloc", "erealloc", "estrdup",
    /* GLib */
    "g_malloc*", "g_try_malloc*", "g_realloc*", "g_try_realloc*", "g_slice_alloc*",
    "g_memdup*", "g_strdup*", "g_strndup",
    /* SQLite */
    "sqlite3Malloc*", "sqlite3_malloc*", "sqlite3Realloc", "sqlite3_realloc*",
    "sqlite3DbMalloc*", "sqlite3DbRealloc*", "sqlite3DbStrDup", "sqlite3DbStrNDup",
    "sqlite3MemMalloc", "sqlite3MemRealloc", "dbMallocRawFinish", "mallocWithAlarm",
    /* CPython */
    "PyMem_*", "_PyMem_*", "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc",
    "_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "pymalloc_*", "gc_alloc",
    "_PyObject_GC_New", "_PyObject_GC_NewVar", "_PyObject_GC_Malloc", "_PyObject_GC_Calloc",
    "_PyObject_New", "_PyObject_NewVar", "_PyType_AllocNoTrack", "PyType_GenericAlloc",
    "_PyObject_ArenaMmap", "new_arena", "allocate_from_new_pool",
    /* Perl */
    "Perl_safesysmalloc", "Perl_safesyscalloc", "Perl_safesysrealloc",
    /* OpenSSL, zlib */
    "CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc", "CRYPTO_clear_realloc",
    "CRYPTO_strdup", "CRYPTO_strndup", "CRYPTO_memdup", "zcalloc",
    /* Rust */
    "__rust_alloc*", "__rust_realloc", "__rdl_alloc*", "__rdl_realloc", "alloc::alloc::*",
    "alloc::raw_vec::*", "<alloc::alloc::Global as core::alloc::Allocator>::*",
    NULL,
};

void tm_view_opts_init(tm_view_opts *o)
{
    memset(o, 0, sizeof *o);
}

/* The length of 'fn' without its parameter list: up to the first '(' that
 * is outside template arguments and not part of "operator()". */
static size_t base_length(const char *fn)
{
    int depth = 0;

    for (const char *p = fn; *p; p++) {
        if (strncmp(p, "operator", 8) == 0) {
            p += 7; /* operator<, operator(), ... belong to the name */
            if (p[1] == '(' && p[2] == ')')
                p += 2;
            else
                while (p[1] && strchr("<>=-!+*/%^&|~[]", p[1]))
                    p++;
            continue;
        }
        if (*p == '<')
            depth++;
        else if (*p == '>' && depth > 0)
            depth--;
        else if (*p == '(' && depth == 0)
            return (size_t)(p - fn);
    }
    return strlen(fn);
}

/* Where the qualified name of 'fn' starts, after the return type that
 * demangled function templates carry ("void std::vector<int>::_M_realloc_insert<...>(...)"):
 * past the last space outside template arguments before 'blen', unless
 * that space belongs to "operator new" and the like. */
static const char *qualified_name(const char *fn, size_t blen)
{
    const char *start = fn;
    int depth = 0;

    for (size_t i = 0; i < blen; i++) {
        if (fn[i] == '<')
            depth++;
        else if (fn[i] == '>' && depth > 0)
            depth--;
        else if (fn[i] == ' ' && depth == 0 && !(i >= 8 && strncmp(fn + i - 8, "operator", 8) == 0))
            start = fn + i + 1;
    }
    return start;
}

static int match_name(const char *pattern, const char *fn, const char *base, const char *qual)
{
    return fnmatch(pattern, fn, 0) == 0 || (base && fnmatch(pattern, base, 0) == 0) ||
           (qual && fnmatch(pattern, qual, 0) == 0);
}

static int cxx_runtime_name(const char *fn)
{
    return strncmp(fn, "std::", 5) == 0 || strncmp(fn, "__gnu_cxx::", 11) == 0 ||
           strncmp(fn, "operator new", 12) == 0;
}

static int cxx_header(const char *file)
{
    return file && strstr(file, "/include/c++/") != NULL;
}

static int cxx_library(const tm_module *m)
{
    return m && (strncmp(m->name, "libstdc++.so", 12) == 0 || strncmp(m->name, "libc++.so", 9) == 0 ||
                 strncmp(m->name, "libc++abi.so", 12) == 0);
}

int tm_fold_is_alloc(const tm_snapshot *snap, const tm_frame *frame, int loc, const tm_view_opts *o)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const char *fn = l->function, *qual;
    char small[512], *base = NULL;
    size_t blen;
    int hit = 0;

    if (!fn || !*fn)
        return 0;
    blen = base_length(fn);
    qual = qualified_name(fn, blen);
    if (cxx_runtime_name(qual) && (cxx_header(l->file) || cxx_library(tm_snapshot_frame_module(snap, frame))))
        return 1;
    if (fn[blen] || qual != fn) { /* the name alone, without return type and parameters */
        size_t n = blen - (size_t)(qual - fn);

        base = n < sizeof small ? small : malloc(n + 1);
        if (base) {
            memcpy(base, qual, n);
            base[n] = '\0';
        }
    }
    for (size_t i = 0; !hit && tm_fold_builtin[i]; i++)
        hit = match_name(tm_fold_builtin[i], fn, base, NULL);
    for (size_t i = 0; !hit && o && i < o->nalloc_fns; i++)
        hit = match_name(o->alloc_fns[i], fn, base, qual != fn ? qual : NULL);
    if (base != small)
        free(base);
    return hit;
}

/* What a physical frame holds, for the leading run (cached per frame):
 * 'stop' is its first logical frame of the program's own code (a named
 * function that is not an allocation function), NONE when it has none;
 * 'last' its last allocation frame before 'stop', NONE when none. Frames
 * without a name inside the run are folded when an allocation frame
 * follows them (a static helper of sqlite3Malloc in a stripped library),
 * kept otherwise. */
#define NONE (-2)
#define UNSET (-3)

typedef struct frame_class {
    int stop, last;
} frame_class;

static frame_class classify(const tm_snapshot *snap, const tm_frame *f, const tm_view_opts *o)
{
    frame_class c = {NONE, NONE};

    for (int l = -1; l < (int)f->ninlined; l++) {
        const char *fn = tm_frame_loc(f, l)->function;

        if (tm_fold_is_alloc(snap, f, l, o)) {
            c.last = l;
        } else if (fn && *fn) {
            c.stop = l;
            break;
        }
    }
    return c;
}

/* Appends to snap->frames a copy of frame 'fi' starting at inlined[l];
 * returns its index or -1 (ENOMEM). */
static long add_cut_frame(tm_snapshot *snap, size_t fi, int l, size_t *cap)
{
    tm_frame *f, c;

    if (snap->nframes == *cap) {
        size_t ncap = *cap * 2 + 16;
        tm_frame *v = realloc(snap->frames, ncap * sizeof *v);

        if (!v)
            return -1;
        snap->frames = v;
        *cap = ncap;
    }
    f = &snap->frames[fi];
    c = *f;
    c.loc = f->inlined[l];
    c.ninlined = f->ninlined - (size_t)l - 1;
    c.inlined = NULL;
    if (c.ninlined) {
        if (!(c.inlined = malloc(c.ninlined * sizeof *c.inlined)))
            return -1;
        memcpy(c.inlined, f->inlined + l + 1, c.ninlined * sizeof *c.inlined);
    }
    snap->frames[snap->nframes] = c;
    return (long)snap->nframes++;
}

/* Folds stack 'st' in place (its frames array is rewritten); 'cls'
 * caches classify() per frame, 'made' the cut copy per frame (0: none
 * yet). */
static int fold_stack(tm_snapshot *snap, tm_stack *st, frame_class *cls, size_t *made, size_t *cap,
                      const tm_view_opts *o)
{
    size_t i, cut_i = SIZE_MAX, first_py = SIZE_MAX;
    int cut_l = NONE, stopped = 0;

    /* the interpreter's frames inside the innermost Python frame */
    for (i = 0; snap->python_module >= 0 && i < st->nframes; i++)
        if (snap->frames[st->frames[i]].python) {
            first_py = i;
            break;
        }
    for (i = 0; i < st->nframes && !stopped; i++) {
        size_t fi = st->frames[i];
        const tm_frame *f = &snap->frames[fi];

        if (first_py != SIZE_MAX && i < first_py && f->module == snap->python_module) {
            cut_i = i;
            cut_l = (int)f->ninlined - 1;
            continue;
        }
        if (cls[fi].stop == UNSET)
            cls[fi] = classify(snap, f, o);
        if (i < first_py && first_py != SIZE_MAX && cls[fi].last == NONE) {
            stopped = 1; /* a C extension's frame stays, named or not */
            break;
        }
        if (cls[fi].last != NONE) { /* fold through this allocation frame */
            cut_i = i;
            cut_l = cls[fi].last;
        }
        stopped = cls[fi].stop != NONE;
    }
    if (cut_i == SIZE_MAX || !stopped)
        return 0; /* no allocation frame, or nothing of the program's after it */
    /* the first frame shown: the logical frame after (cut_i, cut_l) */
    i = cut_i;
    if (cut_l + 1 < (int)snap->frames[st->frames[i]].ninlined) {
        size_t fi = st->frames[i];
        uint32_t *v;

        if (!made[fi]) {
            long c = add_cut_frame(snap, fi, cut_l + 1, cap);

            if (c < 0)
                return -ENOMEM;
            made[fi] = (size_t)c + 1;
        }
        /* a frame of its own first: a copy (the raw stack keeps its array) */
        if (!(v = malloc((st->nframes - i) * sizeof *v)))
            return -ENOMEM;
        memcpy(v, st->frames + i, (st->nframes - i) * sizeof *v);
        v[0] = (uint32_t)(made[fi] - 1);
        st->frames = v;
        st->borrowed = 0;
    } else {
        i++;
        st->frames += i; /* the raw stack's tail */
    }
    st->nframes -= i;
    st->depth = st->depth > i ? st->depth - i : st->nframes;
    return 0;
}

int tm_snapshot_fold(tm_snapshot *snap, const tm_view_opts *o)
{
    size_t nraw = snap->nframes, cap = snap->nframes;
    tm_stack *raw;
    frame_class *cls;
    size_t *made;
    int rc = 0;

    snap->full_names = o->full_names;
    snap->name_width = o->name_width;
    if (o->keep_alloc_frames || snap->raw_stacks || !snap->nstacks)
        return 0;
    cls = malloc((nraw + 1) * sizeof *cls);
    made = calloc(nraw + 1, sizeof *made);
    /* the raw stacks own the frame arrays; the folded ones borrow their
     * tails, or own a copy when their first frame is a cut one */
    raw = malloc(snap->nstacks * sizeof *raw);
    if (!cls || !made || !raw) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(raw, snap->stacks, snap->nstacks * sizeof *raw);
    for (size_t i = 0; i < snap->nstacks; i++)
        snap->stacks[i].borrowed = 1;
    for (size_t i = 0; i < nraw; i++)
        cls[i] = (frame_class){UNSET, UNSET};
    for (size_t i = 0; i < snap->nstacks && !rc; i++)
        rc = fold_stack(snap, &snap->stacks[i], cls, made, &cap, o);
    if (rc) { /* back to the recorded stacks */
        for (size_t i = 0; i < snap->nstacks; i++) {
            if (!snap->stacks[i].borrowed)
                free(snap->stacks[i].frames);
            snap->stacks[i] = raw[i];
        }
        free(raw);
        raw = NULL;
    }
    snap->raw_stacks = raw;
    raw = NULL;
out:
    free(raw);
    free(cls);
    free(made);
    return rc;
}

/* --- names --- */

/* 1 when 'p' (pointing at '<' or '>') belongs to an operator name. */
static int operator_char(const char *s, const char *p)
{
    const char *q = p;

    while (q > s && strchr("<>=-", q[-1]))
        q--;
    return q - s >= 8 && strncmp(q - 8, "operator", 8) == 0;
}

char *tm_shorten_templates(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    int depth = 0;

    if (!len)
        return buf;
    for (const char *p = s; *p && o + 1 < len; p++) {
        const char *close;

        /* Python's names: <module>, f.<locals>.g, <lambda>, <listcomp>,
         * <frozen importlib._bootstrap> (C++ names never start with '<') */
        if (*p == '<' && depth == 0 && (close = strchr(p, '>')) &&
            (p == s || (p[-1] == '.' && strspn(p + 1, "abcdefghijklmnopqrstuvwxyz") == (size_t)(close - p - 1)))) {
            while (p < close && o + 1 < len)
                buf[o++] = *p++;
            if (o + 1 < len)
                buf[o++] = '>';
            continue;
        }
        if (*p == '<' && !operator_char(s, p)) {
            if (depth++ == 0)
                buf[o++] = '<';
            continue;
        }
        if (*p == '>' && depth > 0 && !operator_char(s, p)) {
            if (--depth == 0 && o + 1 < len)
                buf[o++] = '>';
            continue;
        }
        if (depth == 0)
            buf[o++] = *p;
    }
    if (depth > 0 && o + 1 < len) /* unbalanced: close what was opened */
        buf[o++] = '>';
    buf[o] = '\0';
    return buf;
}

/* Keeps the head and the tail of 'buf' (the namespace, and the function
 * with its parameters), "..." between, in 'width' characters. */
static void elide(char *buf, size_t width)
{
    size_t n = strlen(buf), head, tail;

    if (width < 16 || n <= width)
        return;
    head = (width - 3) / 3;
    tail = width - 3 - head;
    memmove(buf + head + 3, buf + n - tail, tail + 1);
    memcpy(buf + head, "...", 3);
}

const char *tm_view_name(const tm_snapshot *snap, const char *name, char *buf, size_t len)
{
    if (!name || snap->full_names || (!strchr(name, '<') && (!snap->name_width || strlen(name) <= snap->name_width)))
        return name;
    if (strchr(name, '<'))
        tm_shorten_templates(name, buf, len);
    else
        snprintf(buf, len, "%s", name);
    if (snap->name_width)
        elide(buf, snap->name_width);
    return buf;
}
