/* report.h - tracemem report: one self-contained HTML page of a run.
 *
 * The page holds its data as one JSON document (built by tm_report_data())
 * and draws everything from it with inline script: the run's summary, the
 * memory-over-time chart, the flame graph of a chosen time range, the top
 * sites, the leaks by kind, the collector's generations. Nothing is loaded
 * from outside the file.
 *
 * The data, per process (snapshots grouped by pid, the one with the
 * highest seq giving the summary):
 *
 *   paths, locs  (top level) folded stacks as flame.h writes them and their
 *                locations (a path reached from different lines is there
 *                once per set of lines), shared by every process; the
 *                rest refers to them by index
 *   summary      pid, exe, files, peak, current, blocks, leaks by kind
 *   timeline     samples [t_ns, heap, rss, mapped, blocks], rows [sample,
 *                key, live, allocated] (sparse, as the snapshot's
 *                "timeline"; 'keys[key]' is the path), events [t_ns, kind,
 *                label]; from the snapshot's "timeline" when it has one,
 *                else from the process's snapshots (one sample each, at
 *                their own times); absent with a single snapshot
 *   live         [path, bytes, blocks] at the end (the flame graph without a
 *                chosen range)
 *   sites        [function, file:line, live, blocks, allocated, allocations,
 *                peak] by innermost frame
 *   leaks        [kind, bytes, blocks, path]
 *   gc           the snapshot's "gc" section, when valid
 */
#ifndef TM_REPORT_REPORT_H
#define TM_REPORT_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_report_opts {
    const char *title; /* borrowed; NULL: "tracemem report" */
} tm_report_opts;

/* The data of the page for the 'n' snapshots 'snaps' (symbolized, the
 * view applied). Returns a new reference, or NULL with 'err' filled and
 * '*bad' the index of the snapshot at fault (a malformed "timeline") or
 * -1 (out of memory). */
json_t *tm_report_data(tm_snapshot *const *snaps, size_t n, const tm_report_opts *o, long *bad, tm_error *err);

/* Writes the page of 'data' (from tm_report_data()) to 'fp'. Returns 0,
 * -ENOMEM or -EIO. */
int tm_report_write(const json_t *data, const tm_report_opts *o, FILE *fp);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_REPORT_H */
