/* hints.h - what to do about "??": one line per module whose frames
 * mostly have no function name after symbolization.
 *
 * A module counts when at least TM_HINT_MIN_FRAMES of its frames are in
 * the snapshot and more than half of them have no function. The line
 * names the file and how to get its symbols: the -dbgsym package of the
 * Debian package that owns it (asked of dpkg-query when it is there), or
 * a debuginfod server through DEBUGINFOD_URLS, which the symbolizer's
 * libdw consults when it is set; and says when DEBUGINFOD_URLS was set
 * and did not help.
 */
#ifndef TM_REPORT_HINTS_H
#define TM_REPORT_HINTS_H

#include "report/snapshot.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_HINT_MIN_FRAMES 3

/* The modules already hinted at, so that the snapshots of one run (every
 * child of a make) say it once. Zero-initialize; free with
 * tm_hint_memo_free(). */
typedef struct tm_hint_memo {
    char **paths;
    size_t n;
    /* the paths asked of dpkg-query, and the package owning each (NULL:
     * none) */
    char **asked, **owner;
    size_t nasked;
} tm_hint_memo;

void tm_hint_memo_free(tm_hint_memo *memo);

/* Writes the hints for 'snap' to 'fp' ("tracemem: note: ..."), at most
 * one per module, none for a module in 'memo' (may be NULL), which gets
 * the modules hinted at. Returns the number of lines written. */
int tm_symbol_hints(const tm_snapshot *snap, FILE *fp, tm_hint_memo *memo);

/* Asks dpkg-query at once about the modules that tm_symbol_hints() would
 * note for the 'n' snapshots 'snaps' (NULL entries are skipped), and
 * keeps the answers in 'memo': one query for a whole run instead of one
 * or two per module. Optional: tm_symbol_hints() asks for what is not
 * known yet. */
void tm_symbol_hints_prepare(tm_hint_memo *memo, tm_snapshot *const *snaps, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_HINTS_H */
