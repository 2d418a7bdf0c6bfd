/* stats.h - tracemalloc's Snapshot.statistics() and compare_to() for
 * tracemem snapshots: grouping keys, filters, sorting and diffs.
 *
 * Keys are symbolic strings built from what the symbolizer found, never
 * from absolute addresses, so that two runs with different load addresses
 * (ASLR) or a rebuilt binary group and diff by the same keys:
 *
 *   lineno    "FILE:LINE"; without a line "FUNCTION (MODULE)"; without a
 *             function "MODULE+0xOFFSET" ("0xADDRESS" outside any module)
 *   filename  "FILE"; without a file the module's base name
 *   function  "FUNCTION"; without one "MODULE+0xOFFSET"
 *   module    the module's base name ("[unknown]" outside any module)
 *   traceback the lineno keys of every logical frame, innermost first,
 *             joined with '\n'
 *
 * where MODULE is the module's base name and OFFSET its file-relative
 * address. "Logical frames" expand each return address into its inlined
 * call chain (tm_frame.loc, then tm_frame.inlined[]). A stack without
 * frames has the key "[no frames]".
 */
#ifndef TM_REPORT_STATS_H
#define TM_REPORT_STATS_H

#include "report/snapshot.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tm_group_by {
    TM_BY_LINENO,
    TM_BY_FILENAME,
    TM_BY_FUNCTION,
    TM_BY_MODULE,
    TM_BY_TRACEBACK,
} tm_group_by;

/* What orders the statistics (descending), ties broken like tracemalloc:
 * size -> (size, count, key); count -> (count, size, key);
 * allocations -> (allocated_count, allocated_size, key). Keys compare with
 * strverscmp(), so "a.c:9" sorts before "a.c:10". */
typedef enum tm_sort {
    TM_SORT_SIZE,
    TM_SORT_COUNT,
    TM_SORT_ALLOCATIONS,
    TM_SORT_TEMPORARY, /* (temporary, allocated_count, key); groups with none left out */
} tm_sort;

/* An include or exclude pattern, like tracemalloc.Filter: an fnmatch(3)
 * pattern tried against the file name, the function and the module (path
 * and base name) of the innermost logical frame, or of every logical frame
 * when tm_stats_opts.all_frames is set. A trace is kept when it matches at
 * least one include filter (if there are any) and no exclude filter. */
typedef struct tm_filter {
    int inclusive;
    const char *pattern; /* borrowed */
} tm_filter;

typedef struct tm_stats_opts {
    tm_group_by by;
    int cumulative; /* count every logical frame of a trace (once) */
    int peak;       /* use the peak record instead of the traces */
    tm_sort sort;
    int64_t domain; /* only this domain; -1 for all */
    int all_frames; /* filters look at every frame */
    size_t nfilters;
    const tm_filter *filters; /* borrowed */
    /* > 0: only the first 'top' groups need to be in order (the others
     * follow them in no order): a summary that shows a few does not sort
     * hundreds of thousands */
    size_t top;
} tm_stats_opts;

/* Defaults: by lineno, not cumulative, live traces, sort by size, every
 * domain, no filters, every group in order. */
void tm_stats_opts_init(tm_stats_opts *opts);

/* Parses "lineno", "filename", ... / "size", "count", "allocations".
 * Return the value or -1. */
int tm_group_by_parse(const char *name);
const char *tm_group_by_name(tm_group_by by);
int tm_sort_parse(const char *name);
const char *tm_sort_name(tm_sort sort);

/* One group. 'stack', 'frame' and 'loc' say where the key was first seen:
 * the stack index, the position of the physical frame in it (SIZE_MAX for
 * a stack without frames) and the logical frame (-1: the frame's own loc,
 * else inlined[loc]); renderers use them to print the frames of a key. */
typedef struct tm_stat {
    char *key;
    uint64_t size;
    uint64_t count;
    uint64_t allocated_size;
    uint64_t allocated_count;
    uint64_t temporary;
    size_t stack;
    size_t frame;
    int loc;
    size_t last_trace; /* internal: cumulative de-duplication */
    uint64_t hash;     /* internal: of 'key', for the index */
} tm_stat;

typedef struct tm_stats {
    const tm_snapshot *snap; /* borrowed; must outlive the stats */
    tm_stats_opts opts;
    size_t n;
    tm_stat *v; /* sorted per opts.sort */
    /* sums over the traces kept by the filters (each trace once) */
    uint64_t total_size;
    uint64_t total_count;
    uint64_t total_allocated_size;
    uint64_t total_allocated_count;
    uint64_t total_temporary;
    void *index; /* internal: key -> position */
} tm_stats;

