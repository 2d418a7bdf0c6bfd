/* rss.h - the snapshot's rss section: where the process's resident memory
 * went (tracemem rss, and one line of tracemem run's summary).
 *
 * The section (tracemem-snapshot(5)) is written by the shim: the sum of
 * the Rss of every mapping in /proc/self/smaps, the kernel's own total
 * (smaps_rollup), and that sum split into categories, each byte in one:
 * heap_live, heap_free (absent when mallinfo2 could not be asked),
 * heap_overhead, mmap, thread_stacks, modules, files, tracemem, other.
 */
#ifndef TM_REPORT_RSS_H
#define TM_REPORT_RSS_H

#include <stdio.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TM_RSS_MAX_CATEGORIES 16

typedef struct tm_rss_category {
    const char *name; /* borrowed from the snapshot */
    uint64_t rss, size;
} tm_rss_category;

typedef struct tm_rss {
    uint64_t kernel_rss, kernel_rss_before, rss, size, swap;
    int have_malloc;
    uint64_t malloc_in_use, malloc_free, malloc_mapped;
    size_t n;
    tm_rss_category v[TM_RSS_MAX_CATEGORIES];
    /* malloc's arenas (rss.arenas): how many, and the main one's and the
     * others' resident and mapped bytes */
    size_t narenas;
    uint64_t main_rss, main_size, others_rss, others_size;
} tm_rss;

/* Reads the rss section of 'snap' into 'out'. Returns 0, -ENOENT when the
 * snapshot has none (written before tracemem had it, or smaps could not
 * be read), -EINVAL with 'err' filled when it is malformed. */
int tm_rss_get(const tm_snapshot *snap, tm_rss *out, tm_error *err);

/* The category 'name', or NULL. */
const tm_rss_category *tm_rss_find(const tm_rss *r, const char *name);

/* One sentence of advice when malloc keeps much more freed memory than is
 * live (NULL otherwise): what malloc_trim(), M_TRIM_THRESHOLD and
 * MALLOC_ARENA_MAX would do. */
const char *tm_rss_advice(const tm_rss *r);

/* tracemem rss: the table (text) or the JSON document documented in
 * tracemem-rss(1) (new reference); 'top' is the number of mmap stacks to
 * show (0: none). */
void tm_rss_render_text(FILE *fp, const tm_snapshot *snap, const tm_rss *r, size_t top);
json_t *tm_rss_render_json(const tm_snapshot *snap, const tm_rss *r, size_t top);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_RSS_H */
