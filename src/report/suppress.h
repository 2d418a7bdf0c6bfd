/* suppress.h - leak suppressions: LeakSanitizer's one-line format and
 * Valgrind's block format, parsed from files and matched against the
 * symbolized leak stacks of a snapshot (tracemem-suppressions(5)).
 *
 * LeakSanitizer lines are "leak:PATTERN". PATTERN is matched with LSan's
 * template rules (a substring match; '*' matches any run of characters,
 * a leading '^' anchors at the start, a trailing '$' at the end) against
 * the module path of every frame, then the function and the file of every
 * logical (inlined) frame of it, innermost first.
 *
 * Valgrind blocks are "{ NAME  TOOL:KIND  [match-leak-kinds: LIST]
 * FRAME...  }". Only Memcheck:Leak blocks are used; blocks for other
 * error kinds are parsed and ignored, so a project's existing Valgrind
 * file can be given as is. FRAME lines are fun:GLOB, obj:GLOB,
 * src:GLOB[:LINE] and "..." (zero or more frames); GLOB has Valgrind's
 * '*' and '?' ('\' quotes the next character) and must match the whole
 * name. Frames are matched from the innermost one, one line per logical
 * frame (an inlined call is a frame of its own, as in Valgrind), and the
 * block matches when its lines are used up (the rest of the stack is not
 * looked at). Valgrind shows the allocation function (malloc, calloc,
 * operator new ...) as the innermost frame; tracemem's stacks start at its
 * caller, so a first fun: line that matches an allocation function's name
 * may stand for it, and may also be left out. The symbolizer demangles C++
 * names while Valgrind's suppressions name mangled ones: a fun: line with
 * a mangled name and no wildcard also matches its demangled form, and
 * since Valgrind names GCC's clones by their symbols ("f.constprop.0",
 * "f.isra.0", "f.part.0", "f.cold") where the debug information says
 * "f", a fun: line with such a suffix also matches the name without it.
 *
 * The first suppression (files in the order given, lines in file order)
 * that matches a leak stack claims it; its counters say how many stacks,
 * blocks and bytes it suppressed. Nothing here prints.
 */
#ifndef TM_REPORT_SUPPRESS_H
#define TM_REPORT_SUPPRESS_H

#include <stdint.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tm_supp_format {
    TM_SUPP_LSAN,
    TM_SUPP_VALGRIND,
} tm_supp_format;

typedef enum tm_supp_frame_type {
    TM_SUPP_FUN,
    TM_SUPP_OBJ,
    TM_SUPP_SRC,
    TM_SUPP_DOTS,   /* "...": any number of frames */
} tm_supp_frame_type;

typedef struct tm_supp_frame {
    tm_supp_frame_type type;
    char *pattern;      /* NULL for TM_SUPP_DOTS */
    int64_t line;       /* src:FILE:LINE; 0 for any line */
    char *demangled;    /* fun:_Z... without wildcards, demangled; or NULL */
    char *unclone;      /* the pattern without a GCC clone suffix, or NULL */
} tm_supp_frame;

#define TM_SUPP_MAX_FRAMES 24   /* Valgrind's VG_MAX_SUPP_CALLERS */

/* One suppression. 'name' is the block's name line, or "leak:PATTERN"
 * for a LeakSanitizer line. 'kinds' is a bit mask of (1 << tm_leak_kind):
 * match-leak-kinds, every kind when absent and for LSan lines. */
typedef struct tm_suppression {
    tm_supp_format format;
    char *name;
    char *file;         /* where it was read from */
    int line;           /* its first line */
    char *pattern;      /* LSan PATTERN */
    unsigned kinds;
    size_t nframes;
    tm_supp_frame *frames;
    int builtin;        /* one of tracemem's defaults (not listed unless used) */
    /* what it suppressed, counted by the caller */
    uint64_t hit_stacks;
    uint64_t hit_blocks;
    uint64_t hit_bytes;
} tm_suppression;

typedef struct tm_suppressions {
    size_t n;
    tm_suppression *v;
} tm_suppressions;

#define TM_LEAK_KINDS_ALL ((1u << TM_LEAK_NKINDS) - 1)

/* What LSan suppressions said of each frame of one snapshot, for
 * matching many of its stacks (tm_suppressions_match_memo()): made for
 * 'supp' and 'snap' as they are (NULL when memory is short, or nothing to
 * remember); free it before either changes. */
typedef struct tm_supp_memo tm_supp_memo;
tm_supp_memo *tm_supp_memo_new(const tm_suppressions *supp, const tm_snapshot *snap);
void tm_supp_memo_free(tm_supp_memo *memo);

/* Parses the suppressions in 'text' (read from 'name', used in messages
 * and stored in each suppression) and appends them to 'supp', which
 * starts zeroed. Returns 0; or -EINVAL with 'err' set to "NAME:LINE: what
 * is wrong" and '*line' (may be NULL) to the line, leaving 'supp' as it
 * was; or -ENOMEM. */
int tm_suppressions_parse(tm_suppressions *supp, const char *name,
                          const char *text, int *line, tm_error *err);

/* Reads the file 'path' and parses it as above; a file that cannot be
 * read gives a negative errno code and "PATH: why" in 'err'. */
int tm_suppressions_load(tm_suppressions *supp, const char *path,
                         tm_error *err);

/* Appends the default suppressions (defsupp.c: the C runtime's own
 * memory), named "default suppressions". Returns 0 or -ENOMEM. */
int tm_suppressions_add_defaults(tm_suppressions *supp, tm_error *err);

/* Frees what 'supp' holds and zeroes it. */
void tm_suppressions_free(tm_suppressions *supp);

/* The index of the first suppression in 'supp' that matches leaked
 * blocks of 'kind' allocated from 'stack' of 'snap', or -1. Counters are
 * not touched. */
long tm_suppressions_match(const tm_suppressions *supp,
                           const tm_snapshot *snap, const tm_stack *stack,
                           tm_leak_kind kind);
/* The same, remembering in 'memo' (from tm_supp_memo_new() for 'supp'
 * and 'snap'; NULL, or one made for others: nothing remembered) what
 * each LSan suppression said of each frame. */
long tm_suppressions_match_memo(const tm_suppressions *supp, const tm_snapshot *snap, const tm_stack *stack,
                                tm_leak_kind kind, tm_supp_memo *memo);

/* 1 when the single suppression 's' matches. */
int tm_suppression_matches(const tm_suppression *s, const tm_snapshot *snap,
                           const tm_stack *stack, tm_leak_kind kind);

/* LeakSanitizer's TemplateMatch(): 'templ' against 'str' (NULL or ""
 * never match). */
int tm_lsan_match(const char *templ, const char *str);

/* Valgrind's VG_(string_match)(): the whole of 'str' against 'pat' with
 * '*', '?' and '\'. */
int tm_glob_match(const char *pat, const char *str);

/* 1 when 'name' is an allocation function Valgrind shows as the innermost
 * frame of a leak (malloc, calloc, realloc, operator new, ...). */
int tm_is_alloc_function(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_SUPPRESS_H */