/* Computes the statistics of 'snap' into 'out' (free with
 * tm_stats_free()). Returns 0, -EINVAL with 'err' filled for options that
 * do not go together (cumulative with traceback, allocations with peak,
 * peak on a snapshot without a peak record) or -ENOMEM. Traces without
 * live blocks are skipped, except when sorting by allocations (then those
 * with no allocation are). */
int tm_stats_compute(const tm_snapshot *snap, const tm_stats_opts *opts, tm_stats *out, tm_error *err);
void tm_stats_free(tm_stats *stats);

/* The position of 'key' in 'stats', or -1. */
long tm_stats_find(const tm_stats *stats, const char *key);

/* compare_to(): one key of OLD or NEW. 'size', 'count' and 'allocated_count'
 * are NEW's (0 when the key is only in OLD); the *_diff fields are NEW minus
 * OLD. 'from' and 'idx' point at the stat in NEW, or in OLD when the key is
 * only there (for printing its frames). */
typedef struct tm_stat_diff {
    const char *key; /* borrowed from 'from' */
    uint64_t size;
    int64_t size_diff;
    uint64_t count;
    int64_t count_diff;
    uint64_t allocated_count;
    int64_t allocated_count_diff;
    const tm_stats *from;
    size_t idx;
} tm_stat_diff;

typedef struct tm_diff {
    size_t n;
    tm_stat_diff *v;
    int64_t total_size_diff;
    int64_t total_count_diff;
} tm_diff;

/* Compares 'new_stats' with 'old_stats' (computed with the same options)
 * like tracemalloc's compare_to(). Sorted descending by (|size_diff|,
 * size, |count_diff|, count, key); with sort count by (|count_diff|,
 * count, |size_diff|, size, key); with sort allocations by
 * (|allocated_count_diff|, allocated_count, |size_diff|, size, key). Both
 * stats must outlive the diff. Returns 0 or -ENOMEM. */
int tm_stats_compare(const tm_stats *old_stats, const tm_stats *new_stats, tm_diff *out);
void tm_diff_free(tm_diff *diff);

/* --- keys and locations, shared with the leak reports --- */

/* The logical frames of 'frame': 1 + ninlined. */
static inline size_t tm_frame_nlocs(const tm_frame *frame)
{
    return 1 + frame->ninlined;
}

/* Logical frame 'loc' (-1 or 0..ninlined-1, as in tm_stat) of 'frame'. */
static inline const tm_location *tm_frame_loc(const tm_frame *frame, int loc)
{
    return loc < 0 ? &frame->loc : &frame->inlined[loc];
}

/* The longest line of a key (longer ones are cut). */
#define TM_KEY_MAX 4096

/* Writes the key of logical frame 'loc' of 'frame' for grouping 'by'
 * (not TM_BY_TRACEBACK, which uses lineno keys) into 'buf' (always
 * terminated, truncated to 'len'). Returns 'buf'. */
char *tm_location_key(const tm_snapshot *snap, const tm_frame *frame, int loc, tm_group_by by, char *buf,
                      size_t len);

/* The symbolic key of a whole stack (the traceback key): stable across
 * runs and rebuilds as far as the symbols allow; trend matches stacks
 * by it. Returns a new string (free()) or NULL on ENOMEM. */
char *tm_stack_key(const tm_snapshot *snap, const tm_stack *stack);

/* Writes logical frame 'loc' of 'f' (-1: its own location, else
 * inlined[loc]) as one line of a stack key, without the newline, into
 * 'buf' of 'cap' bytes (NUL-terminated when it fits) and returns its
 * length, as snprintf does: a result of 'cap' or more means it did not
 * fit. */
typedef size_t (*tm_key_line_fn)(const tm_snapshot *snap, const tm_frame *f, int loc, char *buf, size_t cap);

/* A stack key whose lines are written by 'line': the logical frames of
 * 'stack' innermost first, joined by newlines; "[no frames]" for an empty
 * stack. tm_stack_key() and tm_leak_key() differ only in 'line'. New
 * string, or NULL when out of memory. */
char *tm_stack_key_by(const tm_snapshot *snap, const tm_stack *stack, tm_key_line_fn line);

/* 1 when the fnmatch 'pattern' matches the file, function or module of
 * logical frame 'loc' of 'frame'. */
int tm_location_match(const tm_snapshot *snap, const tm_frame *frame, int loc, const char *pattern);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_STATS_H */
